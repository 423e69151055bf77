"""The modeltui Textual app: state, analysis workers and the keys that work on every screen.

Analysis runs in thread workers that wait on ``metrics_core.analyze.analyze_many`` (which does the
torch work in worker processes); each finished model arrives as a ``ReportReady`` message. Workers are
started with ``exit_on_error=False``: a failing analysis becomes a notification and error rows, never a
crash. Nothing imported here imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

from metrics_core.analyze import AnalysisOptions, one_line_error
from metrics_core.errors import ModeltuiError
from metrics_core.records import ModelReport
from tui.backend import Backend
from tui.messages import CatalogLoaded, ReportReady, Warned
from tui.palette import ModelsAndTargets
from tui.session import DEFAULT_TARGET, Session


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
        Binding("o", "settings", "Settings", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        models: Sequence[str] = (),
        options: AnalysisOptions | None = None,
        target_id: str | None = None,
        precision: str | None = None,
        backend: Backend | None = None,
        hardware_files: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.backend = backend or Backend()
        targets = self.backend.targets(tuple(hardware_files))
        by_id = {t.id: t for t in targets}
        target = by_id.get(target_id or DEFAULT_TARGET, targets[0])
        self.session = Session(
            targets=targets,
            target=target,
            options=(options or AnalysisOptions()).validated(),
            precision=precision or "",
        )
        self.session.select(models)
        self.catalog_ready = False
        self._analysis_names: dict[Worker[Any], list[str]] = {}
        self.backend.prepare()

    # -- screens ------------------------------------------------------------------------------------
    def get_default_screen(self) -> Screen[Any]:
        from tui.screens.comparison import ComparisonScreen

        return ComparisonScreen()

    def on_mount(self) -> None:
        self.backend.set_warning_handler(self._warning_from_thread)
        self.load_catalog()
        if self.session.selected:
            self.analyze(self.session.missing())
        else:
            self.action_catalog()
        self.call_after_refresh(self.backend.warm_up)

    def on_unmount(self) -> None:
        self.backend.set_warning_handler(None)

    def _warning_from_thread(self, message: str) -> None:
        """Cache warnings arrive from the analysis thread: show them as notifications."""
        self.post_message(Warned(message))

    @on(Warned)
    def _warned(self, message: Warned) -> None:
        self.notify(message.text, title="Cache", severity="warning", timeout=8)

    def refresh_views(self) -> None:
        """Tell every screen on the stack that the session changed."""
        for screen in self.screen_stack:
            refresh = getattr(screen, "refresh_view", None)
            if refresh is not None:
                refresh()

    # -- catalog ------------------------------------------------------------------------------------
    @work(thread=True, exit_on_error=False, group="catalog")
    def load_catalog(self) -> None:
        specs = self.backend.catalog()
        presets = self.backend.presets()
        self.post_message(CatalogLoaded(specs, presets))

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
        job = partial(self._analysis_job, names, self.session.options, generation)
        worker = self.run_worker(
            job,
            thread=True,
            exit_on_error=False,
            group="analysis",
            name=f"analyse {len(names)} model(s)",
        )
        self._analysis_names[worker] = names
        self.refresh_views()

    def _analysis_job(self, names: list[str], options: AnalysisOptions, generation: int) -> None:
        worker = get_current_worker()

        def on_report(report: ModelReport) -> None:
            if worker.is_cancelled or generation != self.session.generation:
                raise AnalysisCancelled
            # here, off the UI thread: read the records (cached ones load lazily) and estimate
            self.session.precompute(report)
            self.post_message(ReportReady(report, generation))

        try:
            self.backend.analyze(names, options, on_report)
        except AnalysisCancelled:
            return

    @on(ReportReady)
    def _report_ready(self, message: ReportReady) -> None:
        if self.session.accept(message.report, message.generation):
            if message.report.error:
                self.notify(
                    f"{message.report.model}: {message.report.error}",
                    title="Analysis failed",
                    severity="error",
                    timeout=8,
                )
            self.refresh_views()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "catalog" and event.state == WorkerState.ERROR:
            self.notify(f"cannot load the model catalog: {one_line_error(worker.error)}", severity="error")
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

    # -- intents from screens -----------------------------------------------------------------------
    def add_models(self, names: Iterable[str]) -> None:
        added = self.session.select(names)
        self.analyze(added)

    def remove_model(self, name: str) -> None:
        self.session.deselect(name)
        self.refresh_views()

    def toggle_model(self, name: str) -> None:
        """Select/deselect from the catalog; analysis starts when the catalog closes."""
        self.session.toggle(name)
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
            self.workers.cancel_group(self, "analysis")
            self._analysis_names.clear()
            self.analyze(self.session.missing())

    def set_target(self, target_id: str) -> None:
        for target in self.session.targets:
            if target.id == target_id:
                self.session.set_target(target)
                self.notify(f"{target.name}, {self.session.precision} roof", title="Hardware", timeout=3)
                self.refresh_views()
                return

    # -- actions ------------------------------------------------------------------------------------
    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_catalog(self) -> None:
        from tui.screens.catalog import CatalogScreen

        if isinstance(self.screen, CatalogScreen):
            self.screen.action_done()
            return
        self.push_screen(CatalogScreen())

    def action_hardware(self) -> None:
        from tui.screens.hardware import HardwareScreen

        if isinstance(self.screen, HardwareScreen):
            return

        def chosen(target_id: str | None) -> None:
            if target_id:
                self.set_target(target_id)

        self.push_screen(HardwareScreen(self.session.targets, self.session.target.id), chosen)

    def action_precision(self) -> None:
        previous = self.session.precision
        precision = self.session.cycle_precision()
        if precision != previous:
            self.notify(f"{self.session.target.name}: {precision} roof", title="Precision", timeout=3)
        self.refresh_views()

    def action_roofline(self, model: str | None = None) -> None:
        from tui.screens.roofline import RooflineScreen

        if isinstance(self.screen, RooflineScreen):
            return
        self.push_screen(RooflineScreen(model))

    def action_settings(self) -> None:
        from tui.screens.settings import SettingsScreen

        if isinstance(self.screen, SettingsScreen):
            return

        def chosen(options: AnalysisOptions | None) -> None:
            if options is not None:
                self.set_options(options)

        self.push_screen(SettingsScreen(self.session.options), chosen)

    def action_add_custom(self) -> None:
        from tui.screens.custom import CustomModelScreen

        def chosen(name: str | None) -> None:
            if name:
                self.add_models([name])
                self.notify(f"added {name}", title="Custom model")

        self.push_screen(CustomModelScreen(self.backend.get_spec), chosen)

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
        yield SystemCommand("Add custom model", "package.module:factory", self.action_add_custom)
        yield SystemCommand(
            "Hardware target", "Pick the roofline target (or type its name here)", self.action_hardware
        )
        for key, preset in s.presets.items():
            models = ", ".join(preset.models)
            yield SystemCommand(f"Preset: {preset.title}", models, partial(self.apply_preset, key))
