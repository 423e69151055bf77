"""The footer: compact key hints; the command palette hint only where there is room for it."""

from __future__ import annotations

from textual import events
from textual.widgets import Footer

#: Terminal width from which the footer also shows the command palette key.
PALETTE_HINT_WIDTH = 120


class AppFooter(Footer):
    def __init__(self) -> None:
        super().__init__(compact=True, show_command_palette=False)

    def on_resize(self, event: events.Resize) -> None:
        self.show_command_palette = event.size.width >= PALETTE_HINT_WIDTH
