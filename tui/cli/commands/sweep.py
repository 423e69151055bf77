"""``modeltui sweep``: roofline estimate and peak memory of models over a range of batch sizes.

Every number is an estimate (roofline of the chosen ``--execution`` / ``--efficiency``, its assumptions
printed under the tables by ``perf.roofline.describe_modes``; memory: ideal tensor lifetimes, no allocator
overhead). Definitions: ``metrics_core.perf.sweep``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence

from metrics_core.common import units
from metrics_core.common.textable import text_table
from tui.cli.commands.options import add_analysis_args, add_hardware_args, options_from_args, positive_int

FORMATS = ("table", "json", "csv")
DEFAULT_BATCH_SIZES = "1,2,4,...,256"
LARGEST_MARK = "yes <- largest"

#: CSV columns: one row per (model, batch size).
CSV_KEYS: tuple[str, ...] = (
    "model",
    "target",
    "precision",
    "dtype",
    "batch_size",
    "flops",
    "bytes",
    "aggregate_ai",
    "latency_s",
    "throughput_per_s",
    "attained_flops_per_s",
    "bound",
    "peak_activation_bytes",
    "weight_bytes",
    "peak_total_bytes",
    "memory_capacity_bytes",
    "fits",
    "largest_fitting",
    "extrapolated_max_batch",
    "error",
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep", help="how AI, estimated latency, throughput and peak memory change with batch size"
    )
    p.add_argument("models", nargs="+", metavar="MODEL", help="catalog names or package.module:factory")
    add_hardware_args(p, required=True)
    p.add_argument(
        "--batch-sizes",
        default=DEFAULT_BATCH_SIZES,
        metavar="LIST",
        help=f"comma-separated; '...' continues a progression (default {DEFAULT_BATCH_SIZES})",
    )
    add_analysis_args(p, engine=False, batch_size=False)
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--no-plot", action="store_true", help="tables only (table format)")
    p.add_argument("--width", type=positive_int, metavar="W", help="chart width (default: terminal width)")
    p.add_argument(
        "--height", type=positive_int, metavar="H", help="chart height without its key (default 16)"
    )


def run(args: argparse.Namespace) -> int:
    from metrics_core.perf.roofline import precision_for
    from metrics_core.perf.sweep import parse_batch_sizes
    from metrics_core.runtime.sweeps import sweep_models
    from tui.cli.commands.hardware import load_catalog_with_warnings

    batch_sizes = parse_batch_sizes(args.batch_sizes)
    options = options_from_args(args)
    target = load_catalog_with_warnings(args.hardware_file).get(args.hardware)
    precision = precision_for(target, options.dtype, use_tf32=args.tf32)
    progress = _progress(len(args.models) * len(batch_sizes))
    from tui.cli.commands.perfmode import modes_of

    sweeps = sweep_models(
        args.models, batch_sizes, target, precision, options, on_report=progress, **modes_of(args)
    )
    if progress is not None:
        print("\r\x1b[K", end="", file=sys.stderr, flush=True)
    if args.format == "json":
        print(json.dumps([s.to_dict() for s in sweeps], indent=2))
    elif args.format == "csv":
        sys.stdout.write(sweep_csv(sweeps))
    elif sweeps and all(p.error for s in sweeps for p in s.points):
        from tui.cli.commands.analysis import refusals_only

        refusals_only([(s.model, s.points[0].error) for s in sweeps if s.points])
    else:
        from metrics_core.common.textable import output_width

        cols, _ = shutil.get_terminal_size((80, 24))
        width = args.width or max(40, min(output_width() or cols, 160))
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        print(sweep_text(sweeps, target, not args.no_plot, width, args.height or 16, color))
    return 1 if any(p.error for s in sweeps for p in s.points) else 0


def _progress(total: int):  # noqa: ANN202
    """An ``on_report`` callback printing ``[k/total] model batch N`` on stderr, or None if not a TTY."""
    if not sys.stderr.isatty():
        return None
    done = 0

    def step(report) -> None:  # noqa: ANN001
        nonlocal done
        done += 1
        line = f"[{done}/{total}] {report.model} batch {report.batch_size}"
        print(f"\r\x1b[K{line}", end="", file=sys.stderr, flush=True)

    return step


def sweep_rows(sweeps: Sequence) -> list[dict]:  # noqa: ANN001 (ModelSweep)
    """Flat rows, one per (model, batch size), with the keys of ``CSV_KEYS``."""
    rows = []
    for s in sweeps:
        largest = s.largest_fitting_batch
        for p in s.points:
            row = {
                "model": s.model,
                "target": s.target,
                "precision": s.precision,
                "dtype": s.dtype,
                "memory_capacity_bytes": s.memory_capacity_bytes,
                "largest_fitting": p.batch_size == largest,
                "extrapolated_max_batch": s.extrapolated_max_batch,
            }
            row.update(p.to_dict())
            rows.append(row)
    return rows


def sweep_csv(sweeps: Sequence) -> str:  # noqa: ANN001
    from metrics_core.report.export import to_csv

    return to_csv(sweep_rows(sweeps), CSV_KEYS)


def sweep_table(sweep) -> str:  # noqa: ANN001 (ModelSweep)
    """One row per batch size; the largest batch that fits the target's memory is marked."""
    rate = "OP/s" if sweep.precision == "int8" else "FLOP/s"
    headers = [
        "Batch",
        "Agg AI",
        "Latency (est.)",
        "Samples/s (est.)",
        f"Attained {rate} (est.)",
        "Bound",
        "Compute",
        "Memory",
        "Overhead",
        "Peak act.",
        "Weights",
        "Peak total",
        "Fits",
    ]
    largest = sweep.largest_fitting_batch
    rows = []
    for p in sweep.points:
        if p.error:
            rows.append([str(p.batch_size), "error", *(["-"] * (len(headers) - 2))])
            continue
        fits = (
            "-"
            if p.fits is None
            else (LARGEST_MARK if p.batch_size == largest else "yes" if p.fits else "no")
        )
        rows.append(
            [
                str(p.batch_size),
                units.fixed(p.aggregate_ai, 2),
                units.human_time(p.latency_s),
                units.samples_per_s(p.throughput_per_s),
                units.human_rate(p.attained_flops_per_s, rate),
                p.bound or "-",
                units.human_time(p.compute_s),
                units.human_time(p.memory_s),
                units.human_time(p.overhead_s),
                units.human_bytes(p.peak_activation_bytes),
                units.human_bytes(p.weight_bytes),
                units.human_bytes(p.peak_total_bytes),
                fits,
            ]
        )
    numeric = [True, True, True, True, True, False, True, True, True, True, True, True, False]
    return text_table(headers, rows, numeric)


def fit_line(sweep, capacity: str) -> str:  # noqa: ANN001 (ModelSweep)
    """``Largest batch that fits 40.00 GB: 256 of those swept; about 4151 by linear extrapolation (est.)``."""
    largest = sweep.largest_fitting_batch
    swept = "none of those swept" if largest is None else f"{largest} of those swept"
    extra = sweep.extrapolated_max_batch
    more = "" if extra is None else f"; about {extra} by linear extrapolation of peak memory (est.)"
    return f"Largest batch that fits {capacity}: {swept}{more}"


def sweep_text(sweeps: Sequence, target, plot: bool, width: int, height: int, color: bool) -> str:  # noqa: ANN001
    """Per model: a title, the table, and (``plot``) its roofline with one point per batch size."""
    from metrics_core.perf.roofline_plot import RooflinePoint, render_roofline
    from tui.cli.commands.perfmode import provenance_label

    capacity = units.human_bytes(target.memory_gb * 1e9)
    parts = []
    for s in sweeps:
        provenance = provenance_label(target, s.efficiency, s.execution, s.precision)
        title = (
            f"== {s.model} on {target.name} ({target.id}), {s.precision}, dtype {s.dtype}: batch sweep "
            f"({s.execution}, {s.efficiency} efficiency; {provenance}) =="
        )
        parts.append(f"{title}\nrows by batch size\n{sweep_table(s)}\n{fit_line(s, capacity)}")
        pts = [
            RooflinePoint(f"batch {p.batch_size}", p.aggregate_ai, p.attained_flops_per_s)
            for p in s.points
            if not p.error and p.aggregate_ai and p.attained_flops_per_s
        ]
        if plot and pts:
            chart_title = f"{s.model}: batch sweep on {target.name}, {s.precision} (estimates)"
            parts.append(
                render_roofline(
                    target, s.precision, pts, width, height + 1 + len(pts), title=chart_title, color=color
                )
            )
        errors = [f"  batch {p.batch_size}: ERROR {p.error}" for p in s.points if p.error]
        if errors:
            parts.append("\n".join(errors))
    parts.append(sweep_footnote(sweeps, capacity))
    return "\n\n".join(parts)


def sweep_footnote(sweeps: Sequence, capacity: str) -> str:
    """What the estimates assume, in the words of the modes the sweeps ran in (``describe_modes``: a
    calibrated sweep says sustained clocks, an ideal one rated boost clocks; never both)."""
    from metrics_core.perf.roofline import describe_modes

    modes = list(dict.fromkeys((s.execution, s.efficiency) for s in sweeps)) or [("eager", "ideal")]
    if len(modes) == 1:
        assumed = describe_modes(*modes[0])
    else:
        assumed = "; ".join(f"{e}/{f}: {describe_modes(e, f)}" for e, f in modes)
    return (
        f"Estimates: roofline ({assumed}); peak memory = activations with ideal lifetimes + weights, no "
        f"allocator overhead.\nFits = peak total <= target memory ({capacity}); "
        "Agg AI = total FLOPs / total bytes (FLOP/byte);\nCompute / Memory / Overhead = the kernels' "
        "compute, memory and overhead (launch, host issue) times, summed; Bound = the regime of the largest "
        "share."
    )
