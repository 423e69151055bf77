"""The LLM view of one language model (decoder or encoder-decoder): prefill and decode on the selected
target, KV cache, what fits, TTFT/TPOT and tokens/s over batch sizes, and the phases on the roofline (all
estimates).

The captures run in a worker process (``Backend.llm``) from a thread worker, and are cached
(``runtime.llm_cache``); keys change the serving settings and recompute, and ``i`` takes typed values
(``prompt 4096 generate 256 batch 32 users 32 tp 2 stack vllm``). Once a decoder's step model is captured
(``Backend.llm_steps``), a change is answered at once from it (``perf.serving.estimate_from_steps``,
labelled) while the captured estimate follows; ``users N`` adds the continuous-batching view, ``rate R``
the open-loop view at R requests/s (``perf.request_rate``), and ``L`` the per-layer breakdown.
Definitions: ``metrics_core.perf.llm``, ``perf.serving``.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.screen import Screen
from textual.widgets import Input, Static

from metrics_core.common.errors import ModeltuiError, one_line_error
from metrics_core.perf.llm import ACTIVATION_PRECISIONS, Scenario
from metrics_core.perf.stacks import stack_ids
from metrics_core.runtime.llm_capture import SPEECH_TASK, VLM_TASK
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
#: What ``i`` takes (``LlmScreen.apply_typed``).
TYPED_HINT = "prompt 4096 generate 256 batch 32 users 32 rate 2 tp 2 stack vllm"


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
        Binding("i", "edit", "Type values", tooltip=TYPED_HINT),
        Binding("L", "toggle_layers", "Layers", tooltip="Per-layer breakdown of prefill and decode"),
    ]

    #: Keys go to the view until ``i`` opens the input line.
    AUTO_FOCUS = None

    DEFAULT_CSS = """
    LlmScreen #llm-scroll { overflow-x: auto; overflow-y: auto; }
    LlmScreen #llm-body { width: auto; }
    LlmScreen #llm-settings { height: auto; }
    LlmScreen #llm-input { display: none; }
    LlmScreen #llm-input.editing { display: block; }
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
        #: The batch sizes of the sweep (the presets, plus a typed one), users of the concurrency view
        #: (None: not shown), the per-layer breakdown shown, the step models by element bits, and the
        #: text of the serving views.
        self.batches: tuple[int, ...] = BATCHES
        self.users: int | None = None
        #: The request rate of the open-loop view (requests/s; None: not shown).
        self.rate: float | None = None
        self.show_layers = False
        self.steps: dict[Any, Any] = {}
        #: Why the step model could not be made, by element bits (the captured estimate is shown alone).
        self.no_steps: dict[Any, str] = {}
        self.serving_text = ""
        #: Whether the text is the step model's estimate (the captured one follows), and the computation
        #: whose captured result is shown.
        self.fast = False
        self.shown_generation: int | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar("llm")
        yield Static(id="llm-settings")
        yield Input(placeholder=f"{TYPED_HINT} (Enter applies, Esc closes)",
                    id="llm-input", disabled=True)  # fmt: skip
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
        if self.model_task == VLM_TASK:  # as the llm verb: 512 text tokens after the image's
            from metrics_core.runtime.llm_capture import vlm_image

            with contextlib.suppress(ModeltuiError):  # an image that cannot be sized: the capture says so
                image = vlm_image(spec).prompt_tokens
                self.scenario = replace(self.scenario, prompt_tokens=self.scenario.prompt_tokens + image)
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
            f"batch {self.batch} (b) of {', '.join(map(str, self.batches))}"
            f"{f' · users {self.users}' if self.users else ''}"
            f"{f' · rate {self.rate:g}/s' if self.rate else ''} · type values (i)"
        )

    def refresh_view(self) -> None:
        s, session = self.scenario, self.app.session
        detail = f"compute {s.compute_precision} · weights {s.weights} · KV {s.kv}"
        right = f"{s.stack} stack, {session.efficiency} (est.)"
        compact = (f"{s.compute_precision} · W {s.weights} · KV {s.kv}", f"{s.stack}, {session.efficiency}")
        self.query_one(StatusBar).update(session, self.app.analysing, detail, right, compact)
        self.query_one("#llm-settings", Static).update(self.settings_text())
        # tables and charts keep their lines (the view scrolls sideways); a message wraps, by hand: the
        # sideways-scrolling body would give it all the width it asks for
        text = self.text
        if not self.results:
            import textwrap

            width = max(40, self.size.width - 2)
            text = "\n".join(textwrap.fill(line, width) if line else "" for line in text.splitlines())
        self.query_one("#llm-body", Static).update(Text.from_ansi(text, no_wrap=bool(self.results)))

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
        """The captures (worker process) and estimates, off the UI thread: first, when the model's step
        model is known, the focused batch priced from it (at once), then the captured estimates, then the
        step model when it is not known yet and the serving views."""
        session = self.app.session
        target = session.target
        modes = {"execution": None, "efficiency": session.efficiency}  # kernels: the stack's
        scenarios = [replace(self.scenario, batch_size=b, **modes) for b in self.batches]
        focused = next(s for s in scenarios if s.batch_size == self.batch)
        decoder = self.model_task not in ("seq2seq-lm", SPEECH_TASK)
        try:
            bits = focused.validated(target).bits
        except ModeltuiError as exc:
            self.app.call_from_thread(self._show, [], self._named(exc), generation)
            return
        steps = self.steps.get(bits) if decoder else None
        known = steps or next(iter(self.steps.values()), None) if decoder else None
        if known is not None:  # another precision's step model, repriced at these bits, until captured
            steps_now = known if steps is not None else known.repriced(bits)
            try:
                from metrics_core.perf.serving import estimate_from_steps

                base = self.results[0] if self.results else None
                fast = estimate_from_steps(steps_now, target, focused, base=base)
                self.app.call_from_thread(self._show_fast, fast, generation)
            except (ModeltuiError, ValueError):
                pass  # the captured estimate below says what is wrong
        try:
            results = self.app.backend.llm(self.model, target, scenarios)
        except ModeltuiError as exc:
            self.app.call_from_thread(self._show, [], self._named(exc), generation)
            return
        except Exception as exc:  # noqa: BLE001 - one line in the view, never a crash of the app
            self.app.call_from_thread(self._show, [], self._named(one_line_error(exc)), generation)
            return
        # the step model (fast answers, the concurrency view): where it cannot serve this model, the
        # captured phases stand alone with a one-line note
        serving = ""
        try:
            if decoder and steps is None and bits not in self.no_steps:
                steps = self.app.backend.llm_steps(self.model, bits)
                self.steps[bits] = steps
            serving = self._serving(steps, target, focused) if steps is not None else ""
        except Exception as exc:  # noqa: BLE001 - a ModeltuiError or any failure: one line, phases shown
            self.no_steps[bits] = one_line_error(exc) if not isinstance(exc, ModeltuiError) else str(exc)
        if decoder and bits in self.no_steps:
            serving = (
                "step model unavailable (captured estimate only, no fast answers or concurrency view): "
                + self.no_steps[bits]
            )
        self.app.call_from_thread(self._show, results, None, generation, serving)

    def _named(self, exc: object) -> str:
        """An error's one line, the model named once (errors that name it already are kept)."""
        text = str(exc)
        return text if text.startswith(self.model) else f"{self.model}: {text}"

    def _serving(self, steps: Any, target: Any, scenario: Any) -> str:
        """The continuous-batching view of ``self.users`` and the open-loop view at ``self.rate`` (empty
        when neither is asked)."""
        if not self.users and not self.rate:
            return ""
        from metrics_core.perf.request_rate import RATE_ASSUMPTIONS, at_rate
        from metrics_core.perf.serving import CONCURRENCY_ASSUMPTIONS, concurrency
        from metrics_core.perf.serving_report import concurrency_text, rate_text, step_notes_text

        width = max(60, self.size.width - 2)
        texts = []
        if self.users:
            rows = [concurrency(steps, target, scenario, self.users)]
            texts.append(concurrency_text(rows, width=width, assumptions=CONCURRENCY_ASSUMPTIONS))
        if self.rate:
            loads = [at_rate(steps, target, scenario, self.rate)]
            texts.append(rate_text(loads, width=width, assumptions=RATE_ASSUMPTIONS))
        notes = steps.capture.notes
        if notes:
            texts.append(step_notes_text(notes, width))
        return "\n".join(texts)

    def _show_fast(self, estimate: Any, generation: int) -> None:
        """The focused batch priced from the step model, until the captured estimates arrive."""
        if generation != self.generation:
            return
        from metrics_core.perf.llm_report import phase_block

        width = max(60, self.size.width - 2)
        note = "(priced at once from the step model, perf.serving.estimate_from_steps; captures follow…)"
        self.fast = True
        self.text = f"{phase_block(estimate, width)}\n\n{note}"
        self.refresh_view()

    def body_text(self) -> str:
        """The phase table of the focused batch, the batch sweep with its chart, the roofline."""
        from metrics_core.perf.llm_report import phase_block, roofline_text, sweep_text

        focused = next(r for r in self.results if r.scenario.batch_size == self.batch)
        width = max(60, self.size.width - 2)
        parts = [phase_block(focused, width)]
        if self.show_layers:
            from metrics_core.perf.serving_report import layers_text

            parts.append(layers_text(focused, width))
        if self.serving_text:
            parts.append(self.serving_text)
        parts += [sweep_text(self.results, width), roofline_text(self.results, width, not self.app.no_color)]
        return "\n\n".join(parts)

    def _show(
        self, results: list, error: str | None, generation: int | None = None, serving: str = ""
    ) -> None:
        if generation is not None and generation != self.generation:
            return  # computed for settings since changed
        self.fast = False
        self.shown_generation = generation
        self.results = results
        self.serving_text = serving
        self.shown_error = error
        self.text = error if error is not None else self.body_text()
        self.refresh_view()

    def on_resize(self, _event: Any) -> None:
        """Lay the captured estimates out again at the new width (the tables and charts are drawn to it)."""
        if self.results and not self.fast and getattr(self, "shown_error", None) is None:
            self.text = self.body_text()
            self.refresh_view()

    def action_cycle_batch(self) -> None:
        self.batch = _next(self.batches, self.batch)
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
        """Whether ``value`` of ``field`` is one the model and target can take (``_refusal``)."""
        return self._refusal(field, value) is None

    def _refusal(self, field: str, value: object) -> str | None:
        """Why ``value`` of ``field`` is not one the model and target can take (one line, the reason the
        ``llm`` verb gives), or None: an activations / weights / KV precision or stack the target computes
        in (``Scenario.validated``, never a fallback), a TP degree splitting the attention heads, a
        prompt + generate within the model's positions (``runtime.llm_capture.check_model_limits``) and,
        for a vision-language model, a prompt with room after its image's tokens."""
        from metrics_core.runtime.llm_capture import check_model_limits

        s = self.scenario
        try:
            if field in ("activations", "weights", "kv", "stack", "tp"):  # the target and stack must take it
                replace(s, **{field: value}).validated(self.app.session.target)
            if field in ("tp", "prompt_tokens", "generate_tokens"):
                if field == "prompt_tokens" and self.model_task == SPEECH_TASK and value != s.prompt_tokens:
                    return f"{self.model} encodes a fixed 30 s window: its prompt is {s.prompt_tokens:,}"
                spec = self._spec()
                if spec is not None:
                    t = replace(s, **{field: value})
                    check_model_limits(spec, t.tp, [t.prompt_tokens], t.generate_tokens, flag="")
                    if field == "prompt_tokens" and self.model_task == VLM_TASK:
                        from metrics_core.runtime.llm_capture import check_image_prompt

                        check_image_prompt(spec, t.prompt_tokens)  # room for text after the image
        except ModeltuiError as exc:
            return str(exc)
        return None

    def action_back(self) -> None:
        field = self.query_one("#llm-input", Input)
        if field.has_class("editing"):
            self._close_input(field)
            return
        self.app.pop_screen()

    def action_toggle_layers(self) -> None:
        self.show_layers = not self.show_layers
        if self.results:
            self.text = self.body_text()
        self.refresh_view()

    def action_edit(self) -> None:
        """Show the input line for typed values (``apply_typed``)."""
        field = self.query_one("#llm-input", Input)
        field.disabled = False
        field.add_class("editing")
        field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        error = self.apply_typed(event.value)
        if error:
            self.notify(error, title="LLM view", severity="error", timeout=5)
            return
        event.input.value = ""
        self._close_input(event.input)

    def _close_input(self, field: Input) -> None:
        """Hide the input line and give the keys back to the report (arrows, PageDown, End scroll it)."""
        field.remove_class("editing")
        field.disabled = True
        self.query_one("#llm-scroll", ScrollableContainer).focus()

    def apply_typed(self, text: str) -> str | None:
        """Apply ``prompt N``, ``generate N``, ``batch N``, ``users N``, ``rate R`` (requests/s), ``tp N``
        and ``stack NAME`` (any
        order, ``=`` or ``:`` allowed) and recompute; the one-line error for a bad entry, with the reason
        the ``llm`` verb gives (nothing changes then)."""
        import re

        flat = text.replace(",", " ")
        found = list(re.finditer(r"([A-Za-z]+)\b\s*[=:]?\s*(\S+)", flat))
        pairs = [m.groups() for m in found]
        left = re.sub(r"([A-Za-z]+)\b\s*[=:]?\s*(\S+)", " ", flat).split()
        if pairs and left:  # a value without its setting: a second value (rate 1,50) or a stray word
            return f"{left[0]!r} is not a setting: one value each, e.g. rate 2 (the llm verb takes lists)"
        if not pairs:
            return f"type settings such as: {TYPED_HINT}"
        fields = {"prompt": "prompt_tokens", "generate": "generate_tokens", "tp": "tp"}
        s, batch, users, rate = self.scenario, self.batch, self.users, self.rate
        for key, raw in pairs:
            key = key.lower()
            if key not in (*fields, "batch", "users", "rate", "stack"):
                return f"{key!r} is not a setting: prompt, generate, batch, users, rate, tp or stack"
            if key == "rate":  # requests/s, as llm --rate takes it
                from metrics_core.perf.request_rate import check_rate

                try:
                    rate = check_rate(float(raw.removesuffix("/s")))
                except ValueError:
                    return f"rate takes requests per second (e.g. rate 2 or rate 0.5), got {raw!r}"
                except ModeltuiError as exc:
                    return str(exc).replace("--rate", "rate")
                continue
            if (
                key == "stack"
            ):  # a stack the llm verb takes (its suggestions otherwise) that runs on the target
                from metrics_core.perf.stacks import get_stack

                try:
                    stack = get_stack(raw).id
                except ModeltuiError as exc:
                    return str(exc)
                previous, self.scenario = self.scenario, s
                refusal = self._refusal("stack", stack)
                self.scenario = previous
                if refusal:
                    return refusal
                s = replace(s, stack=stack)
                continue
            if not raw.isdigit() or int(raw) < 1:
                return f"{key} must be a positive whole number, got {raw!r}"
            value = int(raw)
            if key == "batch":
                from metrics_core.perf.llm import MAX_BATCH_SIZE

                if value > MAX_BATCH_SIZE:
                    return f"batch {value:,} is above the largest analysed, {MAX_BATCH_SIZE:,}"
                batch = value
            elif key == "users":
                from metrics_core.perf.serving import MAX_USERS

                if value > MAX_USERS:
                    return f"users {value:,} is above the largest analysed, {MAX_USERS:,}"
                users = value
            else:
                previous, self.scenario = self.scenario, s
                refusal = self._refusal(fields[key], value)
                self.scenario = previous
                if refusal:
                    return refusal
                s = replace(s, **{fields[key]: value})
        self.scenario, self.batch, self.users, self.rate = s, batch, users, rate
        self.batches = tuple(sorted({*BATCHES, batch}))
        self.text = f"{self.model}: computing…"
        self.refresh_view()
        self.compute()
        return None
