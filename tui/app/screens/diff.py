"""The diff screen (``D`` on the comparison): the highlighted model against a reference model, in totals and
per module (``metrics_core.api.diff.ReportDiff``: aligned by path for variants of one architecture, by
stage order otherwise; deltas are the highlighted model minus the reference).

Keys: ``-`` / ``+`` module depth, ``r`` swaps the two models. Estimated times come from the selected target,
precision and performance model, as everywhere in the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from metrics_core.common import units
from tui.app.session import records_loaded
from tui.app.widgets.footer import AppFooter
from tui.app.widgets.grid_table import GridColumn, GridRow, GridTable
from tui.app.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from tui.app.application import ModeltuiApp

COLUMNS: tuple[GridColumn, ...] = (
    GridColumn("module", "Module", numeric=False, max_width=32, truncate_left=True),
    GridColumn("status", "Status", numeric=False),
    GridColumn("params", "Params Δ"),
    GridColumn("macs", "MACs Δ"),
    GridColumn("bytes", "Bytes Δ"),
    GridColumn("time", "Time Δ (est.)"),
)


def signed(value: float | None, form: Any) -> str:  # noqa: ANN401
    """``+1.20M`` / ``-3.00 MB`` / ``0`` / ``-`` (no such module on one side)."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    return ("+" if value > 0 else "-") + form(abs(value))


class DiffScreen(Screen[None]):
    """``second`` against ``first`` (model names of the comparison)."""

    DEFAULT_CSS = """
    DiffScreen #diff-totals { height: auto; max-height: 12; padding: 0 1; }
    DiffScreen GridTable { height: 1fr; }
    """

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("minus", "depth(-1)", "Depth -", tooltip="Group modules one level shallower"),
        Binding("plus,equals_sign", "depth(1)", "Depth +", tooltip="Group modules one level deeper"),
        Binding("r", "swap", "Swap", tooltip="Swap the reference and the compared model"),
    ]

    app: ModeltuiApp

    def __init__(self, first: str, second: str, depth: int = 1) -> None:
        super().__init__()
        self.first, self.second, self.depth = first, second, depth
        self.diff: Any = None

    def compose(self) -> ComposeResult:
        yield StatusBar("diff")
        yield Static(id="diff-totals")
        yield GridTable(empty_text="Loading the two models' per-op records ...")
        yield AppFooter()

    def on_mount(self) -> None:
        self.query_one(GridTable).set_columns(COLUMNS, fixed=2)
        self.refresh_view()
        self.query_one(GridTable).focus()

    def refresh_view(self) -> None:
        """Recompute the diff when both reports' records are loaded (asks for them otherwise)."""
        from metrics_core.api.diff import TOTALS, ReportDiff
        from metrics_core.api.report import Report

        s = self.app.session
        self.query_one(StatusBar).update(s, self.app.analysing)
        reports = [s.reports.get(n) for n in (self.first, self.second)]
        totals = self.query_one("#diff-totals", Static)
        if any(r is None or not r.ok for r in reports):
            totals.update(f"{self.first} and {self.second} must both be analysed to compare them.")
            self.query_one(GridTable).set_rows([])
            return
        missing = [r.model for r in reports if not records_loaded(r)]
        if missing:
            for name in missing:
                self.app.ensure_records(name)
            totals.update("loading per-op records of " + ", ".join(missing) + " ...")
            return
        first, second = (
            Report(r, s.target, s.precision_of(r), s.execution, s.efficiency) if s.precision else Report(r)
            for r in reports
        )
        self.diff = ReportDiff(first, second, self.depth)
        fmt = {k: f for k, _, f in TOTALS}
        labels = {k: label for k, label, _ in TOTALS}
        lines = [
            f"{self.second} − {self.first}: modules aligned by {self.diff.aligned_by}, depth {self.depth}"
            + (_estimated_on(s.target, first, second) if first.estimate is not None else "")
        ]
        for t in self.diff.totals():
            f = fmt[t["metric"]]
            pct = f" ({units.pct(t['pct'])})" if t["pct"] is not None else ""
            lines.append(
                f"{labels[t['metric']]:<15} {f(t['first']):>11} → {f(t['second']):>11}  "
                f"{signed(t['delta'], f)}{pct}"
            )
        totals.update("\n".join(lines))
        rows = []
        for m in self.diff.modules():
            cells = [
                m["module"],
                m["status"],
                signed(m["delta_params"], units.human_params),
                signed(m["delta_macs"], units.human_count),
                signed(m["delta_bytes"], units.human_bytes),
                signed(m["delta_est_time_s"], units.human_time),
            ]
            kind = "" if m["status"] != "same" else "pending"
            rows.append(GridRow(key=m["module"], cells=cells, kind=kind))
        self.query_one(GridTable).set_rows(rows)

    def action_depth(self, step: int) -> None:
        self.depth = max(1, self.depth + step)
        self.refresh_view()

    def action_swap(self) -> None:
        self.first, self.second = self.second, self.first
        self.refresh_view()

    def action_back(self) -> None:
        self.app.pop_screen()


def _estimated_on(target, first, second) -> str:  # noqa: ANN001 (HardwareTarget, api.report.Report x2)
    """``'; times estimated on NVIDIA H100 SXM5 80GB bf16/fp32'``: each side on its analysed dtype's path."""
    return (
        f"; times estimated on {target.name} {'/'.join(dict.fromkeys((first.precision, second.precision)))}"
    )
