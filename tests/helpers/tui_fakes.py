"""A stand-in analysis backend for the app tests: real reports recorded from ``metrics_core``.

``tui_reports.json`` holds ``ModelReport.to_dict()`` of resnet18, mobilenet_v2, efficientnet_b0 and
squeezenet1_0 (batch 1, fp32, native 3x224x224 input) as produced by ``metrics_core.analyze.analyze_many``.
The catalog, presets and hardware targets are the real ones (none of them imports torch).
Re-record the reports (after a change to the metric definitions) with
``python tests/helpers/tui_fakes.py``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from metrics_core.analyze import AnalysisOptions
from metrics_core.records import ModelReport
from tui.backend import Backend

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
        self.calls: list[tuple[list[str], AnalysisOptions]] = []

    def __call__(
        self, names: Sequence[str], options: AnalysisOptions, on_report: Callable[[ModelReport], None]
    ) -> list[ModelReport]:
        self.calls.append((list(names), options))
        if self.fail is not None:
            raise self.fail
        out = []
        for name in names:
            if self.gate is not None:
                self.gate.wait(timeout=30)
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


def fake_backend(**kwargs) -> tuple[Backend, FakeAnalyze]:  # noqa: ANN003
    analyze = FakeAnalyze(**kwargs)
    return Backend(analyze=analyze, prepare=_nothing, warm_up=_nothing), analyze


def _nothing() -> None:
    """No worker processes to prepare or warm up: the fake analyses in the calling thread."""


def make_app(models: Sequence[str] = (), **kwargs):  # noqa: ANN003, ANN201
    """(app with the fake backend and ``models`` selected, its ``FakeAnalyze``)."""
    from tui.app import ModeltuiApp

    backend, fake = fake_backend(**kwargs)
    return ModeltuiApp(models=models, backend=backend), fake


async def settle(pilot) -> None:  # noqa: ANN001
    """Wait for every worker, then for the messages they posted (no sleeping, no timing)."""
    for _ in range(2):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


if __name__ == "__main__":  # re-record tui_reports.json (worker processes need this guard)
    from metrics_core.analyze import analyze_many

    recorded = analyze_many(
        ["resnet18", "mobilenet_v2", "efficientnet_b0", "squeezenet1_0"], AnalysisOptions()
    )
    data = {r.model: r.to_dict() for r in recorded}
    REPORTS_FILE.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    print(f"wrote {REPORTS_FILE}: {', '.join(f'{r.model} ({len(r.records)} ops)' for r in recorded)}")
