"""What the app needs from ``metrics_core``, as replaceable callables (tests inject their own).

Every default imports its ``metrics_core`` module lazily, inside the call, so importing the app never
imports torch: analysis runs behind ``metrics_core.analyze.analyze_many`` (worker processes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from metrics_core.analyze import AnalysisOptions
from metrics_core.hardware import HardwareTarget
from metrics_core.records import ModelReport

#: ``analyze(names, options, on_report) -> reports``; ``on_report`` is called as each model finishes.
Analyze = Callable[[Sequence[str], AnalysisOptions, Callable[[ModelReport], None]], list[ModelReport]]


def _analyze(
    names: Sequence[str], options: AnalysisOptions, on_report: Callable[[ModelReport], None]
) -> list[ModelReport]:
    from metrics_core.analyze import analyze_many

    return analyze_many(list(names), options, on_report=on_report)


def _catalog() -> list[Any]:
    from metrics_core.catalog import catalog

    return catalog()


def _presets() -> dict[str, Any]:
    from metrics_core.catalog import PRESETS

    return dict(PRESETS)


def _get_spec(name: str) -> Any:
    from metrics_core.catalog import get_spec

    return get_spec(name)


def _prepare() -> None:
    """Start multiprocessing's resource tracker while ``sys.stderr`` is still the terminal's.

    The app replaces ``sys.stderr`` with an object that has no file descriptor, and the tracker (started
    with the first worker process) passes ``sys.stderr.fileno()`` to its child: started later, inside
    the app, it fails with "bad value(s) in fds_to_keep". Only needed when analysis uses processes."""
    from metrics_core import pool

    if pool.use_processes():
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()


def _warm_up() -> None:
    """Start the analysis worker processes in the background (torch is imported there, not here)."""
    from metrics_core import pool

    if pool.use_processes():
        pool.warm_up()


def _set_warning_handler(handler: Callable[[str], None] | None) -> None:
    from metrics_core import cache

    cache.set_warning_handler(handler)


def _targets(extra_files: Sequence[str] = ()) -> list[HardwareTarget]:
    from metrics_core.hardware import hardware_targets

    return hardware_targets(extra_files)


@dataclass(frozen=True)
class Backend:
    """The app's view of ``metrics_core``: catalog, presets, name lookup, hardware and analysis.

    ``catalog()`` returns ``ModelSpec``-like objects (name, family, task, input_shape, reference,
    supported, reason); ``presets()`` maps a key to an object with ``title``, ``models`` and ``sort_by``;
    ``get_spec(name)`` raises a ``ModeltuiError`` for an unknown name.
    """

    analyze: Analyze = _analyze
    catalog: Callable[[], list[Any]] = _catalog
    presets: Callable[[], dict[str, Any]] = _presets
    get_spec: Callable[[str], Any] = _get_spec
    targets: Callable[..., list[HardwareTarget]] = _targets
    #: called once before the app takes over the terminal
    prepare: Callable[[], None] = _prepare
    #: called after the first screen is painted
    warm_up: Callable[[], None] = _warm_up
    #: routes one-line cache warnings (corrupt entries ...) to the app; None restores stderr
    set_warning_handler: Callable[[Callable[[str], None] | None], None] = _set_warning_handler
