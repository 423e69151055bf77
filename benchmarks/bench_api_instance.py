"""The Python API on instances (issue 20's targets), against baselines measured in the same run.

1. Time: ``metrics_core.analyze(instance, x)`` vs ``torch.utils.flop_counter.FlopCounterMode`` over one
   forward pass of the same instance on the same meta input (what a user of torch's counter writes), per
   model: the first call of each on the model in this process, and the fastest of ``--repeat`` runs after
   it (the least disturbed by other load). Target: analyse <= 1.5x the counter, both ways.
2. Memory: a Hugging Face Llama-style decoder built with real bf16 weights on the CPU (every weight written,
   so its pages are resident), then analysed as an instance at ``--seq-len`` tokens; the extra peak RSS of
   the analysis (``VmHWM`` after minus ``VmRSS`` before, read from /proc) against the parameter bytes.
   Target: extra peak below 10 % of the parameter bytes. ``--size 7b`` is Llama-2-7B's shape (13.5 GB of
   bf16 weights; needs ~16 GB free), ``1b`` (default) a 1.1B model of the same family (TinyLlama's shape).

    python benchmarks/bench_api_instance.py [--repeat 5] [--size 1b|7b] [--seq-len 128] [--json PATH]

Prints a table and PASS/FAIL lines; exits non-zero when a target fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = ("resnet50", "mobilenet_v3_large", "vit_b_16", "convnext_tiny", "efficientnet_b0")

#: Llama-family shapes (config.json of meta-llama/Llama-2-7b-hf and TinyLlama/TinyLlama-1.1B).
SIZES = {
    "7b": {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
           "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32000},
    "1b": {"hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22,
           "num_attention_heads": 32, "num_key_value_heads": 4, "vocab_size": 32000},
}  # fmt: skip


def _status(field: str) -> int:
    """A ``/proc/self/status`` field in bytes (``VmRSS``, ``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_peak() -> None:
    """Reset ``VmHWM`` to the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    Path("/proc/self/clear_refs").write_text("5")


#: Seconds of each tool's one-time start-up in this process (measured on a 4x4 Linear).
STARTUP: dict[str, float] = {}


def time_models(repeat: int) -> list[dict]:
    import torch
    import torchvision
    from torch.utils.flop_counter import FlopCounterMode

    import metrics_core as mc

    rows = []
    tiny, z = torch.nn.Linear(4, 4, device="meta"), torch.empty(1, 4, device="meta")

    def counter_tiny() -> None:
        with torch.no_grad(), FlopCounterMode(display=False):
            tiny(z)

    for label, fn in (("counter", counter_tiny), ("modeltui", lambda: mc.analyze(tiny, z))):
        t = time.perf_counter()
        fn()  # one-time start-up of each (imports, rule registry): not a per-model cost
        STARTUP[label] = time.perf_counter() - t
    for name in MODELS:
        with torch.device("meta"):
            model = torchvision.models.get_model(name).eval()
        x = torch.empty(1, 3, 224, 224, device="meta")

        def counter(model=model, x=x) -> None:  # noqa: ANN001
            with torch.no_grad(), FlopCounterMode(display=False):
                model(x)

        def ours(model=model, x=x) -> None:  # noqa: ANN001
            mc.analyze(model, x)

        times, first = {}, {}
        for label, fn in (("counter", counter), ("modeltui", ours)):
            t = time.perf_counter()
            fn()  # the first call on this model in this process
            first[label] = time.perf_counter() - t
            samples = []
            for _ in range(repeat):
                t = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - t)
            times[label] = min(samples)
        rows.append(
            {
                "model": name,
                "counter_first_s": first["counter"],
                "analyze_first_s": first["modeltui"],
                "first_ratio": first["modeltui"] / first["counter"],
                "counter_s": times["counter"],
                "analyze_s": times["modeltui"],
                "ratio": times["modeltui"] / times["counter"],
            }
        )
    return rows


def memory(size: str, seq_len: int) -> dict:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    import metrics_core as mc

    config = LlamaConfig(**SIZES[size], torch_dtype="bfloat16")
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    model = model.to_empty(device="cpu").to(torch.bfloat16).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.01)  # every page written: resident
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    ids = torch.ones(1, seq_len, dtype=torch.long)
    before = _status("VmRSS")
    _reset_peak()
    t = time.perf_counter()
    report = mc.analyze(model, ids)
    seconds = time.perf_counter() - t
    extra = _status("VmHWM") - before
    return {
        "size": size,
        "params": report.metrics.params,
        "param_bytes": param_bytes,
        "extra_peak_bytes": extra,
        "extra_pct": 100.0 * extra / param_bytes,
        "analyze_s": seconds,
        "macs": report.metrics.macs,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--size", choices=sorted(SIZES), default="1b")
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    rows = time_models(args.repeat)
    print(
        f"one-time start-up in this process: counter {STARTUP['counter'] * 1e3:.0f} ms, "
        f"analyze {STARTUP['modeltui'] * 1e3:.0f} ms (imports, cost-rule registry)"
    )
    print("first call of each on the model, then the fastest of the repeats (ms)")
    print(f"{'model':<20}{'counter':>9}{'analyze':>9}{'ratio':>7}{'counter':>10}{'analyze':>9}{'ratio':>7}")
    for r in rows:
        cells = [r["counter_first_s"] * 1e3, r["analyze_first_s"] * 1e3, r["first_ratio"]]
        cells += [r["counter_s"] * 1e3, r["analyze_s"] * 1e3, r["ratio"]]
        print(f"{r['model']:<20}{cells[0]:>9.1f}{cells[1]:>9.1f}{cells[2]:>6.2f}x"
              f"{cells[3]:>10.1f}{cells[4]:>9.1f}{cells[5]:>6.2f}x")  # fmt: skip
    mem = memory(args.size, args.seq_len)
    print(
        f"\n{args.size} Llama-style decoder, bf16 weights on CPU: {mem['params'] / 1e9:.2f}B params, "
        f"{mem['param_bytes'] / 1e9:.2f} GB; analysed at {args.seq_len} tokens in {mem['analyze_s']:.1f} s; "
        f"{mem['macs'] / 1e12:.2f}T MACs; extra peak RSS {mem['extra_peak_bytes'] / 1e6:.0f} MB = "
        f"{mem['extra_pct']:.1f} % of the parameter bytes"
    )
    worst = max(max(r["ratio"], r["first_ratio"]) for r in rows)
    ok_time = worst <= 1.5
    ok_mem = mem["extra_pct"] < 10.0
    verdict = {True: "PASS", False: "FAIL"}
    print(f"{verdict[ok_time]}: analyse an instance within 1.5x FlopCounterMode (worst {worst:.2f}x)")
    print(f"{verdict[ok_mem]}: extra peak RSS below 10 % of the parameter bytes ({mem['extra_pct']:.1f} %)")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"startup_s": STARTUP, "timing": rows, "memory": mem}, indent=1)
        )
    return 0 if ok_time and ok_mem else 1


if __name__ == "__main__":
    sys.exit(main())
