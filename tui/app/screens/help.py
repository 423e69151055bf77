"""The help screen (``?``): every key of every screen, read from the bindings themselves."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.app.benchrun import ITERS, WARMUP

NOTES = (
    "Marks: ✓ analysed · ! partial coverage (an op without a cost rule) · ✗ failed · … analysing.",
    "Sort marker: ▲ smallest first, ▼ largest first. MB = 1e6 bytes; MACs and FLOPs are never mixed.",
    "Roofline columns are estimates under the performance model the settings (o) choose: eager or"
    " compiled kernels, ideal (datasheet peaks) or calibrated (achievable efficiency, launch costs).",
    "Peak memory (est.): activations live at once with ideal tensor lifetimes, plus resident weights.",
    f"Measured (b): median of {ITERS} timed forward passes after {WARMUP} warm-up ones on this machine;"
    " Meas/est = measured median / the estimate on the machine measured (this-machine on the CPU).",
    "Training (T): one step of each selected model on the target (train's figures, estimates); i takes"
    " typed values: batch, optimizer, precision, gpus, accumulation, checkpointing (kept for the"
    " session).",
    "Accuracy: published ImageNet-1k top-1/top-5 % (torchvision weights, timm's results); - = none.",
    "Pareto (f): on the frontier = no other model at least as good on both axes and better on one;"
    " energy = board power x estimated latency, an upper bound.",
)


def key_rows(app, bindings: Iterable[BindingType]) -> list[tuple[str, str]]:  # noqa: ANN001 (App)
    """(keys, description) per binding, keys as the footer shows them."""
    rows = []
    for b in bindings:
        if not isinstance(b, Binding) or not b.description:
            continue
        if b.key_display:
            keys = [b.key_display]
        else:
            keys = [app.get_key_display(Binding(k.strip(), b.action)) for k in b.key.split(",")]
        rows.append((" ".join(keys), b.tooltip or b.description))
    return rows


def sections(app) -> list[tuple[str, list[tuple[str, str]]]]:  # noqa: ANN001 (App)
    from tui.app.screens.catalog import CatalogScreen
    from tui.app.screens.comparison import ComparisonScreen
    from tui.app.screens.layers import LayersScreen
    from tui.app.screens.llm import LlmScreen
    from tui.app.screens.pareto import ParetoScreen
    from tui.app.screens.roofline import RooflineScreen
    from tui.app.screens.train import TrainScreen
    from tui.app.widgets.grid_table import GridTable

    everywhere = key_rows(app, app.BINDINGS) + [("^p", "Command palette: models, targets, presets, export")]
    return [
        ("Everywhere", everywhere),
        ("Comparison", key_rows(app, ComparisonScreen.BINDINGS)),
        ("Catalog", key_rows(app, CatalogScreen.BINDINGS)),
        ("Layers (drill-down)", key_rows(app, LayersScreen.BINDINGS)),
        ("Roofline", key_rows(app, RooflineScreen.BINDINGS)),
        ("Pareto (f)", key_rows(app, ParetoScreen.BINDINGS)),
        ("LLM view (m)", key_rows(app, LlmScreen.BINDINGS)),
        ("Training view (T)", key_rows(app, TrainScreen.BINDINGS)),
        ("Tables", key_rows(app, GridTable.BINDINGS)),
    ]


class HelpScreen(ModalScreen[None]):
    """Keys by screen; Escape or ? closes."""

    BINDINGS = [Binding("escape,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog dialog-tall", id="help"):
            yield Static(self.render_help())

    def render_help(self) -> Table:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True, style="bold")
        grid.add_column()
        for title, rows in sections(self.app):
            grid.add_row(Text(title, style="bold underline"), "")
            for keys, description in rows:
                grid.add_row(keys, description)
            grid.add_row("", "")
        for note in NOTES:
            grid.add_row("", Text(note, style="dim"))
        return grid

    def action_close(self) -> None:
        self.dismiss(None)
