"""``modeltui llm``: LLM inference on a target — prefill and decode, KV cache, TTFT/TPOT, tokens/s, what
fits, tensor parallel. Every figure is a roofline estimate (definitions: ``metrics_core.perf.llm``)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

from metrics_core.common import units
from metrics_core.common.errors import UsageError
from metrics_core.perf.llm import ACTIVATION_PRECISIONS, KV_PRECISIONS, WEIGHT_PRECISIONS
from tui.cli.commands.options import positive_int
from tui.cli.textable import text_table

FORMATS = ("table", "json", "csv", "markdown")

#: Flat columns of CSV and Markdown: one row per model x batch size.
FLAT_KEYS: tuple[str, ...] = (
    "model", "hardware", "batch_size", "prompt_tokens", "generate_tokens", "weights_precision",
    "activations_precision", "kv_precision", "compute_precision", "tp", "params", "active_params",
    "weight_bytes", "kv_bytes_per_token", "kv_cache_bytes", "activation_bytes", "resident_bytes",
    "capacity_bytes", "fits", "max_batch_size", "ttft_s", "tpot_s", "decode_tokens_per_s", "generation_s",
    "prefill_flops", "prefill_bytes", "prefill_ai", "prefill_bound", "decode_flops", "decode_bytes",
    "decode_ai", "decode_bound", "decode_memory_bound_time_pct",
)  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "llm",
        help="LLM serving estimates: prefill/decode, KV cache, TTFT/TPOT, tokens/s, fits, tensor parallel",
    )
    p.add_argument("models", nargs="+", metavar="MODEL", help="hf:ID decoder models or causal-LM factories")
    p.add_argument("--hardware", metavar="ID", required=True, help="hardware target id (modeltui hardware)")
    p.add_argument("--hardware-file", metavar="PATH", action="append", default=[], help="extra hardware TOML")
    p.add_argument(
        "--prompt", type=positive_int, default=512, metavar="P", help="prompt tokens (default 512)"
    )
    p.add_argument("--generate", type=positive_int, default=128, metavar="N", help="generated tokens (128)")
    p.add_argument(
        "--batch-size", default="1", metavar="B[,B...]", help="sequences in flight; a list gives a sweep (1)"
    )
    p.add_argument("--weights", choices=WEIGHT_PRECISIONS, default="fp16", help="weight precision (fp16)")
    p.add_argument("--activations", choices=ACTIVATION_PRECISIONS, default="fp16", help="activations (fp16)")
    p.add_argument("--kv", choices=KV_PRECISIONS, default="fp16", help="KV-cache precision (fp16)")
    p.add_argument("--tp", type=positive_int, default=1, metavar="N", help="tensor-parallel GPUs (1)")
    p.add_argument("--attention", choices=("sdpa", "eager"), default="sdpa", help="hf: attention (sdpa)")
    p.add_argument("--format", choices=FORMATS, default="table")


def run(args: argparse.Namespace) -> int:
    from metrics_core.common.dtypes import PRECISION_BITS, ElementBits
    from metrics_core.perf.llm import Scenario, estimate_llm
    from metrics_core.perf.sweep import parse_batch_sizes
    from metrics_core.runtime.llm_capture import capture_llm
    from metrics_core.runtime.pool import run_call
    from metrics_core.sources.resolve import get_spec
    from tui.cli.commands.hardware import load_catalog_with_warnings

    target = load_catalog_with_warnings(args.hardware_file).get(args.hardware)
    batches = parse_batch_sizes(args.batch_size)
    scenarios = [
        Scenario(b, args.prompt, args.generate, args.weights, args.activations, args.kv, args.tp).validated(
            target
        )
        for b in batches
    ]
    for name in args.models:  # every name checked before any model is built
        spec = get_spec(name)
        if spec.source == "hf" and spec.task != "causal-lm":
            raise UsageError(f"{name} is not a decoder language model ({spec.task}); llm analyses causal LMs")
        if spec.source == "torchvision" or spec.source == "timm":
            raise UsageError(
                f"{name} is not a language model; llm analyses hf: decoders and causal-LM factories"
            )
    bits = ElementBits(
        PRECISION_BITS[args.activations], PRECISION_BITS[args.weights], PRECISION_BITS[args.kv]
    )
    results = []
    for name in args.models:
        for s in scenarios:
            capture = run_call(
                capture_llm, name, s.batch_size, s.prompt_tokens, s.generate_tokens, bits, args.attention
            )
            results.append(estimate_llm(capture, target, s))
    write(results, args.format)
    return 0


def flat(d: dict) -> dict:
    """One row: the scalars, ``prefill_*`` and ``decode_*`` from the phase objects."""
    row = {k: v for k, v in d.items() if not isinstance(v, dict)}
    for phase in ("prefill", "decode"):
        row.update({f"{phase}_{k}": v for k, v in d[phase].items()})
    return {k: row.get(k) for k in FLAT_KEYS}


def write(results: list, fmt: str) -> None:
    dicts = [r.to_dict() for r in results]
    if fmt == "json":
        sys.stdout.write(json.dumps(dicts, indent=2, allow_nan=False) + "\n")
        return
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=FLAT_KEYS, lineterminator="\n")
        w.writeheader()
        w.writerows(flat(d) for d in dicts)
        sys.stdout.write("# modeltui llm: every figure is a roofline estimate\n" + buf.getvalue())
        return
    if fmt == "markdown":
        rows = [flat(d) for d in dicts]
        lines = ["modeltui llm (estimates: roofline)", "", "| " + " | ".join(FLAT_KEYS) + " |"]
        lines.append("|" + "---|" * len(FLAT_KEYS))
        lines += [
            "| " + " | ".join("" if r[k] is None else str(r[k]) for k in FLAT_KEYS) + " |" for r in rows
        ]
        sys.stdout.write("\n".join(lines) + "\n")
        return
    print(text_report(results))


def text_report(results: list) -> str:
    """Per model: a block per configuration (one batch size), or a batch table for a sweep."""
    by_model: dict[str, list] = {}
    for r in results:
        by_model.setdefault(r.model, []).append(r)
    parts = []
    for rs in by_model.values():
        parts.append(_block(rs[0]) if len(rs) == 1 else _sweep(rs))
    return "\n\n".join(parts)


def _header(r) -> str:  # noqa: ANN001
    s = r.scenario
    return (
        f"== {r.model} on {r.target.name} (estimates: roofline, no fusion) ==\n"
        f"prompt {s.prompt_tokens} + generate {s.generate_tokens} tokens · weights {s.weights} · activations "
        f"{s.activations} · KV {s.kv} · compute {s.compute_precision} · TP {s.tp}"
    )


def _memory_line(r) -> str:  # noqa: ANN001
    per_gpu = " per GPU" if r.scenario.tp > 1 else ""
    over = units.human_bytes(r.resident_bytes - r.capacity_bytes)
    verdict = "fits" if r.fits else f"DOES NOT FIT (over by {over})"
    total = r.scenario.prompt_tokens + r.scenario.generate_tokens
    return (
        f"memory{per_gpu}: weights {units.human_bytes(r.weight_bytes)} + KV cache "
        f"{units.human_bytes(r.kv_cache_bytes)} ({r.kv_bytes_per_token:,.0f} B/token) + activations "
        f"{units.human_bytes(r.activation_bytes)} = {units.human_bytes(r.resident_bytes)} of "
        f"{units.human_bytes(r.capacity_bytes)}: {verdict}; max batch at {total} tokens: {r.max_batch_size}"
    )


def _block(r) -> str:  # noqa: ANN001
    s = r.scenario
    rows = []
    for label, ph in (
        (f"prefill ({s.prompt_tokens} tokens)", r.prefill),
        (f"decode @ {s.prompt_tokens}", r.decode_first),
        (f"decode @ {s.prompt_tokens + s.generate_tokens}", r.decode_last),
    ):
        rows.append(
            [label, units.human_count(ph.flops), units.human_bytes(ph.bytes), units.fixed(ph.ai, digits=1),
             ph.bound, units.pct(ph.memory_bound_time_pct), units.human_time(ph.time_s)]
        )  # fmt: skip
    headers = [f"phase (batch {s.batch_size})", "FLOPs", "bytes", "AI", "bound", "mem time", "time"]
    table = text_table(headers, rows, [False, True, True, True, False, True, True])
    tpot = r.tpot_s
    moe = ""
    if r.experts_read_per_layer is not None:
        moe = (
            f"\nMoE: {units.human_count(r.active_params)} of {units.human_count(r.params)} params active per "
            f"token; a decode step reads {r.experts_read_per_layer:.2f} experts per layer (uniform top-k "
            "routing)"
        )
    summary = (
        f"TTFT {units.human_time(r.prefill.time_s)} · TPOT {units.human_time(tpot)} (avg of "
        f"@{s.prompt_tokens} and @{s.prompt_tokens + s.generate_tokens}) · {1 / tpot:,.1f} tokens/s per "
        f"sequence, {s.batch_size / tpot:,.1f} aggregate · generation {units.human_time(r.generation_s)}"
    )
    return "\n".join([_header(r), _memory_line(r), "", table, "", summary]) + moe


def _sweep(rs: list) -> str:
    rows = []
    for r in rs:
        rows.append(
            [str(r.scenario.batch_size), "yes" if r.fits else "NO", units.human_bytes(r.resident_bytes),
             units.human_time(r.prefill.time_s), units.human_time(r.tpot_s),
             f"{r.scenario.batch_size / r.tpot_s:,.1f}", f"{1 / r.tpot_s:,.1f}", r.decode_first.bound,
             units.fixed(r.decode_first.ai, digits=1)]
        )  # fmt: skip
    headers = [
        "batch",
        "fits",
        "resident",
        "TTFT",
        "TPOT",
        "tok/s (all)",
        "tok/s (seq)",
        "decode bound",
        "decode AI",
    ]
    table = text_table(headers, rows, [True, False, True, True, True, True, True, False, True])
    return "\n".join(
        [_header(rs[0]), f"largest batch that fits at the full context: {rs[0].max_batch_size}", "", table]
    )
