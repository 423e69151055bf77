"""The catalog picker: every model grouped by task and family, with published figures, a filter,
presets and custom models. Picks are pending until Enter compares them; Escape backs out unchanged."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from metrics_core.common import units
from metrics_core.common.name_filter import name_matches
from tui.app.screens.filtered_table import FilteredTableScreen
from tui.app.widgets.filter_input import FilterInput
from tui.app.widgets.footer import AppFooter
from tui.app.widgets.grid_table import GridColumn, GridRow, GridTable
from tui.app.widgets.status_bar import StatusBar


def _preset_count() -> int:
    from metrics_core.sources.catalog import PRESETS

    return len(PRESETS)


#: Number keys of the presets (the shipped ones, at most nine): help lists exactly the keys that work.
MAX_PRESET_KEYS = min(9, _preset_count())
SELECTED_MARK, UNSELECTED_MARK = "[x]", "[ ]"

PUBLISHED = "Published (default weights)"
COLUMNS = (
    GridColumn("mark", "", numeric=False),
    GridColumn("name", "Model", numeric=False, max_width=30),
    GridColumn("input", "Input", PUBLISHED, numeric=False),
    GridColumn("params", "Params", PUBLISHED),
    GridColumn("gmacs", "GMACs", PUBLISHED),
    GridColumn("acc", "Acc@1", PUBLISHED),
    GridColumn("note", "Note", "", numeric=False, max_width=60),
)


def spec_matches(spec: Any, text: str) -> bool:
    """Every word of the filter starts a token of the model's name, family or task, or the filter is a
    glob on the name (``metrics_core.common.name_filter``: ``vit_b`` finds ``vit_b_16``, not
    ``convit_base``)."""
    return name_matches(text, spec.name, spec.family, spec.task)


def published(spec: Any) -> dict[str, Any]:
    """The published figures of a catalog entry: torchvision's weights metadata, or for ``timm:`` models
    timm's results and benchmark CSVs (``report.accuracy.timm_published``); {} when none."""
    if spec.reference:
        return spec.reference
    if getattr(spec, "source", None) == "timm":
        from metrics_core.report.accuracy import timm_published

        try:
            return timm_published(spec.name.removeprefix("timm:")) or {}
        except (OSError, ValueError):  # a damaged install: no figures rather than a crash
            return {}
    return {}


def gmacs_cell(ref: dict[str, Any], input_shape: Any) -> str:
    """Published GMACs; ``6.80@288`` when they were counted at another image side than the model's."""
    side = ref.get("gmacs_resolution")
    native = input_shape[-1] if input_shape else None
    at = f"@{side}" if side is not None and side != native else ""
    return units.fixed(ref.get("gmacs")) + (at if ref.get("gmacs") is not None else "")


def spec_cells(spec: Any, selected: bool) -> list[str]:
    ref = published(spec)
    acc = ref.get("acc@1")
    return [
        SELECTED_MARK if selected else UNSELECTED_MARK,
        spec.name,
        units.human_shape(spec.input_shape),
        units.human_params(ref.get("num_params")),
        gmacs_cell(ref, spec.input_shape),
        units.pct(acc) if acc is not None else "-",
        "" if spec.supported else f"not analysable: {spec.reason}",
    ]


class CatalogScreen(FilteredTableScreen):
    """Pick models. Space toggles (pending), Enter compares the picks, 1-N apply a preset, Escape backs
    out (clears the filter first) and leaves the comparison as it was."""

    BINDINGS = [
        Binding(
            "escape",
            "back",
            "Back",
            tooltip="Back to the comparison, picks discarded (clears a filter first)",
        ),
        Binding("space", "toggle", "Toggle"),
        Binding("enter", "compare", "Compare", tooltip="Compare the picked models (analyses the new ones)"),
        Binding("slash", "filter", "Filter"),
        Binding(
            "1",
            "preset(1)",
            "Preset",
            key_display=f"1-{MAX_PRESET_KEYS}",
            tooltip="Compare a recommended set (listed below)",
        ),
        Binding("a", "app.add_custom", "Custom"),
        Binding("c", "back", "Back", show=False),
        Binding("h", "app.hardware", "Hardware", show=False),
        Binding("w", "app.roofline", "Roofline", show=False),
        # reachable here, but not in this screen's footer: 80 columns hold the picking keys, help and quit
        Binding("f", "app.pareto", "Pareto", show=False),
        Binding("asterisk", "select_shown(True)", "All shown", show=False),
        Binding("minus", "select_shown(False)", "None shown", show=False),
        *(Binding(str(i), f"preset({i})", "", show=False) for i in range(2, MAX_PRESET_KEYS + 1)),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.picked: list[str] | None = None  # the pending selection (None until the session is read)
        self._initial: list[str] = []

    def on_mount(self) -> None:
        self._initial = list(self.app.session.selected)
        self.picked = list(self._initial)

    def is_picked(self, name: str) -> bool:
        if self.picked is None:
            return name in self.app.session.selected
        return name in self.picked or self._added_here(name)

    def _added_here(self, name: str) -> bool:
        """A custom model added from this screen (the add dialog selects it at once)."""
        s = self.app.session
        return name in s.selected and name not in self._initial

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
                chosen = self.is_picked(spec.name)
                kind = "marked" if chosen else ("pending" if not spec.supported else "")
                out.append(GridRow(spec.name, spec_cells(spec, chosen), kind))
        known = {spec.name for spec in s.catalog}
        picked = [*(self.picked if self.picked is not None else s.selected), *s.selected]
        custom = [
            n for n in dict.fromkeys(picked) if n not in known and self.is_picked(n) and name_matches(text, n)
        ]
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
        done, total = len(self.final_selection()), len(s.catalog)
        self.query_one("#catalog-help", Static).update(
            Text.assemble(
                (f" {done} picked", "bold"),
                f" of {total} · space toggle · enter compare · / filter · * all shown · - none · esc back",
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
        self._toggle(message.key)

    def action_toggle(self) -> None:
        key = self.table.cursor_key
        if key is not None and not key.startswith("§"):
            self._toggle(key)

    def _toggle(self, name: str) -> None:
        """Flip a pending pick (nothing is analysed or dropped until Enter)."""
        assert self.picked is not None
        if self.is_picked(name):
            self.picked = [n for n in self.picked if n != name]
            if self._added_here(name):  # a custom model added here, unpicked again
                self.app.session.deselect(name)
        else:
            self.picked.append(name)
        self.refresh_view()

    def action_select_shown(self, on_: bool) -> None:
        assert self.picked is not None
        shown = [r.key for r in self.table.rows if r.kind != "section"]
        for name in shown:
            if self.is_picked(name) != on_:
                self._toggle(name)
        self.refresh_view()

    def final_selection(self) -> list[str]:
        """The picks, then custom models added from this screen, in order."""
        s = self.app.session
        picked = self.picked if self.picked is not None else s.selected
        added = [n for n in s.selected if self._added_here(n) and n not in picked]
        return [*picked, *added]

    def action_preset(self, number: int) -> None:
        presets = list(self.app.session.presets)
        if number - 1 < len(presets):
            self.app.apply_preset(presets[number - 1])
            self.app.pop_screen()

    def action_back(self) -> None:
        """Clear the filter, or go back to the comparison as it was (pending picks discarded; custom
        models added here stay: adding one was its own confirmed action)."""
        if self.clear_filter():
            self.refilter()
            return
        self.app.pop_screen()

    def action_compare(self) -> None:
        """Compare the picks: the selection becomes exactly them, new ones are analysed."""
        missing = self.app.session.replace_selection(self.final_selection())
        self.app.pop_screen()
        self.app.refresh_views()
        self.app.analyze(missing)
