"""Add any model: a torchvision name, ``timm:NAME``, ``hf:ID`` or ``package.module:factory(...)``, with
optional inputs in ``--input`` syntax. The spec is checked off the UI thread (a timm name may need the
timm index built first); the model itself is built and run only in the analysis workers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from metrics_core.common.errors import ModeltuiError
from metrics_core.common.input_spec import InputSpec, check_input_specs, parse_input_spec

#: What the dialog returns: (model name, its own inputs or ()).
Choice = tuple[str, tuple[InputSpec, ...]]


def parse_inputs(text: str) -> tuple[InputSpec, ...]:
    """Space-separated ``--input`` specs (``int64:128 attention_mask=bool:128``); ``UsageError``."""
    return check_input_specs([parse_input_spec(part) for part in text.split()])


class AddModelScreen(ModalScreen[Choice | None]):
    """Two inputs: the model spec, and optionally what it is fed. Enter in either adds the model."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, get_spec: Callable[[str], Any]) -> None:
        super().__init__()
        self.get_spec = get_spec

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Add a model", classes="dialog-title")
            # two lines, so that an 80-column terminal shows every example
            yield Label(
                "resnet50 · timm:convnext_tiny · hf:gpt2\nhf:/path/to/config.json · pkg.mod:make(depth=18)"
            )
            yield Input(placeholder="model", id="custom-path", compact=True)
            yield Label("inputs (optional): int64:128 attention_mask=bool:128 · float:3x224x224")
            yield Input(placeholder="default: the model's own", id="custom-inputs", compact=True)
            yield Label("", id="custom-error", classes="field-error")

    def on_mount(self) -> None:
        self.query_one("#custom-path", Input).focus()

    @on(Input.Submitted)
    def _submit(self, _event: Input.Submitted) -> None:
        path = self.query_one("#custom-path", Input).value.strip()
        error = self.query_one("#custom-error", Label)
        try:
            inputs = parse_inputs(self.query_one("#custom-inputs", Input).value)
        except ModeltuiError as exc:
            error.update(str(exc))
            return
        if not path:
            error.update("enter a model: a catalog name, timm:NAME, hf:ID or package.module:factory")
            return
        error.update("checking…")
        self._check(path, inputs)

    @work(thread=True, exclusive=True, exit_on_error=False, group="add-model")
    def _check(self, path: str, inputs: tuple[InputSpec, ...]) -> None:
        try:
            spec = self.get_spec(path)
        except ModeltuiError as exc:
            self.app.call_from_thread(self.query_one("#custom-error", Label).update, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a one-line message, never a crash of the app
            self.app.call_from_thread(
                self.query_one("#custom-error", Label).update, f"{type(exc).__name__}: {exc}"
            )
            return
        self.app.call_from_thread(self.dismiss, (spec.name, inputs))

    def action_cancel(self) -> None:
        self.dismiss(None)
