"""Options shared by the analysing verbs, and their conversion to ``AnalysisOptions``."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from metrics_core.common.dtypes import DTYPES
from metrics_core.runtime.options import ENGINES, AnalysisOptions


def int_at_least(minimum: int, what: str) -> Callable[[str], int]:
    """An argparse ``type``: an integer >= ``minimum``; otherwise "expected <what>, got '<text>'"."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


positive_int = int_at_least(1, "a positive integer")


def add_analysis_args(p: argparse.ArgumentParser, engine: bool = True, batch_size: bool = True) -> None:
    if batch_size:
        p.add_argument(
            "--batch-size", type=positive_int, default=1, metavar="N", help="batch size (default 1)"
        )
    p.add_argument(
        "--input-shape",
        type=positive_int,
        nargs="+",
        metavar="D",
        help="per-sample input shape, e.g. 3 224 224 (default: the model's native resolution)",
    )
    p.add_argument("--dtype", choices=DTYPES, default="fp32", help="element type for bytes (default fp32)")
    if engine:
        p.add_argument(
            "--engine",
            choices=ENGINES,
            default="meta",
            help="meta: op capture on the meta device (default); fvcore: fvcore on real tensors (MACs check)",
        )
    p.add_argument("--no-cache", action="store_true", help="ignore and do not write cached results")


def add_hardware_args(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument(
        "--hardware", metavar="ID", required=required, help="hardware target id (modeltui hardware)"
    )
    p.add_argument("--hardware-file", metavar="PATH", action="append", default=[], help="extra hardware TOML")
    p.add_argument(
        "--tf32", action="store_true", help="fp32 on tensor cores (TF32 peak) instead of FP32 peak"
    )


def options_from_args(args: argparse.Namespace) -> AnalysisOptions:
    return AnalysisOptions(
        batch_size=getattr(args, "batch_size", 1),
        dtype=args.dtype,
        input_shape=tuple(args.input_shape) if args.input_shape else None,
        engine=getattr(args, "engine", "meta"),
        use_cache=not args.no_cache,
    ).validated()
