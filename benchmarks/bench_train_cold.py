"""A 7B-class decoder's training step from its config, cold, against ``llm`` on the same config in the same
run: ``modeltui train hf:meta-llama/Llama-2-7b-hf --hardware h100-sxm5-80gb --seq-len 2048`` (forward,
backward from autograd and the AdamW step captured on the meta device, memory by category, the estimate)
and ``modeltui llm hf:meta-llama/Llama-2-7b-hf --hardware h100-sxm5-80gb --prompt 2048`` (prefill and decode
captures), each with an empty cache, measured from the outside; ``--repeat N`` takes medians. The goal
(issue #23): ``train`` within 2x of ``llm``. The sources' bytecode is written first (as ``pip install``
does).

    python benchmarks/bench_train_cold.py [--model hf:ID] [--seq-len 2048] [--repeat 3] [--readme]

``--readme`` writes the result line into README.md (``<!-- bench:train-cold -->``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import measure  # noqa: E402

#: ``train`` cold within this multiple of ``llm`` cold on the same config (issue #23).
TARGET_RATIO = 2.0
HARDWARE = "h100-sxm5-80gb"


def modeltui() -> list[str]:
    exe = Path(sys.executable).with_name("modeltui")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "tui.cli"]


def _cold(argv: list[str], env0: dict[str, str]) -> measure.Measurement:
    """``argv`` with a fresh cache folder (removed after)."""
    cache = tempfile.mkdtemp(prefix="modeltui-bench-train-")
    try:
        m = measure.run(argv, env={**env0, "MODELTUI_CACHE_DIR": cache})
        if m.returncode != 0:
            raise SystemExit(f"run failed ({m.returncode}): {' '.join(argv)}\n{m.stderr[-2000:]}")
        return m
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="hf:meta-llama/Llama-2-7b-hf")
    ap.add_argument("--seq-len", default="2048")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--readme", action="store_true", help="write the result line into README.md")
    args = ap.parse_args()
    measure.compile_sources()
    print(measure.machine(), flush=True)
    train = [*modeltui(), "train", args.model, "--hardware", HARDWARE, "--seq-len", args.seq_len,
             "--format", "json"]  # fmt: skip
    llm = [*modeltui(), "llm", args.model, "--hardware", HARDWARE, "--prompt", args.seq_len,
           "--format", "json"]  # fmt: skip
    env0 = {k: v for k, v in os.environ.items() if not k.startswith("MODELTUI_")}
    runs: dict[str, list[measure.Measurement]] = {"train": [], "llm": []}
    for _ in range(args.repeat):  # interleaved: both see the same load
        runs["train"].append(_cold(train, env0))
        runs["llm"].append(_cold(llm, env0))
    med = statistics.median
    wall = {k: med(m.wall_s for m in v) for k, v in runs.items()}
    cpu = {k: med(m.cpu_s for m in v) for k, v in runs.items()}
    labels = {
        "train": f"cold train {args.model} --seq-len {args.seq_len} (AdamW, bf16-mixed)",
        "llm": f"cold llm {args.model} --prompt {args.seq_len}",
    }
    rows = [[labels[k], f"{wall[k]:.2f}", f"{cpu[k]:.2f}", measure.gb(max(m.peak_rss for m in runs[k])),
             " ".join(f"{m.wall_s:.2f}" for m in runs[k])] for k in labels]  # fmt: skip
    print(measure.table(["", "wall s", "CPU s", "peak RSS", "runs"], rows))
    ratio, ratio_cpu = wall["train"] / wall["llm"], cpu["train"] / cpu["llm"]
    ok = ratio <= TARGET_RATIO
    verdict = "PASS" if ok else "FAIL"
    print(f"\n{verdict}  train / llm <= {TARGET_RATIO:g}: x{ratio:.2f} wall (x{ratio_cpu:.2f} CPU)")
    line = (
        f"cold `train {args.model} --hardware {HARDWARE} --seq-len {args.seq_len}` "
        f"{wall['train']:.2f} s wall / {cpu['train']:.2f} s CPU against cold `llm --prompt {args.seq_len}` "
        "on the same config "
        f"{wall['llm']:.2f} s / {cpu['llm']:.2f} s: x{ratio:.2f} (goal ≤ {TARGET_RATIO:g}x: "
        f"{'met' if ok else 'not met'}) (median of {args.repeat}; {measure.machine()})"
    )
    print(f"\n{line}")
    if args.readme and not measure.write_readme_figure("train-cold", line):
        print("README.md has no <!-- bench:train-cold --> marker: not written", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
