"""``modeltui cache``: where analysis results are cached, how much is there, and clearing it."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cache", help="the result cache: info, path, clear")
    p.add_argument(
        "action",
        nargs="?",
        choices=("info", "path", "clear"),
        default="info",
        help="info: directory, entries, size (default); path: the directory only; clear: delete all entries",
    )
    p.add_argument("--format", choices=("table", "json"), default="table", help="output of info/clear")


def run(args: argparse.Namespace) -> int:
    from metrics_core.common import units
    from metrics_core.runtime import cache, llm_cache

    if args.action == "path":
        print(cache.reports_dir())
        return 0
    if args.action == "clear":
        result = cache.clear()
        llm_entries, llm_bytes = llm_cache.clear()
        verb = "removed"
    else:
        result = cache.info()
        llm_entries, llm_bytes = llm_cache.info()
        verb = "holds"
    if args.format == "json":
        d = {"directory": result.directory, "entries": result.entries, "bytes": result.bytes}
        d.update(llm_directory=str(llm_cache.llm_dir()), llm_entries=llm_entries, llm_bytes=llm_bytes)
        if args.action == "info":
            d["key"] = {**cache.versions(), "source": cache.source_hash()}
        print(json.dumps(d, indent=1))
        return 0
    noun = "cached report" if result.entries == 1 else "cached reports"
    print(f"{result.directory} {verb} {result.entries} {noun} ({units.human_bytes(result.bytes)})")
    llm_noun = "LLM capture" if llm_entries == 1 else "LLM captures"
    print(f"{llm_cache.llm_dir()} {verb} {llm_entries} {llm_noun} ({units.human_bytes(llm_bytes)})")
    if args.action == "info":
        v = cache.versions()
        print(
            f"entries are keyed by model, input shape, batch size, dtype, engine, torch {v['torch']}, "
            f"torchvision {v['torchvision']}, modeltui {v['modeltui']}, source {cache.source_hash()}"
        )
    return 0
