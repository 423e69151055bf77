"""``modeltui layers``: the per-op records of one model (table, JSON or CSV)."""

from __future__ import annotations

import argparse
import sys

from metrics_core.common.textable import text_table
from metrics_core.report.columns import LAYER_COLUMNS
from metrics_core.report.export import to_csv, to_json
from metrics_core.report.rows import layer_csv_keys, layer_rows
from tui.cli.commands.analysis import analyze_with_progress, exit_status, resolve_hardware
from tui.cli.commands.options import add_analysis_args, add_hardware_args, options_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("layers", help="per-op records of one model: MACs, FLOPs, bytes, AI")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    add_analysis_args(p, engine=False)
    add_hardware_args(p)


def run(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    target, precision = resolve_hardware(args, options.dtype)
    (report,) = analyze_with_progress([args.model], options)
    if report.error:
        print(f"modeltui: error: {report.model}: {report.error}", file=sys.stderr)
        return exit_status([report])
    estimate = None
    if target is not None:
        from metrics_core.perf.roofline import estimate_records
        from tui.cli.commands.perfmode import modes_of

        estimate = estimate_records(
            report.records, target, precision, report.batch_size, report.model, **modes_of(args)
        )
    rows = layer_rows(report.records, estimate)
    if args.format == "json":
        sys.stdout.write(to_json(rows, compact_rows=True))
    elif args.format == "csv":
        sys.stdout.write(to_csv(rows, layer_csv_keys(rows)))
    else:
        print(layers_text(report, rows, target, precision))
    return 0


def layers_text(report, rows, target, precision) -> str:  # noqa: ANN001
    from metrics_core.common import units

    headers = [c.header for c in LAYER_COLUMNS]
    numeric = [c.numeric for c in LAYER_COLUMNS]
    kernels = bool(rows) and "kernel" in rows[0]
    if target is not None:
        headers += ["Est. time", "Compute", "Memory", "Overhead", "Bound on target"]
        headers += ["Kernel"] if kernels else []
        numeric += [True, True, True, True, False] + ([False] if kernels else [])
    body = []
    seen: set[int] = set()
    for row in rows:
        cells = [c.fmt(row[c.key]) for c in LAYER_COLUMNS]
        if target is not None:
            cells += [
                units.human_time(row["est_time_s"]),
                units.human_time(row["est_compute_s"]),
                units.human_time(row["est_memory_s"]),
                units.human_time(row["est_overhead_s"]),
                row["bound"],
            ]
            if kernels:  # a fused kernel: its number and size on its first op, a continuation mark after
                k, n = row["kernel"], row["kernel_ops"]
                cells.append(f"k{k}" if n == 1 else (f"+ k{k}" if k in seen else f"k{k} ({n} ops)"))
                seen.add(k)
        body.append(cells)
    m = report.metrics
    title = (
        f"{report.model}: {len(rows)} ops, {units.human_count(m.macs)} MACs, "
        f"{units.human_count(m.flops)} FLOPs, "
        f"{units.human_bytes(m.memory_bytes)} traffic (batch {report.batch_size}, {report.dtype})"
    )
    if target is not None:
        title += f"; estimates on {target.name} {precision}"
        if rows and "execution" in rows[0]:
            title += f" ({rows[0]['execution']}, {rows[0]['efficiency']} efficiency)"
        if kernels:
            title += f"; {len(seen)} kernels; op times are their kernel's time shared out"
    if not report.coverage.complete:
        title += "; PARTIAL coverage: " + ", ".join(f"{k} x{v}" for k, v in report.coverage.uncovered.items())
    footer = ""
    if target is not None and rows:
        from collections import Counter

        total = {k: sum(r[k] for r in rows) for k in ("est_time_s", "est_compute_s", "est_memory_s",
                                                      "est_overhead_s")}  # fmt: skip
        bounds = Counter(r["bound"] for r in rows)
        footer = (
            f"\ntotal (est.): {units.human_time(total['est_time_s'])}; summed per op: compute "
            f"{units.human_time(total['est_compute_s'])}, memory {units.human_time(total['est_memory_s'])}, "
            f"overhead {units.human_time(total['est_overhead_s'])}; ops by bound: "
            + ", ".join(f"{b} {n}" for b, n in bounds.most_common())
        )
    return title + "\nrows in execution order (op #)\n" + text_table(headers, body, numeric) + footer
