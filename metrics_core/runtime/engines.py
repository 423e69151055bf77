"""One resolved spec + options -> ``ModelReport``, in the calling process (a worker, or this process when
``MODELTUI_JOBS=0``): the meta capture (build on meta -> capture ops -> metrics, peak memory) or fvcore.

torch is imported only when a model is actually analysed.
"""

from __future__ import annotations

from metrics_core.common.errors import one_line_error
from metrics_core.common.records import ModelMetrics, ModelReport
from metrics_core.runtime.options import AnalysisOptions


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
            from metrics_core.runtime.fvcore_engine import run_fvcore

            return run_fvcore(spec, options, base)
        return _run_meta(spec, options, base)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a model failing to build/trace is a row error, not a crash
        base.error = one_line_error(exc)
        return base


def _run_meta(spec, options: AnalysisOptions, report: ModelReport) -> ModelReport:  # noqa: ANN001
    from metrics_core.capture.inputs import example_inputs
    from metrics_core.capture.params import count_params
    from metrics_core.capture.peak_memory import peak_memory, resident_weight_bytes
    from metrics_core.capture.trace import capture
    from metrics_core.report.coverage import coverage_of
    from metrics_core.report.metrics import compute_metrics
    from metrics_core.sources.build import build_model

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
