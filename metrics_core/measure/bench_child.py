"""Measured benchmarks in a child process: user model code never runs in the CLI's or the app's process.

``run_benchmarks`` forks a child from the analysis pool's warm fork server (``metrics_core.runtime.pool``;
torch is already imported there, so it starts at once). The child measures the models one after the other
(``metrics_core.measure.bench.bench_model``) with its standard output and error on /dev/null, and sends
``BenchEvent``s back through a pipe: progress (throttled), then a result or an error per model.

Faults are per model: whatever the model's code raises (``SystemExit``, ``KeyboardInterrupt``, any
``BaseException``) is that model's error; a child that dies (crash, ``os._exit``, a kill) fails the model
it was measuring, named, and the models after it are measured in a fresh child; a model that takes longer
than ``timeout_s`` has its child killed and a "timed out" error. Setting ``stop`` terminates the child at
once (cancel, quit, Ctrl+C).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from metrics_core.common.records import ModelReport

#: Seconds between two progress events of the child.
PROGRESS_EVERY_S = 0.25
#: Seconds between two checks of ``stop`` while waiting for the child.
POLL_S = 0.1
DIED = "the benchmark process died while measuring this model (crash, os._exit, kill or out of memory)"


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


@dataclass
class BenchJob:
    """What the child measures: ``bench_model(name, options, device, warmup, iters, report=report,
    **kwargs)``; ``device`` None: CUDA when the child sees one, else the CPU."""

    options: Any
    device: str | None
    warmup: int
    iters: int
    kwargs: dict[str, Any] = field(default_factory=dict)


def run_benchmarks(
    jobs: Sequence[tuple[str, ModelReport]],
    job: BenchJob,
    on_event: Callable[[BenchEvent], None],
    stop: threading.Event,
    timeout_s: float | None = None,
) -> None:
    """Measure ``jobs`` (name, its analysis) in child processes; ``on_event`` is called in this thread,
    once per model with a result or an error (and with progress before). Returns when every model has
    one, or soon after ``stop`` is set."""
    pending = [(name, replace(report, records=[])) for name, report in jobs]  # records are not needed
    by_name = dict(jobs)

    def deliver(event: BenchEvent) -> None:
        """Results come back without the estimates (the child got no records): filled here, from the
        full reports (roofline latency and the energy estimate on the target)."""
        if event.kind == "result" and event.result is not None and by_name.get(event.model) is not None:
            from metrics_core.measure.bench import _fill_estimates

            target = job.kwargs.get("target")
            if target is not None and event.result.estimated_latency_s is None:
                _fill_estimates(event.result, by_name[event.model], target, job.kwargs.get("use_tf32", False))
        on_event(event)

    while pending and not stop.is_set():
        finished, timed_out = _run_child(pending, job, deliver, stop, timeout_s)
        if stop.is_set():
            return
        pending = [(n, r) for n, r in pending if n not in finished]
        if pending:  # the child died, or was killed, while measuring the first unfinished model
            name, _ = pending.pop(0)
            why = f"timed out after {timeout_s:g} s (--timeout); measuring stopped" if timed_out else DIED
            on_event(BenchEvent(name, "error", error=why))


def _run_child(
    jobs: list[tuple[str, ModelReport]],
    job: BenchJob,
    on_event: Callable[[BenchEvent], None],
    stop: threading.Event,
    timeout_s: float | None,
) -> tuple[set[str], bool]:
    """One child over ``jobs``: (the models it finished, whether it was killed for running past
    ``timeout_s`` on the first unfinished one)."""
    import multiprocessing

    from metrics_core.common.watchdog import name_self_as_parent
    from metrics_core.runtime import pool

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(pool.PRELOAD))
    name_self_as_parent()  # the fork server, if it starts here, ends with this process
    pool.quiet_resource_tracker()
    receiver, sender = multiprocessing.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(sender, jobs, job), name="modeltui-bench", daemon=True)
    child.start()
    sender.close()
    finished: set[str] = set()
    current, started = (jobs[0][0] if jobs else None), time.monotonic()
    try:
        while len(finished) < len(jobs) and not stop.is_set():
            if timeout_s is not None and current is not None and time.monotonic() - started > timeout_s:
                child.kill()
                return finished, True
            if not receiver.poll(POLL_S):
                if not child.is_alive() and not receiver.poll():
                    break
                continue
            try:
                event = receiver.recv()
            except EOFError:
                break
            if event.kind != "progress":
                finished.add(event.model)
                following = [n for n, _ in jobs if n not in finished]
                current, started = (following[0] if following else None), time.monotonic()
            on_event(event)
    finally:
        if child.is_alive():
            child.kill()
        child.join(2.0)
        receiver.close()
    return finished, False


def _child(conn: Any, jobs: list[tuple[str, ModelReport]], job: BenchJob) -> None:
    """The child process: measure each model, send events; its output goes to /dev/null (the caller's
    standard output carries the results, the terminal belongs to the app)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    from metrics_core.common.watchdog import exit_with_parent

    exit_with_parent()
    import torch

    from metrics_core.common.errors import ModeltuiError, one_line_error
    from metrics_core.measure.bench import bench_model

    device = job.device or ("cuda" if torch.cuda.is_available() else "cpu")
    for name, report in jobs:
        last = 0.0

        def progress(_model: str, phase: str, done: int, total: int, name: str = name) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY_S or done == total:
                last = now
                conn.send(BenchEvent(name, "progress", phase, done, total))

        try:
            result = bench_model(
                name,
                job.options,
                device,
                job.warmup,
                job.iters,
                progress=progress,
                report=report,
                **job.kwargs,
            )
        except ModeltuiError as exc:
            conn.send(BenchEvent(name, "error", error=str(exc)))
            continue
        except BaseException as exc:  # noqa: BLE001 - SIGINT is ignored here: this came from the model
            conn.send(BenchEvent(name, "error", error=one_line_error(exc)))
            continue
        conn.send(BenchEvent(name, "result", result=result))
    conn.close()
