"""The ``/`` filter line: filters as you type, Enter keeps the filter, Escape clears it."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class FilterInput(Input):
    """A hidden-until-needed input line under the table. Posts ``FilterInput.Changed`` (Input's)
    on every keystroke and ``FilterInput.Done`` when focus should go back to the table."""

    #: Shown: while the line has focus these are the keys that act (the screen's are typed into it or taken
    #: by these), so the footer offers them.
    BINDINGS = [Binding("escape", "clear", "Clear filter"), Binding("enter", "submit", "Keep filter")]

    DEFAULT_CSS = """
    FilterInput {
        height: 1;
        border: none;
        padding: 0 1;
        background: $panel;
        display: none;
        &.-open { display: block; }
        &:focus { border: none; background: $boost; }
    }
    """

    class Done(Message):
        """The user finished editing (Enter or Escape)."""

    def __init__(self, placeholder: str = "filter: words to match", id: str | None = None) -> None:  # noqa: A002
        super().__init__(placeholder=placeholder, id=id)

    def open(self) -> None:
        self.add_class("-open")
        self.focus()

    def action_clear(self) -> None:
        self.value = ""
        self.remove_class("-open")
        self.post_message(self.Done())

    async def action_submit(self) -> None:
        if not self.value.strip():
            self.remove_class("-open")
        self.post_message(self.Done())
