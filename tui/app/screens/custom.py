"""Add a custom model by ``package.module:factory`` (the factory returns an ``nn.Module``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from metrics_core.common.errors import ModeltuiError, UsageError


class CustomModelScreen(ModalScreen[str | None]):
    """One input; the path's syntax is checked here, the factory runs in the analysis worker."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, get_spec: Callable[[str], Any]) -> None:
        super().__init__()
        self.get_spec = get_spec

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Add a custom model", classes="dialog-title")
            yield Label("package.module:factory (factory() returns an nn.Module taking one 3x224x224 image)")
            yield Input(placeholder="mypkg.models:build_net", id="custom-path", compact=True)
            yield Label("", id="custom-error", classes="field-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        error = self.query_one("#custom-error", Label)
        try:
            if ":" not in path:
                raise UsageError(f"invalid model path {path!r}; expected package.module:factory")
            self.get_spec(path)
        except ModeltuiError as exc:
            error.update(str(exc))
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)
