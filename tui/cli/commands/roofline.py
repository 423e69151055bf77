"""``modeltui roofline``: place models on a hardware roofline and estimate latency and throughput.

Every number this verb prints beyond the hardware figures is a roofline estimate (no fusion, no
overlap between ops, peak clocks, every byte from DRAM, no launch overhead unless the target defines
one) and is labelled "(est.)".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence

from metrics_core.common import units
from metrics_core.common.errors import row_error
from metrics_core.common.records import ModelReport
from metrics_core.common.textable import text_table
from metrics_core.perf.hardware import HardwareTarget
from metrics_core.perf.roofline import ModelEstimate, precision_for
from metrics_core.perf.roofline_plot import model_point, op_points, render_roofline
from tui.cli.commands.analysis import (
    analyze_with_progress,
    estimates_for,
    exit_status,
    layout_note,
    refusals_only,
)
from tui.cli.commands.hardware import load_catalog_with_warnings
from tui.cli.commands.options import add_analysis_args, add_hardware_args, options_from_args, positive_int

#: ``text`` is the former name of ``table`` (kept for scripts).
FORMATS = ("table", "json", "text")
ASSUMPTIONS = "no fusion, no overlap between ops, peak clocks, every byte from memory"
#: Rows of the slowest-ops table printed with --per-op.
TOP_OPS = 10


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "roofline", help="roofline chart and estimated latency/throughput of models on a hardware target"
    )
    p.add_argument("models", nargs="+", metavar="MODEL", help="catalog names or package.module:factory")
    add_analysis_args(p, engine=False)
    add_hardware_args(p, required=True)
    p.add_argument("--per-op", action="store_true", help="one chart per model with a point per op")
    p.add_argument("--width", type=positive_int, metavar="W", help="chart width (default: terminal width)")
    p.add_argument("--height", type=positive_int, metavar="H", help="chart height incl. key (default 24)")
    p.add_argument("--format", choices=FORMATS, default="table")


def run(args: argparse.Namespace) -> int:
    catalog = load_catalog_with_warnings(args.hardware_file)
    target = catalog.get(args.hardware)
    options = options_from_args(args)
    precision = precision_for(target, options.dtype, use_tf32=args.tf32)
    reports = analyze_with_progress(list(args.models), options)
    from tui.cli.commands.perfmode import modes_of

    estimates = estimates_for(reports, target, precision, modes_of(args))
    if args.format == "json":
        print(json.dumps(roofline_json(reports, estimates, args.per_op), indent=2))
    elif not estimates:
        refusals_only([(r.model, _failure(r)) for r in reports])
    else:
        from metrics_core.common.textable import output_width

        cols, _ = shutil.get_terminal_size((80, 24))
        width = args.width or max(40, min(output_width() or cols, 160))
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        height = args.height or 24
        print(roofline_text(reports, estimates, target, precision, width, height, args.per_op, color))
    return exit_status(reports) or (1 if any(r.model not in estimates for r in reports) else 0)


def _failure(r: ModelReport) -> str:
    return r.error or f"no per-op records (engine {r.engine}); the roofline needs the meta engine"


def roofline_json(reports: Sequence[ModelReport], estimates: dict, per_op: bool) -> list[dict]:
    """One object per model: the estimate's fields (``"estimate": true``), or ``model`` + ``error``."""
    out = []
    for r in reports:
        est = estimates.get(r.model)
        out.append(est.to_dict(include_ops=per_op) if est else {"model": r.model, "error": _failure(r)})
    return out


def roofline_text(
    reports: Sequence[ModelReport],
    estimates: dict,
    target: HardwareTarget,
    precision: str,
    width: int,
    height: int,
    per_op: bool,
    color: bool = False,
) -> str:
    """Chart(s), the per-model estimate table, then (``per_op``) the slowest ops, then errors."""
    parts = []
    if per_op:
        for model, est in estimates.items():
            title = f"{model} on {target.name}: {est.precision} roofline, per op (estimates)"
            pts = op_points(est)
            parts.append(render_roofline(target, est.precision, pts, width, height, True, title, color=color))
    else:
        # each model under the roof of its own estimate's path (a bf16 model without --dtype: bf16), one
        # chart per path
        by_path: dict[str, list] = {}
        for est in estimates.values():
            by_path.setdefault(est.precision, []).append(model_point(est))
        for path, points in by_path.items():
            parts.append(render_roofline(target, path, points, width, height, color=color))
    parts.append(estimate_table(reports, estimates, target, precision))
    if per_op:
        parts.extend(slowest_ops_table(est) for est in estimates.values())
    notes = []
    for r in reports:
        if r.model not in estimates:
            notes.append(f"  {r.model}: ERROR {row_error(r.model, _failure(r))}")
        elif not r.coverage.complete:
            ops = ", ".join(f"{op} x{n}" for op, n in sorted(r.coverage.uncovered.items()))
            notes.append(f"  {r.model}: partial coverage; ops without a cost rule count as bytes only: {ops}")
    if notes:
        parts.append("== Notes ==\n" + "\n".join(notes))
    return "\n\n".join(parts)


def estimate_table(
    reports: Sequence[ModelReport], estimates: dict, target: HardwareTarget, precision: str
) -> str:
    """One row per model: latency, throughput, attained FLOP/s, % of peak, bound, memory-bound time."""
    paths = list(dict.fromkeys(e.precision for e in estimates.values())) or [precision]
    per_row = len(paths) > 1  # models analysed in different dtypes: each row names its path
    rate = "OP/s" if paths == ["int8"] else "FLOP/s"
    batch = reports[0].batch_size if reports else 1
    headers = [
        "Model",
        "Latency (est.)",
        "Samples/s (est.)",
        "Attained (est.)",
        "% peak (est.)",
        "Bound on target",
        "Compute (est.)",
        "Memory (est.)",
        "Overhead (est.)",
        "Mem time (est.)",
        "Agg AI",
        "Clock",
        "Validated",
    ]
    rows = []
    for r in reports:
        est: ModelEstimate | None = estimates.get(r.model)
        if est is None:
            rows.append([r.model, *(["-"] if per_row else []), "error", *(["-"] * (len(headers) - 2))])
            continue
        rows.append(
            [
                r.model,
                *([est.precision] if per_row else []),
                units.human_time(est.latency_s),
                units.samples_per_s(est.throughput_per_s),
                units.human_rate(est.attained_flops_per_s, rate),
                units.pct(est.pct_of_peak),
                est.bound,
                units.human_time(est.compute_s),
                units.human_time(est.memory_s),
                units.human_time(est.overhead_s),
                units.pct(est.memory_bound_time_pct),
                units.fixed(est.aggregate_ai, 2),
                f"x{est.clock_ratio:.2f}",
                "user"
                if (est.efficiency_source or "").startswith("user")
                else "yes"
                if est.validated
                else "no",
            ]
        )
    numeric = [False, True, True, True, True, False, True, True, True, True, True, True, False]
    if per_row:
        headers.insert(1, "Precision")
        numeric.insert(1, False)
    from metrics_core.perf.roofline import describe_modes

    first = next(iter(estimates.values()), None)
    modes = f", {first.execution}, {first.efficiency} efficiency" if first else ""
    assumed = describe_modes(first.execution, first.efficiency) if first else ASSUMPTIONS
    path = paths[0] if not per_row else "precision per row"
    layout = layout_note(reports)
    title = f"== Roofline estimates: {target.name} ({target.id}), {path}, batch {batch}{layout}{modes} =="
    footnote = (
        f"Estimates assume {assumed}.\n"
        "Compute / Memory / Overhead = the kernels' compute, memory and overhead (launch, host issue) times, "
        "summed;\nMem time = share of the latency in memory-bound kernels; "
        "Bound = the regime of the largest share;\nAgg AI = total FLOPs / total bytes (FLOP/byte); Clock = "
        "sustained tensor clock / boost (power limit);\nValidated = the target's estimates were held against "
        "published measurements (no: physical estimate; user: your calibrated parameters, calibrate --write)."
    )
    return f"{title}\nrows in the order given\n{text_table(headers, rows, numeric)}\n{footnote}"


def slowest_ops_table(est: ModelEstimate, n: int = TOP_OPS) -> str:
    """The ``n`` ops with the largest estimated time, with their share of the latency and bound."""
    ops = sorted(est.ops, key=lambda o: o.time_s, reverse=True)[:n]
    headers = ["#", "Module", "Op", "Time (est.)", "Share", "AI", "Bound on target"]
    rows = [
        [
            str(o.index),
            o.module or "-",
            o.op,
            units.human_time(o.time_s),
            units.pct(100.0 * o.time_s / est.latency_s if est.latency_s else None),
            units.fixed(o.ai, 2),
            o.bound,
        ]
        for o in ops
    ]
    numeric = [True, False, False, True, True, True, False]
    title = f"== {est.model}: slowest ops (est.) ==\nrows by estimated time, slowest first\n"
    return title + text_table(headers, rows, numeric)
