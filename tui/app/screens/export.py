"""Export modal: a file path and a format; writes atomically and says where."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from metrics_core.common.errors import ModeltuiError
from metrics_core.report.export import FORMATS, format_for_path, write_atomic
from tui.app.exporting import ExportTable

SUFFIX = {"csv": ".csv", "json": ".json", "markdown": ".md"}


class ExportScreen(ModalScreen[Path | None]):
    """Pick a path (the format follows its suffix, or the other way round) and press Enter."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, table: ExportTable, default_name: str) -> None:
        super().__init__()
        self.table = table
        self.default_name = default_name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            n = len(self.table.flat)
            rows = f"{n} row{'' if n == 1 else 's'}"
            yield Label(f"Export the {self.table.what} ({rows})", classes="dialog-title")
            yield Label("File", classes="field-label")
            yield Input(str(Path.cwd() / self.default_name), id="export-path", compact=True)
            yield Label("Format", classes="field-label")
            yield Select(
                [(f, f) for f in FORMATS], value="csv", allow_blank=False, id="export-format", compact=True
            )
            yield Label("", id="export-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export", variant="primary", id="export-ok", compact=True)
                yield Button("Cancel", id="export-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()

    @on(Input.Changed, "#export-path")
    def _path_changed(self, event: Input.Changed) -> None:
        try:
            fmt = format_for_path(event.value)
        except ModeltuiError:
            return
        select = self.query_one("#export-format", Select)
        if select.value != fmt:
            select.value = fmt

    @on(Select.Changed, "#export-format")
    def _format_changed(self, event: Select.Changed) -> None:
        box = self.query_one("#export-path", Input)
        path = Path(box.value.strip())
        if not box.value.strip() or not path.name or box.value.rstrip().endswith("/"):
            return  # nothing typed yet, or a folder: no file name to give a suffix to
        wanted = SUFFIX[str(event.value)]
        if path.suffix.lower() not in (wanted, ".markdown" if wanted == ".md" else wanted):
            box.value = str(path.with_suffix(wanted))

    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#export-ok")
    def action_export(self) -> None:
        path = self.query_one("#export-path", Input).value.strip()
        fmt = str(self.query_one("#export-format", Select).value)
        error = self.query_one("#export-error", Label)
        if not path:
            error.update("enter a file path")
            return
        try:
            written = write_atomic(path, self.table.text(fmt))
        except ModeltuiError as exc:
            error.update(str(exc))
            return
        n = len(self.table.flat)
        self.app.notify(f"{n} row{'s' if n != 1 else ''}, {fmt}: {written}", title="Exported", timeout=8)
        self.dismiss(written)

    @on(Button.Pressed, "#export-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
