"""Sort keys for comparisons: the seed's names plus any metric name, each with a natural direction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from metrics_core.common.errors import UsageError
from metrics_core.common.records import METRIC_NAMES, ModelReport
from metrics_core.report.accuracy import accuracy_fields

#: The seed's ``--sort-by`` names -> (metric, descending by default?).
#: Cost-like keys list the smallest first; "good when high" keys (efficiency, ai) the highest first.
SEED_SORT_KEYS: dict[str, tuple[str, bool]] = {
    "params": ("params", False),
    "flops": ("flops", False),
    "macs": ("macs", False),
    "memory": ("memory_bytes", False),
    "efficiency": ("flops_per_param", True),
    "ai": ("avg_ai", True),
}

#: Published accuracy (``metrics_core.report.accuracy``) usable as sort keys: the most accurate first.
ACCURACY_SORT_KEYS: dict[str, bool] = {"acc1": True, "acc5": True}

_DESCENDING_METRICS = frozenset({"flops_per_param", "avg_ai", "aggregate_ai", "compute_bound_pct"})

#: Roofline estimate attributes (``roofline.ModelEstimate``) usable as sort keys -> descending by default?
ESTIMATE_SORT_KEYS: dict[str, bool] = {
    "latency_s": False,
    "throughput_per_s": True,
    "attained_flops_per_s": True,
    "pct_of_peak": True,
    "memory_bound_time_pct": False,
    "bound": False,
}


def resolve_sort_key(key: str) -> tuple[str, bool]:
    """(metric name, descending) for a seed sort key or a metric name; ``UsageError`` otherwise."""
    if key in SEED_SORT_KEYS:
        return SEED_SORT_KEYS[key]
    if key in METRIC_NAMES or key == "model":
        return key, key in _DESCENDING_METRICS
    if key in ESTIMATE_SORT_KEYS:
        return key, ESTIMATE_SORT_KEYS[key]
    if key in ACCURACY_SORT_KEYS:
        return key, ACCURACY_SORT_KEYS[key]
    choices = ", ".join([*SEED_SORT_KEYS, *ACCURACY_SORT_KEYS, "or a metric name"])
    raise UsageError(f"unknown sort key {key!r}; choose one of {choices}")


def sort_reports(
    reports: Sequence[ModelReport],
    key: str,
    reverse: bool = False,
    estimates: Mapping[str, Any] | None = None,
) -> list[ModelReport]:
    """Reports ordered by ``key`` in its natural direction (inverted by ``reverse``); failed models and
    undefined values always come last, in their original order. Estimate keys (``ESTIMATE_SORT_KEYS``)
    read ``estimates[model]`` (a ``roofline.ModelEstimate``)."""
    metric, descending = resolve_sort_key(key)
    if reverse:
        descending = not descending

    def value(r: ModelReport):  # noqa: ANN202
        if metric == "model":
            return r.model
        if metric in ESTIMATE_SORT_KEYS:
            est = (estimates or {}).get(r.model)
            return getattr(est, metric) if est is not None else None
        if metric in ACCURACY_SORT_KEYS:
            return accuracy_fields(r)[metric] if r.metrics is not None else None
        return getattr(r.metrics, metric) if r.metrics is not None else None

    known = [r for r in reports if value(r) is not None]
    unknown = [r for r in reports if value(r) is None]
    return sorted(known, key=value, reverse=descending) + unknown
