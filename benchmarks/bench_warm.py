"""Warm (cached) ``modeltui compare``: wall time, peak RSS, and proof that torch is never imported.

Fills a fresh cache with one cold ``modeltui compare --all --format json`` (timed too, for reference),
then times, N times each (median, min, max):

- ``modeltui compare resnet18 mobilenet_v2 efficientnet_b0`` (the default table),
- ``modeltui compare --all`` (table) and ``modeltui compare --all --format json``,

and runs the three-model compare once more in-process under ``python -c`` to list what it imported:
``torch`` and ``torchvision`` must be absent.

    python benchmarks/bench_warm.py [--repeat 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import measure  # noqa: E402
from bench_cold_all import KNOBS, ROOT, modeltui  # noqa: E402

THREE = ["resnet18", "mobilenet_v2", "efficientnet_b0"]
TARGETS = {"three": 0.5, "all": 1.0}

IMPORT_PROBE = """
import contextlib, io, json, sys
from tui.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    rc = main(["compare", *sys.argv[1:]])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision", "textual", "fvcore"))
print(json.dumps({"rc": rc, "modules": len(sys.modules), "heavy": heavy}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = ap.parse_args()

    cache = tempfile.mkdtemp(prefix="modeltui-bench-warm-")
    env = {k: v for k, v in os.environ.items() if k not in KNOBS}
    env["MODELTUI_CACHE_DIR"] = cache
    print(measure.machine(), flush=True)
    try:
        cold = measure.run([*modeltui(), "compare", "--all", "--format", "json"], env=env, cwd=str(ROOT))
        if cold.returncode not in (0, 1):
            raise SystemExit(f"cold run failed:\n{cold.stderr[-2000:]}")
        cases = {
            "three": ("compare resnet18 mobilenet_v2 efficientnet_b0 (table)", ["compare", *THREE]),
            "all": ("compare --all (table)", ["compare", "--all"]),
            "all_json": ("compare --all --format json", ["compare", "--all", "--format", "json"]),
        }
        runs: dict[str, list[measure.Measurement]] = {k: [] for k in cases}
        for _ in range(args.repeat):
            for key, (_, argv) in cases.items():
                m = measure.run([*modeltui(), *argv], env=env, cwd=str(ROOT), interval=0.005)
                if m.returncode != 0:
                    raise SystemExit(f"{' '.join(argv)} failed:\n{m.stderr[-2000:]}")
                runs[key].append(m)
        probe = subprocess.run(
            [sys.executable, "-c", IMPORT_PROBE, *THREE],
            env=env,
            cwd=str(ROOT),
            capture_output=True,
            text=True,
            check=True,
        )
        imported = json.loads(probe.stdout)
        n_entries = len(list(Path(cache, "reports").glob("*.jsonl")))
        cache_bytes = sum(p.stat().st_size for p in Path(cache, "reports").glob("*.jsonl"))
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    headers = ["warm (cached)", "median s", "min s", "max s", "peak RSS", "processes"]
    rows = []
    stats = {}
    for key, (label, _) in cases.items():
        walls = [m.wall_s for m in runs[key]]
        stats[key] = {
            "label": label,
            "median_s": statistics.median(walls),
            "min_s": min(walls),
            "max_s": max(walls),
            "peak_rss": max(m.peak_rss for m in runs[key]),
            "processes": max(m.processes for m in runs[key]),
        }
        s = stats[key]
        rows.append(
            [
                label,
                f"{s['median_s']:.3f}",
                f"{s['min_s']:.3f}",
                f"{s['max_s']:.3f}",
                measure.gb(s["peak_rss"]),
                str(s["processes"]),
            ]
        )
    print(measure.table(headers, rows))
    print(
        f"(cache: {n_entries} entries, {cache_bytes / 1e6:.1f} MB, filled by a cold --all run of "
        f"{cold.wall_s:.2f} s; {args.repeat} runs each)"
    )
    no_torch = not imported["heavy"] and imported["rc"] == 0
    checks = [
        ("warm compare of 3 models <= 0.5 s (median)", stats["three"]["median_s"] <= TARGETS["three"]),
        ("warm compare --all <= 1 s (median, table)", stats["all"]["median_s"] <= TARGETS["all"]),
        ("warm compare --all --format json <= 1 s (median)", stats["all_json"]["median_s"] <= TARGETS["all"]),
        (f"no torch/torchvision/textual import ({imported['modules']} modules loaded)", no_torch),
    ]
    print()
    for what, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {what}")
    if not no_torch:
        print(f"      imported: {', '.join(imported['heavy'][:10])}")
    if args.json:
        out = {"machine": measure.machine(), "cases": stats, "imports": imported, "cold_s": cold.wall_s}
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
