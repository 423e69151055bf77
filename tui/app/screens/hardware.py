"""Hardware picker: a searchable list of targets with their peak and bandwidth."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from metrics_core.common import units
from metrics_core.common.name_filter import name_matches
from metrics_core.perf.hardware import HardwareTarget


def target_label(t: HardwareTarget, current: bool = False) -> Text:
    """Two lines: ``● name  kind`` and ``id  fp32 19.50 TFLOP/s · 1555 GB/s · ridge 12.5`` (the figures
    of its first precision path); ``●`` marks the current target."""
    p = t.precisions[0]
    figures = (
        f"{p} {units.human_rate(t.peak_flops(p))} · {units.fixed(t.memory_bandwidth_gbps, 0)} GB/s · "
        f"ridge {units.fixed(t.ridge_point(p), 1)}"
    )
    mark = "● " if current else "  "
    return Text.assemble(
        mark, (t.name, "bold"), (f"  {t.kind}", "dim"), "\n    ", (f"{t.id}  ", "dim"), figures
    )


def matches(t: HardwareTarget, text: str) -> bool:
    """Every word starts a token of the target's id, name, vendor or kind (``common.name_filter``)."""
    return name_matches(text, t.id, t.name, t.vendor, t.kind)


class HardwareScreen(ModalScreen[str | None]):
    """Type to search; Up/Down and Enter pick; Escape cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("down", "focus_list", "List", show=False),
    ]

    def __init__(self, targets: Sequence[HardwareTarget], current: str) -> None:
        super().__init__()
        self.targets = list(targets)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog dialog-tall"):
            yield Label("Hardware target", classes="dialog-title")
            yield Input(placeholder="search: name, vendor, id", id="hw-search", compact=True)
            yield OptionList(id="hw-list")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one("#hw-search", Input).focus()

    def _fill(self, text: str) -> None:
        box = self.query_one("#hw-list", OptionList)
        box.clear_options()
        shown = [t for t in self.targets if matches(t, text)]
        box.add_options([Option(target_label(t, t.id == self.current), id=t.id) for t in shown])
        ids = [t.id for t in shown]
        if ids:
            box.highlighted = ids.index(self.current) if self.current in ids else 0

    @on(Input.Changed, "#hw-search")
    def _search(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted, "#hw-search")
    def _submit(self) -> None:
        box = self.query_one("#hw-list", OptionList)
        if box.highlighted is not None:
            self.dismiss(box.get_option_at_index(box.highlighted).id)

    @on(OptionList.OptionSelected, "#hw-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_focus_list(self) -> None:
        self.query_one("#hw-list", OptionList).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)
