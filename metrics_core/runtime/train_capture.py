"""Capture a training step of a named model in a worker process (``pool.run_call``): build it on meta,
feed it as ``analyze`` would (``--input``, ``--input-shape``, ``--seq-len``, ``--inputs``), and run
``capture.train_step.capture_step``. The estimates (``perf.training``, ``perf.parallel_plans``) are made
by the caller from the picklable ``StepCapture``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from metrics_core.common.errors import (
    ModelCodeError,
    ModeltuiError,
    UnsupportedModelError,
    UsageError,
    one_line_error,
)
from metrics_core.common.input_spec import describe_inputs
from metrics_core.runtime.options import MAX_BATCH_SIZE, AnalysisOptions

#: Vendors whose GPUs PyTorch drives as ``cuda`` devices (CUDA; ROCm's HIP is ``cuda`` too).
CUDA_VENDORS: frozenset[str] = frozenset({"NVIDIA", "AMD"})


def default_optimizer_impl(vendor: str, kind: str) -> str:
    """PyTorch's optimizer implementation on a target (``HardwareTarget.vendor`` / ``kind``): ``foreach``
    when its parameters are ``cuda`` tensors (torch's ``optim.optimizer._default_to_fused_or_foreach``:
    foreach when every parameter's device type is in
    ``_foreach_utils._get_foreach_kernels_supported_devices``, ``cuda`` / ``xpu`` / ``mtia`` / privateuse1,
    torch 2.14): an NVIDIA or AMD GPU, a Jetson's included (kind ``edge SoC``); ``for-loop`` otherwise: CPUs
    (kind ``CPU``, any case), Apple GPUs (``mps``), TPUs and Gaudi (their own compiled optimizers, not
    PyTorch's CUDA kernels)."""
    return "foreach" if vendor.upper() in CUDA_VENDORS and "cpu" not in kind.lower() else "for-loop"


@dataclass(frozen=True)
class TrainOptions:
    """What step to capture: loss (None: the task's default), optimizer, precision
    (``capture.train_step.PRECISIONS``), activation checkpointing, gradient accumulation, and PyTorch's
    optimizer implementation (``capture.train_step.OPTIMIZER_IMPLS``; ``default_optimizer_impl`` of the
    target). A field of the options, so part of any key a capture is cached under."""

    loss: str | None = None
    optimizer: str = "adamw"
    precision: str = "bf16-mixed"
    checkpointing: bool = False
    accumulation: int = 1
    optimizer_impl: str = "foreach"

    def validated(self) -> TrainOptions:
        """These options, checked: ``accumulation`` a whole number from 1 to ``MAX_BATCH_SIZE`` (2**20, the
        largest batch analysed: the micro-batches of a step multiply the samples it holds as the batch
        does); ``UsageError`` (one line) otherwise."""
        k = self.accumulation
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise UsageError(f"--accumulation must be a positive whole number, got {k!r}")
        if k > MAX_BATCH_SIZE:
            raise UsageError(f"--accumulation {k:,} is above the largest analysed, {MAX_BATCH_SIZE:,}")
        return self


@dataclass
class TrainRun:
    """A captured step and what it was fed: ``task``, ``inputs`` (``[{"name", "dtype", "shape"}]``),
    ``tokens_per_sample`` (token models: the sequence length; None otherwise), ``memory_format`` (the
    layout of the model and its 4-D / 5-D inputs: ``AnalysisOptions.memory_format``)."""

    model: str
    task: str
    step: Any  # capture.train_step.StepCapture
    inputs: list[dict[str, Any]] = field(default_factory=list)
    tokens_per_sample: int | None = None
    memory_format: str = "contiguous"


def capture_named(name: str, options: AnalysisOptions, train: TrainOptions) -> TrainRun:
    """Build ``name`` on meta and capture one training step (runs the model's code: call it in a worker).

    ``UnsupportedModelError`` for a model the catalog refuses or a task without a training loss
    (``capture.train_step.REFUSED_TASKS``); ``ModelCodeError`` (one line, with what it was fed) when the
    model's forward or backward fails; ``UsageError`` for a loss that does not fit the output."""
    from metrics_core.capture.layouts import to_memory_format
    from metrics_core.capture.train_step import REFUSED_TASKS, capture_step, check_choices, default_loss
    from metrics_core.runtime.engines import builder_overrides, feed_for
    from metrics_core.sources.build import build_model
    from metrics_core.sources.resolve import get_spec

    check_choices(train.loss, train.optimizer, train.precision, train.optimizer_impl)
    train.validated()
    spec = get_spec(name)
    if not spec.supported:
        raise UnsupportedModelError(f"{name}: {spec.reason or 'not supported'}")
    if spec.task in REFUSED_TASKS:
        raise UnsupportedModelError(f"{name}: {REFUSED_TASKS[spec.task]}")
    from metrics_core.capture.train_step import PRECISIONS

    compute = PRECISIONS[train.precision][0]
    options = replace(options, dtype=compute, engine="meta", use_cache=False).validated()
    shape = options.input_shape if not options.inputs else None
    model = build_model(spec, device="meta", input_shape=shape, **builder_overrides(spec, options))
    feed = feed_for(spec, options, model)
    feed.args, feed.kwargs = to_memory_format(model, feed.args, feed.kwargs, options.memory_format, name)
    loss = train.loss or default_loss(spec.task)
    try:
        step = capture_step(
            model,
            feed.args,
            feed.kwargs,
            batch_size=options.batch_size,
            loss=loss,
            optimizer=train.optimizer,
            precision=train.precision,
            checkpointing=train.checkpointing,
            accumulation=train.accumulation,
            input_values=feed.values,
            optimizer_impl=train.optimizer_impl,
        )
    except (KeyboardInterrupt, ModeltuiError):
        raise
    except Exception as exc:
        fed = describe_inputs(feed.described) or "nothing"
        raise ModelCodeError(f"training step failed: {one_line_error(exc)} (fed {fed})") from exc
    tokens = None
    if spec.input_kind.startswith("tokens") and feed.described:
        tokens = int(feed.described[0]["shape"][-1])
    return TrainRun(name, spec.task, step, feed.described, tokens, options.memory_format)


def capture_in_worker(
    name: str, options: AnalysisOptions, train: TrainOptions, timeout_s: float | None = None
) -> TrainRun:
    """``capture_named`` in a worker process (``pool.run_call``), or here with ``MODELTUI_JOBS=0``."""
    from metrics_core.runtime import pool

    return pool.run_call(capture_named, name, options, train, timeout_s=timeout_s)
