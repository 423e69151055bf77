"""Analyse models: catalog spec -> build on meta -> capture ops -> metrics -> ``ModelReport``.

This module imports no torch at import time; the engines do, when a model is actually analysed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from metrics_core.dtypes import DTYPES
from metrics_core.errors import UsageError
from metrics_core.records import Coverage, ModelMetrics, ModelReport

ENGINES: tuple[str, ...] = ("meta", "fvcore")


@dataclass(frozen=True)
class AnalysisOptions:
    """How to analyse: batch size, per-sample input shape (None: the model's native one), dtype, engine."""

    batch_size: int = 1
    dtype: str = "fp32"
    input_shape: tuple[int, ...] | None = None
    engine: str = "meta"
    use_cache: bool = True

    def validated(self) -> AnalysisOptions:
        """These options, checked; ``UsageError`` with a one-line message otherwise."""
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise UsageError(f"batch size must be a positive integer, got {self.batch_size!r}")
        if self.dtype not in DTYPES:
            raise UsageError(f"unknown dtype {self.dtype!r}; choose one of {', '.join(DTYPES)}")
        if self.engine not in ENGINES:
            raise UsageError(f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        if self.input_shape is not None:
            shape = tuple(self.input_shape)
            if not 2 <= len(shape) <= 4 or any(not isinstance(d, int) or d < 1 for d in shape):
                raise UsageError(
                    f"input shape must be 2 to 4 positive integers per sample (e.g. 3 224 224), got {shape}"
                )
            return replace(self, input_shape=shape)
        return self


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

    Cached results (``metrics_core.cache``, unless ``options.use_cache`` is off) are used without
    importing torch; the rest are analysed in worker processes (``metrics_core.pool``) or, when torch is
    already imported here or ``MODELTUI_JOBS=0``, in this process. ``on_report`` is called with each
    report as soon as it is ready (cached ones first, then in completion order), always in the thread
    that called ``analyze_many``."""
    from metrics_core.catalog import get_spec

    options = (options or AnalysisOptions()).validated()
    specs = [get_spec(n) for n in names]
    return _analyze_specs(specs, options, on_report)


def _analyze_specs(specs, options: AnalysisOptions, on_report) -> list[ModelReport]:  # noqa: ANN001
    """``analyze_many`` for resolved specs: cache lookups, then the misses (each distinct name once)."""
    from metrics_core import cache, pool

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
            for task, outcome in pool.run_tasks(tasks, options, str(cache_dir) if cache_dir else None):
                report = outcome.report
                if outcome.warning:
                    cache.warn(outcome.warning)
                if outcome.stored:
                    path = cache.entry_path(task.key, cache_dir)
                    reload = functools.partial(_reanalyse, specs[task.position], options, task.key)
                    report.records = cache.lazy_records(path, task.key, outcome.n_records, reload)
                deliver(task.name, report)
        except pool.PoolUnavailable as exc:
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
    from metrics_core import cache

    (report,) = _analyze_specs([spec], replace(options, use_cache=False), None)
    if report.ok and (warning := cache.try_store(key, report)):
        cache.warn(warning)
    return report


def _cost_hint(spec) -> float:  # noqa: ANN001
    """Relative analysis time of a model, to hand out the slowest first (see ``pool``): its published
    parameter count, a proxy for depth and width (0 when unknown)."""
    ref = spec.reference or {}
    return float(ref.get("num_params") or 0)


def analyze_spec(spec, options: AnalysisOptions) -> ModelReport:  # noqa: ANN001 (ModelSpec)
    """Analyse one resolved catalog spec, never raising for model failures."""
    shape = list(options.input_shape or spec.input_shape)
    base = ModelReport(
        model=spec.name,
        input_shape=shape,
        batch_size=options.batch_size,
        dtype=options.dtype,
        engine=options.engine,
        task=spec.task,
        family=spec.family,
        reference=spec.reference,
    )
    if not spec.supported:
        base.error = spec.reason or "not supported"
        return base
    try:
        if options.engine == "fvcore":
            from metrics_core.fvcore_engine import run_fvcore

            return run_fvcore(spec, options, base)
        return _run_meta(spec, options, base)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a model failing to build/trace is a row error, not a crash
        base.error = one_line_error(exc)
        return base


def _run_meta(spec, options: AnalysisOptions, report: ModelReport) -> ModelReport:  # noqa: ANN001
    from metrics_core.build import build_model
    from metrics_core.capture import capture
    from metrics_core.inputs import example_inputs
    from metrics_core.metrics import compute_metrics
    from metrics_core.peak_memory import peak_memory, resident_weight_bytes

    model = build_model(spec, device="meta", input_shape=options.input_shape)
    inputs = example_inputs(spec, options.batch_size, options.input_shape, device="meta")
    trace = capture(model, inputs, options.dtype)
    params, trainable = count_params(model)
    report.records = trace.records
    report.metrics = ModelMetrics(
        **compute_metrics(trace.records, params, trainable, options.dtype, trace.head_index)
    )
    report.coverage = coverage_of(trace.records)
    memory = peak_memory(trace, resident_weight_bytes(model, options.dtype))
    report.extras["memory"] = memory.to_dict()
    for record, live in zip(trace.records, memory.live_bytes, strict=True):
        record.live_bytes = live
    return report


def count_params(model) -> tuple[int, int]:  # noqa: ANN001 (nn.Module)
    """(all, trainable) parameter element counts; shared parameters counted once."""
    seen: set[int] = set()
    total = trainable = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return total, trainable


def coverage_of(records) -> Coverage:  # noqa: ANN001
    """Which recorded ops had no cost rule, by name and count."""
    uncovered: dict[str, int] = {}
    for r in records:
        if not r.covered:
            uncovered[r.op] = uncovered.get(r.op, 0) + 1
    total = len(records)
    return Coverage(uncovered=uncovered, covered_ops=total - sum(uncovered.values()), total_ops=total)


def one_line_error(exc: BaseException) -> str:
    """``'TypeError: first line of the message'`` (never a traceback)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
