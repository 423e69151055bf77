"""Analyse models over a list of batch sizes and turn each report into a ``SweepPoint`` on a target."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from metrics_core.common.errors import UsageError
from metrics_core.common.records import ModelReport
from metrics_core.perf.hardware import HardwareTarget
from metrics_core.perf.roofline import analysed_precision
from metrics_core.perf.sweep import ModelSweep, capacity_bytes, sweep_point
from metrics_core.runtime.analyze import analyze_many
from metrics_core.runtime.options import AnalysisOptions


def sweep_models(
    names: Sequence[str],
    batch_sizes: Sequence[int],
    target: HardwareTarget,
    precision: str,
    options: AnalysisOptions,
    on_report: Callable[[ModelReport], None] | None = None,
    execution: str = "eager",
    efficiency: str = "ideal",
) -> list[ModelSweep]:
    """Sweep each model over ``batch_sizes`` (``options`` gives dtype, input shape, cache use), estimated
    under ``execution`` / ``efficiency`` (``perf.roofline.estimate_records``) on ``precision``, or on the
    path of the dtype a model was analysed in when that differs (``perf.roofline.analysed_precision``).

    Unknown names raise before any work (``analyze_many``); a model failing at a batch size gets a point
    with ``error`` set.
    """
    if not batch_sizes:
        raise UsageError("batch sizes: give at least one")
    sweeps: list[ModelSweep] = []
    for b in batch_sizes:
        reports = analyze_many(list(names), replace(options, batch_size=b), on_report=on_report)
        if not sweeps:  # each model in the dtype it was analysed in (a bf16 model without --dtype: bf16)
            sweeps = [
                ModelSweep(
                    r.model,
                    target.id,
                    analysed_precision(target, r.dtype, precision),
                    r.dtype,
                    capacity_bytes(target),
                    execution=execution,
                    efficiency=efficiency,
                )
                for r in reports
            ]
        for sw, r in zip(sweeps, reports, strict=True):
            sw.points.append(sweep_point(r, target, sw.precision, execution, efficiency))
    return sweeps
