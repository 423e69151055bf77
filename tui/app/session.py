"""The app's state, free of Textual: selected models, options, reports, target, sort order.

Screens read from one ``Session``; the app mutates it and tells the screens to refresh. Everything
here is plain Python over ``metrics_core`` objects, so it is tested without a terminal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from metrics_core.common.records import ModelReport
from metrics_core.measure.bench import BenchResult
from metrics_core.perf.hardware import HardwareTarget
from metrics_core.perf.roofline import (
    DTYPE_PRECISION,
    ModelEstimate,
    analysed_precision,
    estimate_model,
    precision_for,
)
from metrics_core.report.accuracy import accuracy_fields
from metrics_core.report.sorting import ESTIMATE_SORT_KEYS, SEED_SORT_KEYS, resolve_sort_key, sort_reports
from metrics_core.runtime.options import AnalysisOptions
from tui.app.tables import EXTRA_SORT_KEYS, sort_key_of

#: Hardware shown when none is given: the A100 PCIe 40GB of the seed's roofline example.
DEFAULT_TARGET = "a100-pcie-40gb"

#: What the status bar and headers say for the dtype / precision when the shown models differ (a bf16
#: model next to fp32 ones with no dtype chosen): each row is in its own.
PER_MODEL = "per model"

#: Row states of a selected model.
QUEUED, DONE = "queued", "done"


def records_loaded(report: ModelReport) -> bool:
    """Whether the report's per-op records are in memory (cached ones load lazily, see
    ``metrics_core.runtime.cache.LazyRecords``; loading may re-analyse a damaged entry, so never on the UI
    thread)."""
    return bool(getattr(report.records, "loaded", True))


@dataclass
class BenchState:
    """A model's measured benchmark (``b``): queued, running (``phase`` ``done``/``total``), done
    (``result``), or failed (``error``)."""

    status: str = "queued"
    phase: str = ""
    done: int = 0
    total: int = 0
    result: BenchResult | None = None
    error: str | None = None


def precision_choices(target: HardwareTarget) -> list[tuple[str, str]]:
    """The (dtype, precision path) pairs ``target`` can run, in ``DTYPES`` order; fp32 is followed by
    (fp32, tf32) when the target has a TF32 path. The app's precision key cycles through these: the dtype
    sets the bytes per element, the path the compute peak (one precision, never a fallback)."""
    choices = []
    for dtype, path in DTYPE_PRECISION.items():
        if path in target.precisions:
            choices.append((dtype, path))
        if dtype == "fp32" and "tf32" in target.precisions:
            choices.append(("fp32", "tf32"))
    return choices


def precision_label(target: HardwareTarget, dtype: str, path: str) -> str:
    """``'bytes fp16 · peak fp16 tensor'``: what the byte counts and the compute roof each assume
    (``tensor`` for the matrix-unit paths of GPUs); ``'bytes per model · peak per model'`` when the models
    shown were analysed in different dtypes."""
    tensor = " tensor" if path not in ("fp32", PER_MODEL) and "GPU" in target.kind else ""
    return f"bytes {dtype} · peak {path}{tensor}"


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
    bench: dict[str, BenchState] = field(default_factory=dict)
    #: Models fed their own inputs (the add-model dialog): name -> ``InputSpec`` tuple, replacing the
    #: options' input shape for that model.
    model_inputs: dict[str, tuple] = field(default_factory=dict)
    #: The performance model of every estimate the app shows (``perf.roofline.estimate_records``):
    #: ``eager`` / ``compiled`` kernels, ``ideal`` / ``calibrated`` efficiency (the settings screen; the
    #: launched app starts with the library's defaults, eager and calibrated, or ``modeltui --efficiency``).
    execution: str = "eager"
    efficiency: str = "calibrated"
    #: Whether the user chose ``target`` (``--hardware``, the hardware picker); False for the app's
    #: default target, which the status bar and the estimate headers then call "default".
    target_chosen: bool = False
    #: The training view's settings (``screens.train.TrainSettings``) and the precision last asked for
    #: there, kept for the session (None / "": the view not opened yet).
    train_settings: Any = None
    train_precision: str = ""
    _estimates: dict[tuple, ModelEstimate | None] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.precision:  # raises UsageError when the target lacks the dtype's path
            self.precision = precision_for(self.target, self.options.dtype)

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
        self.bench.pop(name, None)
        for key in [k for k in self._estimates if k[0] == name]:  # a re-added model is estimated anew
            del self._estimates[key]

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
        if options.dtype != self.options.dtype:  # refused (UsageError) when the target has no such path
            self.precision = precision_for(self.target, options.dtype)
        self.options = options
        self.generation += 1
        self.reports.clear()
        self.bench.clear()
        self._estimates.clear()
        return True

    def ordered(self) -> list[str]:
        """Selected model names in display order: finished ones sorted by the sort key, then the rest
        (failed, then still queued) in selection order. Estimate keys sort by the estimate on the
        current target and precision (models without one yet go last)."""
        done = [self.reports[n] for n in self.selected if n in self.reports]
        key = self.sort_key
        if key in EXTRA_SORT_KEYS:
            done = self._sort_by_value(done, key)
        elif key is not None:
            estimates = {r.model: self.estimate(r.model) for r in done} if key in ESTIMATE_SORT_KEYS else None
            done = sort_reports(done, key, self.reverse, estimates=estimates)
        names = [r.model for r in done]
        return names + [n for n in self.selected if n not in self.reports]

    def _sort_by_value(self, reports: list[ModelReport], key: str) -> list[ModelReport]:
        """``sort_reports``' rule for the app's own keys (peak memory, measured): natural direction
        (``EXTRA_SORT_KEYS``) inverted by ``reverse``; models without a value last, in order."""
        values = {r.model: self.value(r.model, key) for r in reports}
        known = [r for r in reports if values[r.model] is not None]
        unknown = [r for r in reports if values[r.model] is None]
        descending = EXTRA_SORT_KEYS[key] != self.reverse
        return sorted(known, key=lambda r: values[r.model], reverse=descending) + unknown

    def value(self, name: str, column: str) -> Any:
        """The raw value of a comparison column for a model (None when unknown): ``est_*`` from the
        estimate on the current target, ``mem_*`` from ``report.extras["memory"]``, ``bench_*`` from
        the measured benchmark (``bench_latency_ratio`` against the current estimate), else the metric."""
        report = self.reports.get(name)
        if report is None or report.metrics is None:
            return None
        if column.startswith("est_"):
            estimate = self.estimate(name)
            # attributes, not to_dict(): that converts every op estimate first (slow for big models)
            return getattr(estimate, column.removeprefix("est_")) if estimate is not None else None
        if column.startswith("mem_"):
            return (report.extras.get("memory") or {}).get(column.removeprefix("mem_"))
        if column.startswith("bench_"):
            return self.measured(name, column.removeprefix("bench_"))
        if column in ("acc1", "acc5"):  # published accuracy (metrics_core.report.accuracy)
            return accuracy_fields(report)[column]
        return getattr(report.metrics, column, None)

    def measured(self, name: str, attribute: str) -> Any:
        """A ``BenchResult`` attribute of the model's finished benchmark; ``latency_ratio`` is the measured
        median over the estimate on the machine it was measured on (``result.target``, ``this-machine``
        on the CPU), whatever target the comparison shows."""
        state = self.bench.get(name)
        if state is None or state.result is None or not state.result.ok:
            return None
        return getattr(state.result, attribute)

    def bench_ratio_note(self) -> str | None:
        """What Meas/est compares with when that is not the selected target: ``'Meas/est = measured /
        estimate on this-machine (where it was measured), not on a100-pcie-40gb'``; None otherwise."""
        targets = {s.result.target for s in self.bench.values() if s.result is not None and s.result.ok}
        others = sorted(t for t in targets if t and t != self.target.id)
        if not others:
            return None
        return (
            f"Meas/est = measured / estimate on {', '.join(others)} (where it was measured), "
            f"not on {self.target.id}"
        )

    def bench_progress(self) -> tuple[str, float, int] | None:
        """(label, models done including the running one's fraction, models) while a benchmark runs:
        ``'bench 2/3 resnet18 measure 5/20'``; None when none runs."""
        states = [(n, b) for n, b in self.bench.items() if n in self.selected]
        running = [(n, b) for n, b in states if b.status in ("queued", "running")]
        if not running:
            return None
        finished = sum(1 for _, b in states if b.status in ("done", "error"))
        name, state = next(((n, b) for n, b in running if b.status == "running"), running[0])
        step = f" {state.phase} {state.done}/{state.total}" if state.total else ""
        fraction = state.done / state.total if state.total and state.phase == "measure" else 0.0
        return f"bench {finished + 1}/{len(states)} {name}{step}", finished + fraction, len(states)

    def has_memory(self) -> bool:
        """Whether any analysed model has peak-memory figures."""
        return any(r.ok and "memory" in r.extras for r in self.reports.values())

    def has_active_params(self) -> bool:
        """Whether any analysed model is a mixture of experts (has active parameters per token)."""
        return any(r.ok and r.metrics.active_params is not None for r in self.reports.values())

    def ok_reports(self) -> list[ModelReport]:
        return [self.reports[n] for n in self.ordered() if n in self.reports and self.reports[n].ok]

    # -- sorting ------------------------------------------------------------------------------------
    def sort_direction(self) -> bool | None:
        """True when the sort column lists the highest value first; None when unsorted."""
        if self.sort_key is None:
            return None
        if self.sort_key in EXTRA_SORT_KEYS:
            descending = EXTRA_SORT_KEYS[self.sort_key]
        else:
            descending = resolve_sort_key(self.sort_key)[1]
        return descending != self.reverse

    def set_sort(self, key: str | None) -> None:
        """Sort by a seed key (params, flops, macs, memory, efficiency, ai), a metric name, an
        estimate key (``latency_s`` ..., or its column ``est_latency_s``) or a peak-memory / measured
        column, in its natural direction."""
        if key in SEED_SORT_KEYS:
            key = SEED_SORT_KEYS[key][0]
        if key is not None:
            key = sort_key_of(key)
            if key not in EXTRA_SORT_KEYS:
                resolve_sort_key(key)
        self.sort_key = key
        self.reverse = False

    # -- hardware -----------------------------------------------------------------------------------
    def set_target(self, target: HardwareTarget) -> None:
        """Switch target, keeping the precision; ``UsageError`` (target unchanged) when the new target
        has no path for it (TF32 falls back to nothing either: the user chose it)."""
        if self.precision == "tf32":
            target.peak_flops("tf32")
            precision = "tf32"
        else:
            precision = precision_for(target, self.options.dtype)
        self.target, self.precision = target, precision
        self.target_chosen = True

    def precision_of(self, report: ModelReport) -> str:
        """The path ``report`` is estimated on: the session's ``precision``, or the path of the dtype the
        model was analysed in when that differs (a bf16 model with no dtype chosen: bf16), as the CLI
        (``perf.roofline.analysed_precision``)."""
        return analysed_precision(self.target, report.dtype, self.precision)

    @property
    def analysed(self) -> tuple[str, str]:
        """(dtype, path) of the numbers shown: the options' dtype and ``precision`` until a model is
        analysed in another (``AnalysisOptions.dtype_from_model``: a bf16 model is analysed in bf16); each
        is ``PER_MODEL`` when the analysed models differ."""
        done = [r for r in self.reports.values() if r.ok and r.model in self.selected]
        dtypes = list(dict.fromkeys(r.dtype for r in done)) or [self.options.dtype]
        paths = list(dict.fromkeys(self.precision_of(r) for r in done)) or [self.precision]
        return (
            dtypes[0] if len(dtypes) == 1 else PER_MODEL,
            paths[0] if len(paths) == 1 else PER_MODEL,
        )

    @property
    def precision_label(self) -> str:
        """``'bytes fp16 · peak fp16 tensor'`` for headers (see ``precision_label``), of the dtype the
        shown models were analysed in (``analysed``)."""
        return precision_label(self.target, *self.analysed)

    def next_precision(self) -> tuple[str, str]:
        """The (dtype, path) after the current one in ``precision_choices`` (wrapping)."""
        choices = precision_choices(self.target)
        current = (self.options.dtype, self.precision)
        i = choices.index(current) if current in choices else -1
        return choices[(i + 1) % len(choices)]

    def set_precision(self, dtype: str, path: str) -> bool:
        """Use ``dtype`` bytes and the ``path`` roof; True when the dtype changed (reports dropped: the
        models are re-analysed). A dtype chosen here applies to every model, a bf16 one included (no
        longer ``dtype_from_model``). ``UsageError`` when the target lacks the path."""
        self.target.peak_flops(path)
        changed = (
            self.set_options(replace(self.options, dtype=dtype, dtype_from_model=False))
            if dtype != self.options.dtype
            else False
        )
        self.precision = path
        return changed

    def estimate(self, name: str) -> ModelEstimate | None:
        """The roofline estimate of a finished model on the current target and precision (cached);
        None while its records are not loaded (``precompute`` loads them, in a worker)."""
        report = self.reports.get(name)
        if report is None or not records_loaded(report):
            return None
        return self._estimate(report, self.target, self.precision_of(report), self.generation)

    def precompute(self, report: ModelReport) -> None:
        """Load the report's records and estimate it on the current target (for worker threads, so
        that the UI thread finds both ready). Loading may re-analyse a damaged cache entry, or raise."""
        if report.ok:
            len(report.records)  # materialise lazily loaded records here, not on the UI thread
        self._estimate(report, self.target, self.precision_of(report), self.generation)

    def _estimate(
        self, report: ModelReport, target: HardwareTarget, precision: str, generation: int
    ) -> ModelEstimate | None:
        if not report.ok or not report.records:
            return None
        key = (report.model, target.id, precision, generation, self.execution, self.efficiency)
        if key not in self._estimates:
            self._estimates[key] = estimate_model(report, target, precision, self.execution, self.efficiency)
        return self._estimates[key]

    def set_modes(self, execution: str, efficiency: str) -> bool:
        """Use another performance model for the estimates; True when it changed (estimates are recomputed
        on next use: the cache key holds the modes)."""
        from metrics_core.perf.roofline import check_modes

        check_modes(execution, efficiency)
        changed = (execution, efficiency) != (self.execution, self.efficiency)
        self.execution, self.efficiency = execution, efficiency
        return changed

    @property
    def target_label(self) -> str:
        """The target's name, with ``(default)`` while the user has not chosen one."""
        return self.target.name + ("" if self.target_chosen else " (default)")

    @property
    def modes_label(self) -> str:
        """``eager, calibrated efficiency``: what the estimates assume, for titles and the status bar."""
        return f"{self.execution}, {self.efficiency} efficiency"

    def with_options(self, **changes: Any) -> AnalysisOptions:
        return replace(self.options, **changes)
