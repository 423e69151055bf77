"""The footer: compact key hints that fit the terminal's width; the command palette hint only where there is
room for it. Keys that do not fit are left out of the footer (they still work; ``?`` lists every key), from
the end, but help and quit always stay. While a dialog (a modal screen: the hardware picker, export) is open
over the footer's screen, the footer shows the dialog's keys; while a text box has focus, the keys it types
(a printable character: ``q``, ``?``) are left out, since they go into the box."""

from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.keys import _character_to_key
from textual.screen import Screen
from textual.widgets import Footer, Input
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


def typed(key: FooterKey) -> bool:
    """Whether a focused text box takes ``key``'s keystroke as text: a key that is one printable character
    (``q``, ``question_mark``, ``slash``), not a named key drawn as one (``enter``, shown as ``⏎``)."""
    char = key.key_display
    return len(char) == 1 and char.isprintable() and not char.isspace() and _character_to_key(char) == key.key


class AppFooter(Footer):
    def __init__(self) -> None:
        super().__init__(compact=True, show_command_palette=False)
        self._width = 0
        self._watched: Screen | None = None

    def on_mount(self) -> None:
        super().on_mount()
        self.app.screen_change_signal.subscribe(self, self._screen_changed)

    def on_unmount(self) -> None:
        super().on_unmount()
        self.app.screen_change_signal.unsubscribe(self)
        self._watch(None)

    def _watch(self, screen: Screen | None) -> None:
        """Follow the bindings of ``screen`` (a dialog over ours), or of none."""
        if self._watched is not None:
            self._watched.bindings_updated_signal.unsubscribe(self)
        self._watched = screen
        if screen is not None:
            screen.bindings_updated_signal.subscribe(self, self.bindings_changed)

    def _screen_changed(self, top: Screen) -> None:
        stack = self.app.screen_stack
        if self.screen not in stack:
            return
        # a dialog pushed over our screen, or popped back to it
        over = top if top is not self.screen and stack.index(top) > stack.index(self.screen) else None
        self._watch(over)
        self.refresh(recompose=True)

    def _dialog_keys(self, top: Screen) -> list[FooterKey]:
        """The dialog's shown keys, one per action (its first key), as Textual's footer lists them."""
        first: dict[str, FooterKey] = {}
        for _, b, enabled, _tooltip in top.active_bindings.values():
            if b.show and b.action not in first:
                first[b.action] = FooterKey(
                    b.key, self.app.get_key_display(b), b.description, b.action, disabled=not enabled
                )
        return list(first.values())

    def compose(self) -> ComposeResult:
        top = self._watched
        items = self._dialog_keys(top) if top is not None else list(super().compose())
        width = self._width or self.app.size.width
        if any(not isinstance(i, FooterKey) for i in items):  # key groups: Textual's own layout
            yield from items
            return
        if isinstance((top or self.screen).focused, Input):
            items = [k for k in items if not typed(k)]
        kept = fitting(items, width)
        self.styles.grid_size_columns = len(kept)
        yield from kept

    def on_resize(self, event: events.Resize) -> None:
        changed = event.size.width != self._width
        self._width = event.size.width
        self.show_command_palette = event.size.width >= PALETTE_HINT_WIDTH
        if changed:
            self.refresh(recompose=True)
