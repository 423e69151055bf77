"""The modeltui Textual app: state, analysis workers and the keys that work on every screen.

Analysis runs in thread workers that wait on ``metrics_core.runtime.analyze.analyze_many`` (which does the
torch work in worker processes); each finished model arrives as a ``ReportReady`` message. Workers are
started with ``exit_on_error=False``: a failing analysis becomes a notification and error rows, never a
crash. Benchmarks (``b``) run in a child process driven by a thread worker (``tui.app.benchrun``); cached
per-op records load in thread workers too. Nothing imported here imports torch. Quitting stops the
analysis workers and the benchmark first, so ``q`` returns at once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

from metrics_core.common.errors import ModeltuiError, one_line_error
from metrics_core.common.records import ModelReport
from metrics_core.runtime.llm_capture import DECODER_TASKS, ENCODER_DECODER_TASKS
from metrics_core.runtime.options import AnalysisOptions
from tui.app.backend import Backend
from tui.app.messages import BenchUpdate, CatalogLoaded, RecordsLoaded, ReportReady, Warned
from tui.app.palette import ModelsAndTargets
from tui.app.session import DEFAULT_TARGET, BenchState, Session, records_loaded
from tui.app.widgets.status_bar import StatusBar

#: Model tasks the LLM view takes: decoders, encoder-decoders, custom factories (checked when captured).
LLM_VIEW_TASKS: frozenset[str] = DECODER_TASKS | ENCODER_DECODER_TASKS | {"custom"}

#: How often (seconds) a waiting worker checks whether it was cancelled.
POLL_S = 0.1
#: While results stream in, the views are rebuilt at most this often (keys stay responsive on 2 cores).
REFRESH_INTERVAL_S = 0.5


class AnalysisCancelled(Exception):
    """Raised inside a worker's report callback to stop an analysis nobody waits for any more."""


class ModeltuiApp(App[None]):
    """Compare models, drill into their layers and place them on a hardware roofline."""

    TITLE = "modeltui"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True
    COMMANDS = App.COMMANDS | {ModelsAndTargets}
    BINDINGS = [
        Binding("c", "catalog", "Catalog"),
        Binding("h", "hardware", "Hardware"),
        Binding("p", "precision", "Precision", show=False),
        Binding("w", "roofline", "Roofline"),
        Binding("f", "pareto", "Pareto", tooltip="Accuracy vs cost on the target: the Pareto frontier"),
        Binding(
            "T",
            "train",
            "Train",
            show=False,  # the footer holds ten keys at 80 columns; listed in help (?) and the palette
            tooltip="Training view of the selected models: step time by phase, MFU, memory, plans (est.)",
        ),
        Binding("o", "settings", "Settings", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False),
    ]

    def __init__(
        self,
        models: Sequence[str] = (),
        options: AnalysisOptions | None = None,
        target_id: str | None = None,
        precision: str | None = None,
        backend: Backend | None = None,
        hardware_files: Sequence[str] = (),
        modes: tuple[str, str] = ("eager", "ideal"),
    ) -> None:
        super().__init__()
        self.backend = backend or Backend()
        targets = self.backend.targets(tuple(hardware_files))
        #: broken files of the user hardware directory (skipped): shown as notifications once mounted
        self._hardware_warnings = self.backend.hardware_warnings(tuple(hardware_files))
        by_id = {t.id: t for t in targets}
        target = by_id.get(target_id or DEFAULT_TARGET, targets[0])
        self.session = Session(
            targets=targets,
            target=target,
            options=(options or AnalysisOptions()).validated(),
            precision=precision or "",
            execution=modes[0],
            efficiency=modes[1],
            target_chosen=target_id is not None and target_id in by_id,
        )
        self.session.select(models)
        self.catalog_ready = False
        self._analysis_names: dict[Worker[Any], list[str]] = {}
        #: analysis threads still running -> the options generation they analyse
        self._runs: dict[threading.Thread, int] = {}
        self._runs_lock = threading.Lock()
        self._last_refresh = 0.0
        self._refresh_timer: Any = None
        #: models whose records a worker is loading, and those that could not be loaded (why)
        self._loading: set[str] = set()
        self.records_errors: dict[str, str] = {}
        self._bench_stop: threading.Event | None = None
        #: the device the last benchmark ran on ("cpu", "cuda"), for the measured columns' title
        self.bench_device: str | None = None
        self.backend.prepare()

    # -- screens ------------------------------------------------------------------------------------
    def get_default_screen(self) -> Screen[Any]:
        from tui.app.screens.comparison import ComparisonScreen

        return ComparisonScreen()

    #: Set by the launcher (``tui.cli.launch``): SIGTERM and SIGHUP quit cleanly, as ``q`` does, so the
    #: terminal is restored (tests leave it off: the handlers are process-wide).
    handle_signals = False
    #: The signal that ended the app (None: the user quit).
    terminated_by: int | None = None

    def on_mount(self) -> None:
        if self.handle_signals:
            import asyncio
            import signal

            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGHUP):
                loop.add_signal_handler(sig, self._terminate, sig)
        self.backend.set_warning_handler(self._warning_from_thread)
        for warning in self._hardware_warnings:
            self.post_message(Warned(warning, title="Hardware"))
        self.load_catalog()
        if self.session.selected:
            self.analyze(self.session.missing())
        else:
            self.action_catalog()
        self.call_after_refresh(self.backend.warm_up)

    def on_unmount(self) -> None:
        self.backend.set_warning_handler(None)

    def _terminate(self, signum: int) -> None:
        """SIGTERM/SIGHUP: the same path as quitting (background work stopped, terminal restored), exit
        status 128 + signal."""
        self.terminated_by = signum
        self.stop_background()
        self.exit(return_code=128 + signum)

    def _warning_from_thread(self, message: str) -> None:
        """Cache warnings arrive from the analysis thread: show them as notifications."""
        self.post_message(Warned(message))

    @on(Warned)
    def _warned(self, message: Warned) -> None:
        self.notify(message.text, title=message.title, severity="warning", timeout=8)

    def refresh_views(self) -> None:
        """Tell every screen on the stack that the session changed."""
        self._last_refresh = time.monotonic()
        if self._refresh_timer is not None:
            self._refresh_timer.stop()
            self._refresh_timer = None
        for screen in self.screen_stack:
            refresh = getattr(screen, "refresh_view", None)
            if refresh is not None:
                refresh()

    def refresh_views_soon(self) -> None:
        """``refresh_views``, coalesced: during a burst of results at most once per REFRESH_INTERVAL_S
        (the first one at once); the worker's end always refreshes in full."""
        if self._refresh_timer is not None:
            return
        wait = REFRESH_INTERVAL_S - (time.monotonic() - self._last_refresh)
        if wait <= 0:
            self.refresh_views()
        else:
            self._refresh_timer = self.set_timer(wait, self.refresh_views)

    # -- catalog ------------------------------------------------------------------------------------
    @work(thread=True, exit_on_error=False, group="catalog")
    def load_catalog(self) -> None:
        specs = self.backend.catalog()
        presets = self.backend.presets()
        self.post_message(CatalogLoaded(specs, presets))
        note = self.backend.catalog_note()  # once per run: the catalog loads once
        if note:
            self.post_message(Warned(note, title="Model catalog"))
        try:  # timm and Hugging Face models: listed when their library is installed
            more = self.backend.more_models()
        except Exception as exc:  # noqa: BLE001 - the torchvision catalog stands; say why in one line
            self.post_message(Warned(f"timm / Hugging Face models not listed: {exc}", title="Model catalog"))
            return
        if more:
            self.post_message(CatalogLoaded([*specs, *more], presets))

    @on(CatalogLoaded)
    def _catalog_loaded(self, message: CatalogLoaded) -> None:
        self.session.catalog = message.specs
        self.session.presets = message.presets
        self.catalog_ready = True
        self.refresh_views()

    # -- analysis -----------------------------------------------------------------------------------
    def analyze(self, names: Iterable[str]) -> None:
        """Analyse ``names`` with the current options in a background worker."""
        inflight = {n for w, ns in self._analysis_names.items() if not w.is_finished for n in ns}
        names = [n for n in dict.fromkeys(names) if n in self.session.selected and n not in inflight]
        if not names:
            self.refresh_views()
            return
        generation = self.session.generation
        groups: dict[tuple | None, list[str]] = {}  # models with their own inputs are analysed apart
        for name in names:
            groups.setdefault(self.session.model_inputs.get(name), []).append(name)
        for inputs, group in groups.items():
            options = self.session.options
            if inputs:
                options = replace(options, input_shape=None, inputs=inputs, inputs_fn=None)
            job = partial(self._analysis_job, group, options, generation)
            worker = self.run_worker(
                job,
                thread=True,
                exit_on_error=False,
                group="analysis",
                name=f"analyse {len(group)} model(s)",
                description=", ".join(group),  # Textual's default, repr(job), would load lazy records
            )
            self._analysis_names[worker] = group
        self.refresh_views()

    def _analysis_job(self, names: list[str], options: AnalysisOptions, generation: int) -> None:
        """Run the analysis in a daemon thread and wait for it, returning at once when the worker is
        cancelled (quit, new settings): a model being analysed must not hold up the app's exit (the
        worker processes are ended at exit by ``metrics_core.runtime.pool``).

        Runs of older options still going are stopped first (``Backend.stop``) and waited for: the
        pool's runs share its worker processes, and a run that ends early ends them, which would
        cancel this run's models too. Both happen here, off the UI thread (stopping waits while the
        pool is still starting)."""
        worker = get_current_worker()
        with self._runs_lock:
            older = [t for t, g in self._runs.items() if g < generation and t.is_alive()]
            if older:
                self.backend.stop()
        for old in older:
            while old.is_alive():
                old.join(POLL_S)
                if worker.is_cancelled:
                    return
        failure: list[BaseException] = []

        def on_report(report: ModelReport) -> None:
            if worker.is_cancelled or generation != self.session.generation:
                raise AnalysisCancelled
            # here, off the UI thread: read the records (cached ones load lazily) and estimate
            # unreadable records are left unloaded: ensure_records retries in a worker and says why
            with contextlib.suppress(Exception):
                self.session.precompute(report)
            self.post_message(ReportReady(report, generation))

        def run() -> None:
            try:
                self.backend.analyze(names, options, on_report)
            except AnalysisCancelled:
                pass
            except BaseException as exc:  # noqa: BLE001 - re-raised in the worker: an error row
                failure.append(exc)
            finally:
                with self._runs_lock:
                    self._runs.pop(thread, None)

        thread = threading.Thread(target=run, name="modeltui-analysis", daemon=True)
        with self._runs_lock:  # registered and started as one step (see above)
            self._runs[thread] = generation
            thread.start()
        while thread.is_alive():
            thread.join(POLL_S)
            if worker.is_cancelled:
                return
        if failure:
            raise failure[0]

    @on(ReportReady)
    def _report_ready(self, message: ReportReady) -> None:
        self.records_errors.pop(message.report.model, None)
        if self.session.accept(message.report, message.generation):
            if message.report.error:
                self.notify(
                    f"{message.report.model}: {message.report.error}",
                    title="Analysis failed",
                    severity="error",
                    timeout=8,
                )
            self.refresh_views_soon()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "catalog" and event.state == WorkerState.ERROR:
            self.notify(f"cannot load the model catalog: {one_line_error(worker.error)}", severity="error")
            return
        if worker.group == "bench" and event.state == WorkerState.ERROR:
            self.stop_bench()
            self.notify(
                f"benchmark failed: {one_line_error(worker.error)}", title="Benchmark", severity="error"
            )
            self.refresh_views()
            return
        if worker.group == "bench" and worker.is_finished:
            self.refresh_views()
            return
        if worker.group != "analysis" or not worker.is_finished:
            return
        names = self._analysis_names.pop(worker, [])
        if event.state == WorkerState.ERROR and worker.error is not None:
            message = one_line_error(worker.error)
            self.notify(message, title="Analysis failed", severity="error", timeout=10)
            options = self.session.options
            for name in names:
                if name in self.session.selected and name not in self.session.reports:
                    self.session.reports[name] = ModelReport(
                        model=name,
                        input_shape=list(options.input_shape or ()),
                        batch_size=options.batch_size,
                        dtype=options.dtype,
                        error=message,
                    )
        self.refresh_views()

    @property
    def analysing(self) -> bool:
        return any(not w.is_finished for w in self._analysis_names)

    # -- per-op records -----------------------------------------------------------------------------
    def ensure_records(self, name: str) -> None:
        """Load a report's lazily stored records in a worker (once; a failure is reported once and
        kept in ``records_errors``). Screens call this instead of touching the records."""
        report = self.session.reports.get(name)
        if report is None or records_loaded(report) or name in self._loading or name in self.records_errors:
            return
        self._loading.add(name)
        job = partial(self._records_job, report, self.session.generation)
        # a description of our own: Textual's default, repr(job), would load the records right here
        self.run_worker(
            job, thread=True, exit_on_error=False, group="records", name=f"load {name}", description=name
        )

    def _records_job(self, report: ModelReport, generation: int) -> None:
        error = None
        try:
            self.session.precompute(report)  # may re-analyse a damaged cache entry: seconds
        except Exception as exc:  # noqa: BLE001 - becomes a message in the app
            error = one_line_error(exc)
        self.post_message(RecordsLoaded(report.model, generation, error))

    @on(RecordsLoaded)
    def _records_loaded(self, message: RecordsLoaded) -> None:
        self._loading.discard(message.model)
        if message.generation != self.session.generation:
            return
        if message.error is not None:
            self.records_errors[message.model] = message.error
            self.notify(
                f"{message.model}: cannot load its per-op records: {message.error}",
                title="Layers",
                severity="error",
                timeout=8,
            )
        self.refresh_views()

    # -- measured benchmarks ------------------------------------------------------------------------
    @property
    def benching(self) -> bool:
        return self._bench_stop is not None and not self._bench_stop.is_set()

    def action_bench(self) -> None:
        """Measure the analysed models on this machine (``metrics_core.measure.bench``) in a child process;
        pressed while a benchmark runs, cancel it."""
        from metrics_core.measure.bench import check_dtype

        s = self.session
        if self.benching:
            self.stop_bench()
            self.notify("benchmark cancelled", title="Benchmark", timeout=3)
            self.refresh_views()
            return
        names = [n for n in s.ordered() if n in s.reports and s.reports[n].ok]
        if not names:
            self.notify("nothing to measure yet: wait for the analysis", severity="warning")
            return
        try:
            check_dtype(s.options.dtype, "cpu")
        except ModeltuiError as exc:
            self.notify(str(exc), title="Benchmark", severity="error", timeout=8)
            return
        for name in names:
            s.bench[name] = BenchState()
        stop = self._bench_stop = threading.Event()
        jobs = [(n, s.reports[n]) for n in names]
        job = partial(self._bench_job, jobs, s.options, s.generation, stop)
        self.run_worker(
            job,
            thread=True,
            exit_on_error=False,
            group="bench",
            name="benchmark",
            description=", ".join(names),
        )
        self.notify(
            f"measuring {len(names)} model(s) on this machine; b again cancels",
            title="Benchmark",
            timeout=4,
        )
        self.refresh_views()
        show = getattr(self.screen, "show_measured", None)
        if show is not None:
            self.call_after_refresh(show)

    def _bench_job(
        self,
        jobs: list[tuple[str, ModelReport]],
        options: AnalysisOptions,
        generation: int,
        stop: threading.Event,
    ) -> None:
        try:
            self.backend.bench(jobs, options, lambda e: self.post_message(BenchUpdate(e, generation)), stop)
        finally:
            stop.set()

    def stop_bench(self) -> None:
        """Cancel a running benchmark (its child process ends); unmeasured models lose their state."""
        if self._bench_stop is not None:
            self._bench_stop.set()
        for name, state in list(self.session.bench.items()):
            if state.status in ("queued", "running"):
                del self.session.bench[name]

    @on(BenchUpdate)
    def _bench_update(self, message: BenchUpdate) -> None:
        event = message.event
        state = self.session.bench.get(event.model)
        if message.generation != self.session.generation or state is None:
            return
        if event.kind == "progress":
            changed = (state.status, state.phase) != ("running", event.phase)
            state.status, state.phase, state.done, state.total = (
                "running",
                event.phase,
                event.done,
                event.total,
            )
            if not changed:
                # the bench competes for the cores: only the progress bar moves between phases
                for screen in self.screen_stack:
                    for bar in screen.query(StatusBar):
                        bar.update(self.session, self.analysing)
                return
        elif event.kind == "result":
            state.status, state.result = "done", event.result
            self.bench_device = event.result.device
        else:
            state.status, state.error = "error", event.error
            self.notify(
                f"{event.model}: {event.error}", title="Benchmark failed", severity="error", timeout=8
            )
        benches = self.session.bench.values()
        note = self.session.bench_ratio_note()
        finished = not any(b.status in ("queued", "running") for b in benches)
        if note and finished and any(b.status == "done" for b in benches):
            self.notify(note, title="Benchmark", timeout=6)
        self.refresh_views()

    # -- quitting -----------------------------------------------------------------------------------
    def stop_background(self) -> None:
        """Stop waiting for analyses and benchmarks in flight, so that leaving does not wait for them:
        the benchmark's child process ends at once, the analysis workers return, and what their threads
        wait on ends now (``backend.abort``: the pool's workers, a worker start held up by the fork
        server's imports, the timm index builder): asyncio waits for every thread before the app exits."""
        self.stop_bench()
        self.workers.cancel_group(self, "analysis")
        self.backend.abort()

    async def action_quit(self) -> None:
        self.stop_background()
        self.exit()

    # -- intents from screens -----------------------------------------------------------------------
    def add_models(self, names: Iterable[str]) -> None:
        added = self.session.select(names)
        self.analyze(added)

    def remove_model(self, name: str) -> None:
        self.session.deselect(name)
        self.refresh_views()

    def apply_preset(self, key: str) -> None:
        preset = self.session.presets.get(key)
        if preset is None:
            return
        missing = self.session.replace_selection(preset.models)
        if getattr(preset, "sort_by", None):
            self.session.set_sort(preset.sort_by)
        self.notify(f"{preset.title}: {len(preset.models)} models", title="Preset")
        self.analyze(missing)

    def set_options(self, options: AnalysisOptions) -> None:
        """New batch size / input shape / dtype: drop stale results and re-analyse everything."""
        try:
            changed = self.session.set_options(options)
        except ModeltuiError as exc:
            self.notify(str(exc), severity="error")
            return
        if changed:
            self._restart_analysis()

    def _restart_analysis(self) -> None:
        """The options changed (reports dropped): stop the running work and analyse the selection anew."""
        self.stop_bench()
        self.workers.cancel_group(self, "analysis")  # the next analysis stops them (Backend.stop)
        self._analysis_names.clear()
        self.records_errors.clear()
        self.analyze(self.session.missing())

    def set_target(self, target_id: str) -> None:
        for target in self.session.targets:
            if target.id == target_id:
                try:
                    self.session.set_target(target)
                except ModeltuiError as exc:  # the target lacks the precision: refused, nothing changes
                    self.notify(f"{exc}; change the precision (p) first", severity="error", title="Hardware")
                    return
                self.notify(f"{target.name}: {self.session.precision_label}", title="Hardware", timeout=3)
                self.refresh_views()
                return

    # -- actions ------------------------------------------------------------------------------------
    def action_help(self) -> None:
        from tui.app.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_catalog(self) -> None:
        from tui.app.screens.catalog import CatalogScreen

        if isinstance(self.screen, CatalogScreen):
            self.screen.action_back()
            return
        self.push_screen(CatalogScreen())

    def action_hardware(self) -> None:
        from tui.app.screens.hardware import HardwareScreen

        if isinstance(self.screen, HardwareScreen):
            return

        def chosen(target_id: str | None) -> None:
            if target_id:
                self.set_target(target_id)

        self.push_screen(HardwareScreen(self.session.targets, self.session.target.id), chosen)

    def action_precision(self) -> None:
        """Next precision the target runs: bytes per element and compute roof change together (a new
        dtype re-analyses the models; cached results return at once)."""
        dtype, path = self.session.next_precision()
        if (dtype, path) == (self.session.options.dtype, self.session.precision):
            self.notify(f"{self.session.target.name} has one precision", title="Precision", timeout=3)
            return
        try:
            changed = self.session.set_precision(dtype, path)
        except ModeltuiError as exc:
            self.notify(str(exc), severity="error", title="Precision")
            return
        if changed:
            self._restart_analysis()
        self.notify(
            f"{self.session.target.name}: {self.session.precision_label}", title="Precision", timeout=3
        )
        self.refresh_views()

    def action_roofline(self, model: str | None = None) -> None:
        from tui.app.screens.roofline import RooflineScreen

        if isinstance(self.screen, RooflineScreen):
            return
        self.push_screen(RooflineScreen(model))

    def action_pareto(self) -> None:
        from tui.app.screens.pareto import ParetoScreen

        if isinstance(self.screen, ParetoScreen):
            return
        self.push_screen(ParetoScreen())

    def action_train(self) -> None:
        """The training view of the selected models on the target (``screens.train``)."""
        from tui.app.screens.train import TrainScreen

        if isinstance(self.screen, TrainScreen):
            return
        if not self.session.selected:
            self.notify("select models in the catalog (c) first", title="Training")
            return
        self.push_screen(TrainScreen())

    def action_settings(self) -> None:
        from tui.app.screens.settings import SettingsScreen

        if isinstance(self.screen, SettingsScreen):
            return

        screen = SettingsScreen(self.session.options, (self.session.execution, self.session.efficiency))

        def chosen(options: AnalysisOptions | None) -> None:
            if options is not None:
                if self.session.set_modes(*screen.modes):
                    self.notify(f"estimates: {self.session.modes_label}", title="Settings", timeout=3)
                    self.refresh_views()
                self.set_options(options)

        self.push_screen(screen, chosen)

    def action_llm(self, name: str | None = None) -> None:
        """The LLM view of ``name`` (default: the highlighted model): ``hf:`` language models (decoders and
        encoder-decoders) and custom factories."""
        from tui.app.screens.llm import LlmScreen

        name = name or getattr(self.screen, "highlighted_model", lambda: None)()
        if not name:
            self.notify("highlight a model in the comparison first", title="LLM view")
            return
        report = self.session.reports.get(name)
        if report is not None and report.task not in LLM_VIEW_TASKS:
            self.notify(f"{name} is not a language model ({report.task})", title="LLM view")
            return
        self.push_screen(LlmScreen(name))

    def action_add_custom(self) -> None:
        from tui.app.screens.custom import AddModelScreen

        def chosen(choice: tuple[str, tuple] | None) -> None:
            if choice:
                name, inputs = choice
                if inputs:
                    self.session.model_inputs[name] = inputs
                else:
                    self.session.model_inputs.pop(name, None)
                self.session.deselect(name)  # (again) with these inputs
                self.add_models([name])
                self.notify(f"added {name}", title="Model")

        self.push_screen(AddModelScreen(self.backend.get_spec), chosen)

    # -- command palette ----------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        s = self.session
        export = getattr(screen, "action_export", None)
        if export is not None:
            yield SystemCommand("Export table", "Write the table on screen to CSV, JSON or Markdown", export)
        yield SystemCommand("Catalog", "Pick models to compare", self.action_catalog)
        yield SystemCommand("Settings", "Batch size, input shape, dtype", self.action_settings)
        yield SystemCommand("Roofline", f"Roofline chart on {s.target.name}", self.action_roofline)
        yield SystemCommand(
            "Training view",
            f"A training step of the selected models on {s.target.name}: time, MFU, memory, plans",
            self.action_train,
        )
        yield SystemCommand(
            "Pareto", f"Accuracy vs latency, energy ... on {s.target.name}: the frontier", self.action_pareto
        )
        yield SystemCommand(
            "Add a model",
            "any model spec (timm:, hf:, package.module:factory) and its inputs",
            self.action_add_custom,
        )
        yield SystemCommand(
            "Benchmark on this machine",
            "Measure forward-pass latency of the analysed models (again: cancel)",
            self.action_bench,
        )
        yield SystemCommand(
            "Hardware target", "Pick the roofline target (or type its name here)", self.action_hardware
        )
        for key, preset in s.presets.items():
            models = ", ".join(preset.models)
            yield SystemCommand(f"Preset: {preset.title}", models, partial(self.apply_preset, key))
