"""A stand-in analysis backend for the app tests: real reports recorded from ``metrics_core``.

``tui_reports.json`` holds ``ModelReport.to_dict()`` of resnet18, mobilenet_v2, efficientnet_b0 and
squeezenet1_0 (batch 1, fp32, native 3x224x224 input) as produced by
``metrics_core.runtime.analyze.analyze_many``.
The catalog, presets and hardware targets are the real ones (none of them imports torch).
Re-record the reports (after a change to the metric definitions) with
``python tests/helpers/tui_fakes.py``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from textual.worker import WorkerState

from metrics_core.common.records import ModelReport
from metrics_core.runtime.analyze import AnalysisOptions
from tui.app.backend import Backend

REPORTS_FILE = Path(__file__).with_name("tui_reports.json")


def load_reports() -> dict[str, ModelReport]:
    data = json.loads(REPORTS_FILE.read_text(encoding="utf-8"))
    return {name: ModelReport.from_dict(d) for name, d in data.items()}


class FakeAnalyze:
    """Returns the recorded report of each name (an error report for other names, as the real
    backend does for a model that fails to build). ``gate``: wait for it before each model, so a
    test can look at the app while models are pending. ``fail``: raise it instead (a broken backend)."""

    def __init__(self, gate: threading.Event | None = None, fail: Exception | None = None) -> None:
        self.reports = load_reports()
        self.gate = gate
        self.fail = fail
        self.waiting = False  # True while waiting at the gate
        self.calls: list[tuple[list[str], AnalysisOptions]] = []
        self.running = self.most_running = 0  # analyses in progress now, and at most at once
        self._lock = threading.Lock()

    def __call__(
        self, names: Sequence[str], options: AnalysisOptions, on_report: Callable[[ModelReport], None]
    ) -> list[ModelReport]:
        self.calls.append((list(names), options))
        if self.fail is not None:
            raise self.fail
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            return self._analyse(names, options, on_report)
        finally:
            with self._lock:
                self.running -= 1

    def _analyse(
        self, names: Sequence[str], options: AnalysisOptions, on_report: Callable[[ModelReport], None]
    ) -> list[ModelReport]:
        out = []
        for name in names:
            if self.gate is not None:
                self.waiting = True
                self.gate.wait(timeout=30)
                self.waiting = False
            report = self.reports.get(name)
            if report is None:
                report = ModelReport(
                    model=name,
                    input_shape=[3, 224, 224],
                    batch_size=options.batch_size,
                    dtype=options.dtype,
                    error=f"RuntimeError: no recorded report for {name}",
                )
            else:
                report = replace(report, batch_size=options.batch_size, dtype=options.dtype)
            on_report(report)
            out.append(report)
        return out


#: Timed passes of the fake benchmark (seconds): median 5 ms, p90 (3rd of 3 by nearest rank) 6 ms.
BENCH_TIMES = [0.004, 0.005, 0.006]
#: The estimate a fake result carries (on this-machine, as the real benchmark on a CPU): 2 ms.
BENCH_ESTIMATE_S = 0.002


class FakeBench:
    """Measures nothing: emits one progress event per timed pass and a ``BenchResult`` with
    ``BENCH_TIMES`` per model (``fail``: an error event for that model instead). ``gate``: wait for it
    (or for ``stop``) before each model, so a test can look at the app while the benchmark runs."""

    def __init__(self) -> None:
        self.gate: threading.Event | None = None
        self.fail: dict[str, str] = {}
        self.calls: list[list[str]] = []

    def __call__(self, jobs, options, on_event, stop) -> None:  # noqa: ANN001
        from metrics_core.measure.bench import BenchResult
        from tui.app.benchrun import BenchEvent

        self.calls.append([name for name, _ in jobs])
        for name, report in jobs:
            for _ in range(600):  # at most 30 s, as FakeAnalyze's gate: a failed test must not hang
                if self.gate is None or self.gate.wait(0.05):
                    break
                if stop.is_set():  # as the real one: a stop ends the benchmark at once
                    return
            if stop.is_set():
                return
            if name in self.fail:
                on_event(BenchEvent(name, "error", error=self.fail[name]))
                continue
            for i in range(len(BENCH_TIMES)):
                on_event(BenchEvent(name, "progress", "measure", i + 1, len(BENCH_TIMES)))
            result = BenchResult(
                model=name,
                device="cpu",
                device_name="test CPU",
                dtype=options.dtype,
                batch_size=options.batch_size,
                input_shape=list(report.input_shape),
                warmup=0,
                iters=len(BENCH_TIMES),
                threads=2,
                times_s=list(BENCH_TIMES),
                flops=report.metrics.flops,
                target="this-machine",  # as the real one on a CPU: estimated where it was measured
                estimated_latency_s=BENCH_ESTIMATE_S,
            )
            on_event(BenchEvent(name, "result", result=result))


def fake_backend(more_models: Sequence = (), **kwargs) -> tuple[Backend, FakeAnalyze]:  # noqa: ANN003
    """A backend with the real catalog, presets and hardware, a fake analysis, and ``more_models`` as
    the other sources' models (none by default: the real ones read the installed timm)."""
    analyze = FakeAnalyze(**kwargs)
    backend = Backend(
        analyze=analyze,
        bench=FakeBench(),
        prepare=_nothing,
        warm_up=_nothing,
        stop=_nothing,
        catalog_note=_no_note,
        more_models=lambda: list(more_models),
    )
    return backend, analyze


def _no_note() -> None:
    """The shipped catalog matches (the real check reads the installed torchvision's version)."""


def _nothing() -> None:
    """No worker processes to prepare or warm up: the fake analyses in the calling thread."""


def make_app(models: Sequence[str] = (), more_models: Sequence = (), **kwargs):  # noqa: ANN003, ANN201
    """(app with the fake backend and ``models`` selected, its ``FakeAnalyze``)."""
    from tui.app.application import ModeltuiApp

    backend, fake = fake_backend(more_models, **kwargs)
    return ModeltuiApp(models=models, backend=backend), fake


async def settle(pilot) -> None:  # noqa: ANN001
    """Wait for every worker, then for the messages they posted (no sleeping, no timing). A worker
    that failed is waited for too (the app turns its error into a message; tests look at that)."""
    for _ in range(2):
        workers = [w for w in pilot.app.workers if w.state != WorkerState.PENDING]
        await asyncio.gather(*(w.wait() for w in workers), return_exceptions=True)
        await pilot.pause()


def sync(test):  # noqa: ANN001, ANN201
    """Run an async test with asyncio.run (no pytest asyncio plugin is needed)."""

    @functools.wraps(test)
    def run(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        return asyncio.run(test(*args, **kwargs))

    return run


def rows(app) -> list[str]:  # noqa: ANN001
    """Row keys of the table on the current screen, in display order."""
    from tui.app.widgets.grid_table import GridTable

    return app.screen.query_one(GridTable).row_keys


def cell(app, row: str, column: str) -> str:  # noqa: ANN001
    """The displayed text of one cell of the table on the current screen."""
    from tui.app.widgets.grid_table import GridTable

    table = app.screen.query_one(GridTable)
    keys = [c.key for c in table.columns]
    return table.rows[table.row_keys.index(row)].cells[keys.index(column)]


async def type_text(pilot, text: str) -> None:  # noqa: ANN001
    names = {" ": "space", ".": "full_stop", "/": "slash", ":": "colon", "_": "underscore"}
    await pilot.press(*[names.get(c, c) for c in text])


if __name__ == "__main__":  # re-record tui_reports.json (worker processes need this guard)
    from metrics_core.runtime.analyze import analyze_many

    recorded = analyze_many(
        ["resnet18", "mobilenet_v2", "efficientnet_b0", "squeezenet1_0"], AnalysisOptions()
    )
    data = {r.model: r.to_dict() for r in recorded}
    REPORTS_FILE.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    print(f"wrote {REPORTS_FILE}: {', '.join(f'{r.model} ({len(r.records)} ops)' for r in recorded)}")
