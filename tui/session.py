"""The app's state, free of Textual: selected models, options, reports, target, sort order.

Screens read from one ``Session``; the app mutates it and tells the screens to refresh. Everything
here is plain Python over ``metrics_core`` objects, so it is tested without a terminal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from metrics_core.analyze import AnalysisOptions
from metrics_core.hardware import HardwareTarget
from metrics_core.records import ModelReport
from metrics_core.roofline import ModelEstimate, estimate_model, precision_for
from metrics_core.sorting import SEED_SORT_KEYS, resolve_sort_key, sort_reports

#: Hardware shown when none is given: the A100 PCIe 40GB of the seed's roofline example.
DEFAULT_TARGET = "a100-pcie-40gb"

#: Row states of a selected model.
QUEUED, DONE = "queued", "done"


def default_precision(target: HardwareTarget, dtype: str) -> str:
    """The target's precision path for ``dtype``, or its first path when it has none for it."""
    try:
        return precision_for(target, dtype)
    except Exception:  # noqa: BLE001 - a target without the dtype's path still has other roofs
        return target.precisions[0]


@dataclass
class Session:
    """What the user asked for and what is known so far.

    ``reports`` holds the finished report of each selected model for the current ``options``;
    a selected model without a report is still being analysed (or waits for its turn).
    ``generation`` grows whenever ``options`` change, so late reports of an older run are dropped.
    """

    targets: list[HardwareTarget]
    target: HardwareTarget
    options: AnalysisOptions = field(default_factory=AnalysisOptions)
    precision: str = ""
    selected: list[str] = field(default_factory=list)
    reports: dict[str, ModelReport] = field(default_factory=dict)
    sort_key: str | None = None
    reverse: bool = False
    generation: int = 0
    catalog: list[Any] = field(default_factory=list)
    presets: dict[str, Any] = field(default_factory=dict)
    _estimates: dict[tuple[str, str, str, int], ModelEstimate | None] = field(
        default_factory=dict, repr=False
    )

    def __post_init__(self) -> None:
        if not self.precision:
            self.precision = default_precision(self.target, self.options.dtype)

    # -- selection ----------------------------------------------------------------------------------
    def select(self, names: Iterable[str]) -> list[str]:
        """Add models to the selection (order kept, duplicates ignored); return those newly added."""
        added = [n for n in dict.fromkeys(names) if n not in self.selected]
        self.selected.extend(added)
        return added

    def deselect(self, name: str) -> None:
        if name in self.selected:
            self.selected.remove(name)
        self.reports.pop(name, None)

    def toggle(self, name: str) -> bool:
        """Select or deselect ``name``; True when it is now selected."""
        if name in self.selected:
            self.deselect(name)
            return False
        self.select([name])
        return True

    def replace_selection(self, names: Iterable[str]) -> list[str]:
        """Select exactly ``names``; return those that need analysing."""
        keep = list(dict.fromkeys(names))
        for name in list(self.selected):
            if name not in keep:
                self.deselect(name)
        self.selected = keep
        return self.missing()

    def missing(self) -> list[str]:
        """Selected models without a report."""
        return [n for n in self.selected if n not in self.reports]

    def status(self, name: str) -> str:
        return DONE if name in self.reports else QUEUED

    @property
    def progress(self) -> tuple[int, int]:
        """(models with a report, models selected)."""
        return sum(1 for n in self.selected if n in self.reports), len(self.selected)

    # -- results ------------------------------------------------------------------------------------
    def accept(self, report: ModelReport, generation: int) -> bool:
        """Store a finished report if it belongs to the current run and is still selected."""
        if generation != self.generation or report.model not in self.selected:
            return False
        self.reports[report.model] = report
        return True

    def set_options(self, options: AnalysisOptions) -> bool:
        """New analysis options; True (and every report dropped) when they differ from the current."""
        options = options.validated()
        if options == self.options:
            return False
        dtype_changed = options.dtype != self.options.dtype
        self.options = options
        self.generation += 1
        self.reports.clear()
        self._estimates.clear()
        if dtype_changed:
            self.precision = default_precision(self.target, options.dtype)
        return True

    def ordered(self) -> list[str]:
        """Selected model names in display order: finished ones sorted by the sort key, then the rest
        (failed, then still queued) in selection order."""
        done = [self.reports[n] for n in self.selected if n in self.reports]
        if self.sort_key is not None:
            done = sort_reports(done, self.sort_key, self.reverse)
        names = [r.model for r in done]
        return names + [n for n in self.selected if n not in self.reports]

    def ok_reports(self) -> list[ModelReport]:
        return [self.reports[n] for n in self.ordered() if n in self.reports and self.reports[n].ok]

    # -- sorting ------------------------------------------------------------------------------------
    def sort_direction(self) -> bool | None:
        """True when the sort column lists the highest value first; None when unsorted."""
        if self.sort_key is None:
            return None
        descending = resolve_sort_key(self.sort_key)[1]
        return descending != self.reverse

    def set_sort(self, key: str | None) -> None:
        """Sort by a seed key (params, flops, macs, memory, efficiency, ai) or a metric name, in its
        natural direction."""
        if key in SEED_SORT_KEYS:
            key = SEED_SORT_KEYS[key][0]
        if key is not None:
            resolve_sort_key(key)
        self.sort_key = key
        self.reverse = False

    # -- hardware -----------------------------------------------------------------------------------
    def set_target(self, target: HardwareTarget) -> None:
        self.target = target
        self.precision = default_precision(target, self.options.dtype)

    def cycle_precision(self) -> str:
        """Next precision path of the target (wrapping)."""
        paths = self.target.precisions
        i = paths.index(self.precision) if self.precision in paths else -1
        self.precision = paths[(i + 1) % len(paths)]
        return self.precision

    def estimate(self, name: str) -> ModelEstimate | None:
        """The roofline estimate of a finished model on the current target and precision (cached)."""
        report = self.reports.get(name)
        if report is None:
            return None
        return self._estimate(report, self.target, self.precision, self.generation)

    def precompute(self, report: ModelReport) -> None:
        """Load the report's records and estimate it on the current target (for worker threads, so
        that the UI thread finds both ready)."""
        self._estimate(report, self.target, self.precision, self.generation)

    def _estimate(
        self, report: ModelReport, target: HardwareTarget, precision: str, generation: int
    ) -> ModelEstimate | None:
        if not report.ok or not report.records:
            return None
        key = (report.model, target.id, precision, generation)
        if key not in self._estimates:
            self._estimates[key] = estimate_model(report, target, precision)
        return self._estimates[key]

    def with_options(self, **changes: Any) -> AnalysisOptions:
        return replace(self.options, **changes)
