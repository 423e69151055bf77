"""One resolved spec + options -> ``ModelReport``, in the calling process (a worker, or this process when
``MODELTUI_JOBS=0``): the meta capture (build on meta -> capture ops -> metrics, peak memory) or fvcore.

torch is imported only when a model is actually analysed.
"""

from __future__ import annotations

from typing import Any

from metrics_core.common.errors import ModelCodeError, ModeltuiError, error_kind, one_line_error
from metrics_core.common.input_spec import describe_inputs
from metrics_core.common.records import ModelMetrics, ModelReport
from metrics_core.runtime.options import AnalysisOptions


def analyze_spec(spec, options: AnalysisOptions) -> ModelReport:  # noqa: ANN001 (ModelSpec)
    """Analyse one resolved spec, never raising for model failures (they become ``report.error``, one
    line). Model code that calls ``sys.exit()`` or raises any other ``BaseException`` (but Ctrl+C) is a
    model failure too."""
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
        base.error_kind = "unsupported"
        return base
    try:
        from metrics_core.costs.registry import load_rule_modules

        load_rule_modules(options.rules)
        if options.engine == "fvcore":
            from metrics_core.runtime.fvcore_engine import run_fvcore

            return run_fvcore(spec, options, base)
        return _run_meta(spec, options, base)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a model failing to build/trace is a row error, not a crash
        base.error = one_line_error(exc)
        base.error_kind = error_kind(exc)
        return base


def builder_overrides(spec, options: AnalysisOptions) -> dict[str, Any]:  # noqa: ANN001 (ModelSpec)
    """Builder arguments that come from the options rather than the spec (``hf:`` class, attention)."""
    if spec.source != "hf":
        return {}
    out: dict[str, Any] = {"attn_implementation": options.attention}
    if options.hf_class:
        out["model_class"] = options.hf_class
    return out


def with_model_dtype(options: AnalysisOptions, model: Any) -> AnalysisOptions:
    """``options`` with ``dtype`` set to the model's float16/bfloat16 parameter type when the dtype was
    not chosen (``dtype_from_model``); unchanged otherwise."""
    if not options.dtype_from_model:
        return options
    import dataclasses

    from metrics_core.capture.inputs import model_float_dtype

    own = {"float16": "fp16", "bfloat16": "bf16"}.get(str(model_float_dtype(model)).removeprefix("torch."))
    return dataclasses.replace(options, dtype=own) if own else options


def feed_for(spec, options: AnalysisOptions, model: Any) -> Any:  # noqa: ANN001 (ModelSpec, nn.Module)
    """What the forward pass is fed (``capture.inputs.Feed``): ``--inputs``, ``--input`` or the
    source's default inputs for the model (``--input-shape`` / ``--seq-len`` applied)."""
    from metrics_core.capture.inputs import feed_from_function, make_feed
    from metrics_core.sources.spec import default_inputs

    if options.inputs_fn:
        return feed_from_function(options.inputs_fn, options.batch_size)
    specs = options.inputs or default_inputs(spec, options.input_shape, options.seq_len)
    return make_feed(specs, options.batch_size, model, analysis_dtype=options.dtype)


def _run_meta(spec, options: AnalysisOptions, report: ModelReport) -> ModelReport:  # noqa: ANN001
    from metrics_core.capture.layer_replicas import capture_replicated
    from metrics_core.capture.layouts import to_memory_format
    from metrics_core.capture.trace import capture
    from metrics_core.runtime.llm_capture import DECODER_TASKS
    from metrics_core.sources.build import build_model

    shape = options.input_shape if not options.inputs else None
    model = build_model(spec, device="meta", input_shape=shape, **builder_overrides(spec, options))
    options = with_model_dtype(options, model)
    report.dtype = options.dtype
    feed = feed_for(spec, options, model)
    feed.args, feed.kwargs = to_memory_format(model, feed.args, feed.kwargs, options.memory_format, spec.name)
    report.extras["memory_format"] = options.memory_format
    report.inputs = feed.described
    if feed.described and feed.described[0]["shape"]:
        report.input_shape = list(feed.described[0]["shape"][1:])  # per sample, of the first input
    try:
        # a decoder's identical layers captured once (capture.layer_replicas: the same trace)
        run = capture_replicated if spec.source == "hf" and spec.task in DECODER_TASKS else capture
        trace = run(model, feed.args, options.dtype, feed.kwargs, feed.values)
    except (KeyboardInterrupt, ModeltuiError):
        raise
    except Exception as exc:
        options_hint = (
            "--input, --input-shape, --seq-len or --inputs"
            if spec.source == "hf"
            else ("--input, --input-shape or --inputs")
        )
        raise ModelCodeError(
            f"forward failed: {one_line_error(exc)} (fed {describe_inputs(feed.described) or 'nothing'}; "
            f"change it with {options_hint})"
        ) from exc
    return fill_report(report, model, trace, options.dtype)


def fill_report(report: ModelReport, model: Any, trace: Any, dtype: str) -> ModelReport:  # noqa: ANN401
    """``report`` completed from one capture of ``model`` (``nn.Module``, any device; only shapes read):
    records, the model-level metrics, coverage, peak memory (``extras["memory"]``, live bytes per record)
    and the data flow. ``trace`` is ``capture.trace.Trace``; ``dtype`` the analysis dtype. Shared by the
    catalog path and the Python API's instance path, so both give identical reports."""
    from metrics_core.capture.dataflow import annotate_dataflow
    from metrics_core.capture.params import active_params, count_params, module_table
    from metrics_core.capture.peak_memory import peak_memory, resident_weight_bytes
    from metrics_core.report.coverage import coverage_of
    from metrics_core.report.metrics import compute_metrics

    params, trainable = count_params(model)
    report.records = trace.records
    report.metrics = ModelMetrics(
        **compute_metrics(trace.records, params, trainable, dtype, trace.head_index),
        active_params=active_params(model, params),
    )
    report.coverage = coverage_of(trace.records)
    report.coverage.rule_errors = dict(trace.rule_errors)
    memory = peak_memory(trace, resident_weight_bytes(model, dtype))
    report.extras["memory"] = memory.to_dict()
    for record, live in zip(trace.records, memory.live_bytes, strict=True):
        record.live_bytes = live
    annotate_dataflow(trace.records, trace.events)
    report.extras["modules"] = module_table(model)
    return report
