"""Warm vs cold ``modeltui llm``: the same command with an empty cache (fork server, torch and
transformers imports, build on meta, the phase captures) and then with the captures cached
(``metrics_core.runtime.llm_cache``: no capture, only the estimates), each measured from the outside
(median of ``--repeat``), printed as seconds and as the cold/warm ratio of the same run. Also a warm
change of settings the captures do not depend on (hardware, stack, TP, users).

    python benchmarks/bench_llm_warm.py [--model hf:ID] [--prompt 2048] [--repeat 3] [--json F]
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
from bench_llm_cold import modeltui  # noqa: E402

TARGET_WARM_S = 0.5


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="hf:meta-llama/Llama-3.1-8B")
    ap.add_argument("--prompt", default="2048")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()
    print(measure.machine(), flush=True)
    base = [*modeltui(), "llm", args.model, "--hardware", "h100-sxm5-80gb", "--prompt", args.prompt,
            "--generate", "256", "--format", "json"]  # fmt: skip
    changed = [*base[:4], "a100-sxm4-80gb", *base[5:], "--stack", "sglang", "--users", "32"]
    env0 = {k: v for k, v in os.environ.items() if not k.startswith("MODELTUI_")}
    cold, warm, other = [], [], []
    for _ in range(args.repeat):
        cache = tempfile.mkdtemp(prefix="modeltui-bench-llm-warm-")
        env = {**env0, "MODELTUI_CACHE_DIR": cache}
        try:
            for argv, into in ((base, cold), (base, warm), (changed, None), (changed, other)):
                m = measure.run(argv, env=env)
                if m.returncode != 0:
                    raise SystemExit(f"run failed ({m.returncode}):\n{m.stderr[-2000:]}")
                if into is not None:
                    into.append(m.wall_s)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    c, w, o = statistics.median(cold), statistics.median(warm), statistics.median(other)
    rows = [
        ["cold (empty cache)", f"{c:.2f} s", ""],
        ["warm (same command)", f"{w:.2f} s", f"cold/warm x{c / w:.1f}"],
        ["warm (other hardware, stack, --users 32)", f"{o:.2f} s", f"cold/warm x{c / o:.1f}"],
    ]
    print(f"modeltui llm {args.model} --prompt {args.prompt} --generate 256 (median of {args.repeat})")
    print(measure.table(["run", "wall", "ratio"], rows))
    ok = w <= TARGET_WARM_S
    print(f"warm target <= {TARGET_WARM_S} s: {'met' if ok else 'NOT met'}")
    if args.json:
        out = {"model": args.model, "cold_s": cold, "warm_s": warm, "warm_changed_s": other, "ratio": c / w}
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
