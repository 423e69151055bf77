"""The base of the screens built around one ``GridTable`` with a ``/`` ``FilterInput`` under it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.screen import Screen

from tui.app.widgets.filter_input import FilterInput
from tui.app.widgets.grid_table import GridRow, GridTable

if TYPE_CHECKING:
    from tui.app.application import ModeltuiApp


class FilteredTableScreen(Screen[None]):
    """On mount: ``prepare_table``, ``refresh_view``, focus the table. ``/`` opens the filter, which
    redraws the rows (``refilter``) as it changes and gives the focus back to the table when done.

    Textual calls the message handlers of every class in the MRO, so subclasses customise through
    the hooks below rather than by defining ``on_mount`` or ``_filter_changed`` again."""

    app: ModeltuiApp
    #: set once mounted: refresh_view() before that has nothing to draw into
    ready = False

    @property
    def table(self) -> GridTable:
        return self.query_one(GridTable)

    def on_mount(self) -> None:
        self.ready = True
        self.prepare_table()
        self.refresh_view()
        self.table.focus()

    def prepare_table(self) -> None:
        """Set up the table once, before the first ``refresh_view``."""

    def refresh_view(self) -> None:
        """Redraw everything the screen shows."""
        raise NotImplementedError

    def rows(self) -> list[GridRow]:
        """The table's rows for the current filter text."""
        raise NotImplementedError

    def refilter(self) -> None:
        """Redraw the rows after the filter text changed."""
        self.table.set_rows(self.rows())

    def clear_filter(self) -> bool:
        """Clear and close the filter; False (and nothing done) when it was already empty."""
        box = self.query_one(FilterInput)
        if not box.value:
            return False
        box.action_clear()
        return True

    def action_filter(self) -> None:
        self.query_one(FilterInput).open()

    @on(FilterInput.Changed)
    def _filter_changed(self) -> None:
        self.refilter()

    @on(FilterInput.Done)
    def _filter_done(self) -> None:
        self.table.focus()
