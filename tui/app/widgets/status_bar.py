"""The one-line bar at the top of each screen: where you are, the target and options, progress."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from metrics_core.common import units
from tui.app.session import Session


def options_text(session: Session) -> str:
    """``'batch 1 · native input'`` (or the input shape when one is set; ``· 512 tokens`` when the
    sequence length of token models is set). The dtype is in the precision label (bytes and peak)."""
    o = session.options
    shape = units.human_shape(o.input_shape) if o.input_shape else "native input"
    tokens = f" · {o.seq_len} tokens" if o.seq_len else ""
    return f"batch {o.batch_size} · {shape}{tokens}"


class StatusBar(Horizontal):
    """``title │ target · precision │ options`` on the left, analysis progress on the right."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        dock: top;
        background: $panel;
        & > #status-text { width: 1fr; height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
        & > #status-progress { width: auto; height: 1; margin-left: 1; }
        & > ProgressBar { width: 16; height: 1; }
        & > ProgressBar > Bar { width: 12; }
        & > .hidden { display: none; }
    }
    """

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title = title

    def compose(self) -> ComposeResult:
        yield Static(id="status-text")
        yield Static(id="status-progress", classes="hidden")
        yield ProgressBar(total=1, show_eta=False, show_percentage=False, classes="hidden")

    def update(self, session: Session, running: bool, detail: str | None = None) -> None:
        """Redraw for ``session``; ``detail`` replaces the session's precision and options (a screen with
        its own settings, such as the LLM view's precisions)."""
        target = session.target
        line = Text.assemble(
            (f" {self.title} ", "bold reverse"),
            " ",
            (target.name, "bold"),
            f" · {detail}" if detail else f" · {session.precision_label} │ ",
            "" if detail else options_text(session),
        )
        self.query_one("#status-text", Static).update(line)
        done, total = session.progress
        label = f"analysing {done}/{total}"
        show = running and done < total
        if not show and (bench := session.bench_progress()) is not None:
            label, done, total = bench
            show = True
        progress = self.query_one("#status-progress", Static)
        bar = self.query_one(ProgressBar)
        progress.set_class(not show, "hidden")
        bar.set_class(not show, "hidden")
        if show:
            progress.update(label)
            bar.update(total=total, progress=done)
