"""metrics_core: model metrics, op-level costs, hardware rooflines. Knows nothing of any UI.

The public API is re-exported lazily so that ``import metrics_core`` stays cheap (no torch):

- ``catalog()``, ``get_spec(name)``: the model catalog (``metrics_core.sources.catalog``)
- ``analyze(name_or_module, *example_inputs, hardware=..., ...) -> Report`` (``metrics_core.api``): a
  catalog name or an ``nn.Module`` instance (never changed, never copied); ``Report`` (totals,
  ``by_module``, ``by_op``, estimates, ``to_json`` / ``to_csv`` / ``to_pandas``, ``diff``), ``ReportDiff``
- ``record(...)``: the ops of any block of code as a ``Report``; ``register_cost_rule(op, fn)`` /
  ``remove_cost_rule(op)``: a user's cost rule for an op without one
- ``AnalysisOptions``, ``analyze_many(names, options, on_report)`` (``ModelReport`` objects)
- ``hardware_targets()``, ``get_target(id)``: the hardware catalog (``metrics_core.perf.hardware``)
- ``estimate_model(report, target, precision)``, ``estimate_ops(...)``: roofline estimates
- ``efficiency_rankings(reports)``, ``sort_reports(reports, key, reverse)``
- ``accuracy_of(name)``: published ImageNet-1k accuracy; ``estimate_energy(target, latency_s, batch)``;
  ``tradeoff_rows(reports, target, precision)``, ``pareto(rows, x, y)``, ``pick(rows, constraints, by)``
- ``train_step(model, args, kwargs, loss=, optimizer=, precision=, ...)``: a training step of a model
  instance (on a meta copy); ``estimate_training(step, target)``: time, MFU, memory by category;
  ``all_plans(step, estimate, target, gpus)``, ``best_plan(plans)``: data / ZeRO / pipeline plans
- ``llm(name, hardware=..., batch_size=, prompt=, generate=, weights=, ...)``: ``modeltui llm`` from
  Python (an ``LlmEstimate``: prefill / decode, KV cache, what fits, TTFT / TPOT); ``llm_serving(name,
  hardware=..., users=, rate=, max_tpot_s=, max_ttft_s=)``: its serving views (``ServingViews``)
- dataclasses: ``ModelReport``, ``ModelMetrics``, ``OpRecord``, ``Coverage``
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "catalog": "metrics_core.sources.catalog",
    "get_spec": "metrics_core.sources.catalog",
    "AnalysisOptions": "metrics_core.runtime.analyze",
    "analyze": "metrics_core.api.analyze",
    "Report": "metrics_core.api.report",
    "ReportDiff": "metrics_core.api.diff",
    "record": "metrics_core.api.recording",
    "register_cost_rule": "metrics_core.costs.registry",
    "remove_cost_rule": "metrics_core.costs.registry",
    "analyze_many": "metrics_core.runtime.analyze",
    "hardware_targets": "metrics_core.perf.hardware",
    "get_target": "metrics_core.perf.hardware",
    "estimate_model": "metrics_core.perf.roofline",
    "estimate_ops": "metrics_core.perf.roofline",
    "precision_for": "metrics_core.perf.roofline",
    "efficiency_rankings": "metrics_core.report.rankings",
    "sort_reports": "metrics_core.report.sorting",
    "accuracy_of": "metrics_core.report.accuracy",
    "estimate_energy": "metrics_core.perf.energy",
    "tradeoff_rows": "metrics_core.perf.tradeoff",
    "pareto": "metrics_core.report.pareto",
    "pick": "metrics_core.report.pick",
    "train_step": "metrics_core.capture.train_step",
    "estimate_training": "metrics_core.perf.training",
    "all_plans": "metrics_core.perf.parallel_plans",
    "best_plan": "metrics_core.perf.parallel_plans",
    "llm": "metrics_core.api.llm",
    "llm_serving": "metrics_core.api.llm",
    "ServingViews": "metrics_core.api.llm",
    "ModelReport": "metrics_core.common.records",
    "ModelMetrics": "metrics_core.common.records",
    "OpRecord": "metrics_core.common.records",
    "Coverage": "metrics_core.common.records",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'metrics_core' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
