"""``modeltui pareto``: accuracy against a cost on a target; the models no other model beats on both."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from metrics_core.common.errors import UsageError, row_error
from metrics_core.report.pareto import X_AXES, Y_AXES
from tui.cli.commands.options import add_analysis_args, add_hardware_args
from tui.cli.commands.perfmode import mode_label, modes_of, provenance_label

FORMATS = ("table", "json", "csv", "markdown")
SOURCES = ("torchvision", "timm")


def add_model_args(p: argparse.ArgumentParser, default_all: bool = False) -> None:
    """MODEL..., ``--all``, ``--source``, ``--filter`` (shared with ``pick``)."""
    more = " (default with no MODEL: the torchvision classification catalog)" if default_all else ""
    p.add_argument("models", nargs="*", metavar="MODEL", help="model specs (catalog names, timm:NAME ...)")
    p.add_argument("--all", action="store_true", help=f"every model of --source{more}")
    p.add_argument(
        "--source",
        choices=SOURCES,
        default=None,
        help="torchvision (the classification catalog) or timm (architectures with a published accuracy)",
    )
    p.add_argument("--filter", metavar="GLOB", default=None, help="only names matching a glob (with --all)")


def model_names(args: argparse.Namespace, default_all: bool = False) -> list[str]:
    """The models named, plus those of ``--all`` / ``--source``; timm: only architectures whose default
    tag has a published ImageNet-1k result (the others cannot be placed on an accuracy axis)."""
    names = list(dict.fromkeys(args.models))
    if args.all or args.source or (default_all and not names):
        source = args.source or "torchvision"
        if source == "timm":
            import fnmatch

            from metrics_core.report.accuracy import timm_data
            from metrics_core.sources import timm_source

            published = timm_data()["defaults"]
            listed = set(timm_source.list_names(args.filter))
            extra = [
                f"timm:{n}"
                for n in sorted(published)
                if n in listed and (args.filter is None or fnmatch.fnmatchcase(n, args.filter))
            ]
        else:
            from tui.cli.commands.compare import all_models

            extra = all_models("torchvision", args.filter)
        names += [n for n in extra if n not in names]
    if not names and (args.all or args.source or default_all) and args.filter:
        raise UsageError(f"no {args.source or 'torchvision'} model matches --filter {args.filter!r}")
    if not names:
        raise UsageError("name at least one model, or use --all / --source torchvision|timm")
    return names


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pareto",
        help="accuracy vs a cost on a target: the Pareto frontier (table and ASCII chart)",
        description="Models that no other model beats on both axes (at least as good on both, better on "
        "one) are on the frontier. Costs are roofline estimates on --hardware where they need one.",
    )
    add_model_args(p)
    p.add_argument("--x", choices=tuple(X_AXES), default="latency", help="cost axis (default latency)")
    p.add_argument("--y", choices=tuple(Y_AXES), default="acc1", help="accuracy axis (default acc1)")
    p.add_argument("--format", choices=FORMATS, default="table")
    add_analysis_args(p, engine=False)
    add_hardware_args(p, required=True)  # with --execution / --efficiency


def analyse_rows(
    names: list[str], args: argparse.Namespace, need_energy: bool
) -> tuple[list, Any, Any, list]:
    """(trade-off rows, target, precision, reports): the target is checked first, then the models are
    analysed (in worker processes)."""
    from metrics_core.perf.energy import unavailable_reason
    from tui.cli.commands.analysis import analyze_with_progress, resolve_hardware
    from tui.cli.commands.options import options_from_args

    options = options_from_args(args)
    target, precision = resolve_hardware(args, options.dtype)
    if need_energy and target.board_power_w is None:
        raise UsageError(unavailable_reason(target))
    reports = analyze_with_progress(names, options)
    from metrics_core.perf.roofline import analysed_precision
    from metrics_core.perf.tradeoff import tradeoff_rows

    # each model is estimated on the path of the dtype it was analysed in (perf.tradeoff.tradeoff_row)
    paths = [analysed_precision(target, r.dtype, precision) for r in reports if r.ok]
    label = "/".join(dict.fromkeys(paths)) or precision
    return tradeoff_rows(reports, target, precision, modes_of(args)), target, label, reports


def run(args: argparse.Namespace) -> int:
    from metrics_core.report.pareto import pareto, x_axis, y_axis

    x, y = x_axis(args.x), y_axis(args.y)
    names = model_names(args)
    rows, target, precision, reports = analyse_rows(names, args, x.name == "energy")
    modes = modes_of(args)
    if not any(r.get(y.key) is not None for r in rows):
        raise UsageError(
            f"no model here has a published {y.name} (ImageNet-1k accuracy: torchvision classification "
            "and timm: models); the y axis needs it"
        )
    result = pareto(rows, x, y)
    by_model = {r["model"]: r for r in rows}
    failed = [(r.model, r.error) for r in reports if not r.ok]
    write(result, by_model, failed, target, precision, args.format, reports[0].batch_size, modes)
    from tui.cli.commands.analysis import exit_status

    return exit_status(reports)


def _sorted_points(result) -> list:  # noqa: ANN001 (ParetoResult)
    return sorted(result.points, key=lambda p: (-p.x if result.x.higher_is_better else p.x, -p.y))


def write(result, by_model, failed, target, precision, fmt: str, batch: int, modes: dict) -> None:  # noqa: ANN001
    from metrics_core.report.columns import Column
    from metrics_core.report.export import render

    points = _sorted_points(result)
    rows = []
    for p in points:
        row = dict(by_model[p.model])
        row.update(x=p.x, y=p.y, on_frontier=p.on_frontier)
        rows.append(row)
    if fmt == "json":
        doc = {
            "target": target.id,
            "precision": precision,
            "batch_size": batch,
            **modes,
            "x": {"axis": result.x.name, "key": result.x.key, "label": result.x.label},
            "y": {"axis": result.y.name, "key": result.y.key, "label": result.y.label},
            "frontier": [p.model for p in result.frontier],
            "points": rows,
            "missing": [{"model": m, "why": why} for m, why in result.missing],
            "failed": [{"model": m, "error": e} for m, e in failed],
        }
        from metrics_core.report.export import to_json

        sys.stdout.write(to_json(doc))
        return
    cols = [
        Column(result.x.key, result.x.label, "", result.x.fmt),
        Column(result.y.key, result.y.label, "", result.y.fmt),
        Column("on_frontier", "Frontier", "", lambda v: "*" if v else "", numeric=False),
        Column("acc_note", "Note", "", lambda v: v or "", numeric=False),
    ]
    if fmt in ("csv", "markdown"):
        sys.stdout.write(render(rows, cols, fmt))
        return
    print(pareto_text(result, rows, target, precision, failed, modes))


def pareto_text(result, rows, target, precision, failed, modes) -> str:  # noqa: ANN001
    """Header, the chart, the table of points (frontier marked), then who was left out and why."""
    from metrics_core.common.textable import text_table
    from metrics_core.report.pareto import render_scatter

    head = (
        f"Pareto frontier on {target.name}, {precision}: {result.y.label} vs {result.x.label}\n"
        f"(higher {result.y.short}, {'higher' if result.x.higher_is_better else 'lower'} {result.x.short} "
        "better; frontier: beaten on both by no other)"
    )
    if result.x.needs_target:
        provenance = provenance_label(target, modes["efficiency"], modes["execution"], precision)
        head += f"\nestimates: {mode_label(modes)}; {provenance}"
    if result.x.name == "energy":
        head += "\nenergy = board power x estimated latency: an upper bound at board power"
    chart = render_scatter(result, width=78, height=20)
    table_rows = [
        ["*" if r["on_frontier"] else "", r["model"], result.x.fmt(r["x"]), result.y.fmt(r["y"])]
        for r in rows
    ]
    headers = ["F", "Model", _short(result.x.label), _short(result.y.label)]
    table = text_table(headers, table_rows, [False, False, True, True])
    notes = [f"  {r['model']}: {r['acc_note']}" for r in rows if r.get("acc_note")]
    order = f"rows by {result.x.name}, {'highest' if result.x.higher_is_better else 'lowest'} first"
    parts = [head, chart, order + "\n" + table]
    front = len(result.frontier)
    parts.append(f"{front} of {len(rows)} models on the frontier (F = *)")
    if notes:
        parts.append("Resolution (accuracy vs analysed input):\n" + "\n".join(notes))
    if result.missing:
        parts.append("Left out:\n" + "\n".join(f"  {m}: {why}" for m, why in result.missing))
    if failed:
        parts.append("Failed:\n" + "\n".join(f"  {m}: ERROR {row_error(m, e)}" for m, e in failed))
    return "\n\n".join(parts)


def _short(label: str) -> str:
    """A column header from an axis label: ``'energy/sample (est., upper bound ...)' -> 'energy/sample
    (est.)'``."""
    return label.split(" (")[0] + (" (est.)" if "est." in label else "")
