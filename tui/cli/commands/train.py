"""``modeltui train``: a training step of any model on a target — FLOPs, bytes and time by phase
(forward, backward, optimizer), throughput, MFU, memory by category at the peak, what fits and the
largest micro-batch, op-level parallelism, and data / ZeRO / pipeline plans on N GPUs. Every figure is
a roofline estimate (definitions: ``metrics_core.perf.training``, ``metrics_core.perf.parallel_plans``,
``metrics_core.report.op_parallelism``)."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from typing import Any

from metrics_core.capture.train_choices import FP8_PRECISIONS, LOSSES, OPTIMIZER_IMPLS, OPTIMIZERS, PRECISIONS
from metrics_core.common.errors import ModeltuiError, UsageError, model_error
from metrics_core.report.export import markdown_cell
from metrics_core.runtime.pool import DEFAULT_TIMEOUT_S
from tui.cli.commands.options import (
    add_memory_format_arg,
    check_seq_len,
    input_spec,
    memory_format_of,
    positive_int,
    positive_seconds,
)

FORMATS = ("table", "json", "csv", "markdown")

#: Flat columns of CSV and Markdown: one row per model.
FLAT_KEYS: tuple[str, ...] = (
    "model", "hardware", "task", "batch_size", "accumulation", "optimizer", "optimizer_impl", "precision",
    "loss", "checkpointing", "params", "trainable_params", "forward_flops", "backward_flops",
    "optimizer_flops",
    "forward_bytes", "backward_bytes", "optimizer_bytes", "forward_kernels", "backward_kernels",
    "optimizer_kernels", "forward_s", "backward_s", "optimizer_s",
    "step_time_s", "samples_per_s", "tokens_per_s", "mfu", "hfu", "weights_bytes", "master_weights_bytes",
    "gradients_bytes", "optimizer_state_bytes", "saved_activations_bytes", "temporaries_bytes",
    "peak_bytes", "peak_phase", "capacity_bytes", "fits", "max_micro_batch", "critical_path_share",
    "op_parallelism", "max_width", "gpus", "best_plan", "best_plan_step_time_s", "best_plan_samples_per_s",
    "best_plan_memory_bytes", "refused_plans", "recipe", "loss_scaling", "gemm_precision", "validation",
    "memory_format",
)  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="training-step estimates: time by phase, MFU, memory by category, fits, parallel plans",
    )
    p.add_argument("models", nargs="+", metavar="MODEL", help="model names (as compare takes them)")
    p.add_argument("--hardware", metavar="ID", required=True, help="hardware target id (modeltui hardware)")
    p.add_argument("--hardware-file", metavar="PATH", action="append", default=[], help="extra hardware TOML")
    p.add_argument("--batch-size", type=positive_int, default=1, metavar="N", help="micro-batch size (1)")
    p.add_argument(
        "--optimizer",
        choices=tuple(OPTIMIZERS),
        default="adamw",
        help="torch.optim class, or bitsandbytes' blockwise 8-bit Adam / AdamW (adam8bit, adamw8bit: its "
        "state layout and kernels modelled) (default adamw)",
    )
    p.add_argument(
        "--optimizer-impl",
        choices=OPTIMIZER_IMPLS,
        default=None,
        help="PyTorch's optimizer implementation: foreach (multi-tensor kernels) or for-loop (one kernel per "
        "parameter tensor) (default: PyTorch's for the target: foreach on a GPU, for-loop otherwise)",
    )
    p.add_argument(
        "--precision",
        choices=tuple(PRECISIONS),
        default="bf16-mixed",
        help="bf16-mixed / fp16-mixed: 16-bit weights, gradients and compute, fp32 master weights and "
        "state; fp16-mixed adds GradScaler's loss scaling; fp8-mixed: bf16-mixed with the blocks' Linear "
        "GEMMs in fp8 (Transformer Engine; targets with an fp8 path); bf16, fp32: one type throughout "
        "(default bf16-mixed)",
    )
    p.add_argument(
        "--loss", choices=LOSSES, default=None, help="default: by task (cross-entropy, next-token)"
    )
    p.add_argument("--checkpointing", action="store_true", help="activation checkpointing of every block")
    p.add_argument(
        "--accumulation", type=positive_int, default=1, metavar="K", help="micro-batches per optimizer step"
    )
    p.add_argument(
        "--gpus",
        type=positive_int,
        default=1,
        metavar="N",
        help="GPUs for the parallel plans (1); a tensor-parallel degree that does not split the attention "
        "heads, KV heads or MLP width is refused with its reason",
    )
    p.add_argument(
        "--memory-limit",
        metavar="SIZE",
        default=None,
        help="per-GPU memory the plans must fit, e.g. 40GB (default: the target's memory)",
    )
    p.add_argument("--input-shape", type=positive_int, nargs="+", metavar="D", help="per-sample input shape")
    p.add_argument(
        "--input",
        dest="inputs",
        action="append",
        type=input_spec,
        metavar="SPEC",
        help="what the model is fed (as compare --input)",
    )
    p.add_argument(
        "--inputs", dest="inputs_fn", metavar="PKG.MOD:FN", help="fn(batch_size) -> (args, kwargs)"
    )
    p.add_argument("--seq-len", type=positive_int, metavar="N", help="tokens per sample of token models")
    p.add_argument("--hf-class", metavar="CLASS", help="transformers class for hf: models")
    p.add_argument("--attention", choices=("sdpa", "eager"), default="sdpa", help="hf: attention (sdpa)")
    add_memory_format_arg(p)
    p.add_argument(
        "--timeout",
        type=positive_seconds,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"per model: a capture still running after it is that model's error "
        f"(default {DEFAULT_TIMEOUT_S:g})",
    )
    from tui.cli.commands.perfmode import add_mode_args

    add_mode_args(p)
    p.add_argument("--format", choices=FORMATS, default="table")


def run(args: argparse.Namespace) -> int:
    from metrics_core.perf.training import compute_path
    from metrics_core.perf.training_report import training_result
    from metrics_core.runtime.options import AnalysisOptions
    from metrics_core.runtime.train_capture import TrainOptions, capture_in_worker, default_optimizer_impl
    from metrics_core.sources.resolve import get_spec
    from tui.cli.commands.hardware import load_catalog_with_warnings
    from tui.cli.commands.perfmode import modes_of

    target = load_catalog_with_warnings(args.hardware_file).get(args.hardware)
    limit = None
    if args.memory_limit is not None:
        from metrics_core.common.quantity import parse_bytes

        limit = int(parse_bytes(args.memory_limit, "--memory-limit"))
        if limit <= 0:
            raise UsageError(f"--memory-limit {args.memory_limit!r}: expected a positive size, e.g. 40GB")
    compute = PRECISIONS[args.precision][0]
    compute_path(target, compute)  # a precision the target lacks: a usage error before any work
    if args.precision in FP8_PRECISIONS:
        compute_path(target, "fp8")
    args.dtype = compute  # the output's context: bytes and peak at the compute precision
    if args.gpus > 1:
        from metrics_core.perf.parallel_plans import target_link

        target_link(target, args.gpus)
    options = AnalysisOptions(
        batch_size=args.batch_size, dtype=compute,
        input_shape=tuple(args.input_shape) if args.input_shape else None,
        inputs=tuple(args.inputs) if args.inputs else None, inputs_fn=args.inputs_fn, seq_len=args.seq_len,
        hf_class=args.hf_class, attention=args.attention, use_cache=False,
        memory_format=memory_format_of(args),
    ).validated()  # fmt: skip
    specs = {name: get_spec(name) for name in args.models}  # every name known before any model is built
    check_seq_len(specs, args.seq_len)
    from metrics_core.runtime.analyze import check_memory_format

    for spec in specs.values():  # channels-last with no image/video input: refused before any capture
        check_memory_format(spec, options)
    # PyTorch's default for the target, also in the context
    impl = args.optimizer_impl = args.optimizer_impl or default_optimizer_impl(target.vendor, target.kind)
    train = TrainOptions(
        args.loss, args.optimizer, args.precision, args.checkpointing, args.accumulation, optimizer_impl=impl
    ).validated()
    modes = modes_of(args)
    results, failures = [], []
    for name in args.models:
        try:
            captured = capture_in_worker(name, options, train, args.timeout)
            results.append(training_result(captured, target, args.accumulation, args.gpus, modes, limit))
        except ModeltuiError as exc:
            if exc.kind == "usage":
                raise
            failures.append(model_error(name, str(exc)))
    write(results, args.format, target)
    for failure in failures:
        print(f"modeltui: error: {failure}", file=sys.stderr)
    return 1 if failures else 0


def flat(d: dict) -> dict:
    """One CSV / Markdown row of a result."""
    ph, mem, par = d["phases"], d["memory"], d["op_parallelism"]["forward"]
    best = d.get("best_plan") or {}
    row = {k: d.get(k) for k in FLAT_KEYS}
    row["hardware"] = d["hardware"]  # recipe, validation: what the precision means, where it was validated
    for p in ("forward", "backward", "optimizer"):
        row[f"{p}_flops"], row[f"{p}_bytes"], row[f"{p}_s"] = ph[p]["flops"], ph[p]["bytes"], ph[p]["time_s"]
        row[f"{p}_kernels"] = ph[p]["kernels"]
    for c in (
        "weights",
        "master_weights",
        "gradients",
        "optimizer_state",
        "saved_activations",
        "temporaries",
    ):
        row[f"{c}_bytes"] = mem[c]
    row.update(
        peak_bytes=mem["total"],
        peak_phase=mem["peak_phase"],
        capacity_bytes=mem["capacity_bytes"],
        fits=mem["fits"],
        max_micro_batch=mem["max_micro_batch"],
        critical_path_share=par["critical_share"],
        op_parallelism=par["parallelism"],
        max_width=par["max_width"],
        best_plan=best.get("name"),
        best_plan_step_time_s=best.get("step_time_s"),
        best_plan_samples_per_s=best.get("samples_per_s"),
        best_plan_memory_bytes=best.get("memory_bytes"),
        refused_plans="; ".join(f"{r['name']}: {r['reason']}" for r in d.get("refused_plans", [])) or None,
    )
    return row


def write(results: list[dict], fmt: str, target: Any) -> None:
    from metrics_core.perf.training_report import training_text
    from metrics_core.report.export import to_json

    if fmt == "json":
        sys.stdout.write(to_json(results))
        return
    rows = [flat(d) for d in results]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=FLAT_KEYS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        sys.stdout.write(buf.getvalue())
        return
    if fmt == "markdown":
        lines = ["modeltui train (estimates: roofline)", "", "| " + " | ".join(FLAT_KEYS) + " |"]
        lines.append("|" + "---|" * len(FLAT_KEYS))
        lines += ["| " + " | ".join(markdown_cell(r[k]) for k in FLAT_KEYS) + " |" for r in rows]
        sys.stdout.write("\n".join(lines) + "\n")
        return
    for i, d in enumerate(results):
        if i:
            print()
        print(training_text(d, target))
