"""The roofline chart of the selected target and precision: one point per model, or per op of one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from tui.app.session import PER_MODEL, records_loaded
from tui.app.widgets.footer import AppFooter
from tui.app.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from tui.app.application import ModeltuiApp


class RooflineScreen(Screen[None]):
    """Aggregate points of the selected models, or (``v``) the ops of ``model``."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("v", "toggle_points", "Models/ops"),
        Binding("p", "app.precision", "Precision"),
    ]

    app: ModeltuiApp
    #: set once mounted: refresh_view() before that has nothing to draw into
    ready = False

    def __init__(self, model: str | None = None) -> None:
        super().__init__()
        self.model = model
        self.per_op = model is not None

    def compose(self) -> ComposeResult:
        yield StatusBar("roofline")
        yield Static(id="chart")
        yield AppFooter()

    def on_mount(self) -> None:
        self.ready = True
        self.refresh_view()

    def on_resize(self) -> None:
        self.refresh_view()

    def chart_text(self, width: int, height: int) -> str:
        """The chart for the current state (plain or ANSI-coloured text), or why there is none."""
        from metrics_core.perf.roofline_plot import model_point, op_points, render_roofline

        s = self.app.session
        modes = f"{s.execution}/{s.efficiency}"
        default = "" if s.target_chosen else " (default)"
        for report in s.ok_reports():
            if not records_loaded(report):
                self.app.ensure_records(report.model)  # estimates need the records: a worker loads them
        path = s.analysed[1]  # the models' analysed dtype's path (a bf16 model with no dtype chosen: bf16)
        if self.per_op and self.model is not None:
            estimate = s.estimate(self.model)
            if estimate is None:
                report = s.reports.get(self.model)
                if report is not None and report.ok and not records_loaded(report):
                    return f"{self.model}: loading its ops…"
                return f"{self.model}: no analysed ops yet"
            points = op_points(estimate)
            path = estimate.precision
            titles = [
                f"{self.model} ops on {s.target_label}, {s.precision_label} (est., {s.modes_label})",
                f"{self.model} ops on {s.target.id}, peak {path} (est., {modes})",
                f"{self.model} ops, peak {path} (est.)",
            ]
        else:
            estimates = [e for e in (s.estimate(r.model) for r in s.ok_reports()) if e is not None]
            points = [model_point(e) for e in estimates]
            if not points:
                return "No analysed models yet: select models in the catalog (c)."
            if path == PER_MODEL:  # models in different dtypes: the roof of the first, each path named
                path = estimates[0].precision
                points = [model_point(e, f"{e.model} ({e.precision})") for e in estimates]
            titles = [
                f"{s.target_label}: peak {path} roofline (est., {s.modes_label})",
                f"{s.target.id}{default}: peak {path} roofline (est., {modes})",
                f"{s.target.id}: peak {path} roofline (est.)",
            ]
        # the longest title that fits over the plot (the y-axis labels take 5 columns): never cut
        title = next((t for t in titles if len(t) <= width - 6), titles[-1])
        return render_roofline(
            s.target,
            path,
            points,
            width,
            height,
            per_op=self.per_op,
            title=title,
            color=not self.app.no_color,
        )

    def refresh_view(self) -> None:
        if not self.ready:
            return
        self.query_one(StatusBar).update(self.app.session, self.app.analysing)
        chart = self.query_one("#chart", Static)
        width, height = chart.size
        if width < 20 or height < 5:
            return
        chart.update(Text.from_ansi(self.chart_text(width, height), no_wrap=True))

    def action_toggle_points(self) -> None:
        if self.model is None:
            self.notify("open the roofline from a model's layers (Enter, then w) to see its ops")
            return
        self.per_op = not self.per_op
        self.refresh_view()

    def action_back(self) -> None:
        self.app.pop_screen()
