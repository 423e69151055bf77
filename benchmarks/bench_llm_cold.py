"""A large language model from its config, cold: ``modeltui compare hf:meta-llama/Llama-3.1-70B --seq-len
2048`` and ``modeltui llm hf:meta-llama/Llama-3.1-70B --hardware h100-sxm5-80gb --prompt 2048`` with an
empty cache (fork server, torch and transformers imports, build on meta, capture), each with identical
decoder layers captured once (``metrics_core.capture.layer_replicas``) and, as the baseline in the same
run, every layer captured (``MODELTUI_LAYER_REPLICAS=0``), printed as seconds and ratios; their outputs
must be identical. Then ``compare`` warm (the cached result: no torch import). Each is measured from the
outside; ``--repeat N`` takes medians. The sources' bytecode is written first (as ``pip install`` does).

Also a floor: importing torch and transformers' Llama model in a bare interpreter (what any in-process
analysis pays before its first op).

    python benchmarks/bench_llm_cold.py [--model hf:ID] [--seq-len 2048] [--repeat 3] [--json F] [--readme]

``--readme`` writes the result line into README.md (``<!-- bench:llm-cold -->``).
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
FULL = {"MODELTUI_LAYER_REPLICAS": "0"}


def modeltui() -> list[str]:
    exe = Path(sys.executable).with_name("modeltui")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "tui.cli"]


def _cold(argv: list[str], env0: dict[str, str], extra: dict[str, str]) -> measure.Measurement:
    """``argv`` with a fresh cache folder (removed after)."""
    cache = tempfile.mkdtemp(prefix="modeltui-bench-llm-")
    try:
        m = measure.run(argv, env={**env0, **extra, "MODELTUI_CACHE_DIR": cache})
        if m.returncode != 0:
            raise SystemExit(f"run failed ({m.returncode}): {' '.join(argv)}\n{m.stderr[-2000:]}")
        return m
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def main() -> int:  # noqa: C901
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="hf:meta-llama/Llama-3.1-70B")
    ap.add_argument("--seq-len", default="2048")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--readme", action="store_true", help="write the result line into README.md")
    args = ap.parse_args()
    measure.compile_sources()
    print(measure.machine(), flush=True)
    compare = [*modeltui(), "compare", args.model, "--seq-len", args.seq_len, "--format", "json"]
    llm = [*modeltui(), "llm", args.model, "--hardware", "h100-sxm5-80gb", "--prompt", args.seq_len,
           "--generate", "128", "--format", "json"]  # fmt: skip
    env0 = {k: v for k, v in os.environ.items() if not k.startswith("MODELTUI_")}
    runs: dict[str, list[measure.Measurement]] = {k: [] for k in ("compare", "compare_full", "warm", "llm",
                                                                  "llm_full", "floor")}  # fmt: skip
    warm_torch, same = [], []
    for _ in range(args.repeat):
        runs["compare"].append(_cold(compare, env0, {}))
        runs["compare_full"].append(_cold(compare, env0, FULL))
        runs["llm"].append(_cold(llm, env0, {}))
        runs["llm_full"].append(_cold(llm, env0, FULL))
        same.append(runs["compare"][-1].stdout == runs["compare_full"][-1].stdout)
        same.append(_strip_context(runs["llm"][-1].stdout) == _strip_context(runs["llm_full"][-1].stdout))
        cache = tempfile.mkdtemp(prefix="modeltui-bench-llm-")
        env = {**env0, "MODELTUI_CACHE_DIR": cache}
        try:
            measure.run(compare, env=env)
            runs["warm"].append(measure.run(compare, env=env))
            probe_code = (
                "import sys; from tui.cli import main; main(sys.argv[1:]); "
                "print('TORCH' if 'torch' in sys.modules else 'NOTORCH', file=sys.stderr)"
            )
            probe = measure.run([sys.executable, "-c", probe_code, *compare[len(modeltui()) :]], env=env)
            warm_torch.append("NOTORCH" in probe.stderr)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        runs["floor"].append(measure.run([sys.executable, "-c", IMPORT_FLOOR], env=env0))
    med = statistics.median
    wall = {k: med(m.wall_s for m in v) for k, v in runs.items()}
    cpu = {k: med(m.cpu_s for m in v) for k, v in runs.items()}
    labels = {
        "compare": f"cold compare {args.model} --seq-len {args.seq_len} (layers captured once)",
        "compare_full": "  the same, every layer captured (MODELTUI_LAYER_REPLICAS=0)",
        "llm": f"cold llm --prompt {args.seq_len} --generate 128 (layers captured once)",
        "llm_full": "  the same, every layer captured",
        "warm": "warm compare (cached result)",
        "floor": "floor: import torch + transformers Llama",
    }
    rows = [[labels[k], f"{wall[k]:.2f}", f"{cpu[k]:.2f}", measure.gb(max(m.peak_rss for m in runs[k])),
             " ".join(f"{m.wall_s:.2f}" for m in runs[k])] for k in labels]  # fmt: skip
    print(measure.table(["", "wall s", "CPU s", "peak RSS", "runs"], rows))
    row = json.loads(runs["compare"][0].stdout)[0]
    print(f"\n{row['model']}: {row['params']:,} params, {row['macs']:,} MACs, {row['layers']} ops")
    ratio_c = wall["compare_full"] / wall["compare"]
    ratio_l = wall["llm_full"] / wall["llm"]
    cpu_c, cpu_l = cpu["compare_full"] / cpu["compare"], cpu["llm_full"] / cpu["llm"]
    print(f"every layer / layers once: compare x{ratio_c:.2f} wall (x{cpu_c:.2f} CPU), "
          f"llm x{ratio_l:.2f} wall (x{cpu_l:.2f} CPU)")  # fmt: skip
    checks = [
        ("outputs identical with layers captured once and every layer", all(same), str(all(same))),
        (f"cold compare <= {TARGET_COLD_S} s", wall["compare"] <= TARGET_COLD_S, f"{wall['compare']:.2f} s"),
        (f"warm <= {TARGET_WARM_S} s", wall["warm"] <= TARGET_WARM_S, f"{wall['warm']:.3f} s"),
        ("warm run imports no torch", all(warm_torch), str(all(warm_torch))),
        ("cold vs import floor", True, f"{wall['compare'] / wall['floor']:.2f}x the floor"),
    ]
    print()
    for what, ok, value in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {what}: {value}")
    w, c = wall, cpu
    line = (
        f"cold `compare {args.model} --seq-len {args.seq_len}` {w['compare']:.2f} s wall / "
        f"{c['compare']:.2f} s CPU (every layer captured: {w['compare_full']:.2f} s / "
        f"{c['compare_full']:.2f} s, x{ratio_c:.2f}); cold `llm --prompt {args.seq_len}` {w['llm']:.2f} s / "
        f"{c['llm']:.2f} s CPU (every layer: {w['llm_full']:.2f} s / {c['llm_full']:.2f} s, x{ratio_l:.2f}); "
        f"outputs identical: {all(same)}; warm `compare` {w['warm']:.2f} s; import floor {w['floor']:.2f} s "
        f"(median of {args.repeat}; {measure.machine()})"
    )
    print(f"\n{line}")
    verdict = "met" if wall["compare"] <= TARGET_COLD_S else "**not met** on this machine"
    rss = measure.gb(max(m.peak_rss for m in runs["compare"]))
    row = (
        f"{w['compare']:.2f} s wall, {c['compare']:.2f} s CPU (median of {args.repeat}), {rss}; every layer "
        f"captured: {w['compare_full']:.2f} s (x{ratio_c:.2f}) | importing torch + transformers' Llama in a "
        f"bare interpreter: {w['floor']:.2f} s | ≤ {TARGET_COLD_S:g} s — {verdict}"
    )
    warm_verdict = "met" if wall["warm"] <= TARGET_WARM_S else "**not met** on this machine"
    warm_row = (
        f"{w['warm']:.3f} s (median of {args.repeat}), torch never imported: {all(warm_torch)} | | "
        f"≤ {TARGET_WARM_S:g} s — {warm_verdict}"
    )
    if args.readme:
        for name, text in (("llm-cold", line), ("llm-cold-row", row), ("llm-cold-warm-row", warm_row)):
            if not measure.write_readme_figure(name, text):
                print(f"README.md has no <!-- bench:{name} --> marker: not written", file=sys.stderr)
    if args.json:
        out = {"machine": measure.machine(), "wall_s": wall, "cpu_s": cpu, "identical": all(same)}
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0 if all(ok for _, ok, _ in checks) else 1


def _strip_context(text: str) -> str:
    """``llm --format json`` output without its ``context`` (it names the run's cache folder and time)."""
    doc = json.loads(text)
    for row in doc if isinstance(doc, list) else [doc]:
        if isinstance(row, dict):
            row.pop("context", None)
    return json.dumps(doc, sort_keys=True)


if __name__ == "__main__":
    sys.exit(main())
