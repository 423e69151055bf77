"""Cold analysis of every timm architecture: ``modeltui compare --all --source timm --format json`` with an
empty cache (the timm index is built in the same run), measured from the outside (wall, CPU, peak RSS of
any process), with the refusals summarised by reason and listed.

Baseline in the same run: the plain loop a user would write without modeltui, ``FlopCounterMode`` over
``timm.create_model(name)`` on meta in one process, on a fixed sample (``--sample N`` models spread over
the list), extrapolated to the whole list (labelled as such).

    python benchmarks/bench_timm_all.py [--sample 60] [--json F]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import measure  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGET_WALL_S = 150.0
TARGET_RSS = 1.5e9

PLAIN_LOOP = """
import json, sys, time, timm, torch
from torch.utils.flop_counter import FlopCounterMode
names = json.loads(sys.argv[1])
t0 = time.perf_counter(); per = {}
for n in names:
    t = time.perf_counter()
    try:
        with torch.device("meta"):
            m = timm.create_model(n, pretrained=False).eval()
        size = m.pretrained_cfg.get("input_size", (3, 224, 224))
        with FlopCounterMode(display=False), torch.no_grad():
            m(torch.empty(1, *size, device="meta"))
    except Exception as e:
        pass
    per[n] = time.perf_counter() - t
print(json.dumps({"total_s": time.perf_counter() - t0, "models": per}))
"""


def modeltui() -> list[str]:
    exe = Path(sys.executable).with_name("modeltui")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "tui.cli"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=int, default=60, help="models in the plain-loop baseline sample")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()
    print(measure.machine(), flush=True)
    cache = tempfile.mkdtemp(prefix="modeltui-bench-timm-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELTUI_")}
    env["MODELTUI_CACHE_DIR"] = cache
    try:
        ours = measure.run([*modeltui(), "compare", "--all", "--source", "timm", "--format", "json"], env=env)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if ours.returncode not in (0, 1):
        raise SystemExit(f"modeltui failed ({ours.returncode}):\n{ours.stderr[-2000:]}")
    rows = json.loads(ours.stdout)
    refused = [r for r in rows if r.get("error")]
    partial = [r for r in rows if not r.get("error") and r["coverage"]["status"] != "full"]
    names = [r["model"].removeprefix("timm:") for r in rows]
    step = max(1, len(names) // args.sample)
    sample = names[::step][: args.sample]
    plain = measure.run([sys.executable, "-c", PLAIN_LOOP, json.dumps(sample)], env=env)
    plain_s = json.loads(plain.stdout)["total_s"] if plain.returncode == 0 else float("nan")
    extrapolated = plain.wall_s - plain_s + plain_s / len(sample) * len(names)
    print(
        measure.table(
            ["", "models", "wall s", "CPU s", "peak RSS (1 proc)", "sum RSS"],
            [
                ["modeltui compare --all --source timm, cold", str(len(rows)), f"{ours.wall_s:.1f}",
                 f"{ours.cpu_s:.1f}", measure.gb(ours.peak_rss), measure.gb(ours.peak_rss_sum)],
                [f"plain FlopCounterMode loop, {len(sample)} sampled", str(len(sample)),
                 f"{plain.wall_s:.1f}", f"{plain.cpu_s:.1f}", measure.gb(plain.peak_rss), ""],
                [f"  ... EXTRAPOLATED to {len(names)} models", "", f"{extrapolated:.1f}", "", "", ""],
            ],
        )
    )  # fmt: skip
    print(f"\nanalysed {len(rows) - len(refused)} of {len(rows)}; partial coverage: {len(partial)}")
    reasons = collections.Counter(r["error"].split(":", 1)[0] for r in refused)
    for reason, n in reasons.most_common():
        print(f"  refused, {reason}: {n}")
    for r in refused:
        print(f"    {r['model']}: {r['error'][:150]}")
    uncovered = collections.Counter(op for r in partial for op in r["coverage"]["uncovered"])
    for op, n in uncovered.most_common():
        print(f"  no cost rule for {op}: {n} models")
    checks = [
        (f"cold wall <= {TARGET_WALL_S:.0f} s", ours.wall_s <= TARGET_WALL_S, f"{ours.wall_s:.1f} s"),
        ("peak RSS of any process <= 1.5 GB", ours.peak_rss <= TARGET_RSS, measure.gb(ours.peak_rss)),
        ("vs plain loop (extrapolated)", True, f"{extrapolated / ours.wall_s:.2f}x"),
    ]
    print()
    for what, ok, value in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {what}: {value}")
    if args.json:
        out = {"machine": measure.machine(), "wall_s": ours.wall_s, "cpu_s": ours.cpu_s}
        out.update(
            peak_rss=ours.peak_rss, models=len(rows), refused={r["model"]: r["error"] for r in refused}
        )
        out.update(plain_sample_wall_s=plain.wall_s, plain_extrapolated_s=extrapolated)
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
