"""The catalog picker: every model grouped by task and family, with published figures, a filter,
presets and custom models. Leaving it starts the analysis of what was picked."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from metrics_core.common import units
from tui.app.screens.filtered_table import FilteredTableScreen
from tui.app.widgets.filter_input import FilterInput
from tui.app.widgets.footer import AppFooter
from tui.app.widgets.grid_table import GridColumn, GridRow, GridTable
from tui.app.widgets.status_bar import StatusBar

MAX_PRESET_KEYS = 9
SELECTED_MARK, UNSELECTED_MARK = "[x]", "[ ]"

COLUMNS = (
    GridColumn("mark", "", numeric=False),
    GridColumn("name", "Model", numeric=False, max_width=30),
    GridColumn("input", "Input", "Published (torchvision weights)", numeric=False),
    GridColumn("params", "Params", "Published (torchvision weights)"),
    GridColumn("gmacs", "GMACs", "Published (torchvision weights)"),
    GridColumn("acc", "Acc@1", "Published (torchvision weights)"),
    GridColumn("note", "Note", "", numeric=False, max_width=60),
)


def spec_matches(spec: Any, text: str) -> bool:
    """Every word of the filter occurs in the model's name, family or task (case-insensitive)."""
    hay = f"{spec.name} {spec.family} {spec.task}".lower()
    return all(w in hay for w in text.lower().split())


def spec_cells(spec: Any, selected: bool) -> list[str]:
    ref = spec.reference or {}
    acc = ref.get("acc@1")
    return [
        SELECTED_MARK if selected else UNSELECTED_MARK,
        spec.name,
        units.human_shape(spec.input_shape),
        units.human_count(ref.get("num_params")),
        units.fixed(ref.get("gmacs")),
        units.pct(acc) if acc is not None else "-",
        "" if spec.supported else f"not analysable: {spec.reason}",
    ]


class CatalogScreen(FilteredTableScreen):
    """Pick models. Space/Enter toggles, 1-9 apply a preset, Escape goes to the comparison."""

    BINDINGS = [
        Binding("escape", "done", "Done"),
        Binding("space,enter", "toggle", "Toggle"),
        Binding("slash", "filter", "Filter"),
        Binding(
            "1", "preset(1)", "Preset", key_display="1-9", tooltip="Compare a recommended set (listed below)"
        ),
        Binding("a", "app.add_custom", "Custom"),
        Binding("c", "done", "Done", show=False),
        Binding("h", "app.hardware", "Hardware", show=False),
        Binding("w", "app.roofline", "Roofline", show=False),
        Binding("asterisk", "select_shown(True)", "All shown", show=False),
        Binding("minus", "select_shown(False)", "None shown", show=False),
        *(Binding(str(i), f"preset({i})", "", show=False) for i in range(2, MAX_PRESET_KEYS + 1)),
    ]

    def compose(self) -> ComposeResult:
        yield StatusBar("catalog")
        yield Static(id="catalog-help")
        yield GridTable(empty_text="Loading the model catalog…")
        yield FilterInput(placeholder="filter: words in the name, family or task")
        yield Static(id="presets")
        yield AppFooter()

    def prepare_table(self) -> None:
        self.table.set_columns(COLUMNS, fixed=2)

    def rows(self) -> list[GridRow]:
        """Section rows per task and family (in catalog order of first appearance), then models."""
        s = self.app.session
        text = self.query_one(FilterInput).value
        groups: dict[tuple[str, str], list[Any]] = {}
        for spec in s.catalog:
            if not text or spec_matches(spec, text):
                groups.setdefault((spec.task, spec.family), []).append(spec)
        out: list[GridRow] = []
        for (task, family), specs in groups.items():
            out.append(GridRow(f"§{task}/{family}", [], "section", span=f"{task} › {family} ({len(specs)})"))
            for spec in specs:
                chosen = spec.name in s.selected
                kind = "marked" if chosen else ("pending" if not spec.supported else "")
                out.append(GridRow(spec.name, spec_cells(spec, chosen), kind))
        known = {spec.name for spec in s.catalog}
        custom = [n for n in s.selected if n not in known and (not text or text.lower() in n.lower())]
        if custom and s.catalog:
            out.append(GridRow("§custom", [], "section", span=f"custom models ({len(custom)})"))
            out.extend(GridRow(n, [SELECTED_MARK, n, "", "", "", "", ""], "marked") for n in custom)
        return out

    def refresh_view(self) -> None:
        if not self.ready:
            return
        s = self.app.session
        self.query_one(StatusBar).update(s, self.app.analysing)
        self.table.set_rows(self.rows())
        done, total = len(s.selected), len(s.catalog)
        self.query_one("#catalog-help", Static).update(
            Text.assemble(
                (f" {done} selected", "bold"),
                f" of {total} · space/enter toggle · / filter · * all shown · - none shown · esc compare",
            )
        )
        self.query_one("#presets", Static).update(self.presets_line(self.size.width))

    def presets_line(self, width: int) -> Text:
        """``Presets: 1 Mobile / edge  2 ...`` folded to ``width`` between items (never inside one);
        the short preset keys replace the titles when the titles would need more than one line."""
        presets = list(self.app.session.presets.items())[:MAX_PRESET_KEYS]
        if not presets:
            return Text("")
        long = sum(len(p.title) + 4 for _, p in presets) + 10 <= width
        line = Text(" Presets:", style="bold")
        x = line.cell_len
        for i, (key, preset) in enumerate(presets, 1):
            label = preset.title if long else key
            item = 3 + len(str(i)) + len(label)
            if x + item > width:
                line.append("\n         ")
                x = 9
            line.append("  ")
            line.append(f"{i}", style="bold reverse")
            line.append(f" {label}")
            x += item
        return line

    def on_resize(self) -> None:
        self.refresh_view()

    @on(GridTable.Selected)
    def _selected(self, message: GridTable.Selected) -> None:
        self.app.toggle_model(message.key)

    def action_toggle(self) -> None:
        key = self.table.cursor_key
        if key is not None and not key.startswith("§"):
            self.app.toggle_model(key)

    def action_select_shown(self, on_: bool) -> None:
        s = self.app.session
        shown = [r.key for r in self.table.rows if r.kind != "section"]
        if on_:
            s.select(shown)
        else:
            for name in shown:
                s.deselect(name)
        self.app.refresh_views()

    def action_preset(self, number: int) -> None:
        presets = list(self.app.session.presets)
        if number - 1 < len(presets):
            self.app.apply_preset(presets[number - 1])
            self.app.pop_screen()

    def action_done(self) -> None:
        """Clear the filter, or go back to the comparison and analyse what was picked."""
        if self.clear_filter():
            self.refilter()
            return
        self.app.pop_screen()
        self.app.analyze(self.app.session.missing())
