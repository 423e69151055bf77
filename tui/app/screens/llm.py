"""The LLM view of one language model (decoder or encoder-decoder): prefill and decode on the selected
target, KV cache, what fits, TTFT/TPOT and tokens/s over batch sizes, and the phases on the roofline (all
estimates).

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
from metrics_core.perf.llm import ACTIVATION_PRECISIONS, Scenario
from metrics_core.perf.stacks import stack_ids
from metrics_core.runtime.llm_capture import SPEECH_TASK
from tui.app.widgets.footer import AppFooter
from tui.app.widgets.status_bar import StatusBar

#: The weight and KV formats the view cycles through (the CLI takes every ``perf.quant`` format).
APP_WEIGHTS = ("fp16", "bf16", "fp8", "int8", "int4-g128", "q4_k_m", "q8_0", "nvfp4", "mxfp4")
APP_KV = ("fp16", "bf16", "fp8", "int8")

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
        Binding("n", "cycle('generate')", "Generate", tooltip="Tokens generated (N)"),
        Binding("W", "cycle('weights')", "Weights"),
        Binding("A", "cycle('activations')", "Activations"),
        Binding("K", "cycle('kv')", "KV"),
        Binding("t", "cycle('tp')", "TP"),
        Binding(
            "S", "cycle('stack')", "Stack", tooltip="The serving stack (vLLM, TensorRT-LLM, llama.cpp ...)"
        ),
        Binding("b", "cycle_batch", "Batch", tooltip="The batch size whose phase table is shown"),
    ]

    DEFAULT_CSS = """
    LlmScreen #llm-scroll { overflow-x: auto; overflow-y: auto; }
    LlmScreen #llm-body { width: auto; }
    LlmScreen #llm-settings { height: auto; }
    """

    app: ModeltuiApp

    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model
        self.scenario = Scenario(prompt_tokens=512, generate_tokens=128, weights="fp16", kv="fp16")
        self.batch = BATCHES[0]
        self.results: list = []
        self.text = f"{model}: computing…"
        self.model_task = "causal-lm"
        #: Counts the computations started; only the latest one's result is shown.
        self.generation = 0

    def compose(self) -> ComposeResult:
        yield StatusBar("llm")
        yield Static(id="llm-settings")
        with ScrollableContainer(id="llm-scroll"):
            yield Static(id="llm-body")
        yield AppFooter()

    def on_mount(self) -> None:
        from metrics_core.runtime.llm_capture import speech_encoder_tokens

        spec = self._spec()
        self.model_task = getattr(spec, "task", "causal-lm")
        if self.model_task == SPEECH_TASK:  # Whisper encodes a fixed window: the prompt is that
            fixed = speech_encoder_tokens(spec.builder_kwargs.get("config", {}))
            self.scenario = replace(self.scenario, prompt_tokens=fixed)
        self.refresh_view()
        self.compute()

    def _spec(self) -> Any:
        try:
            return self.app.backend.get_spec(self.model)
        except ModeltuiError:
            return None

    def settings_text(self) -> str:
        s = self.scenario
        key = "fixed" if self.model_task == SPEECH_TASK else "p"
        return (
            f" {self.model} · prompt {s.prompt_tokens} ({key})"
            f" · generate {s.generate_tokens} (n) · weights "
            f"{s.weights} (W) · activations {s.activations} (A) · KV {s.kv} (K) · TP {s.tp} (t) · stack "
            f"{s.stack} (S) · phases at "
            f"batch {self.batch} (b) of {', '.join(map(str, BATCHES))}"
        )

    def refresh_view(self) -> None:
        s, session = self.scenario, self.app.session
        detail = f"compute {s.compute_precision} · weights {s.weights} · KV {s.kv}"
        right = f"{s.stack} stack, {session.efficiency} (est.)"
        compact = (f"{s.compute_precision} · W {s.weights} · KV {s.kv}", f"{s.stack}, {session.efficiency}")
        self.query_one(StatusBar).update(session, self.app.analysing, detail, right, compact)
        self.query_one("#llm-settings", Static).update(self.settings_text())
        # tables and charts keep their lines (the view scrolls sideways); a message wraps
        self.query_one("#llm-body", Static).update(Text.from_ansi(self.text, no_wrap=bool(self.results)))

    def _fit_target(self) -> None:
        """Settings the session's target runs: bf16 (weights, activations, KV) where it has no fp16 path
        (TPU, Gaudi), and the first stack that runs on it when the current one does not."""
        target, s = self.app.session.target, self.scenario
        if not target.has(s.activations) and s.activations == "fp16" and target.has("bf16"):
            s = replace(s, activations="bf16", weights="bf16" if s.weights == "fp16" else s.weights,
                        kv="bf16" if s.kv == "fp16" else s.kv)  # fmt: skip
        for stack in (s.stack, *stack_ids()):
            try:
                replace(s, stack=stack).validated(target)
            except ModeltuiError:
                continue
            s = replace(s, stack=stack)
            break
        self.scenario = s

    def compute(self) -> None:
        """Recompute for the current settings; a result of earlier settings that arrives later is dropped
        (a thread worker cannot be interrupted, so a fast key press leaves one running)."""
        self.generation += 1
        self._fit_target()
        self._compute(self.generation)

    @work(thread=True, exclusive=True, exit_on_error=False, group="llm")
    def _compute(self, generation: int) -> None:
        """The captures (worker process) and estimates, off the UI thread."""
        session = self.app.session
        target = session.target
        modes = {"execution": None, "efficiency": session.efficiency}  # kernels: the stack's
        scenarios = [replace(self.scenario, batch_size=b, **modes) for b in BATCHES]
        try:
            results = self.app.backend.llm(self.model, target, scenarios)
        except ModeltuiError as exc:
            self.app.call_from_thread(self._show, [], f"{self.model}: {exc}", generation)
            return
        except Exception as exc:  # noqa: BLE001 - one line in the view, never a crash of the app
            self.app.call_from_thread(self._show, [], f"{self.model}: {one_line_error(exc)}", generation)
            return
        self.app.call_from_thread(self._show, results, None, generation)

    def body_text(self) -> str:
        """The phase table of the focused batch, the batch sweep with its chart, the roofline."""
        from metrics_core.perf.llm_report import phase_block, roofline_text, sweep_text

        focused = next(r for r in self.results if r.scenario.batch_size == self.batch)
        width = max(60, self.size.width - 2)
        return "\n\n".join(
            [
                phase_block(focused, width),
                sweep_text(self.results, width),
                roofline_text(self.results, width, not self.app.no_color),
            ]
        )

    def _show(self, results: list, error: str | None, generation: int | None = None) -> None:
        if generation is not None and generation != self.generation:
            return  # computed for settings since changed
        self.results = results
        self.text = error if error is not None else self.body_text()
        self.refresh_view()

    def action_cycle_batch(self) -> None:
        self.batch = _next(BATCHES, self.batch)
        if self.results:
            self.text = self.body_text()
        self.refresh_view()

    def action_cycle(self, setting: str) -> None:
        s = self.scenario
        choices = {
            "prompt": PROMPTS,
            "generate": GENERATES,
            "weights": APP_WEIGHTS,
            "activations": ACTIVATION_PRECISIONS,
            "kv": APP_KV,
            "tp": TPS,
            "stack": stack_ids(),
        }[setting]
        field = {"prompt": "prompt_tokens", "generate": "generate_tokens"}.get(setting, setting)
        allowed = [v for v in choices if self._allowed(field, v)]
        if setting == "prompt" and self.model_task == SPEECH_TASK:
            self.notify(
                f"{self.model} encodes a fixed 30 s audio window: the prompt is its {s.prompt_tokens:,} "
                "encoder positions",
                title="LLM view",
                timeout=4,
            )
            return
        if not allowed or (len(allowed) == 1 and getattr(s, field) in allowed):
            self.notify(f"{setting}: the only value this model and target allow", title="LLM view", timeout=3)
            return
        self.scenario = replace(s, **{field: _next(tuple(allowed), getattr(s, field))})
        self.text = f"{self.model}: computing…"
        self.refresh_view()
        self.compute()

    def _allowed(self, field: str, value: object) -> bool:
        """Whether ``value`` of ``field`` is one the model and target can take: prompt + generate within
        the model's positions, an activations precision the target computes in (never a fallback)."""
        s = self.scenario
        if field in ("activations", "weights", "kv", "stack", "tp"):  # the target and stack must take it
            try:
                replace(s, **{field: value}).validated(self.app.session.target)
            except ModeltuiError:
                return False
            if field == "tp":  # the attention heads must split that many ways
                config = getattr(self._spec(), "builder_kwargs", {}).get("config", {}) or {}
                heads = None
                if isinstance(config, dict):  # GPT-2 calls it n_head
                    heads = config.get("num_attention_heads") or config.get("n_head")
                return not heads or (int(value) <= heads and heads % int(value) == 0)
            return True
        if field in ("prompt_tokens", "generate_tokens"):
            from metrics_core.runtime.llm_capture import ENCODER_DECODER_TASKS

            prompt = value if field == "prompt_tokens" else s.prompt_tokens
            generate = value if field == "generate_tokens" else s.generate_tokens
            if self.model_task == SPEECH_TASK and field == "prompt_tokens":
                return value == s.prompt_tokens  # the fixed audio window
            limit = self._max_tokens()
            if limit is None:
                return True
            if self.model_task in ENCODER_DECODER_TASKS:  # the encoder takes P, the decoder 1 + N
                return 1 + generate <= limit and (self.model_task == SPEECH_TASK or prompt <= limit)
            return prompt + generate <= limit
        return True

    def _max_tokens(self) -> int | None:
        limit = getattr(self._spec(), "max_tokens", None)
        return limit[0] if limit else None

    def action_back(self) -> None:
        self.app.pop_screen()
