"""The one channel of cache warnings: a damaged or foreign file in the cache folder is ignored, reported
once per process through :func:`warn` and rebuilt by its reader (the result cache ``runtime.cache``, the LLM
captures ``runtime.llm_cache``, the timm index ``sources.timm_source``, this machine's measured bandwidth
``perf.this_machine``).

The CLI prints ``modeltui: warning: MESSAGE`` on stderr; the app routes them to a notification
(:func:`set_warning_handler`). A missing file is no warning: it is simply built. Standard library only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

WarningHandler = Callable[[str], None]


def _stderr_handler(message: str) -> None:
    print(f"modeltui: warning: {message}", file=sys.stderr, flush=True)


_handler: WarningHandler = _stderr_handler
_warned: set[str] = set()
_pending: list[str] = []


def set_warning_handler(handler: WarningHandler | None) -> WarningHandler:
    """Route cache warnings to ``handler`` (the app: a notification); None restores the stderr line.
    Returns the previous handler. Every warning is also kept for :func:`take_warnings`."""
    global _handler
    previous = _handler
    _handler = handler or _stderr_handler
    return previous


def warn(message: str) -> None:
    """Report a cache problem once per process (same message twice is reported once)."""
    if message in _warned:
        return
    _warned.add(message)
    _pending.append(message)
    _handler(message)


def take_warnings() -> list[str]:
    """The warnings reported since the last call (for callers that poll instead of installing a handler)."""
    out = list(_pending)
    _pending.clear()
    return out


def ignoring(path_name: str, what: str, why: str, then: str = "it will be rebuilt") -> None:
    """``warn`` the line of a cache file that is ignored: ``ignoring cache file NAME (WHAT): WHY; THEN``."""
    warn(f"ignoring cache file {path_name} ({what}): {why}; {then}")
