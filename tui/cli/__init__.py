"""The ``modeltui`` console script: headless verbs (``compare``, ``layers`` ...) or, without a verb, the app.

Start-up stays light: torch and torchvision are imported only by the verbs that analyse, never here.

This package owns the console entry point (``main``), the verbs (``commands/``), the plain-text tables
(``textable``) and the app launch (``launch``). May import: ``metrics_core`` and ``tui.app`` (lazily).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from metrics_core.common.errors import ModeltuiError
from tui.cli.commands import VERBS
from tui.cli.parser import OneLineParser


def _verb_modules() -> dict[str, object]:
    mods = {}
    for verb in VERBS:
        try:
            mods[verb] = importlib.import_module(f"tui.cli.commands.{verb}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tui.cli.commands.{verb}":
                raise
    return mods


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = OneLineParser(
        prog="modeltui",
        description="Compare DNN models by size, compute, memory traffic and arithmetic intensity, "
        "and place them on a hardware roofline.",
        epilog="Without a verb, opens the terminal app: modeltui [MODEL...] [--hardware ID] [--dtype D] "
        "[--batch-size N] [--input-shape C H W] [--tf32] [--hardware-file PATH] [--no-cache]. "
        "'modeltui VERB --help' describes a verb.",
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=OneLineParser)
    mods = _verb_modules()
    for mod in mods.values():
        mod.register(sub)  # type: ignore[attr-defined]
    return parser, mods


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if not argv or (argv[0] not in VERBS and argv[0] not in ("-h", "--help")):
            from tui.cli.launch import main as launch_app

            return launch_app(argv)
        parser, mods = build_parser()
        args = parser.parse_args(argv)
        if args.verb is None:
            parser.print_help()
            return 0
        return int(mods[args.verb].run(args))  # type: ignore[attr-defined]
    except ModeltuiError as exc:
        print(f"modeltui: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("modeltui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except SystemExit as exc:  # argparse: --help (0) or a usage error already printed (2)
        return exc.code if isinstance(exc.code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
