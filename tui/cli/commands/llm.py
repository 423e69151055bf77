"""``modeltui llm``: LLM inference on a target — prefill and decode, KV cache, TTFT/TPOT, tokens/s, what
fits, tensor parallel. Every figure is a roofline estimate (definitions: ``metrics_core.perf.llm``)."""

from __future__ import annotations

import argparse
import csv
import io
import sys

from metrics_core.common.errors import ModeltuiError, UsageError, row_error
from metrics_core.perf.llm import ACTIVATION_PRECISIONS, KV_PRECISIONS, WEIGHT_PRECISIONS
from metrics_core.perf.llm_report import text_report
from metrics_core.perf.stacks import DEFAULT_STACK, stack_ids
from metrics_core.report.export import to_json
from metrics_core.runtime.llm_setup import DEFAULT_GENERATE, DEFAULT_PROMPT
from metrics_core.runtime.pool import DEFAULT_TIMEOUT_S
from tui.cli.commands.options import positive_int, positive_seconds, positive_watts

FORMATS = ("table", "json", "csv", "markdown")
#: Speculative decoding's defaults (``--draft-tokens``, ``--acceptance``), taken with ``--draft`` only.
DEFAULT_DRAFT_TOKENS = 4
DEFAULT_ACCEPTANCE = 0.7

#: Flat columns of CSV and Markdown: one row per model x prompt x batch size x context.
FLAT_KEYS: tuple[str, ...] = (
    "model", "hardware", "architecture", "batch_size", "prompt_tokens", "generate_tokens", "context_tokens",
    "encoder_tokens", "weights_precision", "weights_bits_per_weight", "activations_precision", "kv_precision",
    "compute_precision", "tp", "stack", "stack_source", "efficiency_source", "execution", "efficiency",
    "validated", "clock_ratio",
    "params", "active_params", "weight_bytes", "kv_bytes_per_token", "cross_kv_bytes_per_token",
    "kv_cache_bytes", "kv_block_tokens", "kv_paging_bytes", "cross_kv_cache_bytes", "activation_bytes",
    "resident_bytes",
    "capacity_bytes", "fits", "max_batch_size", "ttft_s", "tpot_s", "tpot_first_s", "tpot_last_s",
    "decode_tokens_per_s", "decode_tokens_per_s_per_sequence", "generation_s",
    "prefill_flops", "prefill_bytes", "prefill_ai", "prefill_bound", "prefill_memory_bound_time_pct",
    "prefill_compute_bound_time_pct", "prefill_overhead_bound_time_pct",
    "prefill_communication_bound_time_pct",
    "prefill_compute_s", "prefill_memory_s", "prefill_pass_s", "prefill_overhead_s", "prefill_allreduce_s",
    "prefill_time_s",
    "decode_flops", "decode_bytes", "decode_ai", "decode_bound", "decode_memory_bound_time_pct",
    "decode_compute_bound_time_pct", "decode_overhead_bound_time_pct",
    "decode_communication_bound_time_pct",
    "decode_compute_s", "decode_memory_s", "decode_pass_s", "decode_overhead_s", "decode_allreduce_s",
    "decode_time_s",
)  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "llm",
        help="LLM serving estimates: prefill/decode, KV cache, TTFT/TPOT, tokens/s, fits, tensor parallel",
    )
    p.add_argument(
        "models",
        nargs="+",
        metavar="MODEL",
        help="hf:ID language models (decoders; encoder-decoders such as T5, Whisper; vision-language models "
        "such as LLaVA, whose prompt holds one image) or causal-LM factories",
    )
    p.add_argument("--hardware", metavar="ID", required=True, help="hardware target id (modeltui hardware)")
    p.add_argument("--hardware-file", metavar="PATH", action="append", default=[], help="extra hardware TOML")
    p.add_argument(
        "--prompt",
        default=None,
        metavar="P[,P...]",
        help="prompt tokens (encoder-decoders: the encoder's input); a list gives a sweep (default 512; "
        "Whisper: its fixed 1,500-position window)",
    )
    p.add_argument(
        "--context",
        default=None,
        metavar="C[,C...]",
        help="the decode step reported, by its context (P <= C <= P + N; encoder-decoders count decoder "
        "tokens, 1 <= C <= 1 + N); a list gives a sweep (default: the first step)",
    )
    p.add_argument(
        "--generate",
        type=positive_int,
        default=DEFAULT_GENERATE,
        metavar="N",
        help=f"generated tokens ({DEFAULT_GENERATE})",
    )
    p.add_argument(
        "--batch-size", default="1", metavar="B[,B...]", help="sequences in flight; a list gives a sweep (1)"
    )
    p.add_argument(
        "--weights",
        default=None,
        metavar="FORMAT",
        help=f"weight format, bits per weight with its scales (default: the activations' — fp16, or fp8 / "
        f"int8 / nvfp4 with --activations fp8 / int8 / fp4): {', '.join(WEIGHT_PRECISIONS)}; aliases int4 "
        "(= int4-g128), awq, gptq, w8a8 ...",
    )
    p.add_argument(
        "--activations",
        choices=ACTIVATION_PRECISIONS,
        default=None,
        help="activations: the compute path (fp16; bf16 on targets without fp16)",
    )
    p.add_argument(
        "--kv",
        default=None,
        metavar="FORMAT",
        help=f"KV-cache format (default: the activations' 16-bit type): {', '.join(KV_PRECISIONS)}",
    )
    p.add_argument(
        "--stack",
        default=DEFAULT_STACK,
        metavar="STACK",
        help=f"serving stack: {', '.join(stack_ids())} (default {DEFAULT_STACK}): its kernels, per-step and "
        "per-request overheads, all-reduce",
    )
    p.add_argument(
        "--block-size",
        type=positive_int,
        default=None,
        metavar="TOKENS",
        help="paged KV: tokens per KV-cache block, each sequence holds whole blocks (default: the stack's, "
        "vLLM 16, TensorRT-LLM 64, 1 = per token)",
    )
    p.add_argument("--tp", type=positive_int, default=1, metavar="N", help="tensor-parallel GPUs (1)")
    p.add_argument(
        "--power-limit",
        type=positive_watts,
        default=None,
        metavar="W",
        help="board power limit (nvidia-smi -pl): the tensor clock sustained under it, by the power model "
        "(default: the target's board power)",
    )
    p.add_argument("--attention", choices=("sdpa", "eager"), default="sdpa", help="hf: attention (sdpa)")
    p.add_argument(
        "--timeout",
        type=positive_seconds,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"per model and configuration: a capture still running after it is that row's error "
        f"(default {DEFAULT_TIMEOUT_S:g})",
    )
    g = p.add_argument_group("serving views (decoders; every figure an estimate, its assumptions printed)")
    g.add_argument(
        "--layers",
        action="store_true",
        help="per-layer breakdown of prefill and the decode step: attention, MLP, norms, logits, each with "
        "its regimes and bound",
    )
    g.add_argument(
        "--chunk",
        type=int,
        default=None,
        metavar="TOKENS",
        help="chunked prefill: prompt tokens per step, each step also decoding the running batch (batch - 1 "
        "sequences); 0 = one step; with --users the default is the stack's (vLLM 2048)",
    )
    g.add_argument(
        "--users",
        default=None,
        metavar="N[,N...]",
        help="continuous batching: N users each sending prompt P and output --generate tokens -> per-user "
        "TTFT, TPOT and aggregate tokens/s",
    )
    g.add_argument(
        "--rate",
        default=None,
        metavar="REQ/S[,...]",
        help="open loop: requests arriving at a rate (Poisson), each prompt P and output --generate tokens "
        "-> requests in the engine, TTFT, TPOT, tokens/s, and the largest sustainable rate",
    )
    g.add_argument(
        "--max-tpot",
        default=None,
        metavar="TIME",
        help="the largest N users meeting TPOT (50ms); with --rate the largest request rate "
        "(with --users and --rate, both)",
    )
    g.add_argument(
        "--max-ttft",
        default=None,
        metavar="TIME",
        help="the largest N users meeting TTFT (2s); with --rate the largest request rate "
        "(with --users and --rate, both)",
    )
    g.add_argument(
        "--draft",
        default=None,
        metavar="MODEL|ngram",
        help="speculative decoding with a draft model (same vocabulary) or n-gram (prompt lookup)",
    )
    g.add_argument(
        "--draft-tokens",
        type=positive_int,
        default=None,
        metavar="K",
        help=f"drafted tokens per step ({DEFAULT_DRAFT_TOKENS}; with --draft)",
    )
    g.add_argument(
        "--acceptance",
        type=float,
        default=None,
        metavar="A",
        help=f"acceptance rate of a drafted token ({DEFAULT_ACCEPTANCE}; with --draft)",
    )
    from tui.cli.commands.perfmode import add_mode_args

    add_mode_args(p)
    p.add_argument("--format", choices=FORMATS, default="table")


def _int_list(text: str, flag: str, noun: str) -> list[int]:
    """A ``--batch-size``-style list (``1,2,4,...,256``) for ``flag``, errors naming ``noun``."""
    from metrics_core.perf.sweep import parse_batch_sizes

    try:
        return parse_batch_sizes(text)
    except UsageError as exc:
        raise UsageError(f"{flag}: {str(exc).replace('batch sizes', noun)}") from None


def _prompts(spec, args: argparse.Namespace) -> list[int]:  # noqa: ANN001 (ModelSpec)
    """The prompt lengths of one model (``runtime.llm_setup.prompts_for``)."""
    from metrics_core.runtime.llm_setup import prompts_for

    given = _int_list(args.prompt, "--prompt", "prompt lengths") if args.prompt is not None else None
    return prompts_for(spec, given)


def _config_vocabulary(spec) -> int | None:  # noqa: ANN001
    """The vocabulary size an ``hf:`` spec's config gives (its text config's for a vision-language one)."""
    config = spec.builder_kwargs.get("config", {}) if spec.source == "hf" else {}
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    vocab = text.get("vocab_size", config.get("vocab_size"))
    return vocab if isinstance(vocab, int) and not isinstance(vocab, bool) else None


def _check_draft_vocabulary(target, draft) -> None:  # noqa: ANN001
    """--draft with another vocabulary than the target's, refused from the configs before any build (the
    captures check it again: ``perf.speculative.check_vocabularies``, same message)."""
    tv, dv = _config_vocabulary(target), _config_vocabulary(draft)
    if tv is not None and dv is not None and tv != dv:
        raise UsageError(
            f"--draft {draft.name} has a vocabulary of {dv:,} tokens, {target.name} has {tv:,}: a draft "
            "model must share the target's tokenizer"
        )


def _check_model(spec, args: argparse.Namespace, prompts: list[int], contexts: list[int]) -> None:  # noqa: ANN001
    """One model's settings, before any model is built (``runtime.llm_setup.check_llm_model``)."""
    from metrics_core.runtime.llm_setup import check_llm_model

    check_llm_model(spec, args.tp, prompts, args.generate, contexts)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from metrics_core.perf.llm import Scenario
    from metrics_core.runtime.llm_cache import llm_estimates
    from metrics_core.runtime.llm_setup import is_encoder_decoder, resolve_activations
    from metrics_core.sources.resolve import get_spec
    from tui.cli.commands.hardware import load_catalog_with_warnings
    from tui.cli.commands.perfmode import modes_of

    target = load_catalog_with_warnings(args.hardware_file).get(args.hardware)
    if args.power_limit is not None:
        target = _power_limited(target, args.power_limit)
    batches = _int_list(args.batch_size, "--batch-size", "batch sizes")
    contexts = _int_list(args.context, "--context", "contexts") if args.context is not None else []
    modes = modes_of(args)
    args.activations = resolve_activations(target, args.weights, args.activations)
    check_serving_args(args)
    base = Scenario(
        1,
        DEFAULT_PROMPT,
        args.generate,
        args.weights,
        args.activations,
        args.kv,
        args.tp,
        execution=args.execution,  # None: the stack's kernels
        efficiency=modes["efficiency"],
        stack=args.stack,
        kv_block_tokens=args.block_size,
    ).validated(target)
    plans = []
    steps_wanted = needs_step_model(args)
    for name in [*args.models, *([args.draft] if args.draft and args.draft.lower() != "ngram" else [])]:
        spec = get_spec(name)  # every name checked before any model is built
        if steps_wanted and is_encoder_decoder(spec):
            raise UsageError(
                f"{spec.name} is an encoder-decoder: --chunk, --users, --rate, --max-tpot/--max-ttft and "
                "--draft model decoder LLMs (--layers and the rest of llm take it)"
            )
    for name in args.models:
        spec = get_spec(name)
        prompts = _prompts(spec, args)
        _check_model(spec, args, prompts, contexts)
        if args.draft and args.draft.lower() != "ngram":
            _check_draft_vocabulary(spec, get_spec(args.draft))
        plans.append((name, prompts))
    results, failures = [], []
    for name, prompts in plans:
        for p in prompts:
            for b in batches:
                group = [
                    replace(base, batch_size=b, prompt_tokens=p, context_tokens=c) for c in contexts or [None]
                ]
                try:
                    estimates = llm_estimates(name, target, group, args.attention, args.timeout)
                except ModeltuiError as exc:  # this configuration's rows are lost, not the others
                    if exc.kind == "usage":
                        raise
                    failures.append(f"{name} (batch {b}, prompt {p}): {row_error(name, str(exc))}")
                    continue
                results += estimates
    results = with_draft_memory(args, base, target, results)
    extras = serving_views(args, plans, base, target, results) if wants_serving(args) else {}
    write(results, args.format, extras)
    if extras and args.format in ("csv", "markdown"):
        print(flat_only_note(args), file=sys.stderr)
    for failure in failures:
        print(f"modeltui: error: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _power_limited(target, watts: float):  # noqa: ANN001, ANN202
    """``target`` under ``--power-limit watts`` (``runtime.llm_setup.power_limited``), its note on stderr."""
    from metrics_core.runtime.llm_setup import power_limited

    limited, note = power_limited(target, watts)
    if note:
        print(f"modeltui: note: {note}", file=sys.stderr)
    return limited


def with_draft_memory(args: argparse.Namespace, base, target, results: list) -> list:  # noqa: ANN001
    """``results`` with ``--draft MODEL``'s weights and KV resident beside each target
    (``perf.speculative.with_draft``); unchanged without a draft model (n-gram drafts hold nothing)."""
    if not results or not args.draft or args.draft.lower() == "ngram":
        return results
    from metrics_core.perf.speculative import draft_memory, with_draft
    from metrics_core.runtime.llm_cache import step_model

    draft = step_model(args.draft, base.bits, args.attention, args.timeout)
    return [with_draft(r, draft_memory(draft, target, r.scenario, r.stack)) for r in results]


def flat(d: dict) -> dict:
    """One row: the scalars, ``prefill_*`` and ``decode_*`` from the phase objects."""
    row = {k: v for k, v in d.items() if not isinstance(v, dict)}
    for phase in ("prefill", "decode"):
        row.update({f"{phase}_{k}": v for k, v in d[phase].items()})
    return {k: row.get(k) for k in FLAT_KEYS}


def flat_only_note(args: argparse.Namespace) -> str:
    """One line: CSV and Markdown keep one flat row per configuration (README), so the serving views the
    flags asked for are in the table and JSON outputs only."""
    flags = [
        flag
        for flag, on in (
            ("--layers", args.layers), ("--chunk", args.chunk is not None), ("--users", args.users),
            ("--rate", args.rate), ("--max-tpot", args.max_tpot), ("--max-ttft", args.max_ttft),
            ("--draft", args.draft),
        )
        if on
    ]  # fmt: skip
    return (
        f"modeltui: note: --format {args.format} holds the plain rows only (one per configuration); the "
        f"{', '.join(flags)} results are in the table and --format json"
    )


def wants_serving(args: argparse.Namespace) -> bool:
    return bool(
        args.layers
        or args.chunk is not None
        or args.users
        or args.rate
        or args.max_tpot
        or args.max_ttft
        or args.draft
    )


def needs_step_model(args: argparse.Namespace) -> bool:
    """Whether the serving flags (parsed by ``check_serving_args``) need the model's step model."""
    return bool(
        args.chunk is not None
        or args.users_list
        or args.rates
        or args.max_tpot_s
        or args.max_ttft_s
        or args.draft
    )


def _rate_list(text: str) -> list[float]:
    """``--rate``'s requests/s list (``0.5,2,8``), each checked (``perf.request_rate.check_rate``)."""
    from metrics_core.perf.request_rate import check_rate

    rates = []
    for part in text.split(","):
        try:
            value = float(part.strip().removesuffix("/s"))
        except ValueError:
            raise UsageError(
                f"--rate takes requests per second, comma-separated (e.g. 0.5,2,8), got {part.strip()!r}"
            ) from None
        rates.append(check_rate(value))
    return rates


def check_serving_args(args: argparse.Namespace) -> None:
    """The serving flags, before any capture (``UsageError``, one line)."""
    from metrics_core.common.quantity import parse_time
    from metrics_core.perf.speculative import check_draft

    for flag, value in (("--users", args.users), ("--rate", args.rate), ("--max-tpot", args.max_tpot),
                        ("--max-ttft", args.max_ttft)):  # fmt: skip
        if value is not None and not value.strip():
            raise UsageError(f"{flag} needs a value (e.g. --users 32, --rate 2, --max-tpot 50ms)")
    args.users_list = _int_list(args.users, "--users", "user counts") if args.users else []
    args.rates = _rate_list(args.rate) if args.rate else []
    args.max_tpot_s = parse_time(args.max_tpot, "--max-tpot") if args.max_tpot else None
    args.max_ttft_s = parse_time(args.max_ttft, "--max-ttft") if args.max_ttft else None
    for flag, v in (("--max-tpot", args.max_tpot_s), ("--max-ttft", args.max_ttft_s)):
        if v is not None and v <= 0:
            raise UsageError(f"{flag} must be a positive time, e.g. 50ms")
    if args.chunk is not None and args.chunk < 0:
        raise UsageError(f"--chunk must be a whole number of tokens (0: no chunking), got {args.chunk}")
    if not args.draft:
        given = [
            f
            for f, v in (("--draft-tokens", args.draft_tokens), ("--acceptance", args.acceptance))
            if v is not None
        ]
        if given:
            verb = "needs" if len(given) == 1 else "need"
            raise UsageError(
                f"{' and '.join(given)} {verb} --draft MODEL or --draft ngram (speculative decoding)"
            )
        return
    if args.draft_tokens is None:
        args.draft_tokens = DEFAULT_DRAFT_TOKENS
    if args.acceptance is None:
        args.acceptance = DEFAULT_ACCEPTANCE
    check_draft(args.draft_tokens, args.acceptance)


def serving_views(args: argparse.Namespace, plans: list, base, target, results: list) -> dict[int, dict]:  # noqa: ANN001
    """The serving views of each model and prompt (``perf.serving``, ``perf.speculative``,
    ``perf.llm_layers``), by ``id`` of each result they belong to: ``{"layers": ..., "chunked_prefill": ...,
    "speculative": ..., "concurrency": [...], "max_users": ...}`` of dicts, and the text under ``"text"``."""
    from dataclasses import replace

    from metrics_core.perf.request_rate import RATE_ASSUMPTIONS, at_rate, max_rate
    from metrics_core.perf.serving import CONCURRENCY_ASSUMPTIONS, chunked_prefill, concurrency, max_users
    from metrics_core.perf.serving_report import (
        chunked_text,
        concurrency_text,
        layers_text,
        rate_text,
        speculative_text,
        step_notes_text,
    )
    from metrics_core.perf.speculative import NGRAM, speculative
    from metrics_core.runtime.llm_cache import step_model

    out: dict[int, dict] = {}
    needs_steps = needs_step_model(args)
    for name, prompts in plans:
        model = step_model(name, base.bits, args.attention, args.timeout) if needs_steps else None
        draft = None
        if args.draft and args.draft.lower() != NGRAM:
            draft = step_model(args.draft, base.bits, args.attention, args.timeout)
        for p in prompts:
            mine = [r for r in results if r.model == get_name(name) and r.scenario.prompt_tokens == p]
            if not mine:
                continue
            s = replace(mine[0].scenario, context_tokens=None)
            views: dict = {}
            texts: list[str] = []
            if args.chunk is not None:
                cp = chunked_prefill(model, target, s, args.chunk)
                views["chunked_prefill"] = cp.to_dict()
                texts.append(chunked_text(cp))
            if args.draft:
                sp = speculative(model, draft, target, s, args.draft_tokens, args.acceptance)
                views["speculative"] = sp.to_dict()
                texts.append(speculative_text(sp))
            # a step model exists only for the serving views (needs_steps): its notes go with them
            notes = list(model.capture.notes) if model is not None else []
            stack_of_run = mine[0].stack
            if model is not None and stack_of_run is not None and stack_of_run.attention_score_bytes:
                notes.append(
                    f"the step model scores causal (query, key) pairs; {stack_of_run.id}'s unfused attention "
                    "scores every cached key of each micro-batch, as the phases above count: the serving "
                    "views' prompt steps are lower by that"
                )
            if notes:
                views["step_model_notes"] = notes
            if args.users_list or ((args.max_tpot_s or args.max_ttft_s) and not args.rates):
                rows = [concurrency(model, target, s, n, args.chunk) for n in args.users_list]
                best = None
                if args.max_tpot_s or args.max_ttft_s:
                    best = max_users(model, target, s, args.max_tpot_s, args.max_ttft_s, args.chunk)
                    views["max_users"] = best.to_dict()
                views["concurrency"] = [c.to_dict() for c in rows]
                assumed = CONCURRENCY_ASSUMPTIONS
                if args.draft:  # the table is plain decoding: say so, the draft is priced in its own view
                    assumed += (
                        "; without the draft model: its weights, KV cache and speculation are in the "
                        "speculative view above, not in this table"
                    )
                    views["concurrency_note"] = "plain decoding, without the draft model"
                texts.append(concurrency_text(rows, best, assumptions=assumed))
            if args.rates:
                loads = [at_rate(model, target, s, r, args.chunk) for r in args.rates]
                views["rates"] = [x.to_dict() for x in loads]
                fastest = None
                if args.max_tpot_s or args.max_ttft_s:
                    fastest = max_rate(model, target, s, args.max_tpot_s, args.max_ttft_s, args.chunk)
                    views["max_rate"] = fastest.to_dict()
                assumed = RATE_ASSUMPTIONS
                if args.draft:  # plain decoding, as the concurrency table
                    assumed += (
                        "; without the draft model: its weights, KV cache and speculation are in the "
                        "speculative view above, not in this table"
                    )
                    views["rates_note"] = "plain decoding, without the draft model"
                texts.append(rate_text(loads, fastest, assumptions=assumed))
            if views.get("step_model_notes"):
                texts.append(step_notes_text(views["step_model_notes"]))
            for r in mine:
                own = dict(views)
                if args.layers:
                    own["layers"] = {
                        "prefill": [x.to_dict() for x in r.prefill.layers()],
                        "decode": [x.to_dict() for x in r.decode.layers()],
                    }
                own["text"] = texts if r is mine[0] else []
                if args.layers:
                    own["text"] = [layers_text(r), *own["text"]]
                out[id(r)] = own
    return out


def get_name(name: str) -> str:
    """The canonical model name the estimates carry (``ModelSpec.name``)."""
    from metrics_core.sources.resolve import get_spec

    return get_spec(name).name


def write(results: list, fmt: str, extras: dict[int, dict] | None = None) -> None:
    extras = extras or {}
    dicts = []
    for r in results:
        d = r.to_dict()
        d.update({k: v for k, v in extras.get(id(r), {}).items() if k != "text"})
        dicts.append(d)
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
    for r in results:
        for text in extras.get(id(r), {}).get("text", []):
            print()
            print(text)
