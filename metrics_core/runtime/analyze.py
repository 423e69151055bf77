"""Analyse models: catalog spec -> build on meta -> capture ops -> metrics -> ``ModelReport``.

This module imports no torch at import time; the engines do, when a model is actually analysed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import replace

from metrics_core.common.errors import UsageError
from metrics_core.common.records import ModelReport
from metrics_core.runtime.engines import analyze_spec
from metrics_core.runtime.options import ENGINES, AnalysisOptions

__all__ = ["ENGINES", "AnalysisOptions", "analyze", "analyze_many", "analyze_spec"]


def analyze(name: str, options: AnalysisOptions | None = None) -> ModelReport:
    """Analyse one model by catalog name or ``package.module:factory``; errors become ``report.error``."""
    return analyze_many([name], options)[0]


def analyze_many(
    names: Sequence[str],
    options: AnalysisOptions | None = None,
    on_report: Callable[[ModelReport], None] | None = None,
) -> list[ModelReport]:
    """Analyse several models; the reports are returned in the order of ``names``. Unknown names raise
    ``UnknownModelError`` before any work; a model that fails to build or trace gets a report with
    ``error`` set and the others go on.

    Cached results (``metrics_core.runtime.cache``, unless ``options.use_cache`` is off) are used without
    importing torch; the rest are analysed in worker processes (``metrics_core.runtime.pool``) or, when
    torch is already imported here or ``MODELTUI_JOBS=0``, in this process. ``on_report`` is called with each
    report as soon as it is ready (cached ones first, then in completion order), always in the thread
    that called ``analyze_many``."""
    from metrics_core.sources.catalog import get_spec

    options = (options or AnalysisOptions()).validated()
    specs = [get_spec(n) for n in names]
    for spec in specs:  # what each model is fed, checked before any worker starts
        check_feed(spec, options)
    return _analyze_specs(specs, options, on_report)


def check_feed(spec, options: AnalysisOptions) -> None:  # noqa: ANN001 (ModelSpec)
    """``UsageError`` (one line) when ``options.input_shape`` - or the first positional ``--input`` of an
    image or video model - has the wrong rank for ``spec``'s input kind, or ``options.seq_len`` is longer
    than the model takes. Refused models are left to their own reason."""
    from metrics_core.sources.spec import default_inputs, resolve_input_shape

    if not spec.supported:
        return
    if options.input_shape is not None:
        resolve_input_shape(spec, options.input_shape)
    first = options.inputs[0] if options.inputs else None
    if first is not None and first.name is None and spec.input_kind in ("image", "video"):
        # the first positional input of an image / video model is its pixels: the same rank check
        try:
            resolve_input_shape(spec, first.shape)
        except UsageError as exc:
            raise UsageError(f"--input {first.dtype}:{'x'.join(map(str, first.shape))}: {exc}") from None
    if options.inputs and spec.max_tokens is not None and spec.input_kind.startswith("tokens"):
        limit, source = spec.max_tokens
        for given in options.inputs:  # token ids and masks: their last dimension is the sequence
            if given.shape and given.shape[-1] > limit and not given.dtype.startswith(("float", "bfloat")):
                raise UsageError(
                    f"--input {given.dtype}:{'x'.join(map(str, given.shape))}: {spec.name} takes at most "
                    f"{limit:,} tokens ({source})"
                )
    if options.seq_len is not None and not options.inputs and not options.inputs_fn:
        default_inputs(spec, options.input_shape, options.seq_len)
    check_memory_format(spec, options)


def check_memory_format(spec, options: AnalysisOptions) -> None:  # noqa: ANN001 (ModelSpec)
    """``UsageError`` (one line) when ``options.memory_format`` is channels-last and ``spec`` is fed no 4-D
    or 5-D floating-point tensor (``--input`` / ``--input-shape`` / the defaults of its input kind): the
    layout would change nothing, so the run is refused up front, as the capture refuses it
    (``capture.layouts.to_memory_format``; inputs from a ``--inputs`` function are checked there)."""
    from metrics_core.common.input_spec import is_layout_input
    from metrics_core.sources.spec import default_inputs

    if options.memory_format == "contiguous" or not spec.supported or options.inputs_fn:
        return
    fed = options.inputs or default_inputs(spec, options.input_shape, options.seq_len)
    if not any(is_layout_input(s) for s in fed):
        described = ", ".join(s.text() for s in fed) or "nothing"
        raise UsageError(
            f"--memory-format channels-last: {spec.name} is fed no 4-D or 5-D floating-point tensor "
            f"({described} per sample; channels-last lays out image batches N, C, H, W and videos "
            "N, C, D, H, W): leave it contiguous, or feed such an input (--input / --input-shape)"
        )


def _analyze_specs(specs, options: AnalysisOptions, on_report) -> list[ModelReport]:  # noqa: ANN001
    """``analyze_many`` for resolved specs: cache lookups, then the misses (each distinct name once)."""
    from metrics_core.runtime import cache, pool

    reports: list[ModelReport | None] = [None] * len(specs)
    positions: dict[str, list[int]] = {}  # name -> positions still waiting for it
    todo = []  # (first position, spec, cache key or None)

    def deliver(name: str, report: ModelReport) -> None:
        for i in positions.pop(name):
            reports[i] = report
            if on_report is not None:
                on_report(report)

    for i, spec in enumerate(specs):
        if spec.name in positions:
            positions[spec.name].append(i)
            continue
        positions[spec.name] = [i]
        key = cache.report_key(spec, options)
        report = None
        if key is not None:
            report = cache.load(key, reload=functools.partial(_reanalyse, spec, options, key))
        if report is None and not spec.supported:
            report = analyze_spec(spec, options)  # a refused model: its reason, no torch needed
        if report is not None:
            deliver(spec.name, report)
        else:
            todo.append((i, spec, key))

    if todo and pool.use_processes():
        cache_dir = cache.reports_dir() if options.use_cache else None
        tasks = [pool.Task(i, spec.name, key, _cost_hint(spec)) for i, spec, key in todo]
        try:
            runs = pool.run_tasks(tasks, options, str(cache_dir) if cache_dir else None, options.timeout_s)
            for task, outcome in runs:
                report = outcome.report
                if outcome.warning:
                    cache.warn(outcome.warning)
                if outcome.stored:
                    path = cache.entry_path(task.key, cache_dir)
                    reload = functools.partial(_reanalyse, specs[task.position], options, task.key)
                    report.records = cache.lazy_records(path, task.key, outcome.n_records, reload)
                deliver(task.name, report)
        except pool.PoolUnavailable as exc:
            if pool.isolated():  # user code never runs here: the rest are row errors
                for _, spec, _key in [t for t in todo if t[1].name in positions]:
                    why = f"analysis worker processes unavailable ({exc})"
                    deliver(spec.name, analyze_spec(replace(spec, supported=False, reason=why), options))
            else:
                cache.warn(f"analysis worker processes unavailable ({exc}); analysing in this process")
        todo = [t for t in todo if t[1].name in positions]  # not delivered (only after a pool failure)
    for _, spec, key in todo:
        report = analyze_spec(spec, options)
        if key is not None and report.ok and (warning := cache.try_store(key, report)):
            cache.warn(warning)
        deliver(spec.name, report)
    return reports  # type: ignore[return-value]


def _reanalyse(spec, options: AnalysisOptions, key: dict) -> ModelReport:  # noqa: ANN001
    """A fresh analysis of ``spec`` (its cache entry proved unreadable), stored again."""
    from metrics_core.runtime import cache

    (report,) = _analyze_specs([spec], replace(options, use_cache=False), None)
    if report.ok and (warning := cache.try_store(key, report)):
        cache.warn(warning)
    return report


def _cost_hint(spec) -> float:  # noqa: ANN001
    """Relative analysis time of a model, to hand out the slowest first (see ``pool``): its published
    parameter count, a proxy for depth and width (0 when unknown)."""
    ref = spec.reference or {}
    return float(ref.get("num_params") or 0)
