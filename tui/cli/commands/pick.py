"""``modeltui pick``: which model to deploy on a target under constraints, best first by an objective."""

from __future__ import annotations

import argparse
import sys

from metrics_core.common.errors import UsageError, row_error
from metrics_core.report.pick import KINDS, OBJECTIVES
from tui.cli.commands.analysis import exit_status
from tui.cli.commands.options import add_analysis_args, add_hardware_args
from tui.cli.commands.pareto import add_model_args, analyse_rows, model_names
from tui.cli.commands.perfmode import mode_label, modes_of, provenance_label

FORMATS = ("table", "json", "csv", "markdown")

_EXAMPLES = {
    "max_latency": ("5ms", "estimated latency of one batch at most (ms, us, s)"),
    "min_throughput": ("1000/s", "estimated samples/s at least (K/M prefixes)"),
    "max_memory": ("4GB", "weights + peak activations at most (MB/GB decimal, MiB/GiB binary)"),
    "max_params": ("25M", "parameters at most (K/M/G)"),
    "min_acc1": ("75", "published ImageNet-1k top-1 %% at least"),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pick",
        help="the models that meet every constraint on a target, best first (acc1, latency or energy)",
        description="With no MODEL, --all or --source: the torchvision classification catalog. Estimates "
        "(latency, throughput, energy) are roofline estimates on --hardware.",
    )
    add_model_args(p, default_all=True)
    for name, kind in KINDS.items():
        example, what = _EXAMPLES[name]
        p.add_argument(kind.option, dest=name, metavar="V", default=None, help=f"{what}, e.g. {example}")
    p.add_argument(
        "--by",
        default="acc1",
        metavar="OBJ",
        help=f"order: {'|'.join(OBJECTIVES)} (default acc1, best first)",
    )
    p.add_argument("--format", choices=FORMATS, default="table")
    add_analysis_args(p, engine=False)
    add_hardware_args(p, required=True)  # with --execution / --efficiency


def run(args: argparse.Namespace) -> int:
    from metrics_core.report.pick import objective, parse_constraints, pick

    objective(args.by)  # bad input: before any work
    constraints = parse_constraints({name: getattr(args, name) for name in KINDS})
    names = model_names(args, default_all=True)
    rows, target, precision, reports = analyse_rows(names, args, args.by == "energy")
    if args.by == "acc1" and rows and not any(r.get("acc1") is not None for r in rows):
        raise UsageError(
            "no model here has a published acc1 (ImageNet-1k accuracy: torchvision classification and "
            "timm: models); use --by latency or --by energy"
        )
    if any(c.kind.key == "acc1" for c in constraints) and not any(r.get("acc1") is not None for r in rows):
        raise UsageError("--min-acc1: no model here has a published acc1 (torchvision classification, timm:)")
    result = pick(rows, constraints, args.by)
    failed = [(r.model, r.error) for r in reports if not r.ok]
    write(result, target, precision, args.format, failed, modes_of(args))
    return exit_status(reports)


def write(result, target, precision, fmt: str, failed, modes: dict) -> None:  # noqa: ANN001
    from metrics_core.report.export import render, to_json

    if fmt == "json":
        doc = {
            "target": target.id,
            "precision": precision,
            "by": result.by,
            **modes,
            "constraints": [
                {
                    "option": c.kind.option,
                    "text": c.text,
                    "key": c.kind.key,
                    "limit": c.limit,
                    "max": c.kind.is_max,
                }
                for c in result.constraints
            ],
            "chosen": [dict(r) for r in result.chosen],
            "closest": [
                {
                    **dict(m.row),
                    "binding": m.binding.kind.option,
                    "excess": m.excess,
                    "misses": [c.miss_text(m.row.get(c.kind.key)) for c, _ in m.failed],
                }
                for m in result.closest
            ],
            "failed": [{"model": m, "error": e} for m, e in failed],
        }
        sys.stdout.write(to_json(doc))
        return
    cols = _columns(result)
    if fmt in ("csv", "markdown"):
        sys.stdout.write(render([dict(r) for r in result.chosen], cols, fmt))
        return
    print(pick_text(result, target, precision, failed, cols, modes))


def _columns(result) -> list:  # noqa: ANN001
    """Table columns: the objective's, then one per constrained quantity (each once)."""
    from metrics_core.common import units
    from metrics_core.report.columns import Column
    from metrics_core.report.pareto import joules

    all_cols = {
        "acc1": Column("acc1", "Top-1 %", "", lambda v: units.fixed(v, 3)),
        "latency_s": Column("latency_s", "Latency (est.)", "", units.human_time),
        "energy_per_sample_j": Column("energy_per_sample_j", "J/sample (est. max)", "", joules),
        "throughput_per_s": Column("throughput_per_s", "Samples/s (est.)", "", units.samples_per_s),
        "peak_memory_bytes": Column("peak_memory_bytes", "Peak mem (est.)", "", units.human_bytes),
        "params": Column("params", "Params", "", units.human_params),
    }
    keys = [OBJECTIVES[result.by][0], "acc1", "latency_s"] + [c.kind.key for c in result.constraints]
    return [all_cols[k] for k in dict.fromkeys(keys) if k in all_cols]


def pick_text(result, target, precision, failed, cols, modes) -> str:  # noqa: ANN001
    from metrics_core.common.textable import text_table

    limits = ", ".join(c.describe() for c in result.constraints) or "no constraints"
    key, highest = OBJECTIVES[result.by]
    order = f"{result.by}, {'highest' if highest else 'lowest'} first"
    head = f"On {target.name}, {precision}, ordered by {order}\nconstraints: {limits}"
    provenance = provenance_label(target, modes["efficiency"], modes["execution"], precision)
    head += f"\nestimates: {mode_label(modes)}; {provenance}"
    parts = [head]
    if result.chosen:
        rows = [
            [str(i), r["model"], *(c.fmt(r.get(c.key)) for c in cols)] for i, r in enumerate(result.chosen, 1)
        ]
        table = text_table(
            ["#", "Model", *(c.header for c in cols)], rows, [True, False, *[True] * len(cols)]
        )
        parts.append(f"{len(result.chosen)} model(s) meet all constraints:\n" + table)
    else:
        closest = "; ".join(m.text() for m in result.closest[:3]) or "none"
        parts.append(f"no model meets all constraints; closest: {closest}")
    if result.chosen and result.closest:
        parts.append(
            "Closest misses (binding constraint first):\n"
            + "\n".join(f"  {m.text()}" for m in result.closest)
        )
    if any(c.key == "energy_per_sample_j" for c in cols):
        parts.append("energy = board power x estimated latency: an upper bound at board power")
    notes = [f"  {r['model']}: {r['acc_note']}" for r in result.chosen if r.get("acc_note")]
    if notes:
        parts.append("Resolution (accuracy vs analysed input):\n" + "\n".join(notes))
    if failed:
        parts.append("Not analysed:\n" + "\n".join(f"  {m}: ERROR {row_error(m, e)}" for m, e in failed))
    return "\n\n".join(parts)
