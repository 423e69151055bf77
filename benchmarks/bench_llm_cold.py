"""A large language model from its config: ``modeltui compare hf:meta-llama/Llama-3.1-70B --seq-len 2048``
cold (empty cache: fork server, torch and transformers imports, build on meta, capture) and then warm (the
cached result: no torch import), each measured from the outside; ``--repeat N`` takes medians.

Baseline in the same run: importing torch and transformers' Llama model in a bare interpreter (the floor
any in-process analysis pays before its first op).

    python benchmarks/bench_llm_cold.py [--model hf:ID] [--seq-len 2048] [--repeat 3] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import measure  # noqa: E402

TARGET_COLD_S = 3.0
TARGET_WARM_S = 0.2
IMPORT_FLOOR = "import torch, transformers; from transformers import LlamaForCausalLM"


def modeltui() -> list[str]:
    exe = Path(sys.executable).with_name("modeltui")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "tui.cli"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="hf:meta-llama/Llama-3.1-70B")
    ap.add_argument("--seq-len", default="2048")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()
    print(measure.machine(), flush=True)
    argv = [*modeltui(), "compare", args.model, "--seq-len", args.seq_len, "--format", "json"]
    env0 = {k: v for k, v in os.environ.items() if not k.startswith("MODELTUI_")}
    cold, warm, floor = [], [], []
    warm_torch = []
    for _ in range(args.repeat):
        cache = tempfile.mkdtemp(prefix="modeltui-bench-llm-")
        env = {**env0, "MODELTUI_CACHE_DIR": cache}
        try:
            c = measure.run(argv, env=env)
            if c.returncode != 0:
                raise SystemExit(f"cold run failed ({c.returncode}):\n{c.stderr[-2000:]}")
            cold.append(c)
            w = measure.run(argv, env=env)
            warm.append(w)
            probe_code = (
                "import sys; from tui.cli import main; main(sys.argv[1:]); "
                "print('TORCH' if 'torch' in sys.modules else 'NOTORCH', file=sys.stderr)"
            )
            probe = measure.run([sys.executable, "-c", probe_code, *argv[len(modeltui()) :]], env=env)
            warm_torch.append("NOTORCH" in probe.stderr)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        floor.append(measure.run([sys.executable, "-c", IMPORT_FLOOR], env=env0))
    row = json.loads(cold[0].stdout)[0]
    med = statistics.median
    rows = [
        [f"cold: {args.model} at {args.seq_len} tokens", f"{med(m.wall_s for m in cold):.2f}",
         f"{med(m.cpu_s for m in cold):.2f}", measure.gb(max(m.peak_rss for m in cold)),
         " ".join(f"{m.wall_s:.2f}" for m in cold)],
        ["warm (cached result)", f"{med(m.wall_s for m in warm):.3f}", f"{med(m.cpu_s for m in warm):.3f}",
         measure.gb(max(m.peak_rss for m in warm)), " ".join(f"{m.wall_s:.3f}" for m in warm)],
        ["floor: import torch + transformers Llama", f"{med(m.wall_s for m in floor):.2f}",
         f"{med(m.cpu_s for m in floor):.2f}", measure.gb(max(m.peak_rss for m in floor)),
         " ".join(f"{m.wall_s:.2f}" for m in floor)],
    ]  # fmt: skip
    print(measure.table(["", "wall s", "CPU s", "peak RSS", "runs"], rows))
    print(f"\n{row['model']}: {row['params']:,} params, {row['macs']:,} MACs, {row['layers']} ops")
    cold_s, warm_s = med(m.wall_s for m in cold), med(m.wall_s for m in warm)
    checks = [
        (f"cold <= {TARGET_COLD_S} s", cold_s <= TARGET_COLD_S, f"{cold_s:.2f} s"),
        (f"warm <= {TARGET_WARM_S} s", warm_s <= TARGET_WARM_S, f"{warm_s:.3f} s"),
        ("warm run imports no torch", all(warm_torch), str(all(warm_torch))),
        ("cold vs import floor", True, f"{cold_s / med(m.wall_s for m in floor):.2f}x the floor"),
    ]
    print()
    for what, ok, value in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {what}: {value}")
    if args.json:
        out = {"machine": measure.machine(), "cold_s": cold_s, "warm_s": warm_s}
        out["floor_s"] = med(m.wall_s for m in floor)
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
