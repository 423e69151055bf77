"""The argument parser class shared by the verbs and the app launch."""

from __future__ import annotations

import argparse
import re

#: A value that starts like a negative number (``-1ms``, ``-5,6``): argparse takes any such token that is
#: not a plain number for an option, and says "expected one argument" instead of checking the value.
NEGATIVE_VALUE = re.compile(r"-[0-9.]")


def attach_negative_values(argv: list[str]) -> list[str]:
    """``--opt -1ms`` -> ``--opt=-1ms`` for every long option followed by a negative-looking value, so that
    the option's own check reports it (``--max-latency -1ms``: "must be positive")."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            return out + argv[i:]
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if token.startswith("--") and "=" not in token and nxt is not None and NEGATIVE_VALUE.match(nxt):
            out.append(f"{token}={nxt}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (``modeltui: error: ...``) with exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")

    def _print_message(self, message: str, file=None) -> None:  # noqa: ANN001
        """As argparse's, but a write error (``--help > /dev/full``) propagates: ``tui.cli.main`` makes it
        one line and a non-zero exit instead of argparse's silence."""
        if message:
            import sys

            (file or sys.stderr).write(message)
