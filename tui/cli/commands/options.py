"""Options shared by the analysing verbs, and their conversion to ``AnalysisOptions``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from metrics_core.common.dtypes import DTYPES
from metrics_core.common.errors import UsageError
from metrics_core.common.input_spec import (
    MEMORY_FORMATS,
    InputSpec,
    canonical_memory_format,
    parse_input_spec,
)
from metrics_core.runtime.options import ATTENTIONS, ENGINES, AnalysisOptions
from metrics_core.runtime.pool import DEFAULT_TIMEOUT_S
from metrics_core.sources.custom import parse_factory


def int_at_least(minimum: int, what: str) -> Callable[[str], int]:
    """An argparse ``type``: an integer >= ``minimum``; otherwise "expected <what>, got '<text>'"."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


positive_int = int_at_least(1, "a positive integer")


def add_analysis_args(p: argparse.ArgumentParser, engine: bool = True, batch_size: bool = True) -> None:
    if batch_size:
        p.add_argument(
            "--batch-size", type=positive_int, default=1, metavar="N", help="batch size (default 1)"
        )
    p.add_argument(
        "--input-shape",
        type=positive_int,
        nargs="+",
        metavar="D",
        help="per-sample input shape, e.g. 3 224 224 (default: the model's native resolution)",
    )
    p.add_argument(
        "--input",
        dest="inputs",
        action="append",
        type=input_spec,
        metavar="SPEC",
        help="what the model is fed, repeatable: [NAME=]DTYPE:DIMS per sample, e.g. int64:128, "
        "attention_mask=bool:128, float:3x224x224 (float = the model's parameter dtype); unnamed specs are "
        "positional, named ones keyword arguments",
    )
    p.add_argument(
        "--inputs",
        dest="inputs_fn",
        metavar="PKG.MOD:FN",
        help="a function fn(batch_size) returning (args, kwargs) of tensors, for inputs the flags cannot say",
    )
    p.add_argument(
        "--seq-len",
        type=positive_int,
        metavar="N",
        help="tokens per sample for token models (hf: text models; default 128)",
    )
    p.add_argument(
        "--hf-class",
        metavar="CLASS",
        help="transformers class for hf: models (e.g. AutoModel, AutoModelForSequenceClassification; "
        "default: by config)",
    )
    p.add_argument(
        "--attention",
        choices=ATTENTIONS,
        default="sdpa",
        help="attention of hf: models: sdpa (one fused op, flash-style bytes; default) or eager",
    )
    p.add_argument(
        "--dtype",
        choices=DTYPES,
        help="element type for bytes (default: the model's own fp16/bf16 parameter type, else fp32)",
    )
    if engine:
        p.add_argument(
            "--engine",
            choices=ENGINES,
            default="meta",
            help="meta: op capture on the meta device (default); fvcore: fvcore on real tensors (MACs check)",
        )
    p.add_argument(
        "--rules",
        action="append",
        default=[],
        metavar="PKG.MOD",
        help="a module of your cost rules (metrics_core.register_cost_rule), imported before the capture; "
        "repeatable; installed 'modeltui.cost_rules' entry points load too",
    )
    add_memory_format_arg(p)
    p.add_argument("--no-cache", action="store_true", help="ignore and do not write cached results")
    p.add_argument(
        "--timeout",
        type=positive_seconds,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"per-model time limit: a model still running after it is that model's row error "
        f"(default {DEFAULT_TIMEOUT_S:g})",
    )


def add_memory_format_arg(p: argparse.ArgumentParser) -> None:
    """``--memory-format {contiguous,channels-last}`` (``AnalysisOptions.memory_format``)."""
    p.add_argument(
        "--memory-format",
        choices=tuple(f.replace("_", "-") for f in MEMORY_FORMATS),
        default="contiguous",
        help="layout of the model's 4-D/5-D weights and inputs: contiguous (NCHW, as PyTorch builds it; "
        "default) or channels-last (NHWC: model and input .to(memory_format=torch.channels_last), as "
        "mixed-precision CNN training runs; convolutions timed as cuDNN's NHWC kernels)",
    )


def memory_format_of(args: argparse.Namespace) -> str:
    """``AnalysisOptions.memory_format`` of ``--memory-format`` (``channels-last`` -> ``channels_last``)."""
    return canonical_memory_format(getattr(args, "memory_format", None))


def positive_seconds(text: str) -> float:
    """An argparse ``type``: a finite number of seconds > 0."""
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 < value < math.inf):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def positive_watts(text: str) -> float:
    """An argparse ``type``: a finite number of watts > 0 (``--power-limit``)."""
    import math

    try:
        value = float(text.removesuffix("W").removesuffix("w"))
    except ValueError:
        value = math.nan
    if not (0 < value < math.inf):
        raise argparse.ArgumentTypeError(f"expected a positive number of watts, got {text!r}")
    return value


def add_hardware_args(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument(
        "--hardware", metavar="ID", required=required, help="hardware target id (modeltui hardware)"
    )
    p.add_argument("--hardware-file", metavar="PATH", action="append", default=[], help="extra hardware TOML")
    p.add_argument(
        "--tf32", action="store_true", help="fp32 on tensor cores (TF32 peak) instead of FP32 peak"
    )
    from tui.cli.commands.perfmode import add_mode_args

    add_mode_args(p)


def input_spec(text: str) -> InputSpec:
    """An argparse ``type`` for ``--input``: the one-line ``UsageError`` text becomes argparse's error."""
    try:
        return parse_input_spec(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--input {text!r}: ")) from None


def options_from_args(args: argparse.Namespace) -> AnalysisOptions:
    inputs_fn = getattr(args, "inputs_fn", None)
    if inputs_fn:
        try:  # the syntax, before any work; the function runs in a worker
            parse_factory(inputs_fn)
        except UsageError:
            raise UsageError(
                f"--inputs {inputs_fn!r}: expected pkg.mod:fn (fn(batch_size) -> (args, kwargs))"
            ) from None
    return AnalysisOptions(
        batch_size=getattr(args, "batch_size", 1),
        dtype=args.dtype or "fp32",
        dtype_from_model=args.dtype is None,
        input_shape=tuple(args.input_shape) if args.input_shape else None,
        engine=getattr(args, "engine", "meta"),
        use_cache=not args.no_cache,
        inputs=tuple(args.inputs) if getattr(args, "inputs", None) else None,
        inputs_fn=inputs_fn,
        seq_len=getattr(args, "seq_len", None),
        hf_class=getattr(args, "hf_class", None),
        attention=getattr(args, "attention", "sdpa"),
        timeout_s=getattr(args, "timeout", None),
        rules=tuple(getattr(args, "rules", None) or ()),
        memory_format=memory_format_of(args),
    ).validated()


def check_seq_len(specs: dict[str, Any], seq_len: int | None) -> None:
    """``--seq-len`` sets the tokens of token models (``sources.spec.TOKEN_KINDS``) only: ``UsageError`` (one
    line) when no model named takes tokens, a warning on stderr naming the models that ignore it when some
    do (the others still use it)."""
    from metrics_core.sources.spec import TOKEN_KINDS

    if seq_len is None:
        return
    ignored = [name for name, spec in specs.items() if spec.input_kind not in TOKEN_KINDS]
    if not ignored:
        return
    kinds = sorted({specs[name].input_kind for name in ignored})
    if len(ignored) == len(specs):
        raise UsageError(
            f"--seq-len {seq_len}: {', '.join(ignored)} take{'s' if len(ignored) == 1 else ''} no tokens "
            f"({', '.join(kinds)} input); --seq-len sets the tokens of token models (hf: text models): "
            "use --input-shape for the others"
        )
    names = ", ".join(ignored)
    print(
        f"modeltui: warning: --seq-len {seq_len} applies to token models only: ignored for {names}",
        file=sys.stderr,
    )
