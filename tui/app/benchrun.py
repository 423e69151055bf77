"""Measured benchmarks for the app (``b``): ``metrics_core.measure.bench.bench_model`` in a child process.

The child is forked from the analysis pool's warm fork server (``metrics_core.runtime.pool``; torch is already
imported there), so the app process never imports torch and the child starts at once. It measures the
models one after the other and sends ``BenchEvent``s back through a pipe: progress (throttled), then a
result or an error per model. Setting ``stop`` terminates the child at once (cancel, quit).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from metrics_core.common.records import ModelReport
from metrics_core.runtime.options import AnalysisOptions

#: Untimed and timed forward passes per model in the app (fewer than ``modeltui bench``'s 10 + 50: the
#: app measures while the user waits, and a large model takes seconds per pass on a CPU).
WARMUP, ITERS = 3, 20
#: Seconds between two progress events of the child (the app redraws its progress bar for each, on a
#: core the benchmark would like to have).
PROGRESS_EVERY_S = 0.25
#: Seconds between two checks of ``stop`` while waiting for the child.
POLL_S = 0.1
DIED = "the benchmark process died (crash or out of memory)"


@dataclass
class BenchEvent:
    """``kind``: ``progress`` (``phase`` ``done``/``total``), ``result`` (a ``BenchResult``) or
    ``error`` (a one-line message)."""

    model: str
    kind: str
    phase: str = ""
    done: int = 0
    total: int = 0
    result: Any = None
    error: str | None = None


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
    import multiprocessing

    from metrics_core.runtime import pool

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(pool.PRELOAD))
    receiver, sender = multiprocessing.Pipe(duplex=False)
    light = [(name, replace(report, records=[])) for name, report in jobs]  # records are not needed
    child = ctx.Process(
        target=_child, args=(sender, light, options, warmup, iters), name="modeltui-bench", daemon=True
    )
    child.start()
    sender.close()
    pending = [name for name, _ in jobs]
    try:
        while pending and not stop.is_set():
            if not receiver.poll(POLL_S):
                if not child.is_alive() and not receiver.poll():
                    break
                continue
            try:
                event = receiver.recv()
            except EOFError:
                break
            if event.kind != "progress" and event.model in pending:
                pending.remove(event.model)
            on_event(event)
        if not stop.is_set():
            for name in pending:
                on_event(BenchEvent(name, "error", error=DIED))
    finally:
        if child.is_alive():
            child.terminate()
        child.join(2.0)
        receiver.close()


def _child(
    conn: Any, jobs: list[tuple[str, ModelReport]], options: AnalysisOptions, warmup: int, iters: int
) -> None:
    """The child process: measure each model, send events; output goes to /dev/null (the app owns the
    terminal)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    import torch

    from metrics_core.common.errors import ModeltuiError, one_line_error
    from metrics_core.measure.bench import bench_model

    device = "cuda" if torch.cuda.is_available() else "cpu"
    for name, report in jobs:
        last = 0.0

        def progress(_model: str, phase: str, done: int, total: int, name: str = name) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY_S or done == total:
                last = now
                conn.send(BenchEvent(name, "progress", phase, done, total))

        try:
            result = bench_model(name, options, device, warmup, iters, progress=progress, report=report)
        except ModeltuiError as exc:
            conn.send(BenchEvent(name, "error", error=str(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - one model's failure is its row's message
            conn.send(BenchEvent(name, "error", error=one_line_error(exc)))
            continue
        if result.ok:
            conn.send(BenchEvent(name, "result", result=result))
        else:
            conn.send(BenchEvent(name, "error", error=result.error or "no timed pass"))
    conn.close()
