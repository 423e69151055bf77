"""Plain-text tables for the headless CLI (cells are already formatted strings).

A table wider than the output width (``set_width``; the CLI sets the terminal's width, 80 when output is
not a terminal, unlimited with ``--wide``) is stacked: its columns are split into blocks that fit, one
under the other, each repeating the first (key) column. ``wrap_prose`` folds over-long lines of prose
(titles, headers, notes) the same way.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

#: Columns between two cells.
GAP = 2
#: The narrowest a folded text column gets (narrower: the row overflows instead).
MIN_FOLDED = 16

_width: int | None = None


def set_width(width: int | None) -> None:
    """Fold tables and prose to ``width`` columns from now on (None: never fold)."""
    global _width
    _width = width


def output_width() -> int | None:
    """The width tables are folded to (None: unlimited)."""
    return _width


def text_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool], width: int | None = None
) -> str:
    """Columns padded to their widest cell; numeric columns right-aligned; a rule under the header.
    Wider than ``width`` (default: ``output_width()``): stacked blocks of columns, each starting with the
    first column."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    limit = width if width is not None else _width
    blocks = _blocks(widths, limit) if limit else [list(range(len(headers)))]

    def line(cells: Sequence[str], cols: Sequence[int], sizes: dict[int, int]) -> list[str]:
        """One row; a text cell wider than its (folded) column continues on the following lines."""
        pieces = {
            i: textwrap.wrap(cells[i], sizes[i], break_on_hyphens=False) or [""]
            if i < len(cells) and len(cells[i]) > sizes[i]
            else [cells[i] if i < len(cells) else ""]
            for i in cols
        }
        lines = []
        for k in range(max(len(p) for p in pieces.values())):
            parts = []
            for i in cols:
                cell = pieces[i][k] if k < len(pieces[i]) else ""
                parts.append(cell.rjust(sizes[i]) if numeric[i] else cell.ljust(sizes[i]))
            lines.append((" " * GAP).join(parts).rstrip())
        return lines

    out = []
    for cols in blocks:
        sizes = {i: widths[i] for i in cols}
        last = cols[-1]
        used = sum(widths[i] for i in cols[:-1]) + GAP * (len(cols) - 1)
        if limit and used + widths[last] > limit and not numeric[last] and limit - used >= MIN_FOLDED:
            sizes[last] = limit - used  # a long text column (reasons, notes) folds within the width
        if out:
            out.append("")
        out += line(headers, cols, sizes)
        out.append((" " * GAP).join("-" * sizes[i] for i in cols))
        for r in rows:
            out += line(r, cols, sizes)
    return "\n".join(out)


def _blocks(widths: Sequence[int], limit: int) -> list[list[int]]:
    """Column indices per stacked block: the first column, then as many following ones as fit."""
    if sum(widths) + GAP * (len(widths) - 1) <= limit or len(widths) <= 2:
        return [list(range(len(widths)))]
    blocks: list[list[int]] = []
    current = [0]
    used = widths[0]
    for i in range(1, len(widths)):
        if len(current) > 1 and used + GAP + widths[i] > limit:
            blocks.append(current)
            current, used = [0], widths[0]
        current.append(i)
        used += GAP + widths[i]
    blocks.append(current)
    return blocks


def wrap_prose(text: str, width: int | None = None) -> str:
    """Lines of ``text`` longer than ``width`` (default ``output_width()``) that read as prose (no run of
    two spaces, as table rows and charts have) folded at spaces, continuation lines indented by two more
    than the line's own indent. Other lines are kept as they are."""
    limit = width if width is not None else _width
    if not limit:
        return text
    out = []
    for raw in text.split("\n"):
        body = raw.lstrip(" ")
        if len(raw) <= limit or "  " in body or " " not in body:
            out.append(raw)
            continue
        indent = " " * (len(raw) - len(body))
        out.extend(
            textwrap.wrap(
                body,
                limit,
                initial_indent=indent,
                subsequent_indent=indent + "  ",
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return "\n".join(out)
