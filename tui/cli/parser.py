"""The argument parser class shared by the verbs and the app launch."""

from __future__ import annotations

import argparse


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
