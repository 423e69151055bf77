"""Warm vs cold ``modeltui llm``: the same command with an empty cache (fork server, torch and
transformers imports, build on meta, the phase captures) and then with the captures cached
(``metrics_core.runtime.llm_cache``: no capture, only the estimates), each measured from the outside
(median of ``--repeat``), printed as seconds (wall and CPU of the process tree) and as the cold/warm
ratio of the same run. Also a warm change of settings the captures do not depend on (hardware, stack,
TP, users). The sources' bytecode is written first (as ``pip install`` does), and the warm runs are
checked to import no torch.

    python benchmarks/bench_llm_warm.py [--model hf:ID] [--prompt 2048] [--repeat 3] [--json F] [--readme]

``--readme`` writes the result line into README.md (``<!-- bench:llm-warm -->``).
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
    ap.add_argument("--readme", action="store_true", help="write the result line into README.md")
    args = ap.parse_args()
    measure.compile_sources()
    print(measure.machine(), flush=True)
    base = [*modeltui(), "llm", args.model, "--hardware", "h100-sxm5-80gb", "--prompt", args.prompt,
            "--generate", "256", "--format", "json"]  # fmt: skip
    changed = [*base[:4], "a100-sxm4-80gb", *base[5:], "--stack", "sglang", "--users", "32"]
    env0 = {k: v for k, v in os.environ.items() if not k.startswith("MODELTUI_")}
    runs: dict[str, list[measure.Measurement]] = {"cold": [], "warm": [], "other": []}
    torch_free = []
    probe = [sys.executable, "-c", "import sys; from tui.cli import main; main(sys.argv[1:]); "
             "print('TORCH' if 'torch' in sys.modules else 'NOTORCH', file=sys.stderr)"]  # fmt: skip
    for _ in range(args.repeat):
        cache = tempfile.mkdtemp(prefix="modeltui-bench-llm-warm-")
        env = {**env0, "MODELTUI_CACHE_DIR": cache}
        try:
            for argv, into in ((base, "cold"), (base, "warm"), (changed, None), (changed, "other")):
                m = measure.run(argv, env=env)
                if m.returncode != 0:
                    raise SystemExit(f"run failed ({m.returncode}):\n{m.stderr[-2000:]}")
                if into is not None:
                    runs[into].append(m)
            for argv in (base, changed):
                torch_free.append(
                    "NOTORCH" in measure.run([*probe, *argv[len(modeltui()) :]], env=env).stderr
                )
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    wall = {k: statistics.median(m.wall_s for m in v) for k, v in runs.items()}
    cpu = {k: statistics.median(m.cpu_s for m in v) for k, v in runs.items()}
    c, w, o = wall["cold"], wall["warm"], wall["other"]
    rows = [
        ["cold (empty cache)", f"{c:.2f} s", f"{cpu['cold']:.2f} s", ""],
        ["warm (same command)", f"{w:.2f} s", f"{cpu['warm']:.2f} s", f"cold/warm x{c / w:.1f}"],
        ["warm (other hardware, stack, --users 32)", f"{o:.2f} s", f"{cpu['other']:.2f} s",
         f"cold/warm x{c / o:.1f}"],
    ]  # fmt: skip
    print(f"modeltui llm {args.model} --prompt {args.prompt} --generate 256 (median of {args.repeat})")
    print(measure.table(["run", "wall", "CPU", "ratio"], rows))
    ok = max(w, o) <= TARGET_WARM_S and all(torch_free)
    met = "met" if max(w, o) <= TARGET_WARM_S else "NOT met"
    print(f"warm target <= {TARGET_WARM_S} s (both warm runs): {met}")
    print(f"warm runs import no torch: {all(torch_free)}")
    line = (
        f"`llm {args.model} --prompt {args.prompt} --generate 256`: cold {c:.2f} s wall / "
        f"{cpu['cold']:.2f} s CPU, warm {w:.2f} s / {cpu['warm']:.2f} s (x{c / w:.1f}), warm on other "
        f"hardware, stack and "
        f"`--users 32` {o:.2f} s / {cpu['other']:.2f} s (x{c / o:.1f}); no torch imported when warm: "
        f"{all(torch_free)} (median of {args.repeat}; {measure.machine()})"
    )
    print(f"\n{line}")
    if args.readme and not measure.write_readme_figure("llm-warm", line):
        print("README.md has no <!-- bench:llm-warm --> marker: not written", file=sys.stderr)
    if args.json:
        out = {
            "model": args.model,
            "wall_s": wall,
            "cpu_s": cpu,
            "ratio": c / w,
            "torch_free": all(torch_free),
        }
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
