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

#: Published accuracy (``metrics_core.report.accuracy``) usable as sort keys: the most accurate first; its
#: detail columns sort ascending.
ACCURACY_SORT_KEYS: dict[str, bool] = {
    "acc1": True,
    "acc5": True,
    "acc_resolution": False,
    "acc_weights": False,
    "acc_note": False,
}

#: Peak inference memory (``report.extras["memory"]``), sortable as its export column ``mem_<key>`` or its
#: bare key; the smallest first.
MEMORY_SORT_KEYS: dict[str, bool] = {
    "peak_activation_bytes": False,
    "peak_total_bytes": False,
    "mem_peak_activation_bytes": False,
    "mem_weight_bytes": False,
    "mem_peak_total_bytes": False,
}

#: Estimated energy on the target (board power x estimated latency): on one target it orders as the
#: latency does; the export columns' names.
ENERGY_SORT_KEYS: dict[str, bool] = {
    "est_energy_per_inference_j": False,
    "est_energy_per_sample_j": False,
    "est_inferences_per_j": True,
}

#: Other columns of the comparison exports (``ModelReport.summary_dict``) that are not metrics.
REPORT_SORT_KEYS: dict[str, bool] = dict.fromkeys(("input_shape", "batch_size", "dtype", "error"), False)

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
    if key.startswith("est_") and key.removeprefix("est_") in ESTIMATE_SORT_KEYS:  # the export column
        key = key.removeprefix("est_")
    if key in ESTIMATE_SORT_KEYS:
        return key, ESTIMATE_SORT_KEYS[key]
    for table in (ACCURACY_SORT_KEYS, MEMORY_SORT_KEYS, REPORT_SORT_KEYS, ENERGY_SORT_KEYS):
        if key in table:
            return key, table[key]
    import difflib

    known = [*SEED_SORT_KEYS, *METRIC_NAMES, *ESTIMATE_SORT_KEYS, *ACCURACY_SORT_KEYS, *MEMORY_SORT_KEYS]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.7)
    hint = f"did you mean {close[0]}? " if close else ""
    choices = ", ".join(SEED_SORT_KEYS)
    raise UsageError(
        f"unknown sort key {key!r}; {hint}use {choices}, acc1, acc5, any model column of the CSV export "
        "(e.g. layers, est_latency_s, mem_peak_total_bytes, est_energy_per_sample_j) or an estimate "
        "(latency_s ...)"
    )


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
        if metric in ENERGY_SORT_KEYS:  # proportional to the estimated latency (per sample: per batch)
            est = (estimates or {}).get(r.model)
            if est is None or not est.latency_s:
                return None
            per_sample = est.latency_s / (est.batch_size or 1)
            return 1 / est.latency_s if metric == "est_inferences_per_j" else per_sample
        if metric in ACCURACY_SORT_KEYS:
            return accuracy_fields(r)[metric] if r.metrics is not None else None
        if metric in MEMORY_SORT_KEYS:
            memory = (r.extras or {}).get("memory") or {}
            return memory.get(metric.removeprefix("mem_"))
        if metric in REPORT_SORT_KEYS:
            v = getattr(r, metric, None)
            return tuple(v) if isinstance(v, list) else v
        return getattr(r.metrics, metric) if r.metrics is not None else None

    known = [r for r in reports if value(r) is not None]
    unknown = [r for r in reports if value(r) is None]
    return sorted(known, key=value, reverse=descending) + unknown
