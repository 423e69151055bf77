"""What the app needs from ``metrics_core``, as replaceable callables (tests inject their own).

Every default imports its ``metrics_core`` module lazily, inside the call, so importing the app never
imports torch: analysis runs behind ``metrics_core.runtime.analyze.analyze_many`` (worker processes).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from metrics_core.common.records import ModelReport
from metrics_core.perf.hardware import HardwareTarget
from metrics_core.runtime.options import AnalysisOptions

#: ``analyze(names, options, on_report) -> reports``; ``on_report`` is called as each model finishes.
Analyze = Callable[[Sequence[str], AnalysisOptions, Callable[[ModelReport], None]], list[ModelReport]]

#: ``bench(jobs, options, on_event, stop)``: measure (name, report) jobs, calling ``on_event`` with each
#: ``tui.app.benchrun.BenchEvent``; returns when done or soon after ``stop`` is set.
Bench = Callable[
    [Sequence[tuple[str, ModelReport]], AnalysisOptions, Callable[[Any], None], threading.Event], None
]


def _analyze(
    names: Sequence[str], options: AnalysisOptions, on_report: Callable[[ModelReport], None]
) -> list[ModelReport]:
    """``analyze_many``; with the channels-last setting, the models fed no 4-D / 5-D floating-point tensor
    (token models: the layout changes nothing for them) are analysed as they are, contiguous (their reports
    say so: ``extras["memory_format"]``), instead of the whole selection being refused as the CLI refuses
    an explicit ``--memory-format channels-last`` for such a model."""
    from dataclasses import replace

    from metrics_core.runtime.analyze import analyze_many

    names = list(names)
    if options.memory_format == "contiguous":
        return analyze_many(names, options, on_report=on_report)
    plain = {name for name in names if _laid_out(name, options).memory_format == "contiguous"}
    laid_out = [n for n in names if n not in plain]
    done = dict(zip(laid_out, analyze_many(laid_out, options, on_report=on_report), strict=True))
    flat = [n for n in names if n in plain]
    flat_options = replace(options, memory_format="contiguous")
    done.update(zip(flat, analyze_many(flat, flat_options, on_report=on_report), strict=True))
    return [done[n] for n in names]


def _catalog() -> list[Any]:
    from metrics_core.sources.catalog import catalog

    return catalog()


def _more_models() -> list[Any]:
    """Specs of the other sources, for the catalog picker: the bundled Hugging Face configs, and every
    timm architecture when timm is installed (its index may take a subprocess a few seconds to build the
    first time: call off the UI thread). Sources whose library is missing are left out."""
    import importlib.util

    from metrics_core.sources import hf_source, timm_source

    out: list[Any] = []
    if importlib.util.find_spec("transformers") is not None:
        out += [hf_source.get_spec(mid) for mid in hf_source.list_ids()]
    if timm_source.timm_version() is not None:
        out += [timm_source.get_spec(n) for n in timm_source.list_names()]
    return out


def _presets() -> dict[str, Any]:
    from metrics_core.sources.catalog import PRESETS

    return dict(PRESETS)


def _get_spec(name: str) -> Any:
    from metrics_core.sources.resolve import get_spec

    return get_spec(name)


def _bench(
    jobs: Sequence[tuple[str, ModelReport]],
    options: AnalysisOptions,
    on_event: Callable[[Any], None],
    stop: threading.Event,
) -> None:
    from tui.app.benchrun import run_benchmarks

    run_benchmarks(jobs, options, on_event, stop)


def _llm(name: str, target: HardwareTarget, scenarios: Sequence[Any]) -> list[Any]:
    """``LlmEstimate`` of ``name`` on ``target`` for each ``perf.llm.Scenario`` (captured in a worker
    process, the captures cached: ``runtime.llm_cache``; raises ``ModeltuiError`` for a model that is not
    a decoder or settings the target lacks)."""
    from metrics_core.runtime.llm_cache import llm_estimates
    from metrics_core.runtime.pool import DEFAULT_TIMEOUT_S

    return [llm_estimates(name, target, [s], timeout_s=DEFAULT_TIMEOUT_S)[0] for s in scenarios]


def _llm_steps(name: str, bits: Any) -> Any:
    """The ``perf.serving.StepModel`` of ``name`` at ``bits`` (its decode-step captures run in a worker
    process once, then cached: ``runtime.llm_cache.step_model``)."""
    from metrics_core.runtime.llm_cache import step_model
    from metrics_core.runtime.pool import DEFAULT_TIMEOUT_S

    return step_model(name, bits, timeout_s=DEFAULT_TIMEOUT_S)


def _train(name: str, options: AnalysisOptions, train: Any) -> Any:
    """One training step of ``name`` (``runtime.train_capture.TrainRun``) captured in a worker process
    (``train``: ``runtime.train_capture.TrainOptions``; raises ``ModeltuiError`` with one line for a model
    the step cannot be captured for)."""
    from metrics_core.runtime.pool import DEFAULT_TIMEOUT_S
    from metrics_core.runtime.train_capture import capture_in_worker

    return capture_in_worker(name, _laid_out(name, options), train, timeout_s=DEFAULT_TIMEOUT_S)


def _laid_out(name: str, options: AnalysisOptions) -> AnalysisOptions:
    """``options`` for ``name``: with the channels-last setting, a model fed no 4-D / 5-D floating-point
    tensor gets contiguous ones (the layout changes nothing for it: ``_analyze``)."""
    if options.memory_format == "contiguous":
        return options
    from dataclasses import replace

    from metrics_core.common.errors import UsageError
    from metrics_core.runtime.analyze import check_memory_format
    from metrics_core.sources.catalog import get_spec

    try:
        check_memory_format(get_spec(name), options)
    except UsageError:
        return replace(options, memory_format="contiguous")
    return options


def _catalog_note() -> str | None:
    from metrics_core.sources.catalog import stale_note

    return stale_note()


def _stop() -> None:
    """End analyses in flight at once (quit, new settings): the pool's workers are terminated (their
    models report "analysis cancelled"); the fork server stays for the next analysis."""
    pool = sys.modules.get("metrics_core.runtime.pool")
    if pool is not None:
        pool.shutdown(cancel=True)


def _abort() -> None:
    """The app quits: end what would hold up its exit (asyncio waits for every thread worker): the pool's
    work, a worker start waiting for the fork server's imports included (``pool.abort``), and a timm
    index being built (``timm_source.cancel_index_builds``)."""
    pool = sys.modules.get("metrics_core.runtime.pool")
    if pool is not None:
        pool.abort()
    timm_source = sys.modules.get("metrics_core.sources.timm_source")
    if timm_source is not None:
        timm_source.cancel_index_builds()


def _prepare() -> None:
    """Start multiprocessing's resource tracker while ``sys.stderr`` is still the terminal's.

    The app replaces ``sys.stderr`` with an object that has no file descriptor, and the tracker (started
    with the first child process: analysis workers, the benchmark) passes ``sys.stderr.fileno()`` to its
    child: started later, inside the app, it fails with "bad value(s) in fds_to_keep"."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()


def _warm_up() -> None:
    """Start the analysis worker processes in the background (torch is imported there, not here)."""
    from metrics_core.runtime import pool

    if pool.use_processes():
        pool.warm_up()


def _set_warning_handler(handler: Callable[[str], None] | None) -> None:
    from metrics_core.runtime import cache

    cache.set_warning_handler(handler)


def _targets(extra_files: Sequence[str] = ()) -> list[HardwareTarget]:
    from metrics_core.perf.hardware import hardware_targets

    return hardware_targets(extra_files)


def _hardware_warnings(extra_files: Sequence[str] = ()) -> list[str]:
    from metrics_core.perf.efficiency import unknown_target_warnings
    from metrics_core.perf.hardware import load_catalog

    catalog = load_catalog(extra_files)
    return [*catalog.warnings, *unknown_target_warnings(catalog.ids())]


@dataclass(frozen=True)
class Backend:
    """The app's view of ``metrics_core``: catalog, presets, name lookup, hardware and analysis.

    ``catalog()`` returns ``ModelSpec``-like objects (name, family, task, input_shape, reference,
    supported, reason); ``presets()`` maps a key to an object with ``title``, ``models`` and ``sort_by``;
    ``get_spec(name)`` raises a ``ModeltuiError`` for an unknown name.
    """

    analyze: Analyze = _analyze
    bench: Bench = _bench
    #: LLM serving estimates for the LLM view: ``llm(name, target, scenarios) -> [LlmEstimate]``
    llm: Callable[[str, HardwareTarget, Sequence[Any]], list[Any]] = _llm
    #: the step model of a decoder (``perf.serving.StepModel``): ``llm_steps(name, bits)``
    llm_steps: Callable[[str, Any], Any] = _llm_steps
    #: a training step captured in a worker process for the training view: ``train(name, options,
    #: train_options) -> TrainRun``
    train: Callable[[str, AnalysisOptions, Any], Any] = _train
    #: stops analyses in flight (quit, new settings)
    stop: Callable[[], None] = _stop
    #: the app quits: ends at once what its threads wait for (worker starts, the timm index builder)
    abort: Callable[[], None] = _abort
    #: a one-line note when the shipped catalog does not match the installed torchvision, else None
    catalog_note: Callable[[], str | None] = _catalog_note
    catalog: Callable[[], list[Any]] = _catalog
    #: the other sources' models (timm, bundled Hugging Face), loaded after the catalog; may be slow
    more_models: Callable[[], list[Any]] = _more_models
    presets: Callable[[], dict[str, Any]] = _presets
    get_spec: Callable[[str], Any] = _get_spec
    targets: Callable[..., list[HardwareTarget]] = _targets
    #: one line per file of the user hardware directory that was skipped (broken), naming the file
    hardware_warnings: Callable[..., list[str]] = _hardware_warnings
    #: called once before the app takes over the terminal
    prepare: Callable[[], None] = _prepare
    #: called after the first screen is painted
    warm_up: Callable[[], None] = _warm_up
    #: routes one-line cache warnings (corrupt entries ...) to the app; None restores stderr
    set_warning_handler: Callable[[Callable[[str], None] | None], None] = _set_warning_handler
