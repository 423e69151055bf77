"""Messages that workers post to the app (thread-safe ``post_message``)."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from metrics_core.common.records import ModelReport


class ReportReady(Message):
    """One model finished analysing (its report may carry an error)."""

    def __init__(self, report: ModelReport, generation: int) -> None:
        super().__init__()
        self.report = report
        self.generation = generation


class CatalogLoaded(Message):
    """The model catalog and presets are available."""

    def __init__(self, specs: list[Any], presets: dict[str, Any]) -> None:
        super().__init__()
        self.specs = specs
        self.presets = presets


class Warned(Message):
    """A one-line warning from ``metrics_core`` (e.g. a corrupt cache entry that will be rebuilt)."""

    def __init__(self, text: str, title: str = "Cache") -> None:
        super().__init__()
        self.text = text
        self.title = title


class RecordsLoaded(Message):
    """A report's per-op records were loaded in a worker (``error``: why they could not be)."""

    def __init__(self, model: str, generation: int, error: str | None = None) -> None:
        super().__init__()
        self.model = model
        self.generation = generation
        self.error = error


class BenchUpdate(Message):
    """Progress, a result or an error of a benchmark (``tui.app.benchrun.BenchEvent``)."""

    def __init__(self, event: Any, generation: int) -> None:
        super().__init__()
        self.event = event
        self.generation = generation
