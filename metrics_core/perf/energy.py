"""Estimated energy of one inference on a target: board power x estimated latency, an upper bound.

Definitions (units: W, s, J):

- ``energy_per_inference_j`` = ``board_power_w`` x ``latency_s``: one forward pass of the whole batch,
  with the board drawing its full rated power for the whole estimated latency. Real inference draws
  less than the rated board power (idle units, memory-bound phases), so this is an **upper bound at
  board power**, never a measurement. The latency is the roofline estimate
  (``metrics_core.perf.roofline``), itself a no-fusion, peak-clock estimate.
- ``energy_per_sample_j`` = ``energy_per_inference_j`` / batch size.
- ``inferences_per_j`` = 1 / ``energy_per_inference_j``; ``samples_per_j`` = batch / energy per
  inference (equal at batch 1).

Example: 250 W board, 2 ms estimated latency, batch 4 -> 0.5 J per inference, 0.125 J per sample,
2 inferences/J, 8 samples/J.

``board_power_w`` and its source come from the hardware catalog (``metrics_core/perf/data/
hardware.toml``); a target without it gets no estimate (``None``) and ``unavailable_reason`` says why.
Measured energy (NVML, CUDA only) is ``metrics_core.measure.nvml_energy``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from metrics_core.perf.hardware import HardwareTarget

#: How every energy estimate is labelled.
ENERGY_LABEL = "upper bound at board power (est.)"


@dataclass(frozen=True)
class EnergyEstimate:
    """Energy of one inference on a target (definitions in the module doc)."""

    target: str
    board_power_w: float
    board_power_source: str
    latency_s: float
    batch_size: int
    energy_per_inference_j: float
    energy_per_sample_j: float
    inferences_per_j: float | None
    samples_per_j: float | None
    label: str = ENERGY_LABEL

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["estimate"] = True
        d["upper_bound"] = True
        return d


def energy_from(board_power_w: float, latency_s: float, batch_size: int = 1) -> tuple[float, float]:
    """(J per inference, J per sample) = (P x t, P x t / batch)."""
    per_inference = board_power_w * latency_s
    return per_inference, per_inference / batch_size


def energy_of_estimate(target: HardwareTarget, estimate: Any) -> EnergyEstimate | None:
    """``estimate_energy`` for a ``roofline.ModelEstimate`` (None without one, a latency or a board power)."""
    if estimate is None or not estimate.latency_s or estimate.latency_s <= 0:
        return None
    return estimate_energy(target, estimate.latency_s, estimate.batch_size)


def estimate_energy(target: HardwareTarget, latency_s: float, batch_size: int = 1) -> EnergyEstimate | None:
    """The energy estimate on ``target`` for an estimated latency (s) of one batch; None when the target
    has no board power (``unavailable_reason``)."""
    if target.board_power_w is None:
        return None
    per_inference, per_sample = energy_from(target.board_power_w, latency_s, batch_size)
    return EnergyEstimate(
        target=target.id,
        board_power_w=target.board_power_w,
        board_power_source=target.board_power_source or "",
        latency_s=latency_s,
        batch_size=batch_size,
        energy_per_inference_j=per_inference,
        energy_per_sample_j=per_sample,
        inferences_per_j=1.0 / per_inference if per_inference > 0 else None,
        samples_per_j=batch_size / per_inference if per_inference > 0 else None,
    )


def unavailable_reason(target: HardwareTarget) -> str:
    """Why ``target`` has no energy estimate (one line)."""
    why = target.board_power_source or "no board_power_w in its hardware entry"
    return f"{target.id} has no board power ({why}); energy is not estimated"
