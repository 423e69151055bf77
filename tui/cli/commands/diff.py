"""``modeltui diff A B``: how model B differs from model A, in totals and per module (``Report.diff``)."""

from __future__ import annotations

import argparse
import sys

from metrics_core.common.errors import model_error
from tui.cli.commands.analysis import analyze_with_progress, exit_status, resolve_hardware
from tui.cli.commands.options import add_analysis_args, add_hardware_args, options_from_args, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diff",
        help="totals and per-module deltas of model B against model A (params, MACs, bytes, est. time)",
    )
    p.add_argument("first", metavar="A", help="the reference model")
    p.add_argument("second", metavar="B", help="the model compared with it (deltas are B - A)")
    p.add_argument("--depth", type=positive_int, default=1, metavar="N", help="module path depth (default 1)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    add_analysis_args(p, engine=False)
    add_hardware_args(p)


def run(args: argparse.Namespace) -> int:
    from metrics_core.api.report import Report
    from tui.cli.commands.perfmode import modes_of

    options = options_from_args(args)
    target, precision = resolve_hardware(args, options.dtype)
    reports = analyze_with_progress([args.first, args.second], options)
    failed = [r for r in reports if r.error]
    for r in failed:
        print(f"modeltui: error: {model_error(r.model, r.error)}", file=sys.stderr)
    if failed:
        return exit_status(reports)
    from metrics_core.perf.roofline import analysed_precision

    def estimate(r) -> dict:  # noqa: ANN001 (ModelReport): each side on its analysed dtype's path
        if target is None:
            return {}
        return {
            "hardware": target,
            "precision": analysed_precision(target, r.dtype, precision),
            **modes_of(args),
        }

    first, second = (Report(r, **estimate(r)) for r in reports)
    d = first.diff(second, args.depth)
    if args.format == "json":
        sys.stdout.write(d.to_json())
    elif args.format == "csv":
        sys.stdout.write(d.to_csv())
    else:
        print(d)
    return 0
