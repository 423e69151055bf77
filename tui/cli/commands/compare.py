"""``modeltui compare``: the seed's comparison table, rankings and exports for a set of models."""

from __future__ import annotations

import argparse
import sys

from metrics_core.common.errors import UsageError, row_error
from metrics_core.common.input_spec import describe_inputs
from metrics_core.common.textable import text_table
from metrics_core.report.accuracy import accuracy_fields
from metrics_core.report.columns import (
    ACCURACY_COLUMNS,
    COMPARISON_COLUMNS,
    ESTIMATE_COLUMNS,
    GROUPS,
    MEMORY_COLUMNS,
)
from metrics_core.report.export import render
from metrics_core.report.sorting import ENERGY_SORT_KEYS, ESTIMATE_SORT_KEYS, SEED_SORT_KEYS
from tui.cli.commands.analysis import (
    analyze_with_progress,
    estimates_for,
    exit_status,
    layout_note,
    refusals_only,
    resolve_hardware,
)
from tui.cli.commands.options import add_analysis_args, add_hardware_args, options_from_args

FORMATS = ("table", "json", "csv", "markdown")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare models: size, compute, memory traffic, arithmetic intensity")
    p.add_argument("models", nargs="*", metavar="MODEL", help="catalog names or package.module:factory")
    p.add_argument(
        "--all",
        action="store_true",
        help="every model of --source: torchvision classification (default), every timm architecture, or "
        "the bundled Hugging Face configs",
    )
    p.add_argument("--source", choices=("torchvision", "timm", "hf"), default="torchvision", help="for --all")
    p.add_argument(
        "--filter",
        metavar="TEXT",
        default=None,
        help="with --all: only models matching it (as models --filter: words or a glob on the name)",
    )
    p.add_argument(
        "--sort-by",
        default=None,
        metavar="KEY",
        help=f"{'|'.join(SEED_SORT_KEYS)}|acc1|acc5 or any metric name (default: the order given)",
    )
    p.add_argument("--reverse", action="store_true", help="invert the sort direction")
    p.add_argument("--format", choices=FORMATS, default="table")
    add_analysis_args(p)
    add_hardware_args(p)


def run(args: argparse.Namespace) -> int:
    from metrics_core.report.sorting import resolve_sort_key, sort_reports

    names = list(args.models)
    if args.all:
        names += [n for n in all_models(args.source, args.filter) if n not in names]
    if not names and args.all and args.filter:
        raise UsageError(f"no {args.source or 'torchvision'} model matches --filter {args.filter!r}")
    if not names:
        raise UsageError("name at least one model, or use --all (see 'modeltui models')")
    if args.sort_by:
        metric, _ = resolve_sort_key(args.sort_by)
        if (metric in ESTIMATE_SORT_KEYS or metric in ENERGY_SORT_KEYS) and not args.hardware:
            raise UsageError(f"--sort-by {args.sort_by} is a roofline estimate: give --hardware ID too")
    options = options_from_args(args)
    target, precision = resolve_hardware(args, options.dtype)
    reports = analyze_with_progress(names, options)
    from tui.cli.commands.perfmode import modes_of

    estimates = estimates_for(reports, target, precision, modes_of(args))
    order = "in the order given"
    if args.sort_by:
        reports = sort_reports(reports, args.sort_by, args.reverse, estimates)
        metric, descending = resolve_sort_key(args.sort_by)
        order = f"sorted by {metric}, {'largest' if descending != args.reverse else 'smallest'} first"
    if args.format == "table" and reports and not any(r.ok for r in reports):
        refusals_only([(r.model, r.error or "not analysed") for r in reports])
    else:
        write_comparison(reports, args.format, estimates, target, precision, order)
    return exit_status(reports)


def all_models(source: str, pattern: str | None) -> list[str]:
    """What ``--all`` means for ``source``, optionally filtered as ``models --filter`` filters (a glob on
    the name without its prefix, or words: ``metrics_core.common.name_filter``)."""
    from metrics_core.common.name_filter import name_matches

    if source == "timm":
        from metrics_core.sources import timm_source

        return [f"timm:{n}" for n in timm_source.list_names(pattern)]
    if source == "hf":
        from metrics_core.sources import hf_source

        return [f"hf:{m}" for m in hf_source.list_ids() if name_matches(pattern, m)]
    from metrics_core.sources.catalog import classification_models

    return [s.name for s in classification_models() if name_matches(pattern, s.name, s.family)]


def write_comparison(reports, fmt: str, estimates: dict, target, precision, order: str = "") -> None:  # noqa: ANN001
    from metrics_core.report.rows import summary_row

    if fmt == "json":
        rows = []
        for r in reports:
            est = estimates.get(r.model)
            rows.append(summary_row(r, est, _energy(target, est) if est is not None else None))
        sys.stdout.write(render(rows, COMPARISON_COLUMNS, "json"))
        return
    if fmt in ("csv", "markdown"):  # the same columns as the app's export
        from metrics_core.perf.energy import energy_of_estimate
        from metrics_core.report.comparison_rows import export_columns, flat_row

        flat = [
            flat_row(r, estimates.get(r.model), energy_of_estimate(target, estimates.get(r.model)))
            for r in reports
        ]
        sys.stdout.write(render(flat, export_columns(flat), fmt))
        return
    print(comparison_text(reports, estimates, target, precision, order))


def _energy(target, estimate):  # noqa: ANN001, ANN202 (HardwareTarget, ModelEstimate)
    from metrics_core.perf.energy import estimate_energy

    if estimate.latency_s <= 0:
        return None
    return estimate_energy(target, estimate.latency_s, estimate.batch_size)


def energy_section(ok, estimates: dict, target) -> list[str]:  # noqa: ANN001
    """Estimated energy on the target (board power x estimated latency: an upper bound), or why none."""
    from metrics_core.common import units
    from metrics_core.perf.energy import unavailable_reason
    from metrics_core.report.pareto import joules

    if target.board_power_w is None:
        return [f"== Energy == {unavailable_reason(target)}"]
    rows = []
    for r in ok:
        e = _energy(target, estimates[r.model]) if r.model in estimates else None
        if e is not None:
            per_j = units.fixed(e.inferences_per_j, 1)
            rows.append([r.model, joules(e.energy_per_inference_j), joules(e.energy_per_sample_j), per_j])
    if not rows:
        return []
    title = f"== Energy (est.: upper bound at {units.plain(target.board_power_w)} W board power x latency) =="
    table = text_table(["Model", "J/inference", "J/sample", "Inferences/J"], rows, [False, True, True, True])
    return [title + "\n" + table]


def accuracy_section(ok) -> list[str]:  # noqa: ANN001 (analysed ModelReports)
    """The published-accuracy table (``[]`` when no model publishes one): top-1/top-5 %, the weights
    (torchvision enum member or timm tag) and the resolution they were measured at; ``!`` marks an
    analysed input of another resolution, said in a line below."""
    fields = [(r, accuracy_fields(r)) for r in ok]
    if not any(f["acc1"] is not None for _, f in fields):
        return []
    rows, notes = [], []
    for r, f in fields:
        weights = (f["acc_weights"] or "-").rsplit(".", 1)[-1]
        res = "-" if f["acc_resolution"] is None else f"{f['acc_resolution']}{'!' if f['acc_note'] else ''}"
        rows.append([r.model, *(c.fmt(f[c.key]) for c in ACCURACY_COLUMNS), weights, res])
        if f["acc_note"]:
            notes.append(f"  ! {r.model}: {f['acc_note']}")
    headers = ["Model", *(c.header for c in ACCURACY_COLUMNS), "Weights", "At px"]
    table = text_table(headers, rows, [False, True, True, False, True])
    title = "== Accuracy (ImageNet-1k val, published; - = none) =="
    return [title + "\n" + table + "".join("\n" + n for n in notes)]


def comparison_text(reports, estimates: dict, target, precision, order: str = "") -> str:  # noqa: ANN001
    """The terminal rendering: one table per metric group, then estimates, rankings, notes."""
    from metrics_core.report.rankings import efficiency_rankings

    parts = []
    ok = [r for r in reports if r.metrics is not None]
    # each row's bytes are in the dtype it was analysed in (a bf16 model without --dtype: bf16), so one
    # dtype labels the tables only when every row has it; else each row names its own
    dtypes = list(dict.fromkeys(r.dtype for r in ok or reports)) or ["fp32"]
    dtype = dtypes[0] if len(dtypes) == 1 else None
    moe = any(r.metrics.active_params is not None for r in ok)
    for group in GROUPS if ok else ():
        cols = [c for c in COMPARISON_COLUMNS if c.group == group and (moe or c.key != "active_params")]
        if dtype == "int8":  # Size MB (int8) already is the int8 size
            cols = [c for c in cols if c.key != "size_mb_int8"]
        size = f"Size MB ({dtype or 'own dtype'})"
        per_row = dtype is None and any(c.key == "size_mb" for c in cols)
        headers = [
            "Model",
            *(["Dtype"] if per_row else []),
            *(size if c.key == "size_mb" else c.header for c in cols),
        ]
        rows = [
            [r.model, *([r.dtype] if per_row else []), *(c.fmt(getattr(r.metrics, c.key)) for c in cols)]
            for r in ok
        ]
        numeric = [False, *([False] if per_row else []), *(c.numeric for c in cols)]
        parts.append(f"== {group} ==\n" + text_table(headers, rows, numeric))
    parts.extend(accuracy_section(ok))
    with_memory = [r for r in ok if "memory" in r.extras]
    if with_memory:
        cols = MEMORY_COLUMNS
        rows = [[r.model, *(c.fmt(r.extras["memory"].get(c.key)) for c in cols)] for r in with_memory]
        title = "== Peak memory (inference, est.; ideal lifetimes, no allocator overhead) =="
        parts.append(
            title + "\n" + text_table(["Model", *(c.header for c in cols)], rows, [False, *[True] * 3])
        )
    if estimates:
        from tui.cli.commands.perfmode import provenance_label

        cols = ESTIMATE_COLUMNS
        first = next(iter(estimates.values()))
        paths = list(dict.fromkeys(e.precision for e in estimates.values()))  # each row's own dtype's path
        provenance = provenance_label(target, first.efficiency, first.execution, first.precision)
        title = (
            f"== Roofline on {target.name}, {paths[0] if len(paths) == 1 else 'precision per row'} "
            f"(estimates: {first.execution}, {first.efficiency} efficiency{layout_note(ok)}; {provenance}) =="
        )
        per_row = len(paths) > 1
        rows = []
        for r in ok:
            est = estimates.get(r.model)
            d = est.to_dict() if est else {}
            own = [est.precision if est else "-"] if per_row else []
            rows.append([r.model, *own, *(c.fmt(d.get(c.key)) for c in cols)])
        headers = ["Model", *(["Precision"] if per_row else []), *(c.header for c in cols)]
        numeric = [False, *([False] if per_row else []), *(c.numeric for c in cols)]
        parts.append(title + "\n" + text_table(headers, rows, numeric))
        parts.extend(energy_section(ok, estimates, target))
    ranks = efficiency_rankings(reports)
    if len(ok) > 1 and ranks:
        by_key = {c.key: c for c in COMPARISON_COLUMNS + ACCURACY_COLUMNS}
        width = max(22, *(len(rk.model) for rk in ranks))
        lines = [f"  {rk.title:<24} {rk.model:<{width}} {by_key[rk.metric].fmt(rk.value)}" for rk in ranks]
        parts.append("== Efficiency rankings ==\n" + "\n".join(lines))
    notes = []
    for r in reports:
        if r.error:
            notes.append(f"  {r.model}: ERROR {row_error(r.model, r.error)}")
        elif not r.coverage.complete:
            ops = ", ".join(f"{op} x{n}" for op, n in sorted(r.coverage.uncovered.items()))
            who = "fvcore has no handler for" if r.engine == "fvcore" else "no cost rule for"
            notes.append(f"  {r.model}: partial coverage, {who} {ops}")
    if notes:
        parts.append("== Notes ==\n" + "\n".join(notes))
    fed = [[r.model, describe_inputs(r.inputs)] for r in reports if r.inputs]
    if fed:
        parts.append(
            "== Inputs (what each forward pass was fed) ==\n"
            + text_table(["Model", "Inputs"], fed, [False, False])
        )
    header = (
        f"batch {reports[0].batch_size}, dtype {dtype or 'per row (' + ', '.join(dtypes) + ')'}; "
        "MB = 1e6 bytes; AI = FLOPs/byte\n"
        "MACs = multiply-accumulates, FLOPs = 2 x MACs + other ops" + (f"\nrows {order}" if order else "")
        if reports
        else ""
    )
    return header + "\n\n" + "\n\n".join(parts)
