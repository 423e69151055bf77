"""Analysis settings: batch size, input shape, dtype, memory format (contiguous NCHW or channels-last), and
the performance model of the estimates (execution eager/compiled, efficiency ideal/calibrated). Applying new
options re-analyses in the background; new modes only re-estimate."""

from __future__ import annotations

from dataclasses import replace

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from metrics_core.common.dtypes import DTYPES
from metrics_core.common.errors import ModeltuiError, UsageError
from metrics_core.common.input_spec import MEMORY_FORMATS
from metrics_core.runtime.options import AnalysisOptions


def parse_shape(text: str) -> tuple[int, ...] | None:
    """``'3 224 224'`` or ``'3x224x224'`` -> (3, 224, 224); blank -> None (each model's native shape)."""
    words = text.replace("x", " ").replace(",", " ").split()
    if not words:
        return None
    try:
        return tuple(int(w) for w in words)
    except ValueError:
        raise UsageError(f"input shape must be integers like 3 224 224, got {text!r}") from None


def parse_batch(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"batch size must be a positive integer, got {text!r}") from None


class SettingsScreen(ModalScreen[AnalysisOptions | None]):
    """Edit the options; Enter applies (if valid), Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, options: AnalysisOptions, modes: tuple[str, str] = ("eager", "calibrated")) -> None:
        super().__init__()
        self.options = options
        #: (execution, efficiency) shown, and after Apply the ones chosen (read by the caller).
        self.modes = modes

    def compose(self) -> ComposeResult:
        o = self.options
        shape = " ".join(str(d) for d in o.input_shape) if o.input_shape else ""
        with Vertical(classes="dialog"):
            yield Label("Analysis settings", classes="dialog-title")
            yield Label("Batch size", classes="field-label")
            yield Input(str(o.batch_size), id="set-batch", type="integer", compact=True)
            yield Label("Input shape per sample (blank: each model's native shape)", classes="field-label")
            yield Input(shape, placeholder="e.g. 3 224 224", id="set-shape", compact=True)
            yield Label("Dtype (bytes per element and roof)", classes="field-label")
            yield Select(
                [(d, d) for d in DTYPES], value=o.dtype, allow_blank=False, id="set-dtype", compact=True
            )
            yield Label(
                "Memory format (channels-last: model and image inputs NHWC, as AMP CNN training runs)",
                classes="field-label",
            )
            yield Select(
                [(f.replace("_", "-"), f) for f in MEMORY_FORMATS],
                value=o.memory_format,
                allow_blank=False,
                id="set-memory-format",
                compact=True,
            )
            yield Label(
                "Estimates: execution (eager: a kernel per op; compiled: fused)", classes="field-label"
            )
            yield Select(
                [(m, m) for m in ("eager", "compiled")],
                value=self.modes[0],
                allow_blank=False,
                id="set-execution",
                compact=True,
            )
            yield Label("Estimates: efficiency (ideal roofline or calibrated)", classes="field-label")
            yield Select(
                [(m, m) for m in ("calibrated", "ideal")],
                value=self.modes[1],
                allow_blank=False,
                id="set-efficiency",
                compact=True,
            )
            yield Label("", id="set-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply", variant="primary", id="set-ok", compact=True)
                yield Button("Cancel", id="set-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#set-batch", Input).focus()

    def read(self) -> AnalysisOptions:
        """The options in the form, validated (``UsageError`` with a one-line message otherwise)."""
        dtype = str(self.query_one("#set-dtype", Select).value)
        return replace(
            self.options,
            batch_size=parse_batch(self.query_one("#set-batch", Input).value.strip()),
            input_shape=parse_shape(self.query_one("#set-shape", Input).value),
            dtype=dtype,
            memory_format=str(self.query_one("#set-memory-format", Select).value),
            # a dtype chosen here applies to every model; unchanged, a bf16 model stays in its own
            dtype_from_model=self.options.dtype_from_model and dtype == self.options.dtype,
        ).validated()

    @on(Input.Submitted)
    @on(Button.Pressed, "#set-ok")
    def action_apply(self) -> None:
        try:
            options = self.read()
        except ModeltuiError as exc:
            self.query_one("#set-error", Label).update(str(exc))
            return
        self.modes = (
            str(self.query_one("#set-execution", Select).value),
            str(self.query_one("#set-efficiency", Select).value),
        )
        self.dismiss(options)

    @on(Button.Pressed, "#set-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
