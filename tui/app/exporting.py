"""What the export modal writes: the table on screen as rows for ``metrics_core.report.export.render``.

The comparison exports like ``modeltui compare``: JSON rows are ``ModelReport.summary_dict()`` with a
``roofline`` object (the estimate on the selected target), ``memory`` (peak memory, when analysed) and
``measured`` (``BenchResult.to_dict()``, after ``b``; its latency ratio against the selected target);
CSV/Markdown rows flatten them into ``est_*``, ``mem_*`` and ``bench_*`` columns, as on screen. Layer
tables export their rows as shown (filtered, sorted, maybe per module).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from metrics_core.report.columns import COMPARISON_COLUMNS, Column
from metrics_core.report.export import render
from tui.app.session import Session
from tui.app.tables import ESTIMATE_COLUMNS, MEASURED_COLUMNS, PEAK_MEMORY_COLUMNS


@dataclass
class ExportTable:
    """Rows ready for each format: ``flat`` for CSV/Markdown, ``nested`` for JSON."""

    flat: list[dict[str, Any]]
    nested: list[dict[str, Any]]
    columns: Sequence[Column]
    first: str
    what: str

    def text(self, fmt: str) -> str:
        if fmt == "json":
            return render(self.nested, self.columns, "json", first=self.first)
        return render(self.flat, self.columns, fmt, first=self.first)


def comparison_table(session: Session, names: Sequence[str]) -> ExportTable:
    """The comparison of ``names`` (in that order) with estimates on the session's target, peak memory
    and measured latency (when any model has them)."""
    flat, nested = [], []
    memory = any("memory" in r.extras for n in names if (r := session.reports.get(n)) is not None)
    measured = any(session.measured(n, "median_s") is not None for n in names)
    for name in names:
        report = session.reports.get(name)
        if report is None:
            continue
        row = report.summary_dict()
        full = dict(row)
        estimate = session.estimate(name)
        if estimate is not None:
            est = estimate.to_dict()
            full["roofline"] = est
            row.update({f"est_{k}": v for k, v in est.items() if not isinstance(v, (dict, list))})
        if "memory" in report.extras:
            full["memory"] = report.extras["memory"]
            row.update({c.key: session.value(name, c.key) for c in PEAK_MEMORY_COLUMNS})
        state = session.bench.get(name)
        if state is not None and state.result is not None:
            result = replace(
                state.result,
                estimated_latency_s=estimate.latency_s if estimate is not None else None,
                target=session.target.id,
                precision=session.precision,
            )
            full["measured"] = result.to_dict()  # its latency_ratio: against the selected target
            row.update({c.key: session.value(name, c.key) for c in MEASURED_COLUMNS})
        nested.append(full)
        flat.append(row)
    extra = (
        *ESTIMATE_COLUMNS,
        *(PEAK_MEMORY_COLUMNS if memory else ()),
        *(MEASURED_COLUMNS if measured else ()),
    )
    # on screen the group line says what "Latency" or "Total" is; in a file the header must say it
    qualified = tuple(replace(c, header=f"{c.group}: {c.header}") for c in extra)
    return ExportTable(flat, nested, (*COMPARISON_COLUMNS, *qualified), "model", "comparison")


def layer_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[Column], first: str, what: str
) -> ExportTable:
    """A layer table as shown; JSON rows carry every raw field."""
    return ExportTable(list(rows), list(rows), columns, first, what)
