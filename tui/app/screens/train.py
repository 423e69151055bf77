"""The training view (``T``): one training step of each selected model on the app's target — time by phase
(forward, backward, optimizer) with its bound, MFU, samples/s, memory by category at the peak, what fits
and the largest micro-batch, and with ``gpus`` > 1 the parallel plans and the best one (all estimates;
definitions: ``metrics_core.perf.training``, ``perf.parallel_plans``; the text is ``modeltui train``'s,
``perf.training_report``).

Each step is captured in a worker process (``Backend.train``: ``runtime.train_capture``, the user's model
code never runs in the app's process) from a thread worker; the captures are kept per model and settings,
so a change of the GPU count only re-plans. Keys cycle the optimizer, precision, GPUs and checkpointing;
``i`` takes typed values (``batch 64 optimizer sgd precision fp16-mixed gpus 8 accumulation 4
checkpointing on``). The settings are kept for the session (``Session.train_settings``): leaving the view
and opening it again keeps them. The session's target, input options and performance model (execution,
efficiency) apply, as for ``modeltui train --hardware ID --execution ... --efficiency ...``; on a target
that cannot run the precision asked for (or the GPUs), the view shows what it runs instead and says so in
one line under the settings (``fallback_notice``), and takes the precision asked for back on a target that
runs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.screen import Screen
from textual.widgets import Input, Static

from metrics_core.capture.train_choices import FP8_PRECISIONS
from metrics_core.capture.train_choices import OPTIMIZERS as ALL_OPTIMIZERS
from metrics_core.capture.train_choices import PRECISIONS as ALL_PRECISIONS
from metrics_core.common.errors import ModeltuiError, UsageError, model_error, one_line_error
from metrics_core.perf.comm import check_scale_up, device_noun, no_interconnect_reason
from metrics_core.runtime.options import MAX_BATCH_SIZE
from tui.app.widgets.footer import AppFooter
from tui.app.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from tui.app.application import ModeltuiApp

#: Choices the keys cycle: every optimizer the ``train`` verb takes (``capture.train_choices``, in its
#: order); the precisions in the order the view prefers them (``_fit_target``), those the target computes.
OPTIMIZERS: tuple[str, ...] = tuple(ALL_OPTIMIZERS)
PRECISIONS: tuple[str, ...] = ("bf16-mixed", "fp16-mixed", "fp8-mixed", "bf16", "fp32")
GPUS: tuple[int, ...] = (1, 2, 4, 8)
#: The largest GPU count the typed values take; micro-batch and accumulation take up to the largest batch
#: analysed (``runtime.options.MAX_BATCH_SIZE``, as ``modeltui train --batch-size / --accumulation``).
MAX_GPUS = 4096
SETTING_NAMES = "batch, optimizer, precision, gpus, accumulation or checkpointing"
TYPED_HINT = "batch 64 optimizer sgd precision fp16-mixed gpus 8 accumulation 4 checkpointing on"


@dataclass(frozen=True)
class TrainSettings:
    """What the view asks of each model: ``modeltui train --batch-size --optimizer --precision --gpus
    --accumulation --checkpointing``."""

    batch: int = 1
    optimizer: str = "adamw"
    precision: str = "bf16-mixed"
    gpus: int = 1
    accumulation: int = 1
    checkpointing: bool = False

    def text(self) -> str:
        ckpt = "on" if self.checkpointing else "off"
        return (
            f"batch {self.batch} · {self.optimizer} (O) · {self.precision} (P) · GPUs {self.gpus} (G) · "
            f"accumulation {self.accumulation} · checkpointing {ckpt} (C) · type values (i)"
        )


def _next(values: tuple, current: Any) -> Any:
    return values[(values.index(current) + 1) % len(values)] if current in values else values[0]


def runs_on(precision: str, target: Any) -> bool:
    """Whether ``target`` computes a step of ``precision`` (fp8 training also needs an fp8 path)."""
    return target.has(ALL_PRECISIONS[precision][0]) and (precision not in FP8_PRECISIONS or target.has("fp8"))


def fallback_notice(wanted: str, shown: str, target: Any) -> str:
    """One line: why ``target`` shows ``shown`` instead of the precision ``wanted``."""
    if wanted in FP8_PRECISIONS and not target.has("fp8"):
        return f"{wanted} needs fp8 tensor cores: {target.name} has none; showing {shown}"
    compute = ALL_PRECISIONS[wanted][0]
    return f"{wanted} needs a {compute} path: {target.name} has none; showing {shown}"


def parse_typed(text: str, settings: TrainSettings) -> TrainSettings | str:
    """``batch N``, ``optimizer NAME``, ``precision NAME``, ``gpus N``, ``accumulation N`` and
    ``checkpointing on|off`` (any order, ``=`` or ``:`` allowed) applied to ``settings``; a one-line error
    (str) for a bad entry."""
    pairs = re.findall(r"([A-Za-z]+)\s*[=:]?\s*(\S+)", text.replace(",", " "))
    if not pairs:
        return f"type settings such as: {TYPED_HINT}"
    numbers = {"batch": MAX_BATCH_SIZE, "gpus": MAX_GPUS, "accumulation": MAX_BATCH_SIZE}
    changes: dict[str, Any] = {}
    for key, raw in pairs:
        key = key.lower()
        if key in numbers:
            if not raw.isdigit() or int(raw) < 1:
                return f"{key} must be a positive whole number, got {raw!r}"
            if int(raw) > numbers[key]:
                return f"{key} {int(raw):,} is above the largest taken, {numbers[key]:,}"
            changes[key] = int(raw)
        elif key == "optimizer":
            if raw.lower() not in ALL_OPTIMIZERS:
                return f"optimizer {raw!r}: choose one of {', '.join(ALL_OPTIMIZERS)}"
            changes[key] = raw.lower()
        elif key == "precision":
            if raw.lower() not in ALL_PRECISIONS:
                return f"precision {raw!r}: choose one of {', '.join(ALL_PRECISIONS)}"
            changes[key] = raw.lower()
        elif key == "checkpointing":
            if raw.lower() not in ("on", "off"):
                return f"checkpointing must be on or off, got {raw!r}"
            changes[key] = raw.lower() == "on"
        else:
            return f"{key!r} is not a setting: {SETTING_NAMES}"
    return replace(settings, **changes)


class TrainScreen(Screen[None]):
    """Training-step estimates of the selected models on the session's target; keys change the settings."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("O", "cycle('optimizer')", "Optimizer", tooltip="The optimizer: " + ", ".join(OPTIMIZERS)),
        Binding(
            "P", "cycle('precision')", "Precision", tooltip="Training precision: " + ", ".join(PRECISIONS)
        ),
        Binding("G", "cycle('gpus')", "GPUs", tooltip="GPUs of the parallel plans: 1, 2, 4, 8"),
        Binding("C", "toggle_checkpointing", "Checkpoint", tooltip="Activation checkpointing of every block"),
        Binding("i", "edit", "Type values", tooltip=TYPED_HINT),
    ]

    #: Keys go to the view until ``i`` opens the input line.
    AUTO_FOCUS = None

    DEFAULT_CSS = """
    TrainScreen #train-scroll { overflow-x: auto; overflow-y: auto; }
    TrainScreen #train-settings { height: auto; }
    TrainScreen #train-notice { height: auto; display: none; color: $warning; }
    TrainScreen #train-notice.shown { display: block; }
    TrainScreen #train-input { display: none; }
    TrainScreen #train-input.editing { display: block; }
    """

    app: ModeltuiApp

    def __init__(self, models: list[str] | None = None) -> None:
        super().__init__()
        self.models = list(models or [])
        self.settings = TrainSettings()
        #: Per model: the ``train`` verb's JSON result (dict) or a one-line error (str) of the latest
        #: computation; the captures by (model, options, train options) for reuse.
        self.results: dict[str, dict[str, Any] | str] = {}
        self.captures: dict[tuple, Any] = {}
        self.generation = 0
        self.text = "computing…"
        #: ``basis()`` of the last computation (None: none yet)
        self.computed_for: tuple | None = None
        #: The precision last asked for (keys, typed values); ``settings.precision`` is the one shown,
        #: another when the target cannot run it (``notice`` says so; "" otherwise).
        self.wanted_precision = self.settings.precision
        self.notice = ""
        #: The target id the settings were last fitted to (``_fit_target``).
        self.fitted_for: str | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar("train")
        yield Static(id="train-settings")
        yield Static(id="train-notice")
        yield Input(placeholder=f"{TYPED_HINT} (Enter applies, Esc closes)", id="train-input", disabled=True)
        with ScrollableContainer(id="train-scroll"):
            yield Static(id="train-body")
        yield AppFooter()

    def on_mount(self) -> None:
        session = self.app.session
        if not self.models:
            self.models = list(session.ordered())
        if session.train_settings is not None:  # the settings of the view's last visit this session
            self.settings = session.train_settings
            self.wanted_precision = session.train_precision or self.settings.precision
        else:
            self.settings = replace(self.settings, batch=session.options.batch_size)
            self.wanted_precision = self.settings.precision
        self._fit_target()
        self.refresh_view()
        self.compute()

    def _fit_target(self) -> None:
        """The precision asked for where the target computes in it, else the first of ``PRECISIONS`` it
        does (bf16-mixed, else fp16-mixed, ...: ``train`` would refuse one the target lacks); one GPU on a
        target whose link cannot join the GPUs asked for. ``notice``: what changed and why (one line)."""
        target = self.app.session.target
        self.fitted_for = target.id
        notes = []
        precision = self.wanted_precision
        if not runs_on(precision, target):
            precision = next((p for p in PRECISIONS if runs_on(p, target)), self.settings.precision)
            notes.append(fallback_notice(self.wanted_precision, precision, target))
        gpus = self.settings.gpus
        if gpus > 1:
            try:
                check_scale_up(target, gpus, "gpus")
            except UsageError as exc:
                notes.append(f"{exc}: showing 1 GPU")
                gpus = 1
        self.settings = replace(self.settings, precision=precision, gpus=gpus)
        notice = "; ".join(notes)
        if notice and notice != self.notice:
            self.notify(notice, title="Training", severity="warning", timeout=6)
        self.notice = notice
        self._keep()

    def _keep(self) -> None:
        """Keep the settings for the session (the view opened again starts from them)."""
        session = self.app.session
        session.train_settings = self.settings
        session.train_precision = self.wanted_precision

    def basis(self) -> tuple:
        """What the results depend on besides the settings: the target, the performance model and the
        session's input options (a change recomputes)."""
        session = self.app.session
        return (session.target.id, session.execution, session.efficiency, session.options, tuple(self.models))

    def refresh_view(self) -> None:
        session = self.app.session
        if self.fitted_for is not None and self.fitted_for != session.target.id:
            self._fit_target()  # a new target: the precision asked for again, or what it runs instead
        if self.computed_for is not None and self.computed_for != self.basis():
            self.compute()  # the target, modes or inputs changed (the app refreshes every screen)
        s = self.settings
        detail = f"{s.precision} · {s.optimizer}"
        right = f"batch {s.batch} · {session.execution}, {session.efficiency} (est.)"
        compact = (f"{s.precision} · {s.optimizer}", f"b{s.batch} · {session.efficiency}")
        self.query_one(StatusBar).update(session, self.app.analysing, detail, right, compact)
        self.query_one("#train-settings", Static).update(" " + s.text())
        notice = self.query_one("#train-notice", Static)
        notice.update(Text(" " + self.notice) if self.notice else "")
        notice.set_class(bool(self.notice), "shown")
        self.query_one("#train-body", Static).update(Text(self.text, no_wrap=True))

    def text_width(self) -> int:
        """Columns the text is folded to: the screen less the scroll bar and a margin."""
        return max(60, self.size.width - 3)

    def compute(self) -> None:
        """Recompute for the current settings; a result of earlier settings that arrives later is dropped."""
        self._keep()
        self.generation += 1
        self.results = {}
        self.text = "computing…"
        self.computed_for = self.basis()
        self._compute(self.generation, self.settings)

    @work(thread=True, exclusive=True, exit_on_error=False, group="train")
    def _compute(self, generation: int, settings: TrainSettings) -> None:
        """Each model's step captured in a worker process (cached here) and estimated, one after another;
        each result is shown as it arrives."""
        from metrics_core.runtime.train_capture import TrainOptions, default_optimizer_impl

        session = self.app.session
        target = session.target
        modes = {"execution": session.execution, "efficiency": session.efficiency}
        train = TrainOptions(
            None, settings.optimizer, settings.precision, settings.checkpointing, settings.accumulation,
            optimizer_impl=default_optimizer_impl(target.vendor, target.kind),
        )  # fmt: skip
        for name in self.models:
            if generation != self.generation:
                return
            try:
                result: dict[str, Any] | str = self._one(name, session, target, train, settings, modes)
            except ModeltuiError as exc:
                result = str(exc)
            except Exception as exc:  # noqa: BLE001 - one line in the view, never a crash of the app
                result = one_line_error(exc)
            self.app.call_from_thread(self._show, name, result, generation)

    def _one(
        self,
        name: str,
        session: Any,
        target: Any,
        train: Any,
        settings: TrainSettings,
        modes: dict[str, str],
    ) -> dict[str, Any]:
        """The ``train`` verb's result of ``name`` (``perf.training_report.training_result``)."""
        from metrics_core.perf.training import compute_path
        from metrics_core.perf.training_report import training_result

        compute = ALL_PRECISIONS[settings.precision][0]
        compute_path(target, compute)  # a precision the target lacks: its one-line error, nothing captured
        if settings.precision in FP8_PRECISIONS:
            compute_path(target, "fp8")
        options = replace(session.options, batch_size=settings.batch, dtype=compute, use_cache=False)
        inputs = session.model_inputs.get(name)
        if inputs:
            options = replace(options, input_shape=None, inputs=inputs, inputs_fn=None)
        key = (name, options, train)
        captured = self.captures.get(key)
        if captured is None:
            captured = self.app.backend.train(name, options, train)
            self.captures[key] = captured
        return training_result(captured, target, settings.accumulation, settings.gpus, modes)

    def _show(self, name: str, result: dict[str, Any] | str, generation: int) -> None:
        if generation != self.generation:
            return  # computed for settings since changed
        self.results[name] = result
        self.text = self.body_text()
        self.refresh_view()

    def body_text(self) -> str:
        """Every model's text (the ``train`` verb's table output at the screen's width), in the order of
        the selection; models still computing say so."""
        from metrics_core.common.textable import wrap_prose
        from metrics_core.perf.training_report import training_text

        target, width = self.app.session.target, self.text_width()
        parts = []
        for name in self.models:
            result = self.results.get(name)
            if result is None:
                parts.append(f"{name}: computing…")
            elif isinstance(result, str):
                parts.append(wrap_prose(model_error(name, result), width))
            else:
                parts.append(training_text(result, target, width))
        return "\n\n".join(parts) if parts else "no models selected: pick some in the catalog (c)"

    def on_resize(self) -> None:
        if self.results:
            self.text = self.body_text()
            self.refresh_view()

    def action_cycle(self, setting: str) -> None:
        s = self.settings
        if setting == "precision":
            target = self.app.session.target
            allowed = tuple(p for p in PRECISIONS if runs_on(p, target))
            if len(allowed) <= 1:
                self.notify(f"{target.name} computes in one of these precisions only", title="Training")
                return
            self.settings = replace(s, precision=_next(allowed, s.precision))
            self.wanted_precision = self.settings.precision
            self._fit_target()
        elif setting == "optimizer":
            self.settings = replace(s, optimizer=_next(OPTIMIZERS, s.optimizer))
        else:
            target = self.app.session.target
            if not target.interconnect_gbps:
                reason = no_interconnect_reason(target)
                self.notify(f"{reason}: 1 {device_noun(target)} only", title="Training")
                return
            self.settings = replace(s, gpus=_next(GPUS, s.gpus))
            self._fit_target()
        self.refresh_view()
        self.compute()

    def action_toggle_checkpointing(self) -> None:
        self.settings = replace(self.settings, checkpointing=not self.settings.checkpointing)
        self.refresh_view()
        self.compute()

    def action_back(self) -> None:
        field = self.query_one("#train-input", Input)
        if field.has_class("editing"):
            self._close_input(field)
            return
        self.app.pop_screen()

    def action_edit(self) -> None:
        """Show the input line for typed values (``apply_typed``)."""
        field = self.query_one("#train-input", Input)
        field.disabled = False
        field.add_class("editing")
        field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        error = self.apply_typed(event.value)
        if error:
            self.notify(error, title="Training", severity="error", timeout=5)
            return
        event.input.value = ""
        self._close_input(event.input)

    def _close_input(self, field: Input) -> None:
        """Hide the input line and give the keys back to the report (arrows, PageDown, End scroll it)."""
        field.remove_class("editing")
        field.disabled = True
        self.query_one("#train-scroll", ScrollableContainer).focus()

    def apply_typed(self, text: str) -> str | None:
        """Apply typed settings (``parse_typed``) and recompute; the one-line error for a bad entry
        (nothing changes then)."""
        parsed = parse_typed(text, self.settings)
        if isinstance(parsed, str):
            return parsed
        target = self.app.session.target
        if parsed.precision != self.settings.precision and not runs_on(parsed.precision, target):
            takes = ", ".join(p for p in ALL_PRECISIONS if runs_on(p, target))
            return f"precision {parsed.precision}: {target.name} trains in {takes}"
        try:  # no interconnect figure, or more GPUs than one scale-up domain: the verb's reason
            check_scale_up(target, parsed.gpus, "gpus")
        except UsageError as exc:
            return str(exc)
        if parsed.precision != self.settings.precision:
            self.wanted_precision = parsed.precision
        self.settings = parsed
        self._fit_target()  # the notice says again what still differs from what was asked for
        self.refresh_view()
        self.compute()
        return None
