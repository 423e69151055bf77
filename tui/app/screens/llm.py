"""The LLM view of one decoder model: prefill and decode on the selected target, KV cache, what fits,
TTFT/TPOT and tokens/s over batch sizes, and the phases on the roofline (all estimates).

The captures run in a worker process (``Backend.llm``) from a thread worker; keys change the serving
settings and recompute. Definitions: ``metrics_core.perf.llm``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.screen import Screen
from textual.widgets import Static

from metrics_core.common.errors import ModeltuiError, one_line_error
from metrics_core.perf.llm import ACTIVATION_PRECISIONS, KV_PRECISIONS, WEIGHT_PRECISIONS, Scenario
from tui.app.widgets.footer import AppFooter
from tui.app.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from tui.app.application import ModeltuiApp

PROMPTS: tuple[int, ...] = (128, 512, 2048, 8192, 32768)
GENERATES: tuple[int, ...] = (32, 128, 512, 2048)
TPS: tuple[int, ...] = (1, 2, 4, 8)
#: The batch sizes the view sweeps (decode tokens/s from memory-bound to compute-bound).
BATCHES: tuple[int, ...] = (1, 4, 16, 64, 256)


def _next(values: tuple, current: Any) -> Any:
    return values[(values.index(current) + 1) % len(values)] if current in values else values[0]


class LlmScreen(Screen[None]):
    """Serving estimates of ``model`` on the session's target; keys cycle the settings."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("p", "cycle('prompt')", "Prompt"),
        Binding("g", "cycle('generate')", "Generate"),
        Binding("W", "cycle('weights')", "Weights"),
        Binding("A", "cycle('activations')", "Activations"),
        Binding("K", "cycle('kv')", "KV"),
        Binding("t", "cycle('tp')", "TP"),
    ]

    DEFAULT_CSS = """
    LlmScreen #llm-scroll { overflow-x: auto; overflow-y: auto; }
    LlmScreen #llm-body { width: auto; }
    """

    app: ModeltuiApp

    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model
        self.scenario = Scenario(prompt_tokens=512, generate_tokens=128)
        self.text = f"{model}: computing…"

    def compose(self) -> ComposeResult:
        yield StatusBar("llm")
        yield Static(id="llm-settings")
        with ScrollableContainer(id="llm-scroll"):
            yield Static(id="llm-body")
        yield AppFooter()

    def on_mount(self) -> None:
        self.refresh_view()
        self.compute()

    def settings_text(self) -> str:
        s = self.scenario
        return (
            f" {self.model} · prompt {s.prompt_tokens} (p) · generate {s.generate_tokens} (g) · weights "
            f"{s.weights} (W) · activations {s.activations} (A) · KV {s.kv} (K) · TP {s.tp} (t) · batch "
            f"{', '.join(map(str, BATCHES))}"
        )

    def refresh_view(self) -> None:
        self.query_one(StatusBar).update(self.app.session, self.app.analysing)
        self.query_one("#llm-settings", Static).update(self.settings_text())
        self.query_one("#llm-body", Static).update(Text.from_ansi(self.text, no_wrap=True))

    @work(thread=True, exclusive=True, exit_on_error=False, group="llm")
    def compute(self) -> None:
        """The captures (worker process) and estimates, off the UI thread."""
        from metrics_core.perf.llm_report import text_report

        target = self.app.session.target
        try:
            results = self.app.backend.llm(
                self.model, target, [replace(self.scenario, batch_size=b) for b in BATCHES]
            )
            text = text_report(results, width=max(60, self.size.width - 2))
        except ModeltuiError as exc:
            text = f"{self.model}: {exc}"
        except Exception as exc:  # noqa: BLE001 - one line in the view, never a crash of the app
            text = f"{self.model}: {one_line_error(exc)}"
        self.app.call_from_thread(self._show, text)

    def _show(self, text: str) -> None:
        self.text = text
        self.refresh_view()

    def action_cycle(self, setting: str) -> None:
        s = self.scenario
        choices = {
            "prompt": PROMPTS,
            "generate": GENERATES,
            "weights": WEIGHT_PRECISIONS,
            "activations": ACTIVATION_PRECISIONS,
            "kv": KV_PRECISIONS,
            "tp": TPS,
        }[setting]
        field = {"prompt": "prompt_tokens", "generate": "generate_tokens"}.get(setting, setting)
        self.scenario = replace(s, **{field: _next(choices, getattr(s, field))})
        self.text = f"{self.model}: computing…"
        self.refresh_view()
        self.compute()

    def action_back(self) -> None:
        self.app.pop_screen()
