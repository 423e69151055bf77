"""What a model costs on a target next to what it buys: the rows ``pareto`` and ``pick`` work on.

One row per analysed model (``tradeoff_row``), plain JSON-compatible values (None where unknown):

============================ ==========================================================================
``model``                    the spec name
``params``, ``macs``         parameter elements, multiply-accumulates (``report.metrics``)
``memory_bytes``             memory traffic of one pass: input + output + weight bytes (the seed's
                             "memory")
``peak_memory_bytes``        peak inference memory: resident weights + peak live activations (est.,
                             ``report.extras["memory"]["peak_total_bytes"]``)
``latency_s``                estimated latency of one batch on the target (roofline, no fusion)
``throughput_per_s``         batch / latency_s (samples/s, est.)
``energy_j``                 board power x latency_s (J per inference, upper bound at board power)
``energy_per_sample_j``      energy_j / batch
``inferences_per_j``         1 / energy_j
``acc1``, ``acc5``           published ImageNet-1k top-1 / top-5 %, ``acc_weights``, ``acc_resolution``,
                             ``acc_note`` (``metrics_core.report.accuracy``)
============================ ==========================================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from metrics_core.common.records import ModelReport
from metrics_core.perf.energy import estimate_energy
from metrics_core.perf.hardware import HardwareTarget
from metrics_core.perf.roofline import ModelEstimate, analysed_precision, estimate_model
from metrics_core.report.accuracy import accuracy_fields

#: Every key of a row, in display order.
ROW_KEYS: tuple[str, ...] = (
    "model",
    "params",
    "macs",
    "memory_bytes",
    "peak_memory_bytes",
    "latency_s",
    "throughput_per_s",
    "energy_j",
    "energy_per_sample_j",
    "inferences_per_j",
    "acc1",
    "acc5",
    "acc_weights",
    "acc_resolution",
    "acc_note",
)


def tradeoff_row(
    report: ModelReport,
    target: HardwareTarget | None = None,
    precision: str | None = None,
    estimate: ModelEstimate | None = None,
    modes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The row of one analysed report (definitions: module doc); estimates need ``target`` and
    ``precision`` (or a ready ``estimate``) and the report's op records; ``modes`` are
    ``estimate_model``'s ``execution`` / ``efficiency`` (None: its defaults)."""
    m = report.metrics
    memory = report.extras.get("memory") or {}
    row: dict[str, Any] = dict.fromkeys(ROW_KEYS)
    row["model"] = report.model
    if m is not None:
        row.update(params=m.params, macs=m.macs, memory_bytes=m.memory_bytes)
    row["peak_memory_bytes"] = memory.get("peak_total_bytes")
    if estimate is None and target is not None and precision and report.ok and report.records:
        path = analysed_precision(target, report.dtype, precision)  # a bf16 model (no --dtype): bf16
        estimate = estimate_model(report, target, path, **(modes or {}))
    if estimate is not None:
        row["latency_s"] = estimate.latency_s
        row["throughput_per_s"] = estimate.throughput_per_s
        if target is not None and estimate.latency_s > 0:
            energy = estimate_energy(target, estimate.latency_s, report.batch_size)
            if energy is not None:
                row["energy_j"] = energy.energy_per_inference_j
                row["energy_per_sample_j"] = energy.energy_per_sample_j
                row["inferences_per_j"] = energy.inferences_per_j
    row.update(accuracy_fields(report))
    return row


def tradeoff_rows(
    reports: Sequence[ModelReport],
    target: HardwareTarget | None,
    precision: str | None,
    modes: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """``tradeoff_row`` of every successfully analysed report, in order (failed ones are left out)."""
    return [tradeoff_row(r, target, precision, modes=modes) for r in reports if r.ok]
