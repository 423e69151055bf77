"""A training step on a target: time by phase, throughput, MFU and memory by category (estimates).

Input: a captured step (``capture.train_step.StepCapture``). Every figure is a roofline estimate and says
so (``"estimate": true``).

Time. Each phase's records (forward + loss, backward, optimizer) go through the inference performance
model (``perf.roofline.estimate_records``: three regimes, the execution and efficiency modes, the
target's calibration). Forward and backward run on the compute precision's path (``bf16``, ``fp16`` or
``fp32``); the optimizer's element-wise fp32 work on the ``fp32`` path (the compute path where a target
has no fp32 figure). With ``accumulation`` micro-batches per optimizer step:

    step time = accumulation x (forward + backward) + optimizer
    samples/s = batch size x accumulation / step time;  tokens/s = samples/s x tokens per sample

MFU (model FLOPs utilisation, Chowdhery et al. 2022, "PaLM", appendix B): the step's model FLOPs
(forward + backward, *without* the recomputation of checkpointed blocks) per second of step time, over the
compute precision's dense peak. The captured FLOPs include element-wise work (norms, softmax,
activations), a little above PaLM's matmul-only ``6N + 12 L H Q T`` per token. HFU (hardware FLOPs
utilisation) counts the recomputation too.

Memory at the peak, by category (bytes, per GPU of one replica):

- ``weights``: parameters and buffers at the compute precision (the model the forward runs);
- ``master_weights``: fp32 copies of the trainable parameters (mixed precision only);
- ``gradients``: the parameters' gradients at the compute precision live at the peak;
- ``optimizer_state``: the optimizer's state tensors (fp32: AdamW's two moments, SGD's momentum,
  Adafactor's factored second moments);
- ``saved_activations``: activations saved for backward live at the peak; ``temporaries``: the rest
  (``capture.step_memory``).

fp8 training (``fp8-mixed``, ``StepCapture.fp8_records``): the GEMMs that run in fp8 are estimated on the
target's fp8 path (their 1-byte operands already in their bytes) and the rest of the phase on bf16
(``with_fp8_gemms``: each op's estimate replaced, the phase time moved by the difference); MFU stays
against the bf16 dense peak (the usual convention: against the fp8 peak it would be half).
``gemm_precision`` says which path the GEMMs took.

The peak is the larger of the forward/backward peak (``capture.step_memory``) and the optimizer step's
(every gradient + the optimizer's temporaries). Mixed-precision AdamW holds 2 + 2 + 4 + 4 + 4 = 16 bytes
per parameter before activations (ZeRO paper, Rajbhandari et al. 2020, section 3.1: 2 + 2 + K with K = 12).

The largest micro-batch assumes the activation-side bytes at the peak (saved + temporaries) grow in
proportion to the batch and everything else stays (``max_micro_batch``): an estimate from one capture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from metrics_core.common.errors import UsageError
from metrics_core.perf.efficiency import DEFAULT_EFFICIENCY, DEFAULT_EXECUTION
from metrics_core.perf.hardware import HardwareTarget
from metrics_core.perf.roofline import ModelEstimate, estimate_records

if TYPE_CHECKING:  # pragma: no cover
    from metrics_core.capture.train_step import StepCapture

PHASES: tuple[str, ...] = ("forward", "backward", "optimizer")

#: Memory categories, in display order (module docstring).
MEMORY_CATEGORIES: tuple[str, ...] = (
    "weights",
    "master_weights",
    "gradients",
    "optimizer_state",
    "saved_activations",
    "temporaries",
)


@dataclass(frozen=True)
class PhaseTime:
    """One phase of a step on a target: FLOPs, MACs, bytes moved and the estimated time (seconds) with
    its three regimes; ``recomputed_flops``: FLOPs of checkpointed blocks run again (backward only);
    ``kernels``: the GPU kernels its ``ops`` launch (``ModelEstimate.kernel_count``: under eager execution
    one per op, a multi-tensor ``_foreach_*`` op its chunked launches)."""

    phase: str
    ops: int
    macs: int
    flops: int
    bytes: int
    time_s: float
    compute_s: float
    memory_s: float
    overhead_s: float
    bound: str
    precision: str
    recomputed_flops: int = 0
    kernels: int = 0


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes per GPU at the step's peak by category (``MEMORY_CATEGORIES``); ``capacity_bytes`` is the
    target's memory (decimal: ``memory_gb`` x 1e9); ``max_micro_batch`` the largest micro-batch that fits
    (0: not even batch 1; module docstring)."""

    weights: int
    master_weights: int
    gradients: int
    optimizer_state: int
    saved_activations: int
    temporaries: int
    peak_phase: str
    capacity_bytes: int
    max_micro_batch: int

    @property
    def total(self) -> int:
        """Sum of the categories: the step's peak."""
        return sum(getattr(self, c) for c in MEMORY_CATEGORIES)

    @property
    def fits(self) -> bool:
        """Whether the peak fits the target's memory."""
        return self.total <= self.capacity_bytes

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(total=self.total, fits=self.fits, estimate=True)
        return d


@dataclass(frozen=True)
class TrainingEstimate:
    """A training step of one model on one target (definitions: module docstring)."""

    model: str
    target: str
    precision: str
    compute_precision: str
    optimizer: str
    loss: str
    batch_size: int
    accumulation: int
    checkpointing: bool
    params: int
    trainable_params: int
    phases: dict[str, PhaseTime]
    step_time_s: float
    samples_per_s: float
    tokens_per_sample: int | None
    model_flops: int
    hardware_flops: int
    peak_flops_per_s: float
    memory: TrainingMemory
    execution: str = DEFAULT_EXECUTION
    efficiency: str = DEFAULT_EFFICIENCY
    estimates: dict[str, ModelEstimate] = field(default_factory=dict, repr=False)
    #: The path the GEMMs ran on: the compute precision, or ``fp8`` for fp8 training.
    gemm_precision: str = ""
    #: PyTorch's optimizer implementation the step was captured with (``capture.train_step.OPTIMIZER_IMPLS``).
    optimizer_impl: str = "foreach"

    @property
    def tokens_per_s(self) -> float | None:
        """Samples/s x tokens per sample (token models), else None."""
        return self.samples_per_s * self.tokens_per_sample if self.tokens_per_sample else None

    @property
    def mfu(self) -> float:
        """Model FLOPs per second of step time over the dense peak, 0..1."""
        return self.model_flops / self.step_time_s / self.peak_flops_per_s if self.step_time_s else 0.0

    @property
    def hfu(self) -> float:
        """Hardware FLOPs (recomputation included) per second over the dense peak, 0..1."""
        return self.hardware_flops / self.step_time_s / self.peak_flops_per_s if self.step_time_s else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible, ``"estimate": true``."""
        d = {k: v for k, v in asdict(self).items() if k not in ("phases", "memory", "estimates")}
        d["phases"] = {k: asdict(v) for k, v in self.phases.items()}
        d["memory"] = self.memory.to_dict()
        d.update(tokens_per_s=self.tokens_per_s, mfu=self.mfu, hfu=self.hfu, estimate=True)
        return d


def compute_path(target: HardwareTarget, compute_dtype: str) -> str:
    """The precision path of the forward/backward on ``target`` (``UsageError`` naming what it has)."""
    if not target.has(compute_dtype):
        raise UsageError(
            f"{target.name} has no {compute_dtype} figure; it has {', '.join(target.precisions)}: choose "
            "another --precision"
        )
    return compute_dtype


def phase_time(
    name: str,
    records: Sequence[Any],
    target: HardwareTarget,
    precision: str,
    batch_size: int,
    execution: str,
    efficiency: str,
    recomputed_flops: int = 0,
    fp8_records: frozenset[int] = frozenset(),
) -> tuple[PhaseTime, ModelEstimate]:
    """One phase through ``estimate_records``: its ``PhaseTime`` and the full estimate (per-op times).
    ``records`` may be a slice of a longer capture: they are renumbered from 0 and reads from ops before
    the slice become reads from memory (-1), as for a model input. ``fp8_records``: indices (in the
    capture) of records estimated on the fp8 path (``with_fp8_gemms``)."""
    fp8_local = (
        sorted(r.index - records[0].index for r in records if r.index in fp8_records) if records else []
    )
    records = local_records(records)
    est = estimate_records(records, target, precision, batch_size, name, execution, efficiency)
    if fp8_local:
        est = with_fp8_gemms(est, records, fp8_local, target, batch_size, execution, efficiency)
    return (
        PhaseTime(
            phase=name,
            ops=len(records),
            macs=sum(r.macs for r in records),
            flops=est.flops,
            bytes=est.bytes,
            time_s=est.latency_s,
            compute_s=est.compute_s,
            memory_s=est.memory_s,
            overhead_s=est.overhead_s,
            bound=est.bound,
            precision=precision,
            recomputed_flops=recomputed_flops,
            kernels=est.kernel_count,
        ),
        est,
    )


def with_fp8_gemms(
    est: ModelEstimate,
    records: Sequence[Any],
    fp8_local: Sequence[int],
    target: HardwareTarget,
    batch_size: int,
    execution: str,
    efficiency: str,
) -> ModelEstimate:
    """``est`` with the records at ``fp8_local`` (indices into ``records``) estimated on the fp8 path, as
    kernels of their own: their op estimates replaced, the phase's time and its three parts moved by the
    difference, the bound taken again from the ops."""
    from dataclasses import replace

    from metrics_core.perf.efficiency import BOUNDS
    from metrics_core.perf.roofline import dominant_bound

    sub = [replace(records[i], index=k, reads_from=None) for k, i in enumerate(fp8_local)]
    est8 = estimate_records(sub, target, "fp8", batch_size, est.model, execution, efficiency)
    by_local = {i: replace(o, index=i) for i, o in zip(fp8_local, est8.ops, strict=True)}
    old = [o for o in est.ops if o.index in by_local]
    ops = tuple(by_local.get(o.index, o) for o in est.ops)
    latency = est.latency_s - sum(o.time_s for o in old) + est8.latency_s
    by_bound = {b: sum(o.time_s for o in ops if o.bound == b) for b in BOUNDS}
    return replace(
        est,
        ops=ops,
        latency_s=latency,
        throughput_per_s=batch_size / latency if latency else None,
        attained_flops_per_s=est.flops / latency if latency else None,
        compute_s=est.compute_s - sum(o.compute_s for o in old) + est8.compute_s,
        memory_s=est.memory_s - sum(o.memory_s for o in old) + est8.memory_s,
        overhead_s=est.overhead_s - sum(o.overhead_s for o in old) + est8.overhead_s,
        bound=dominant_bound(by_bound),
    )


def local_records(records: Sequence[Any]) -> list[Any]:
    """Copies of a contiguous slice of records numbered from 0, ``reads_from`` remapped (module doc of
    ``capture.dataflow``): a read from outside the slice is -1."""
    from dataclasses import replace

    if not records:
        return []
    lo = records[0].index
    if lo == 0:
        return list(records)
    n = len(records)
    out = []
    for r in records:
        reads = None if r.reads_from is None else [j - lo if lo <= j < lo + n else -1 for j in r.reads_from]
        out.append(replace(r, index=r.index - lo, reads_from=reads))
    return out


def training_memory(step: StepCapture, capacity_bytes: int) -> TrainingMemory:
    """The step's peak by category and the largest micro-batch (module docstring)."""
    m = step.memory
    optimizer_peak = m.gradient_total + step.optimizer_temporary_bytes
    if optimizer_peak > m.peak_bytes:
        grads, saved, temps, phase = m.gradient_total, 0, step.optimizer_temporary_bytes, "optimizer"
    else:
        grads, saved, temps, phase = m.gradients, m.saved, m.temporaries, m.peak_phase
    fixed = step.persistent_bytes
    return TrainingMemory(
        weights=step.weight_bytes,
        master_weights=step.master_bytes,
        gradients=grads,
        optimizer_state=step.optimizer_state_bytes,
        saved_activations=saved,
        temporaries=temps,
        peak_phase=phase,
        capacity_bytes=capacity_bytes,
        max_micro_batch=max_micro_batch(
            fixed + m.gradients,
            m.saved + m.temporaries,
            step.batch_size,
            capacity_bytes,
            fixed + optimizer_peak,
        ),
    )


def max_micro_batch(
    fixed_bytes: int, activation_bytes: int, batch_size: int, capacity_bytes: int, floor_bytes: int = 0
) -> int:
    """Largest B with ``fixed + activation_bytes x B / batch_size <= capacity`` (activations in proportion
    to the batch), 0 when ``fixed_bytes`` or ``floor_bytes`` (the optimizer step's peak, which does not
    depend on the batch) is over the capacity. With no activation bytes the batch changes nothing and
    ``batch_size`` is returned (no larger figure is claimed)."""
    if floor_bytes > capacity_bytes or fixed_bytes > capacity_bytes:
        return 0
    if activation_bytes <= 0:
        return batch_size
    per_sample = activation_bytes / batch_size
    return int((capacity_bytes - fixed_bytes) // per_sample)


def estimate_training(
    step: StepCapture,
    target: HardwareTarget,
    *,
    model: str = "",
    accumulation: int | None = None,
    tokens_per_sample: int | None = None,
    execution: str = DEFAULT_EXECUTION,
    efficiency: str = DEFAULT_EFFICIENCY,
) -> TrainingEstimate:
    """Time, throughput, MFU and memory of ``step`` on ``target`` (module docstring). ``accumulation``:
    micro-batches per optimizer step (None: the capture's, ``StepCapture.accumulation``, whose memory
    simulation assumed it). ``UsageError`` for a precision the target lacks or ``accumulation`` < 1."""
    if accumulation is None:
        accumulation = step.accumulation
    if isinstance(accumulation, bool) or not isinstance(accumulation, int) or accumulation < 1:
        raise UsageError(f"gradient accumulation must be a positive integer, got {accumulation!r}")
    path = compute_path(target, step.compute_dtype)
    fp8 = frozenset(step.fp8_records)
    if fp8:
        compute_path(target, "fp8")
    opt_path = "fp32" if target.has("fp32") else path
    recomputed = set(step.recomputed)
    phases: dict[str, PhaseTime] = {}
    estimates: dict[str, ModelEstimate] = {}
    for name in PHASES:
        records = step.phase(name)
        again = sum(r.flops or 0 for r in records if r.index in recomputed) if name == "backward" else 0
        phases[name], estimates[name] = phase_time(
            name,
            records,
            target,
            opt_path if name == "optimizer" else path,
            step.batch_size,
            execution,
            efficiency,
            again,
            fp8,
        )
    fb = phases["forward"].time_s + phases["backward"].time_s
    step_time = accumulation * fb + phases["optimizer"].time_s
    hardware = accumulation * (phases["forward"].flops + phases["backward"].flops)
    model_flops = hardware - accumulation * phases["backward"].recomputed_flops
    return TrainingEstimate(
        model=model,
        target=target.id,
        precision=step.precision,
        compute_precision=path,
        optimizer=step.optimizer,
        loss=step.loss,
        batch_size=step.batch_size,
        accumulation=accumulation,
        checkpointing=step.checkpointing,
        params=step.params,
        trainable_params=step.trainable_params,
        phases=phases,
        step_time_s=step_time,
        samples_per_s=step.batch_size * accumulation / step_time if step_time else 0.0,
        tokens_per_sample=tokens_per_sample,
        model_flops=model_flops,
        hardware_flops=hardware,
        peak_flops_per_s=target.peak_flops(path),
        memory=training_memory(step, int(target.memory_gb * 1e9)),
        execution=execution,
        efficiency=efficiency,
        estimates=estimates,
        gemm_precision="fp8" if fp8 else path,
        optimizer_impl=step.optimizer_impl,
    )
