"""The one-line bar at the top of each screen: where you are, the target and options, progress.

Two parts: on the left the screen, the target and the precision; on the right the batch, the input and
the performance model (execution, efficiency). The right part is never cut: when the line is too narrow
for both (80 columns), the left part is written shorter (the target's id, one precision word), then
without the ``(default)`` mark, then with a long title (a model's name) cut in its middle, and only
then, if it still does not fit, cut with an ellipsis.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from metrics_core.common import units
from tui.app.session import PER_MODEL, Session

#: What the estimates rest on (``checked``), in the full bar.
CHECKED_WORDS: dict[str, str] = {
    "validated": "validated",
    "physical": "physical est.",
    "user": "your calibration",
}


def checked(session: Session) -> str:
    """``validated`` (the target's estimates of this kind were held against published measurements, with
    these modes and precision: ``perf.efficiency.provenance``), ``user`` (the user efficiency file's values
    for the target) or ``physical`` (a physical estimate)."""
    from metrics_core.perf.efficiency import provenance

    precision = session.analysed[1]  # the path of the dtype the shown models were analysed in
    p = provenance(session.target, session.efficiency, execution=session.execution, precision=precision)
    if p["validated"]:
        return "validated"
    return "user" if str(p.get("efficiency_source", "")).startswith("user") else "physical"


def options_text(session: Session, compact: bool = False) -> str:
    """``'batch 1 · native input · eager, calibrated · validated'`` (or the input shape when one is set;
    ``· 512 tokens`` when the sequence length of token models is set, ``· channels-last`` (compact:
    ``NHWC``) when the memory format is; the last word: ``checked``);
    ``compact``: ``native`` and ``eager/calibrated``, no last word. The dtype is in the precision label
    (bytes and peak)."""
    o = session.options
    shape = units.human_shape(o.input_shape) if o.input_shape else ("native" if compact else "native input")
    tokens = f" · {o.seq_len} tokens" if o.seq_len else ""
    if o.memory_format != "contiguous":  # --memory-format channels-last; PyTorch's NCHW left unsaid
        tokens += " · NHWC" if compact else " · channels-last"
    modes = (
        f"{session.execution}/{session.efficiency}"
        if compact
        else f"{session.execution}, {session.efficiency}"
    )
    if compact:  # 80 columns: the target's "(default)" mark matters more (the layers title says it)
        return f"batch {o.batch_size} · {shape}{tokens} · {modes}"
    return f"batch {o.batch_size} · {shape}{tokens} · {modes} · {CHECKED_WORDS[checked(session)]}"


def compact_precision(session: Session) -> str:
    """``fp32``, ``fp16 tensor``, ``fp32 bytes · tf32 peak``: the precision label in fewer words."""
    dtype, path = session.analysed  # a bf16 model analysed with no dtype chosen: bf16
    tensor = " tensor" if path not in ("fp32", PER_MODEL) and "GPU" in session.target.kind else ""
    return f"{dtype}{tensor}" if dtype == path else f"{dtype} bytes · {path}{tensor} peak"


def left_text(
    title: str, session: Session, detail: str | None, compact: bool, mark_default: bool = True
) -> Text:
    """``' compare  NVIDIA A100 PCIe 40GB (default) · bytes fp32 · peak fp32'`` (compact: the target's
    id and ``compact_precision``); ``detail`` replaces the precision; ``mark_default``: say ``(default)``
    after a target the user did not choose."""
    default = "" if session.target_chosen or not mark_default else " (default)"
    target = (session.target.id if compact else session.target.name) + default
    precision = detail if detail else (compact_precision(session) if compact else session.precision_label)
    return Text.assemble((f" {title} ", "bold reverse"), " ", (target, "bold"), f" · {precision}")


class StatusBar(Horizontal):
    """``title │ target · precision`` on the left, ``batch · input · modes`` and the analysis progress on
    the right."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        dock: top;
        background: $panel;
        & > #status-text { width: 1fr; height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
        & > #status-options { width: auto; height: 1; text-wrap: nowrap; }
        & > #status-progress { width: auto; height: 1; margin-left: 1; }
        & > ProgressBar { width: 16; height: 1; }
        & > ProgressBar > Bar { width: 12; }
        & > .hidden { display: none; }
    }
    """

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title = title
        self._last: tuple[Session, bool, str | None] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="status-text")
        yield Static(id="status-options")
        yield Static(id="status-progress", classes="hidden")
        yield ProgressBar(total=1, show_eta=False, show_percentage=False, classes="hidden")

    def update(
        self,
        session: Session,
        running: bool,
        detail: str | None = None,
        right: str | None = None,
        compact: tuple[str, str] | None = None,
    ) -> None:
        """Redraw for ``session``. A screen with its own settings (the LLM view) passes ``detail`` for
        the session's precision and ``right`` for its options, with their shorter forms in ``compact``
        (used when the line is too narrow for the long ones)."""
        self._last = (session, running, detail, right, compact)
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
        busy = (cell_len(label) + 1 + 16) if show else 0

        def parts(short: bool, title: str = self.title, mark: bool = True) -> tuple[Text, str]:
            if detail is None:
                return left_text(title, session, None, short, mark), f" │ {options_text(session, short)} "
            own, opts = compact if (short and compact) else (detail, right or "")
            return left_text(title, session, own, short, mark), f" │ {opts} " if opts else ""

        room = self.size.width - busy
        left, options = parts(False)
        if room and left.cell_len + cell_len(options) > room:  # the short forms
            left, options = parts(True)
        if room and left.cell_len + cell_len(options) > room:  # then without "(default)" (the first
            left, options = parts(True, mark=False)  # screen keeps it: its title is short)
        over = left.cell_len + cell_len(options) - room if room else 0
        if over > 0 and cell_len(self.title) - over >= 8:  # then a long title (a model name) cut inside
            keep = cell_len(self.title) - over - 1
            title = self.title[: keep - keep // 2] + "…" + self.title[len(self.title) - keep // 2 :]
            left, options = parts(True, title, mark=False)
        self.query_one("#status-text", Static).update(left)
        self.query_one("#status-options", Static).update(options)

    def on_resize(self) -> None:
        if self._last is not None:
            self.update(*self._last)
