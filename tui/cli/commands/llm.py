"""``modeltui llm``: LLM inference on a target — prefill and decode, KV cache, TTFT/TPOT, tokens/s, what
fits, tensor parallel. Every figure is a roofline estimate (definitions: ``metrics_core.perf.llm``)."""

from __future__ import annotations

import argparse
import csv
import io
import sys

from metrics_core.common.errors import ModeltuiError, UsageError
from metrics_core.perf.llm import ACTIVATION_PRECISIONS, KV_PRECISIONS, WEIGHT_PRECISIONS
from metrics_core.perf.llm_report import text_report
from metrics_core.report.export import to_json
from metrics_core.runtime.pool import DEFAULT_TIMEOUT_S
from tui.cli.commands.options import positive_int, positive_seconds

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
        "--prompt",
        default="512",
        metavar="P[,P...]",
        help="prompt tokens; a list gives a sweep (default 512)",
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
    p.add_argument(
        "--timeout",
        type=positive_seconds,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"per model and configuration: a capture still running after it is that row's error "
        f"(default {DEFAULT_TIMEOUT_S:g})",
    )
    from tui.cli.commands.perfmode import add_mode_args

    add_mode_args(p)
    p.add_argument("--format", choices=FORMATS, default="table")


def run(args: argparse.Namespace) -> int:
    from metrics_core.perf.llm import Scenario
    from metrics_core.perf.sweep import parse_batch_sizes
    from metrics_core.runtime.llm_capture import estimate_in_worker
    from metrics_core.sources.resolve import get_spec
    from tui.cli.commands.hardware import load_catalog_with_warnings
    from tui.cli.commands.perfmode import modes_of

    target = load_catalog_with_warnings(args.hardware_file).get(args.hardware)
    batches = parse_batch_sizes(args.batch_size)
    try:
        prompts = parse_batch_sizes(args.prompt)
    except UsageError as exc:
        raise UsageError(f"--prompt: {str(exc).replace('batch sizes', 'prompt lengths')}") from None
    scenarios = [
        Scenario(
            b, p, args.generate, args.weights, args.activations, args.kv, args.tp, **modes_of(args)
        ).validated(target)
        for p in prompts
        for b in batches
    ]
    for name in args.models:  # every name checked before any model is built
        spec = get_spec(name)
        if spec.source == "hf" and spec.task != "causal-lm":
            raise UsageError(f"{name} is not a decoder language model ({spec.task}); llm analyses causal LMs")
        if spec.source in ("torchvision", "timm"):
            raise UsageError(
                f"{name} is not a language model; llm analyses hf: decoders and causal-LM factories"
            )
        config = spec.builder_kwargs.get("config", {}) if spec.source == "hf" else {}
        heads = config.get("num_attention_heads") or config.get("n_head")
        if isinstance(heads, int) and (args.tp > heads or heads % args.tp):
            raise UsageError(f"--tp {args.tp}: {name}'s {heads} attention heads do not split {args.tp} ways")
        longest = max(prompts) + args.generate
        if spec.max_tokens is not None and longest > spec.max_tokens[0]:
            limit, field = spec.max_tokens
            raise UsageError(
                f"{name} takes at most {limit:,} tokens ({field}); prompt + generate = {longest:,} is longer"
            )
    results, failures = [], []
    for name in args.models:
        for s in scenarios:
            try:
                estimate = estimate_in_worker(name, target, s, args.attention, args.timeout)
            except ModeltuiError as exc:  # this configuration's row is lost, not the others
                if exc.kind == "usage":
                    raise
                failures.append(f"{name} (batch {s.batch_size}, prompt {s.prompt_tokens}): {exc}")
                continue
            results.append(estimate)
    write(results, args.format)
    for failure in failures:
        print(f"modeltui: error: {failure}", file=sys.stderr)
    return 1 if failures else 0


def flat(d: dict) -> dict:
    """One row: the scalars, ``prefill_*`` and ``decode_*`` from the phase objects."""
    row = {k: v for k, v in d.items() if not isinstance(v, dict)}
    for phase in ("prefill", "decode"):
        row.update({f"{phase}_{k}": v for k, v in d[phase].items()})
    return {k: row.get(k) for k in FLAT_KEYS}


def write(results: list, fmt: str) -> None:
    dicts = [r.to_dict() for r in results]
    if fmt == "json":
        sys.stdout.write(to_json(dicts))
        return
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=FLAT_KEYS, lineterminator="\n")
        w.writeheader()
        w.writerows(flat(d) for d in dicts)
        sys.stdout.write(buf.getvalue())  # every figure is an estimate: the JSON says so on each object
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
    import os

    print(text_report(results, color=sys.stdout.isatty() and not os.environ.get("NO_COLOR")))


def _cell(value: object) -> str:
    """A Markdown cell: 4 significant digits for floats, yes/no for booleans, empty for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
