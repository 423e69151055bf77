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
