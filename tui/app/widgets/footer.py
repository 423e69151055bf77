"""The footer: compact key hints that fit the terminal's width; the command palette hint only where there is
room for it. Keys that do not fit are left out of the footer (they still work; ``?`` lists every key), from
the end, but help and quit always stay."""

from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

#: Terminal width from which the footer also shows the command palette key.
PALETTE_HINT_WIDTH = 120

#: Actions whose keys the footer always shows, whatever the width.
ALWAYS_SHOWN = frozenset({"help", "app.help", "quit", "app.quit"})


def key_cells(key: FooterKey) -> int:
    """Cells a compact footer key takes: its key, a space, its description and the gap after it."""
    return cell_len(key.key_display) + 1 + cell_len(key.description) + 1


def fitting(keys: list[FooterKey], width: int) -> list[FooterKey]:
    """``keys`` in order, less those that do not fit ``width`` cells: the last ones that are not in
    ``ALWAYS_SHOWN`` are left out first."""
    kept = list(keys)
    droppable = [k for k in keys if k.action not in ALWAYS_SHOWN]
    while sum(key_cells(k) for k in kept) - 1 > width and droppable:
        kept.remove(droppable.pop())
    return kept


class AppFooter(Footer):
    def __init__(self) -> None:
        super().__init__(compact=True, show_command_palette=False)
        self._width = 0

    def compose(self) -> ComposeResult:
        items = list(super().compose())
        width = self._width or self.app.size.width
        if any(not isinstance(i, FooterKey) for i in items):  # key groups: Textual's own layout
            yield from items
            return
        kept = fitting(items, width)
        self.styles.grid_size_columns = len(kept)
        yield from kept

    def on_resize(self, event: events.Resize) -> None:
        changed = event.size.width != self._width
        self._width = event.size.width
        self.show_command_palette = event.size.width >= PALETTE_HINT_WIDTH
        if changed:
            self.refresh(recompose=True)
