"""A fast, keyboard-first table: grouped two-line headers, sort marker, fixed columns, span rows.

Rows are pre-formatted strings; only the lines on screen are rendered, so a table of thousands of
rows opens instantly (Textual's DataTable measures every cell up front). Span rows carry one message
across the scrollable columns (a failed model's error); section rows span the whole line (group
headings in the catalog).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

ASCENDING_MARK, DESCENDING_MARK = "▲", "▼"
ELLIPSIS = "…"


@dataclass(frozen=True)
class GridColumn:
    """One column: ``numeric`` columns are right-aligned; ``max_width`` truncates (from the left when
    ``truncate_left``, keeping the end of long module paths)."""

    key: str
    header: str
    group: str = ""
    numeric: bool = True
    max_width: int | None = None
    truncate_left: bool = False


@dataclass
class GridRow:
    """One row. ``kind`` picks a style: ``""``, ``pending``, ``error``, ``marked``, ``section``.

    ``span`` replaces the scrollable cells with one text; a ``section`` row's ``span`` is the whole line.
    ``cell_styles`` maps a column key to a style name (``grid-table--<name>``) for that cell.
    """

    key: str
    cells: Sequence[str]
    kind: str = ""
    span: str | None = None
    cell_styles: Mapping[str, str] = field(default_factory=dict)


def fit(text: str, width: int, left: bool = False) -> str:
    """``text`` cut to ``width`` cells with an ellipsis (at the start when ``left``)."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    return ELLIPSIS + text[-(width - 1) :] if left else text[: width - 1] + ELLIPSIS


class TableMessage(Message):
    """A message from a ``GridTable``: ``control`` is the table, so ``@on(..., "#id")`` can match it."""

    def __init__(self, table: GridTable) -> None:
        super().__init__()
        self.table = table

    @property
    def control(self) -> GridTable:
        return self.table


class GridTable(ScrollView, can_focus=True):
    """The table. Posts ``Highlighted`` when the cursor moves, ``Selected`` when the highlighted row is
    clicked (screens bind Enter themselves, so that the footer names what it does), and
    ``HeaderClicked`` when a column header is clicked."""

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First", show=False),
        Binding("end,G", "jump(-1)", "Last", show=False),
        Binding("right_square_bracket", "group(1)", "Next column group", show=False),
        Binding("left_square_bracket", "group(-1)", "Previous column group", show=False),
        Binding("left", "pan(-1)", "Scroll left", show=False),
        Binding("right", "pan(1)", "Scroll right", show=False),
    ]

    COMPONENT_CLASSES = {
        "grid-table--header",
        "grid-table--group",
        "grid-table--sorted",
        "grid-table--rule",
        "grid-table--cursor",
        "grid-table--cursor-blurred",
        "grid-table--pending",
        "grid-table--error",
        "grid-table--marked",
        "grid-table--section",
        "grid-table--empty",
        "grid-table--memory",
        "grid-table--compute",
        "grid-table--overhead",
        "grid-table--dim",
    }

    DEFAULT_CSS = """
    GridTable {
        height: 1fr;
        background: $surface;
        color: $foreground;
        scrollbar-size: 1 1;
        & > .grid-table--header { text-style: bold; color: $text-primary; }
        & > .grid-table--group { color: $text-muted; }
        & > .grid-table--sorted { text-style: bold reverse; color: $text-accent; }
        & > .grid-table--rule { color: $foreground 30%; }
        & > .grid-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground;
            text-style: bold; }
        & > .grid-table--cursor-blurred { background: $block-cursor-blurred-background; }
        & > .grid-table--pending { color: $text-muted; text-style: italic; }
        & > .grid-table--error { color: $text-error; }
        & > .grid-table--marked { color: $text-success; text-style: bold; }
        & > .grid-table--section { color: $text-secondary; text-style: bold; }
        & > .grid-table--empty { color: $text-muted; text-style: italic; }
        & > .grid-table--memory { color: $text-warning; }
        & > .grid-table--compute { color: $text-success; }
        & > .grid-table--overhead { color: $text-secondary; }
        & > .grid-table--dim { color: $text-muted; }
        &:nocolor > .grid-table--cursor { text-style: reverse bold; }
        &:nocolor > .grid-table--cursor-blurred { text-style: reverse; }
    }
    """

    cursor_row: reactive[int] = reactive(0, always_update=True)

    class Highlighted(TableMessage):
        def __init__(self, table: GridTable, key: str | None) -> None:
            super().__init__(table)
            self.key = key

    class Selected(TableMessage):
        def __init__(self, table: GridTable, key: str) -> None:
            super().__init__(table)
            self.key = key

    class HeaderClicked(TableMessage):
        def __init__(self, table: GridTable, column: str) -> None:
            super().__init__(table)
            self.column = column

    def __init__(
        self,
        *,
        empty_text: str = "Nothing to show",
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns: list[GridColumn] = []
        self.rows: list[GridRow] = []
        self.fixed = 0
        self.sort_key: str | None = None
        self.sort_descending = False
        self.empty_text = empty_text
        #: text over the fixed columns on the first header line (e.g. the sort order)
        self.corner = ""
        self._widths: list[int] = []
        self._starts: list[int] = []  # x of each column block (fixed ones from 0, others from 0 too)
        self._seps: list[bool] = []
        self._fixed_width = 0
        self._scroll_width = 0
        self._index: dict[str, int] = {}

    # -- data ---------------------------------------------------------------------------------------
    @property
    def header_height(self) -> int:
        return 2 if any(c.group for c in self.columns) else 1

    @property
    def cursor_key(self) -> str | None:
        if 0 <= self.cursor_row < len(self.rows):
            return self.rows[self.cursor_row].key
        return None

    @property
    def row_keys(self) -> list[str]:
        return [r.key for r in self.rows]

    def set_columns(self, columns: Sequence[GridColumn], fixed: int = 1) -> None:
        self.columns = list(columns)
        self.fixed = fixed
        self._layout()

    def set_sort(self, key: str | None, descending: bool) -> None:
        self.sort_key = key
        self.sort_descending = descending
        self._layout()

    def set_rows(self, rows: Sequence[GridRow], cursor_key: str | None = None) -> None:
        """Replace the rows; the cursor stays on ``cursor_key`` (default: the current row's key)."""
        keep = cursor_key if cursor_key is not None else self.cursor_key
        old_row = self.cursor_row
        self.rows = list(rows)
        self._index = {r.key: i for i, r in enumerate(self.rows)}
        self._layout()
        target = self._index.get(keep, min(old_row, max(len(self.rows) - 1, 0))) if keep is not None else 0
        self.cursor_row = self._next_selectable(target, 1)

    def move_to(self, key: str) -> None:
        if key in self._index:
            self.cursor_row = self._index[key]

    def _header_label(self, col: GridColumn) -> str:
        if col.key == self.sort_key and self.sort_key is not None:
            return f"{col.header} {DESCENDING_MARK if self.sort_descending else ASCENDING_MARK}"
        return col.header

    def _anchor(self) -> str | None:
        """The key of the leftmost scrollable column on screen (to keep it there across relayouts)."""
        x = int(self.scroll_x)
        if x == 0 or len(self._starts) != len(self.columns):
            return None
        visible = [
            (start, c.key)
            for start, c in zip(self._starts[self.fixed :], self.columns[self.fixed :], strict=True)
            if start <= x
        ]
        return max(visible)[1] if visible else None

    def _layout(self) -> None:
        anchor = self._anchor()
        widths = []
        for i, col in enumerate(self.columns):
            w = cell_len(self._header_label(col))
            for row in self.rows:
                if row.kind == "section" or (row.span is not None and i >= self.fixed):
                    continue
                if i < len(row.cells):
                    w = max(w, cell_len(row.cells[i]))
            if col.max_width is not None:
                w = min(w, max(col.max_width, cell_len(self._header_label(col))))
            widths.append(w)
        self._widths = widths
        # a bar between column groups; the bar after the fixed columns belongs to the fixed area, so it
        # stays put while the other columns scroll
        cols = self.columns
        self._seps = [i > self.fixed and cols[i].group != cols[i - 1].group for i in range(len(cols))]
        self._fixed_bar = 0 < self.fixed < len(self.columns)
        starts, x = [], 0
        self._fixed_width = 0
        for i, w in enumerate(widths):
            if i == self.fixed:
                self._fixed_width = x + int(self._fixed_bar)
                x = 0
            # a column "starts" after its group bar: scrolling there hides the bar of the group before
            starts.append(x + int(self._seps[i]))
            x += w + 2 + int(self._seps[i])
        if self.fixed >= len(widths):
            self._fixed_width = x
        self._starts = starts
        self._scroll_width = x if len(widths) > self.fixed else 0
        self.virtual_size = Size(self._fixed_width + self._scroll_width, self.header_height + len(self.rows))
        keys = [c.key for c in self.columns]
        if anchor in keys and int(self.scroll_x) != self._starts[keys.index(anchor)]:
            # widths changed (new values, a sort marker): keep the same column at the left edge
            self.scroll_to(x=self._starts[keys.index(anchor)], animate=False, immediate=True)
        self.refresh()

    # -- cursor -------------------------------------------------------------------------------------
    def _next_selectable(self, index: int, step: int) -> int:
        """``index`` moved off section rows in direction ``step`` (or back if none that way)."""
        if not self.rows:
            return 0
        index = max(0, min(index, len(self.rows) - 1))
        for direction in (step, -step):
            i = index
            while 0 <= i < len(self.rows):
                if self.rows[i].kind != "section":
                    return i
                i += direction
        return index

    def validate_cursor_row(self, value: int) -> int:
        return max(0, min(value, len(self.rows) - 1)) if self.rows else 0

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._scroll_cursor_into_view()
        self.refresh()
        self.post_message(self.Highlighted(self, self.cursor_key))

    def _body_height(self) -> int:
        return max(1, self.scrollable_content_region.height - self.header_height)

    def _scroll_cursor_into_view(self) -> None:
        top = int(self.scroll_y)
        body = self._body_height()
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + body:
            self.scroll_to(y=self.cursor_row - body + 1, animate=False, immediate=True)

    def action_cursor(self, step: int) -> None:
        self.cursor_row = self._next_selectable(self.cursor_row + step, step)

    def action_page(self, step: int) -> None:
        self.cursor_row = self._next_selectable(self.cursor_row + step * self._body_height(), step)

    def action_jump(self, where: int) -> None:
        if where < 0:
            self.cursor_row = self._next_selectable(len(self.rows) - 1, -1)
        else:
            self.cursor_row = self._next_selectable(0, 1)

    def action_pan(self, step: int) -> None:
        """Scroll horizontally by one column."""
        starts = sorted(set(self._starts[self.fixed :]))
        x = int(self.scroll_x)
        if step > 0:
            nxt = [s for s in starts if s > x]
            target = nxt[0] if nxt else x
        else:
            prev = [s for s in starts if s < x]
            target = prev[-1] if prev else 0
        self.scroll_to(x=target, animate=False)

    def scroll_to_column(self, key: str) -> None:
        """Scroll horizontally so that column ``key`` is fully visible."""
        keys = [c.key for c in self.columns]
        if key not in keys:
            return
        i = keys.index(key)
        if i < self.fixed:
            return
        start = self._starts[i]
        end = start + self._widths[i] + 2
        view = self.scrollable_content_region.width - self._fixed_width
        x = int(self.scroll_x)
        if start < x:
            self.scroll_to(x=start, animate=False)
        elif end > x + view:
            # the first column start from which the whole column fits, so no column shows cut on the left
            fits = [s for s in self._starts[self.fixed :] if s >= end - view]
            self.scroll_to(x=min([start, *fits]), animate=False)

    def scroll_to_group(self, group: str) -> None:
        """Scroll so that the first column of ``group`` is at the left of the scrollable area."""
        for i, col in enumerate(self.columns):
            if i >= self.fixed and col.group == group:
                self.scroll_to(x=self._starts[i], animate=False)
                return

    def action_group(self, step: int) -> None:
        """Scroll to the next (``step`` 1, wrapping to the first) or previous (-1) column group."""
        x = int(self.scroll_x)
        firsts = [
            self._starts[i]
            for i in range(self.fixed, len(self.columns))
            if i == self.fixed or self.columns[i].group != self.columns[i - 1].group
        ]
        if step < 0:
            earlier = [start for start in firsts if start < x]
            self.scroll_to(x=earlier[-1] if earlier else 0, animate=False)
            return
        later = [start for start in firsts if x < start and x < self.max_scroll_x]
        self.scroll_to(x=later[0] if later else 0, animate=False)

    def next_group(self) -> None:
        """Scroll to the next column group (wrapping to the first)."""
        self.action_group(1)

    def action_select(self) -> None:
        key = self.cursor_key
        if key is not None and self.rows[self.cursor_row].kind != "section":
            self.post_message(self.Selected(self, key))

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y < self.header_height:
            column = self._column_at(offset.x)
            if column is not None:
                self.post_message(self.HeaderClicked(self, column))
            return
        row = int(self.scroll_y) + offset.y - self.header_height
        if 0 <= row < len(self.rows) and self.rows[row].kind != "section":
            if row == self.cursor_row:
                self.action_select()
            else:
                self.cursor_row = row

    def _column_at(self, x: int) -> str | None:
        for i, col in enumerate(self.columns):
            start = self._starts[i] if i < self.fixed else self._fixed_width + self._starts[i] - self.pan_x()
            if start <= x < start + self._widths[i] + 2:
                return col.key
        return None

    # -- rendering ----------------------------------------------------------------------------------
    def _style(self, name: str) -> Style:
        """A component style; only the cursor ones paint a background, so that the others (rules,
        marks, bounds) keep the row's background when the cursor is on it."""
        style = self.get_component_rich_style(f"grid-table--{name}")
        if name.startswith("cursor"):
            return style
        return Style(
            color=style.color,
            bold=style.bold,
            italic=style.italic,
            reverse=style.reverse,
            underline=style.underline,
        )

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if not self.columns:
            return Strip.blank(width, base)
        if y < self.header_height:
            fixed, scrolled = self._header_segments(y, base)
            return self._join_line(fixed, scrolled, width, base, pan=True)
        index = int(self.scroll_y) + y - self.header_height
        if not self.rows:
            if y == self.header_height:
                text = fit(self.empty_text, width)
                return Strip([Segment(" " + text, base + self._style("empty"))]).extend_cell_length(
                    width, base
                )
            return Strip.blank(width, base)
        if index >= len(self.rows):
            return Strip.blank(width, base)
        row = self.rows[index]
        style = base
        if row.kind:
            style = base + self._style(row.kind)
        if index == self.cursor_row and row.kind != "section":
            style = style + self._style("cursor" if self.has_focus else "cursor-blurred")
        if row.kind == "section":
            text = fit(row.span or "", max(width - 1, 1))
            return Strip([Segment(" " + text, style)]).extend_cell_length(width, style)
        fixed = self._cell_segments(row, range(self.fixed), style) + self._bar(style)
        if row.span is not None:
            avail = max(width - self._fixed_width - 1, 1)
            span = [Segment(" " + fit(row.span, avail), style)]
            return self._join_line(fixed, span, width, style, pan=False)
        scrolled = self._cell_segments(row, range(self.fixed, len(self.columns)), style)
        return self._join_line(fixed, scrolled, width, style, pan=True)

    def pan_x(self) -> int:
        """Where the scrolled area starts drawing: the first column start at or after ``scroll_x``, so
        that a column at the left edge is never shown cut either (``7 us`` for ``76.67 us``, ``ive`` for
        ``Live``). ``scroll_x`` can stop between starts: scrolled to the end (clamped to the last
        position), by the mouse or the scroll bar; the columns it passes over are the ones before."""
        x = int(self.scroll_x)
        starts = [s for s in self._starts[self.fixed :] if s >= x]
        return min(starts) if starts else x

    def _join_line(
        self, fixed: list[Segment], scrolled: list[Segment], width: int, style: Style, pan: bool
    ) -> Strip:
        left = Strip(fixed, self._fixed_width)
        right = Strip(scrolled)
        avail = max(width - self._fixed_width, 0)
        x = self.pan_x() if pan else 0
        end = self._whole_columns_end(x, avail) if pan else x + avail
        right = right.crop_extend(x, end, style).extend_cell_length(avail, style)
        return Strip.join([left, right]).crop_extend(0, width, style)

    def _whole_columns_end(self, x: int, avail: int) -> int:
        """Where the scrolled area stops drawing: after the last column that fits whole in ``avail``
        cells from ``x``, so that a column at the right edge is never shown cut (a cut number reads as a
        whole one); ``x + avail`` when not even one column fits."""
        ends = [self._starts[i] + self._widths[i] + 2 for i in range(self.fixed, len(self.columns))]
        whole = [e for e in ends if x < e <= x + avail]
        return max(whole) if whole else x + avail

    def _bar(self, style: Style) -> list[Segment]:
        """The bar closing the fixed columns."""
        return [Segment("│", style + self._style("rule"))] if self._fixed_bar else []

    def _sep(self, i: int, style: Style) -> list[Segment]:
        return [Segment("│", style + self._style("rule"))] if self._seps[i] else []

    def _cell_segments(self, row: GridRow, indices: range, style: Style) -> list[Segment]:
        out: list[Segment] = []
        for i in indices:
            col = self.columns[i]
            w = self._widths[i]
            text = row.cells[i] if i < len(row.cells) else ""
            text = fit(text, w, col.truncate_left)
            pad = w - cell_len(text)
            text = " " * pad + text if col.numeric else text + " " * pad
            cell_style = style
            extra = row.cell_styles.get(col.key)
            if extra:
                cell_style = style + self._style(extra)
                if self.cursor_row < len(self.rows) and self.rows[self.cursor_row] is row:
                    cell_style = cell_style + self._style("cursor" if self.has_focus else "cursor-blurred")
            out.extend(self._sep(i, style))
            out.append(Segment(" ", style))
            out.append(Segment(text, cell_style))
            out.append(Segment(" ", style))
        return out

    def _header_segments(self, y: int, base: Style) -> tuple[list[Segment], list[Segment]]:
        group_line = self.header_height == 2 and y == 0
        if group_line and self.corner and self.fixed:
            _, scrolled = self._header_segments_plain(y, base)
            width = self._fixed_width - int(self._fixed_bar)
            corner = self.corner
            if cell_len(corner) > width - 2 and ": " in corner:
                corner = corner.split(": ", 1)[1]  # "sort: Time ▼" -> "Time ▼" where it is narrow
            text = (" " + fit(corner, max(width - 2, 1))).ljust(width)
            return [Segment(text, base + self._style("group")), *self._bar(base)], scrolled
        fixed, scrolled = self._header_segments_plain(y, base)
        return fixed + self._bar(base), scrolled

    def _header_segments_plain(self, y: int, base: Style) -> tuple[list[Segment], list[Segment]]:
        group_line = self.header_height == 2 and y == 0
        header = base + self._style("header")
        group_style = base + self._style("group")
        fixed: list[Segment] = []
        scrolled: list[Segment] = []
        i = 0
        while i < len(self.columns):
            target = fixed if i < self.fixed else scrolled
            if group_line:
                # one label over each run of columns sharing a group
                j = i
                while (
                    j + 1 < len(self.columns)
                    and (j + 1 < self.fixed) == (i < self.fixed)
                    and self.columns[j + 1].group == self.columns[i].group
                ):
                    j += 1
                span = sum(self._widths[k] + 2 + int(self._seps[k]) for k in range(i, j + 1)) - int(
                    self._seps[i]
                )
                target.extend(self._sep(i, base))
                label = self.columns[i].group if i >= self.fixed else ""
                if label:
                    label = fit(f" {label} ", span)
                    fill = span - cell_len(label)
                    text = "─" * (fill // 2) + label + "─" * (fill - fill // 2)
                else:
                    text = " " * span
                target.append(Segment(text, group_style))
                i = j + 1
                continue
            col = self.columns[i]
            w = self._widths[i]
            label = fit(self._header_label(col), w)
            pad = w - cell_len(label)
            style = header + self._style("sorted") if col.key == self.sort_key else header
            target.extend(self._sep(i, base))
            target.append(Segment(" ", header))
            if col.numeric:
                target.extend([Segment(" " * pad, header), Segment(label, style)])
            else:
                target.extend([Segment(label, style), Segment(" " * pad, header)])
            target.append(Segment(" ", header))
            i += 1
        return fixed, scrolled

    def on_resize(self, _event: events.Resize) -> None:
        self._scroll_cursor_into_view()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
