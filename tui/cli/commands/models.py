"""``modeltui models``: the model catalog with published reference figures."""

from __future__ import annotations

import argparse
import sys

from metrics_core.report.export import to_json
from tui.cli.textable import text_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the model catalog (published params / GMACs)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--task", default=None, help="only this task (classification, segmentation, video, ...)")


def run(args: argparse.Namespace) -> int:
    from metrics_core.common import units
    from metrics_core.sources.catalog import catalog

    specs = [s for s in catalog() if args.task is None or s.task == args.task]
    if args.format == "json":
        sys.stdout.write(to_json([s.to_dict() for s in specs]))
        return 0
    rows = []
    for s in specs:
        ref = s.reference or {}
        rows.append(
            [
                s.name,
                s.family,
                s.task,
                units.human_shape(s.input_shape),
                units.human_count(ref.get("num_params")),
                units.fixed(ref.get("gmacs")),
                "" if s.supported else f"unsupported: {s.reason}",
            ]
        )
    headers = ["Model", "Family", "Task", "Input", "Params (pub.)", "GMACs (pub.)", "Note"]
    print(text_table(headers, rows, [False, False, False, False, True, True, False]))
    print(f"{len(specs)} models; published figures from torchvision weights metadata")
    return 0
