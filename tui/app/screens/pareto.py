"""The Pareto screen (``f``): published accuracy against a cost of the compared models on the selected
target; frontier lettered and joined, points listed below (Enter opens a model's layers).

Axes: ``x`` cycles the cost (latency, throughput, MACs, params, memory traffic, peak memory, energy),
``y`` switches top-1 / top-5. The target (``h``) and precision (``p``) re-estimate it. Definitions:
``metrics_core.report.pareto`` (frontier), ``metrics_core.perf.tradeoff`` (the values).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from metrics_core.report.pareto import X_AXES, Y_AXES
from tui.app.session import records_loaded
from tui.app.widgets.footer import AppFooter
from tui.app.widgets.grid_table import GridColumn, GridRow, GridTable
from tui.app.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from tui.app.application import ModeltuiApp

X_ORDER: tuple[str, ...] = tuple(X_AXES)
Y_ORDER: tuple[str, ...] = tuple(Y_AXES)
NO_ACCURACY = (
    "No compared model publishes an ImageNet-1k accuracy (torchvision classification models and "
    "timm: models do): add some from the catalog (c)."
)


class ParetoScreen(Screen[None]):
    """Accuracy vs a cost of the analysed models; the frontier marked."""

    DEFAULT_CSS = """
    ParetoScreen #pareto-chart { height: 1fr; min-height: 8; }
    ParetoScreen GridTable { height: 7; border-top: solid $primary 40%; }
    """

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open", "Layers", tooltip="Per-layer drill-down of the highlighted point's model"),
        Binding("x", "next_x", "X axis", tooltip="Cost axis: latency, throughput, MACs, params, memory ..."),
        Binding("y", "next_y", "Y axis", tooltip="Accuracy axis: top-1 or top-5"),
        Binding("p", "app.precision", "Precision"),
    ]

    app: ModeltuiApp
    ready = False

    def __init__(self, x: str = "latency", y: str = "acc1") -> None:
        super().__init__()
        self.x = x
        self.y = y
        self.result: Any = None
        #: model -> "acc measured at 224x224, analysed at 160x160" when the resolutions differ
        self.notes: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield StatusBar("pareto")
        yield Static(id="pareto-chart")
        yield GridTable(empty_text="No point to list: models need an estimate and a published accuracy.")
        yield AppFooter()

    def on_mount(self) -> None:
        self.ready = True
        self.refresh_view()
        self.query_one(GridTable).focus()

    def on_resize(self) -> None:
        self.refresh_view()

    # -- data ---------------------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """Trade-off rows of the analysed models on the current target and precision (estimates need
        the records: loaded by a worker, the screen refreshes when they arrive)."""
        from metrics_core.perf.tradeoff import tradeoff_row

        s = self.app.session
        out = []
        for report in s.ok_reports():
            if not records_loaded(report):
                self.app.ensure_records(report.model)
            estimate = s.estimate(report.model)
            target = s.target if estimate is not None else None
            out.append(tradeoff_row(report, target, s.precision, estimate=estimate))
        return out

    def chart_text(self, width: int, height: int) -> str:
        """The chart for the current axes, or why there is none."""
        from metrics_core.perf.energy import unavailable_reason
        from metrics_core.report.pareto import pareto, render_scatter

        s = self.app.session
        x, y = X_AXES[self.x], Y_AXES[self.y]
        self.result = None
        if not s.ok_reports():
            return "No analysed models yet: select models in the catalog (c)."
        if x.name == "energy" and s.target.board_power_w is None:
            return unavailable_reason(s.target)
        rows = self.rows()
        self.notes = {r["model"]: r["acc_note"] for r in rows if r.get("acc_note")}
        if not any(r.get(y.key) is not None for r in rows):
            return NO_ACCURACY
        self.result = pareto(rows, x, y)
        if not self.result.points:
            return f"No model has both a {x.name} and a {y.name} yet (estimates load in the background)."
        head = f"{s.target.name}, {s.analysed[1]}: {y.label} vs {x.label}; frontier lettered (F below)"
        if self.notes:
            head += "; ! = accuracy at another resolution"
        return head + "\n" + render_scatter(self.result, width=width, height=max(6, height - 1), key=False)

    def table_rows(self) -> list[GridRow]:
        if self.result is None:
            return []
        from metrics_core.report.pareto import markers

        r = self.result
        letters = markers(r)
        points = sorted(r.points, key=lambda p: (-p.x if r.x.higher_is_better else p.x, -p.y))
        return [
            GridRow(
                p.model,
                [
                    letters.get(p.model, ""),
                    p.model,
                    r.x.fmt(p.x),
                    r.y.fmt(p.y) + ("!" if p.model in self.notes else ""),
                ],
                cell_styles={"frontier": "marked"} if p.on_frontier else {},
            )
            for p in points
        ]

    # -- view ---------------------------------------------------------------------------------------
    def refresh_view(self) -> None:
        if not self.ready:
            return
        self.query_one(StatusBar).update(self.app.session, self.app.analysing)
        chart = self.query_one("#pareto-chart", Static)
        width, height = chart.size
        if width < 20 or height < 5:
            return
        chart.update(Text(self.chart_text(width, height), no_wrap=True))
        table = self.query_one(GridTable)
        x, y = X_AXES[self.x], Y_AXES[self.y]
        table.set_columns(
            [
                GridColumn("frontier", "F", numeric=False),
                GridColumn("model", "Model", numeric=False, max_width=30),
                GridColumn("x", x.label.split(" (")[0]),
                GridColumn("y", y.label.split(" (")[0]),
            ],
            fixed=2,
        )
        table.set_rows(self.table_rows())

    # -- actions ------------------------------------------------------------------------------------
    def action_next_x(self) -> None:
        self.x = X_ORDER[(X_ORDER.index(self.x) + 1) % len(X_ORDER)]
        self.refresh_view()

    def action_next_y(self) -> None:
        self.y = Y_ORDER[(Y_ORDER.index(self.y) + 1) % len(Y_ORDER)]
        self.refresh_view()

    def action_open(self) -> None:
        self.open_model(self.query_one(GridTable).cursor_key)

    def on_grid_table_selected(self, message: GridTable.Selected) -> None:
        self.open_model(message.key)

    def open_model(self, name: str | None) -> None:
        """The layers of the model at the highlighted point."""
        from tui.app.screens.layers import LayersScreen

        if name is None:
            return
        report = self.app.session.reports.get(name)
        if report is None or not report.ok:
            self.notify(f"{name} has no analysis to open", severity="warning")
            return
        self.app.push_screen(LayersScreen(name))

    def action_back(self) -> None:
        self.app.pop_screen()
