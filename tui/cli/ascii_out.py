"""Plain ASCII output for terminals and pipes whose encoding cannot show box-drawing or Braille
characters (``LANG=C``, ``PYTHONIOENCODING=ascii``): charts and tables are transliterated, not crashed
on. Box lines become ``| - +``, Braille plot dots ``*``, typographic marks their ASCII look-alikes; any
other character the encoding lacks becomes ``?``."""

from __future__ import annotations

import contextlib
import sys
from typing import Any, TextIO

#: What an ASCII-only stream gets instead.
REPLACEMENTS: dict[str, str] = {
    "│": "|", "┃": "|", "─": "-", "━": "-", "┌": "+", "┐": "+", "└": "+", "┘": "+", "├": "+", "┤": "+",
    "┬": "+", "┴": "+", "┼": "+", "·": ".", "…": "...", "×": "x", "–": "-", "—": "-", "▲": "^", "▼": "v",
    "✓": "ok", "✗": "x", "←": "<-", "→": "->", "▏": "|", "≤": "<=", "≥": ">=", "≈": "~", "µ": "u",
}  # fmt: skip
TABLE: dict[int, str] = {ord(k): v for k, v in REPLACEMENTS.items()}
TABLE.update({cp: "*" for cp in range(0x2801, 0x2900)})  # Braille dots of plotext's lines
TABLE[0x2800] = " "
PROBE = "│─┌·⣿"


class AsciiStream:
    """A text stream writing through ``TABLE`` to ``stream`` (replacing what is left)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(text.translate(TABLE))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def needs_ascii(stream: TextIO | None) -> bool:
    """Whether ``stream``'s encoding cannot show the characters charts and tables use."""
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        PROBE.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return True
    return False


def ensure_printable() -> None:
    """Transliterate standard output (see module docstring) when its encoding needs it."""
    if sys.stdout is not None and needs_ascii(sys.stdout) and not isinstance(sys.stdout, AsciiStream):
        with contextlib.suppress(AttributeError):
            sys.stdout.reconfigure(errors="replace")  # type: ignore[union-attr]
        sys.stdout = AsciiStream(sys.stdout)  # type: ignore[assignment]


# -- the app: one character per cell ----------------------------------------------------------------------

#: One-cell look-alikes for the app's screen (the CLI's ``REPLACEMENTS`` may take two cells: the app's
#: layout counts one cell per character, so every replacement here is one character).
CELL_REPLACEMENTS: dict[str, str] = {
    "·": ".", "…": ".", "×": "x", "–": "-", "—": "-", "▲": "^", "▼": "v", "✓": "v", "✗": "x", "←": "<",
    "→": ">", "≤": "<", "≥": ">", "≈": "~", "µ": "u", "•": "*", "▶": ">", "◀": "<", "●": "*", "○": "o",
    "⏎": "<", "↑": "^", "↓": "v", "▸": ">", "◂": "<", "−": "-", "Δ": "d",  # keys in the footer, deltas
}  # fmt: skip


class CellTable(dict):
    """``str.translate`` table for a terminal of ``encoding``: a character it can show stays, any other
    becomes a look-alike of the same width (box lines ``- | +``, block elements ``#``, Braille dots ``*``,
    ``CELL_REPLACEMENTS``), else ``?`` per cell. Filled on first use of each character."""

    def __init__(self, encoding: str) -> None:
        super().__init__()
        self.encoding = encoding

    def __missing__(self, cp: int) -> str:
        import unicodedata

        ch = chr(cp)
        try:
            ch.encode(self.encoding)
            out = ch
        except (UnicodeEncodeError, LookupError):
            name = unicodedata.name(ch, "")
            if ch in CELL_REPLACEMENTS:
                out = CELL_REPLACEMENTS[ch]
            elif 0x2500 <= cp <= 0x257F:  # box drawing: a line one way, else a corner or a joint
                words = set(name.split())
                horizontal = bool(words & {"HORIZONTAL", "LEFT", "RIGHT"})
                vertical = bool(words & {"VERTICAL", "UP", "DOWN"})
                out = "-" if horizontal and not vertical else "|" if vertical and not horizontal else "+"
            elif cp in (0x258F, 0x2595):  # one-eighth blocks at the left / right edge: thin vertical lines
                out = "|"
            elif 0x2580 <= cp <= 0x259F:  # block elements: bars, sparklines, scrollbar thumbs
                out = "#"
            elif cp == 0x2800:
                out = " "
            elif 0x2801 <= cp <= 0x28FF:  # Braille plot dots
                out = "*"
            else:
                out = "??" if unicodedata.east_asian_width(ch) in ("W", "F") else "?"
        self[cp] = out
        return out


class CellStream(AsciiStream):
    """A text stream writing through a ``CellTable`` of its own encoding (the app's terminal)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._table = CellTable(getattr(stream, "encoding", None) or "ascii")

    def write(self, text: str) -> int:
        self._stream.write(text.translate(self._table))
        return len(text)


@contextlib.contextmanager
def app_terminal() -> Any:
    """While the app runs: when the terminal stream Textual draws to (``sys.__stderr__``) cannot encode
    box-drawing characters (``LANG=C`` without UTF-8 mode, a Latin-1 locale, ``PYTHONIOENCODING=ascii``),
    it is wrapped in a ``CellStream``, so the screen shows ``| - +`` instead of ``\\u2502`` escapes."""
    original = sys.__stderr__
    if original is None or not needs_ascii(original):
        yield
        return
    sys.__stderr__ = CellStream(original)  # type: ignore[misc]
    try:
        yield
    finally:
        sys.__stderr__ = original  # type: ignore[misc]
