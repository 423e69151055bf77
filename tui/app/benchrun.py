"""Measured benchmarks for the app (``b``): ``metrics_core.measure.bench_child`` (a child process of the
analysis pool's fork server; the app process never imports torch nor runs model code), with the app's
shorter pass counts. A failed measurement arrives as an ``error`` event, never as a result. Each result
carries its own estimate, on the machine it was measured on (``this-machine`` for the CPU, the matched
GPU target on CUDA): Meas/est never divides this machine's time by another target's estimate."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence

from metrics_core.common.records import ModelReport
from metrics_core.measure.bench_child import BenchEvent, BenchJob
from metrics_core.runtime.options import AnalysisOptions

__all__ = ["ITERS", "WARMUP", "BenchEvent", "run_benchmarks"]

#: Untimed and timed forward passes per model in the app (fewer than ``modeltui bench``'s 10 + 50: the
#: app measures while the user waits, and a large model takes seconds per pass on a CPU).
WARMUP, ITERS = 3, 20
#: Present on hosts with an NVIDIA driver: the child then measures on CUDA and matches the GPU's target;
#: elsewhere it measures the CPU, and the estimate beside it is on the ``this-machine`` target.
NVIDIA_DRIVER = "/proc/driver/nvidia/version"


def run_benchmarks(
    jobs: Sequence[tuple[str, ModelReport]],
    options: AnalysisOptions,
    on_event: Callable[[BenchEvent], None],
    stop: threading.Event,
    warmup: int = WARMUP,
    iters: int = ITERS,
) -> None:
    """Measure ``jobs`` (name, its analysis) in a child process; ``on_event`` is called in this thread.
    Returns when every model has a result or an error, or soon after ``stop`` is set."""
    from metrics_core.measure import bench_child

    def relay(event: BenchEvent) -> None:
        if event.kind == "result" and not event.result.ok:
            event = BenchEvent(event.model, "error", error=event.result.error or "no timed pass")
        on_event(event)

    kwargs = {}
    if not os.path.exists(NVIDIA_DRIVER):  # measured on this CPU: estimated on this CPU too
        from metrics_core.perf.this_machine import this_machine

        kwargs["target"] = this_machine()  # (its bandwidth is measured once, then cached)
    job = BenchJob(options, None, warmup, iters, kwargs)
    bench_child.run_benchmarks(jobs, job, relay, stop, timeout_s=options.timeout_s)
