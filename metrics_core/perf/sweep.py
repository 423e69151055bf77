"""Batch-size sweeps: how the roofline estimate and peak memory of a model change with batch size.

For each batch size the model is analysed (``metrics_core.runtime.sweeps``, cached) and estimated on one
target and precision (``metrics_core.perf.roofline``). Per point: aggregate AI = FLOPs / bytes,
estimated latency, throughput = batch / latency, attained FLOP/s = FLOPs / latency, bound, peak
activation memory, resident weights, peak total = activations + weights
(``metrics_core.capture.peak_memory``) and whether it fits the target: ``peak_total_bytes <= memory_gb x
1e9``. The largest fitting batch size of a model is the largest swept batch size whose point fits (other
batch sizes between swept ones are not tried).

Weights are read once per pass whatever the batch, activations grow with it: aggregate AI rises with the
batch size towards the activations-only AI, so the point moves right along the roofline.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from metrics_core.common.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from metrics_core.common.records import ModelReport
    from metrics_core.perf.hardware import HardwareTarget

#: Most batch sizes one sweep may analyse (each is one analysis per model).
MAX_POINTS = 64

#: The default sweep: powers of two from 1 to 256.
DEFAULT_BATCH_SIZES: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)

ELLIPSIS = "..."


def parse_batch_sizes(text: str) -> list[int]:
    """``"1,2,4,...,256"`` -> ``[1, 2, 4, 8, ..., 256]``; ``"1,8,64"`` -> ``[1, 8, 64]``.

    Comma-separated positive integers, sorted ascending, duplicates dropped. ``...`` continues the
    progression set by the (at least three) numbers before it, geometric (constant integer ratio) or
    arithmetic (constant difference), up to the number after it, which the progression must hit.
    ``UsageError`` with a one-line message otherwise, or for more than ``MAX_POINTS`` sizes.
    """
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise UsageError(f"batch sizes must be comma-separated positive integers, got {text!r}")
    if parts.count(ELLIPSIS) > 1:
        raise UsageError(f"batch sizes: '...' may appear once, got {text!r}")
    values: list[int] = []
    if ELLIPSIS in parts:
        at = parts.index(ELLIPSIS)
        head, tail = [_positive(p, text) for p in parts[:at]], [_positive(p, text) for p in parts[at + 1 :]]
        if len(head) < 3 or not tail:
            raise UsageError(
                f"batch sizes: '...' needs three numbers before it and one after "
                f"(e.g. 1,2,4,...,256), got {text!r}"
            )
        values = [*_progression(head, tail[0], text), *tail[1:]]
    else:
        values = [_positive(p, text) for p in parts]
    out = sorted(set(values))
    if len(out) > MAX_POINTS:
        raise UsageError(f"batch sizes: {len(out)} values; a sweep takes at most {MAX_POINTS}")
    return out


def _positive(part: str, text: str) -> int:
    if not re.fullmatch(r"[0-9]+", part) or int(part) < 1:
        raise UsageError(f"batch sizes must be positive integers, got {part!r} in {text!r}")
    return int(part)


def _progression(head: list[int], end: int, text: str) -> list[int]:
    """``head`` continued to ``end`` (inclusive) with head's constant ratio or difference."""
    a, b = head[0], head[1]
    ratio_ok = (
        b % a == 0 and b // a >= 2 and all(y == x * (b // a) for x, y in zip(head, head[1:], strict=False))
    )
    diff_ok = b > a and all(y - x == b - a for x, y in zip(head, head[1:], strict=False))
    if not (ratio_ok or diff_ok):
        raise UsageError(
            f"batch sizes: {','.join(map(str, head))} is neither a x2/x3... nor a +k progression in {text!r}"
        )
    out = list(head)
    while out[-1] < end:
        if len(out) >= MAX_POINTS:
            raise UsageError(
                f"batch sizes: {text!r} gives over {MAX_POINTS} values; a sweep takes at most {MAX_POINTS}"
            )
        out.append(out[-1] * (b // a) if ratio_ok else out[-1] + (b - a))
    if out[-1] != end:
        raise UsageError(f"batch sizes: {end} is not reached by {','.join(map(str, head))},... in {text!r}")
    return out


@dataclass(frozen=True)
class SweepPoint:
    """One batch size of a sweep (estimates; bytes; seconds; FLOP/s). None where the analysis failed."""

    batch_size: int
    flops: int | None = None
    bytes: int | None = None
    aggregate_ai: float | None = None
    latency_s: float | None = None
    throughput_per_s: float | None = None
    attained_flops_per_s: float | None = None
    bound: str | None = None
    #: The three regimes of the latency (``perf.roofline.ModelEstimate``): the ops' compute, memory and
    #: overhead (launch, host issue) times, summed, seconds.
    compute_s: float | None = None
    memory_s: float | None = None
    overhead_s: float | None = None
    peak_activation_bytes: int | None = None
    weight_bytes: int | None = None
    peak_total_bytes: int | None = None
    fits: bool | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ModelSweep:
    """One model swept over batch sizes on one target and precision."""

    model: str
    target: str
    precision: str
    dtype: str
    memory_capacity_bytes: float
    points: list[SweepPoint] = field(default_factory=list)
    #: The performance model of the estimates (``perf.roofline.estimate_records``).
    execution: str = "eager"
    efficiency: str = "ideal"

    @property
    def largest_fitting_batch(self) -> int | None:
        """The largest swept batch size whose peak total memory fits the target; None if none fits."""
        fitting = [p.batch_size for p in self.points if p.fits]
        return max(fitting) if fitting else None

    @property
    def extrapolated_max_batch(self) -> int | None:
        """The largest batch whose peak total memory would fit, extrapolating linearly from the two
        largest swept batch sizes: with activations ``a1``, ``a2`` at batches ``b1 < b2`` and weights
        ``w``, per-sample bytes ``s = (a2 - a1) / (b2 - b1)``, fixed bytes ``f = a2 - s * b2``, the answer
        is ``floor((capacity - w - f) / s)``. None with fewer than two points with memory, ``s <= 0``, or
        when even that is below 1. An estimate: activations usually grow exactly linearly with batch.
        """
        known = sorted(
            (p.batch_size, p.peak_activation_bytes, p.weight_bytes) for p in self.points if p.fits is not None
        )
        if len(known) < 2:
            return None
        (b1, a1, _), (b2, a2, w) = known[-2], known[-1]
        slope = (a2 - a1) / (b2 - b1)
        if slope <= 0:
            return None
        batch = math.floor((self.memory_capacity_bytes - w - (a2 - slope * b2)) / slope)
        return batch if batch >= 1 else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible; ``"estimate": true`` (latency, throughput and memory are estimates)."""
        return {
            "model": self.model,
            "target": self.target,
            "precision": self.precision,
            "dtype": self.dtype,
            "memory_capacity_bytes": self.memory_capacity_bytes,
            "largest_fitting_batch": self.largest_fitting_batch,
            "extrapolated_max_batch": self.extrapolated_max_batch,
            "points": [p.to_dict() for p in self.points],
            "execution": self.execution,
            "efficiency": self.efficiency,
            "estimate": True,
        }


def capacity_bytes(target: HardwareTarget) -> float:
    """The target's memory in bytes: ``memory_gb x 1e9`` (decimal GB)."""
    return target.memory_gb * 1e9


def sweep_point(
    report: ModelReport,
    target: HardwareTarget,
    precision: str,
    execution: str = "eager",
    efficiency: str = "ideal",
) -> SweepPoint:
    """The estimate and memory of one analysed report on ``target`` (definitions: module docstring), under
    the performance model ``execution`` / ``efficiency`` (``perf.roofline.estimate_records``)."""
    from metrics_core.perf.roofline import estimate_model

    if not report.ok or not report.records:
        return SweepPoint(report.batch_size, error=report.error or "no per-op records")
    est = estimate_model(report, target, precision, execution, efficiency)
    memory = report.extras.get("memory")
    peak_act = weights = total = fits = None
    if memory is not None:
        peak_act, weights, total = (
            memory["peak_activation_bytes"],
            memory["weight_bytes"],
            memory["peak_total_bytes"],
        )
        fits = total <= capacity_bytes(target)
    return SweepPoint(
        batch_size=report.batch_size,
        flops=est.flops,
        bytes=est.bytes,
        aggregate_ai=est.aggregate_ai,
        latency_s=est.latency_s,
        throughput_per_s=est.throughput_per_s,
        attained_flops_per_s=est.attained_flops_per_s,
        bound=est.bound,
        compute_s=est.compute_s,
        memory_s=est.memory_s,
        overhead_s=est.overhead_s,
        peak_activation_bytes=peak_act,
        weight_bytes=weights,
        peak_total_bytes=total,
        fits=fits,
    )
