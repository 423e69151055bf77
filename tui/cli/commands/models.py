"""``modeltui models``: the models each source offers (torchvision catalog, timm, bundled Hugging Face)."""

from __future__ import annotations

import argparse
import sys

from metrics_core.common.errors import UsageError
from metrics_core.common.name_filter import name_matches
from metrics_core.common.textable import text_table
from metrics_core.report.export import to_json

SOURCES = ("torchvision", "timm", "hf")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the models of a source (published params / GMACs)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument(
        "--source",
        choices=SOURCES,
        default="torchvision",
        help="torchvision (the catalog, default), timm (every timm.list_models() name) or hf (bundled "
        "Hugging Face configs; any config.json path or cached hub id also works as hf:ID)",
    )
    p.add_argument("--task", default=None, help="only this task (classification, segmentation, video, ...)")
    p.add_argument(
        "--filter",
        default=None,
        metavar="TEXT",
        help="only models matching it, as the app's filter: words that start a token of the name, family "
        "or task ('vit_b' finds vit_b_16, not convit), or a glob on the name ('resnet*')",
    )


def run(args: argparse.Namespace) -> int:
    return {"torchvision": _torchvision, "timm": _timm, "hf": _hf}[args.source](args)


def check_task(task: str | None, tasks: tuple[str, ...] | list[str], source: str) -> None:
    """``UsageError`` when ``--task`` names none of the tasks ``source`` has (every source refuses an
    unknown task alike, before anything is listed)."""
    if task is not None and task not in tasks:
        where = "" if source == "torchvision" else f" for --source {source}"
        raise UsageError(f"unknown task {task!r}{where}; choose one of {', '.join(tasks)}")


def _torchvision(args: argparse.Namespace) -> int:
    from metrics_core.common import units
    from metrics_core.sources.catalog import TASKS, catalog

    check_task(args.task, TASKS, "torchvision")
    specs = [
        s
        for s in catalog()
        if (args.task is None or s.task == args.task) and name_matches(args.filter, s.name, s.family, s.task)
    ]
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
                units.human_params(ref.get("num_params")),
                units.fixed(ref.get("gmacs")),
                "" if s.supported else f"unsupported: {s.reason}",
            ]
        )
    headers = ["Model", "Family", "Task", "Input", "Params (pub.)", "GMACs (pub.)", "Note"]
    print(text_table(headers, rows, [False, False, False, False, True, True, False]))
    print(f"{len(specs)} models, rows by name; published figures from torchvision weights metadata")
    return 0


def _timm(args: argparse.Namespace) -> int:
    from metrics_core.common import units
    from metrics_core.report.accuracy import timm_published
    from metrics_core.sources import timm_source

    check_task(args.task, ("classification",), "timm")  # every timm: spec is a classifier (timm_source)
    index = timm_source.timm_index()
    names = timm_source.list_names(args.filter)
    pub = {n: timm_published(n) or {} for n in names}
    if args.format == "json":
        out = [
            {
                "name": f"timm:{n}",
                "family": index["models"][n]["family"],
                "input_shape": index["models"][n]["input_size"],
                "published": pub[n] or None,
            }
            for n in names
        ]
        sys.stdout.write(to_json(out))
        return 0
    rows = []
    for n in names:
        entry, ref = index["models"][n], pub[n]
        side = ref.get("gmacs_resolution")
        at = f"@{side}" if ref.get("gmacs") is not None and side != entry["input_size"][-1] else ""
        acc = ref.get("acc@1")
        rows.append(
            [
                f"timm:{n}",
                entry["family"],
                units.human_shape(entry["input_size"]),
                units.human_params(ref.get("num_params")),
                units.fixed(ref.get("gmacs")) + at,
                "-" if acc is None else units.fixed(acc, 3),
            ]
        )
    headers = ["Model", "Family (timm module)", "Input", "Params (pub.)", "GMACs (pub.)", "Top-1 % (pub.)"]
    print(text_table(headers, rows, [False, False, False, True, True, True]))
    print(
        f"{len(names)} timm {index['version']} architectures, rows by name; inputs from each model's default "
        "pretrained_cfg; published figures of its default weights from timm's results CSVs (params, "
        "ImageNet-1k top-1) and inference benchmark (GMACs: fvcore's count, @N = at N px)"
    )
    return 0


def _hf(args: argparse.Namespace) -> int:
    from metrics_core.sources import hf_source

    check_task(args.task, sorted({task for _, _, task in hf_source.HEADS.values()}), "hf")
    rows = []
    for mid in hf_source.list_ids():
        entry = hf_source.bundled()[mid]
        cfg = entry["config"]
        if not any(name_matches(args.filter, n, cfg.get("model_type")) for n in (mid, *entry["aliases"])):
            continue
        head = hf_source.head_of(cfg)
        if args.task is not None and hf_source.HEADS[head][2] != args.task:
            continue
        rows.append(
            {
                "name": f"hf:{mid}",
                "aliases": [f"hf:{a}" for a in entry["aliases"]],
                "model_type": cfg["model_type"],
                "class": hf_source.HEADS[head][0],
                "task": hf_source.HEADS[head][2],
                "source": entry["source"],
            }
        )
    if args.format == "json":
        sys.stdout.write(to_json(rows))
        return 0
    table = [[r["name"], ", ".join(r["aliases"]), r["model_type"], r["class"]] for r in rows]
    print(text_table(["Model", "Aliases", "Type", "Built as"], table, [False] * 4))
    print(
        f"{len(rows)} bundled configs, rows by id (architecture facts only); hf:PATH/config.json, "
        "hf:MODEL_DIR and ids in the local Hugging Face cache work too"
    )
    return 0
