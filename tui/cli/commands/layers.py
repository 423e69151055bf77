"""``modeltui layers``: the per-op records of one model (table, JSON or CSV), optionally sorted
(``--sort-by time|macs|flops|bytes|ai|weights|live``, largest first), cut to the first ``--top N`` and
grouped by module path depth (``--by-module D``: ``layer1.0.conv1`` at depth 2 is ``layer1.0``, as fvcore's
``max_depth``; ``metrics_core.perf.module_sums``, the sums of the app's module view)."""

from __future__ import annotations

import argparse
import sys

from metrics_core.common.errors import model_error
from metrics_core.common.textable import text_table
from metrics_core.perf.module_sums import MODULE_KEYS
from metrics_core.report.columns import LAYER_COLUMNS
from metrics_core.report.export import to_csv, to_json
from metrics_core.report.rows import layer_csv_keys, layer_rows
from tui.cli.commands.analysis import (
    analyze_with_progress,
    exit_status,
    layout_note,
    note_analysed,
    resolve_hardware,
)
from tui.cli.commands.options import add_analysis_args, add_hardware_args, options_from_args, positive_int

#: ``--sort-by`` name -> the row key it sorts on (largest first); ``time`` needs ``--hardware``.
SORT_KEYS: dict[str, str] = {
    "time": "est_time_s",
    "macs": "macs",
    "flops": "flops",
    "bytes": "bytes",
    "ai": "ai",
    "weights": "weight_bytes",
    "live": "live_bytes",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("layers", help="per-op records of one model: MACs, FLOPs, bytes, AI")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument(
        "--sort-by",
        choices=tuple(SORT_KEYS),
        help="rows largest first by estimated time (needs --hardware), MACs, FLOPs, bytes (in + out + "
        "weights), AI, weight bytes or live activation bytes (default: execution order)",
    )
    p.add_argument("--top", type=positive_int, metavar="N", help="only the first N rows (after --sort-by)")
    p.add_argument(
        "--by-module",
        type=positive_int,
        metavar="DEPTH",
        help="one row per module path of DEPTH dotted parts (layer1.0.conv1 at 2: layer1.0), ops summed",
    )
    add_analysis_args(p, engine=False)
    add_hardware_args(p)


def run(args: argparse.Namespace) -> int:
    from metrics_core.common.errors import UsageError

    if args.sort_by == "time" and not args.hardware:
        raise UsageError("--sort-by time is a roofline estimate: give --hardware ID too")
    options = options_from_args(args)
    target, precision = resolve_hardware(args, options.dtype)
    (report,) = analyze_with_progress([args.model], options)
    if report.error:
        print(f"modeltui: error: {model_error(report.model, report.error)}", file=sys.stderr)
        return exit_status([report])
    estimate = None
    if target is not None:
        from metrics_core.perf.roofline import analysed_precision, estimate_records

        precision = analysed_precision(target, report.dtype, precision)  # a bf16 model: its bf16 path
        note_analysed(report.model, precision=precision)
        from tui.cli.commands.perfmode import modes_of

        estimate = estimate_records(
            report.records, target, precision, report.batch_size, report.model, **modes_of(args)
        )
    rows = layer_rows(report.records, estimate)
    if args.by_module:
        return _write_modules(args, report, module_rows(report, estimate, args.by_module), target, precision)
    every = rows
    rows = pick_rows(rows, args.sort_by, args.top)
    if args.format == "json":
        sys.stdout.write(to_json(rows, compact_rows=True))
    elif args.format == "csv":
        sys.stdout.write(to_csv(rows, layer_csv_keys(rows)))
    else:
        order = order_text(args.sort_by, args.top, len(every), "op")
        print(layers_text(report, rows, target, precision, order, every))
    return 0


def sort_value(row: dict, key: str):  # noqa: ANN201
    """The value ``--sort-by`` sorts a row on (``bytes``: in + out + weights when the row has no total)."""
    if key == "bytes" and "bytes" not in row:
        return row["input_bytes"] + row["output_bytes"] + row["weight_bytes"]
    return row.get(key)


def pick_rows(rows: list[dict], sort_by: str | None, top: int | None) -> list[dict]:
    """``rows`` largest first by ``SORT_KEYS[sort_by]`` (ties and rows without a value keep their order,
    the latter last), then the first ``top``."""
    if sort_by:
        key = SORT_KEYS[sort_by]
        known = [r for r in rows if sort_value(r, key) is not None]
        unknown = [r for r in rows if sort_value(r, key) is None]
        rows = sorted(known, key=lambda r: sort_value(r, key), reverse=True) + unknown
    return rows[:top] if top else rows


def order_text(sort_by: str | None, top: int | None, total: int, what: str) -> str:
    """``rows by est. time, largest first; the top 10 of 68 ops`` and the like."""
    label = {"time": "est. time", "weights": "weight bytes", "live": "live bytes", "macs": "MACs",
             "flops": "FLOPs", "ai": "AI"}.get(sort_by or "", sort_by)  # fmt: skip
    order = (
        f"rows by {label}, largest first"
        if sort_by
        else ("rows in execution order (op #)" if what == "op" else "rows in order of each module's first op")
    )
    return order + (f"; the first {min(top, total)} of {total} {what}s" if top and top < total else "")


def _depth_text(report, depth: int) -> str:  # noqa: ANN001
    """``2``, or ``99 (the model is 4 deep: each op's module)`` when ``depth`` exceeds the model's."""
    from metrics_core.perf.module_sums import module_depth, op_rows

    deepest = module_depth(op_rows(report.records, None))
    return str(depth) if depth <= deepest else f"{depth} (the model is {deepest} deep: each op's module)"


def module_rows(report, est, depth: int) -> list[dict]:  # noqa: ANN001
    """The ops summed per module path of ``depth`` parts (``metrics_core.perf.module_sums.module_rows``, as
    the app's module view and ``Report.by_module``)."""
    from metrics_core.perf.module_sums import module_rows as rows_of

    return rows_of(report.records, est, depth, report.extras.get("modules"))


def _write_modules(args, report, rows: list[dict], target, precision) -> int:  # noqa: ANN001
    from metrics_core.common import units

    total = len(rows)
    rows = pick_rows(rows, args.sort_by, args.top)
    if args.format == "json":
        sys.stdout.write(to_json(rows, compact_rows=True))
        return 0
    if args.format == "csv":
        sys.stdout.write(to_csv(rows, list(rows[0]) if rows else list(MODULE_KEYS)))
        return 0
    headers = ["Module", "Type", "Ops", "MACs", "FLOPs", "In", "Out", "Weights", "AI", "Live max"]
    numeric = [False, False, True, True, True, True, True, True, True, True]
    if target is not None:
        headers += ["Est. time", "Share", "Bound on target"]
        numeric += [True, True, False]
    body = []
    for r in rows:
        cells = [
            r["module"], r["module_type"], str(r["ops"]), units.human_count(r["macs"]),
            units.human_count(r["flops"]), units.human_bytes(r["input_bytes"]),
            units.human_bytes(r["output_bytes"]), units.human_bytes(r["weight_bytes"]), units.fixed(r["ai"]),
            units.human_bytes(r["live_bytes"]),
        ]  # fmt: skip
        if target is not None:
            cells += [units.human_time(r["est_time_s"]), units.pct(r["share_pct"]), r["bound"] or "-"]
        body.append(cells)
    m = report.metrics
    depth = _depth_text(report, args.by_module)
    title = (
        f"{report.model}: {len(report.records)} ops in {total} modules at depth {depth}, "
        f"{units.human_count(m.macs)} MACs, {units.human_count(m.flops)} FLOPs "
        f"(batch {report.batch_size}, {report.dtype}{layout_note([report])})"
    )
    if target is not None:
        title += f"; estimates on {target.name} {precision}"
    order = order_text(args.sort_by, args.top, total, "module")
    print(title + "\n" + order + "\n" + text_table(headers, body, numeric))
    return 0


def layers_text(  # noqa: ANN001
    report, rows, target, precision, order: str = "rows in execution order (op #)", every=None
) -> str:
    """The table of ``rows`` (a selection of ``every`` op row: the title and the totals are the model's)."""
    every = rows if every is None else every
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
        f"{report.model}: {len(every)} ops, {units.human_count(m.macs)} MACs, "
        f"{units.human_count(m.flops)} FLOPs, "
        f"{units.human_bytes(m.memory_bytes)} traffic "
        f"(batch {report.batch_size}, {report.dtype}{layout_note([report])})"
    )
    if target is not None:
        title += f"; estimates on {target.name} {precision}"
        if rows and "execution" in rows[0]:
            from tui.cli.commands.perfmode import provenance_label

            efficiency = rows[0]["efficiency"]
            provenance = provenance_label(target, efficiency, rows[0]["execution"], precision)
            title += f" ({rows[0]['execution']}, {efficiency} efficiency; {provenance})"
        if kernels:
            n_kernels = len({r["kernel"] for r in every})
            title += f"; {n_kernels} kernels; op times are their kernel's time shared out"
    if not report.coverage.complete:
        title += "; PARTIAL coverage: " + ", ".join(f"{k} x{v}" for k, v in report.coverage.uncovered.items())
    footer = ""
    if target is not None and every:
        from collections import Counter

        total = {k: sum(r[k] for r in every) for k in ("est_time_s", "est_compute_s", "est_memory_s",
                                                       "est_overhead_s")}  # fmt: skip
        bounds = Counter(r["bound"] for r in every)
        footer = (
            f"\ntotal (est.): {units.human_time(total['est_time_s'])}; summed per op: compute "
            f"{units.human_time(total['est_compute_s'])}, memory {units.human_time(total['est_memory_s'])}, "
            f"overhead {units.human_time(total['est_overhead_s'])}; ops by bound: "
            + ", ".join(f"{b} {n}" for b, n in bounds.most_common())
        )
    return title + "\n" + order + "\n" + text_table(headers, body, numeric) + footer
