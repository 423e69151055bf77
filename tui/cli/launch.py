"""``modeltui [MODEL...] [options]``: check the arguments, then open the app.

Bad arguments fail before the terminal is taken over, with one line (``modeltui: error: ...``, exit
status 2) and suggestions for unknown models or hardware. Nothing here imports torch.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from tui.cli.commands.options import add_analysis_args, add_hardware_args, options_from_args
from tui.cli.parser import OneLineParser


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="modeltui",
        description="Open the terminal app: pick models, compare them, drill into their layers and place "
        "them on a hardware roofline. Headless verbs: modeltui compare|layers|models|hardware|roofline ... "
        "(modeltui --help lists them).",
    )
    p.add_argument("models", nargs="*", metavar="MODEL", help="catalog names or package.module:factory")
    add_analysis_args(p)
    add_hardware_args(p)
    return p


def main(argv: Sequence[str]) -> int:
    """Parse and validate ``argv``; run the app. ``ModeltuiError`` propagates to ``tui.cli.main``."""
    import sys

    from metrics_core.common.errors import UsageError
    from metrics_core.perf.hardware import get_target
    from metrics_core.perf.roofline import precision_for
    from metrics_core.runtime import pool
    from metrics_core.sources.catalog import get_spec

    args = build_parser().parse_args(list(argv))
    options = options_from_args(args)
    for name in args.models:
        get_spec(name)
    target_id = precision = None
    if args.hardware:
        target = get_target(args.hardware, extra_files=args.hardware_file)
        target_id = target.id
        precision = precision_for(target, options.dtype, use_tf32=args.tf32)

    if not (_is_terminal(sys.stdin) and _is_terminal(sys.stdout)):
        raise UsageError(
            "the app needs a terminal (standard input and output are not one); for scripts use a verb, "
            "e.g. modeltui compare resnet18 --format json"
        )
    from tui.app.application import ModeltuiApp
    from tui.cli.commands.perfmode import modes_of

    app = ModeltuiApp(
        models=args.models,
        options=options,
        target_id=target_id,
        precision=precision,
        hardware_files=args.hardware_file,
        modes=tuple(modes_of(args).values()),  # --execution / --efficiency (default eager, calibrated)
    )
    app.handle_signals = True
    pool.isolate()  # user model code runs in worker processes only
    pool.quiet_resource_tracker()  # before the app owns the terminal
    from tui.cli.ascii_out import app_terminal

    with app_terminal():  # box lines as | - + where the terminal's encoding has none
        app.run()
    if app.terminated_by is not None:
        import signal

        print(f"modeltui: terminated ({signal.Signals(app.terminated_by).name})", file=sys.stderr)
    return app.return_code or 0


def _is_terminal(stream: object) -> bool:
    try:
        return bool(stream is not None and stream.isatty())  # type: ignore[attr-defined]
    except (ValueError, OSError):  # a closed stream
        return False
