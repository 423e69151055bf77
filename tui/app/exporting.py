"""What the export modal writes: the table on screen as rows for ``metrics_core.report.export.render``.

The comparison exports like ``modeltui compare``: JSON rows are ``ModelReport.summary_dict()`` with a
``roofline`` object (the estimate on the selected target), ``memory`` (peak memory, when analysed) and
``measured`` (``BenchResult.to_dict()``, after ``b``; its latency ratio against the estimate on the
machine it was measured on);
CSV/Markdown rows flatten them into ``est_*``, ``mem_*`` and ``bench_*`` columns, as on screen. Layer
tables export their rows as shown (filtered, sorted, maybe per module).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from metrics_core.perf.energy import energy_of_estimate
from metrics_core.report.accuracy import accuracy_fields
from metrics_core.report.columns import Column
from metrics_core.report.comparison_rows import export_columns, flat_row
from metrics_core.report.export import render
from tui.app.session import Session
from tui.app.tables import MEASURED_COLUMNS


@dataclass
class ExportTable:
    """Rows ready for each format: ``flat`` for CSV/Markdown, ``nested`` for JSON."""

    flat: list[dict[str, Any]]
    nested: list[dict[str, Any]]
    columns: Sequence[Column]
    first: str
    what: str
    #: What the numbers assume (``metrics_core.report.context``), added to every format.
    context: dict[str, Any] | None = None

    def text(self, fmt: str) -> str:
        from metrics_core.report.context import with_context

        if fmt == "json":
            text = render(self.nested, self.columns, "json", first=self.first)
        else:
            text = render(self.flat, self.columns, fmt, first=self.first)
        return with_context(text, fmt, self.context) if self.context else text


def session_context(session: Session) -> dict[str, Any]:
    """The context of the app's tables: batch, bytes dtype, target and precision path, the performance model
    and whether it is validated on the target (``validated``, ``efficiency_source``), as the CLI's."""
    from metrics_core.perf.efficiency import DEFAULT_EFFICIENCY, DEFAULT_EXECUTION, provenance
    from metrics_core.report.context import run_context

    o = session.options
    execution = getattr(session, "execution", None) or DEFAULT_EXECUTION  # estimate_model's defaults
    efficiency = getattr(session, "efficiency", None) or DEFAULT_EFFICIENCY
    dtype, precision = session.analysed  # what the models were analysed in ("per model" when they differ)
    context = run_context(
        batch_size=o.batch_size,
        dtype=dtype,
        hardware=session.target.id,
        precision=precision,
        execution=execution,
        efficiency=efficiency,
        estimate=True,
        memory_format=o.memory_format,
    )
    # validated / efficiency_source, as the CLI's context has them (tui.cli._provenance); models analysed in
    # different precisions: validated only where each is (not one claim for all)
    context.update(provenance(session.target, efficiency, execution=execution, precision=precision))
    return context


def comparison_table(session: Session, names: Sequence[str]) -> ExportTable:
    """The comparison of ``names`` (in that order) with estimates on the session's target, peak memory
    and measured latency (when any model has them)."""
    flat, nested = [], []
    measured = any(session.measured(n, "median_s") is not None for n in names)
    for name in names:
        report = session.reports.get(name)
        if report is None:
            continue
        estimate = session.estimate(name)
        energy = energy_of_estimate(session.target, estimate)
        row = flat_row(report, estimate, energy)  # the columns of ``modeltui compare --format csv``
        full = {**report.summary_dict(), **accuracy_fields(report)}
        if estimate is not None:
            full["roofline"] = estimate.to_dict()
        if "memory" in report.extras:
            full["memory"] = report.extras["memory"]
        state = session.bench.get(name)
        if state is not None and state.result is not None:
            # its estimate and latency_ratio: on the machine it was measured on (``result.target``)
            full["measured"] = state.result.to_dict()
            row.update({c.key: session.value(name, c.key) for c in MEASURED_COLUMNS})
        nested.append(full)
        flat.append(row)
    # on screen the group line says what "Median" is; in a file the header must say it
    bench = tuple(replace(c, header=f"{c.group}: {c.header}") for c in MEASURED_COLUMNS) if measured else ()
    columns = (*export_columns(flat), *bench)
    return ExportTable(flat, nested, columns, "model", "comparison", session_context(session))


def layer_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    first: str,
    what: str,
    context: dict[str, Any] | None = None,
) -> ExportTable:
    """A layer table as shown, with the estimate columns under the CLI's names (``EXPORT_NAMES``:
    ``time_s`` -> ``est_time_s`` ..., as ``modeltui layers --format csv`` and README name them); JSON rows
    carry every raw field."""
    renamed = [{EXPORT_NAMES.get(k, k): v for k, v in r.items()} for r in rows]
    cols = [replace(c, key=EXPORT_NAMES.get(c.key, c.key)) for c in columns]
    return ExportTable(renamed, renamed, cols, EXPORT_NAMES.get(first, first), what, context)


#: The app's layer-row keys that are estimates, and their names in every export (``est_`` prefix:
#: ``metrics_core.report.rows.ESTIMATE_KEYS``; the share of the model's estimated time, in percent).
EXPORT_NAMES: dict[str, str] = {
    "time_s": "est_time_s",
    "compute_s": "est_compute_s",
    "memory_s": "est_memory_s",
    "overhead_s": "est_overhead_s",
    "share": "est_share_pct",
}
