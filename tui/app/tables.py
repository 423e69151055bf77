"""Which columns the app's tables show, in which order (definitions and formatters: metrics_core).

The comparison table opens on the seed's key metrics (params, MACs, memory traffic, average AI: the
first screen at 80 columns shows them whatever the target), then the roofline estimate on the selected
target, measured latency (after ``b``), published accuracy, the rest of the seed's metric groups
(``metrics_core.report.columns.COMPARISON_COLUMNS``) and peak memory (when the analysis has it). The layer
table leads with the estimate too, then compute, bytes, live memory and op details (``LAYER_COLUMNS``).

Column keys are prefixed by where the value comes from: ``est_`` a ``roofline.ModelEstimate``
attribute, ``mem_`` a key of ``report.extras["memory"]`` (``peak_memory.PeakMemory.to_dict()``),
``bench_`` a ``bench.BenchResult`` attribute; other keys are ``ModelMetrics`` attributes.
"""

from __future__ import annotations

from functools import partial

from metrics_core.common import units
from metrics_core.report.columns import (
    ACCURACY_COLUMNS,
    COMPARISON_COLUMNS,
    LAYER_COLUMNS,
    MEMORY_COLUMNS,
    Column,
)
from metrics_core.report.sorting import ESTIMATE_SORT_KEYS, SEED_SORT_KEYS

ESTIMATE_GROUP = "Roofline (est.)"
MEMORY_GROUP = "Peak memory (est.)"
MEASURED_GROUP = "Measured"


def _text(v: object) -> str:
    return "-" if v is None else str(v)


def _per_second(v: float | None) -> str:
    return "-" if v is None else f"{units.samples_per_s(v)}/s"


#: Model-level estimate columns; keys are ``ModelEstimate`` attributes with an ``est_`` prefix.
ESTIMATE_COLUMNS: tuple[Column, ...] = (
    Column("est_latency_s", "Latency", ESTIMATE_GROUP, units.human_time),
    Column("est_throughput_per_s", "Thruput", ESTIMATE_GROUP, _per_second),
    Column("est_bound", "Bound on target", ESTIMATE_GROUP, _text, numeric=False),
    Column("est_pct_of_peak", "% peak", ESTIMATE_GROUP, units.pct),
    Column("est_attained_flops_per_s", "Attained", ESTIMATE_GROUP, units.human_rate),
    Column("est_memory_bound_time_pct", "Mem time", ESTIMATE_GROUP, units.pct),
    Column("est_compute_s", "Compute", ESTIMATE_GROUP, units.human_time),
    Column("est_memory_s", "Memory", ESTIMATE_GROUP, units.human_time),
    Column("est_overhead_s", "Overhead", ESTIMATE_GROUP, units.human_time),
)

#: Measured on this machine (``b``): ``BenchResult`` attributes with a ``bench_`` prefix. ``Meas/est``
#: is ``BenchResult.latency_ratio``: against the estimate on the machine measured (``this-machine``: CPU).
MEASURED_COLUMNS: tuple[Column, ...] = (
    Column("bench_median_s", "Median", MEASURED_GROUP, units.human_time),
    Column("bench_p90_s", "p90", MEASURED_GROUP, units.human_time),
    Column("bench_throughput_per_s", "Thruput", MEASURED_GROUP, _per_second),
    Column("bench_latency_ratio", "Meas/est", MEASURED_GROUP, units.times),
)

_MEMORY_HEADERS = {
    "peak_activation_bytes": "Activations",
    "weight_bytes": "Weights",
    "peak_total_bytes": "Total",
}
#: Peak inference memory: ``report.extras["memory"]`` keys with a ``mem_`` prefix (shown when present).
PEAK_MEMORY_COLUMNS: tuple[Column, ...] = tuple(
    Column(f"mem_{c.key}", _MEMORY_HEADERS.get(c.key, c.header), MEMORY_GROUP, c.fmt) for c in MEMORY_COLUMNS
)

#: Natural direction (descending?) of the sort keys the app adds to ``metrics_core.report.sorting``'s.
EXTRA_SORT_KEYS: dict[str, bool] = {
    **{c.key: False for c in PEAK_MEMORY_COLUMNS},
    "bench_median_s": False,
    "bench_p90_s": False,
    "bench_throughput_per_s": True,
    "bench_latency_ratio": False,
}


def sort_key_of(column: str) -> str:
    """The sort key of a comparison column: ``est_latency_s`` -> ``latency_s`` (an
    ``ESTIMATE_SORT_KEYS`` key); other columns sort by their own key."""
    key = column.removeprefix("est_")
    return key if column.startswith("est_") and key in ESTIMATE_SORT_KEYS else column


def column_of(sort_key: str | None) -> str | None:
    """The comparison column that shows ``sort_key`` (inverse of ``sort_key_of``)."""
    if sort_key in ESTIMATE_SORT_KEYS:
        return f"est_{sort_key}"
    return sort_key


#: The seed's key metrics, first in the comparison (moved out of their groups, never shown twice).
KEY_GROUP = "Seed metrics"
KEY_METRICS: tuple[str, ...] = ("params", "macs", "memory_bytes", "avg_ai")
_KEY_HEADERS = {"memory_bytes": "Traffic"}
_BY_KEY = {c.key: c for c in COMPARISON_COLUMNS}
KEY_COLUMNS: tuple[Column, ...] = tuple(
    Column(k, _KEY_HEADERS.get(k, _BY_KEY[k].header), KEY_GROUP, _BY_KEY[k].fmt) for k in KEY_METRICS
)

#: Every column of the comparison table after the model name, in order (optional groups included).
COMPARISON_TABLE: tuple[Column, ...] = (
    KEY_COLUMNS
    + ESTIMATE_COLUMNS
    + MEASURED_COLUMNS
    + ACCURACY_COLUMNS
    + tuple(c for c in COMPARISON_COLUMNS if c.key not in KEY_METRICS)
    + PEAK_MEMORY_COLUMNS
)

#: Columns the comparison can be sorted by (header click, ``,``/``.``).
SORTABLE_COMPARISON: frozenset[str] = frozenset({"model", *(c.key for c in COMPARISON_TABLE)})

#: The seed's sort keys (1-6 / s) and the metric each sorts by.
SEED_KEYS: tuple[str, ...] = tuple(SEED_SORT_KEYS)

_LAYER = {c.key: c for c in LAYER_COLUMNS}
_OP_ESTIMATE: tuple[Column, ...] = (
    Column("time_s", "Time", ESTIMATE_GROUP, units.human_time),
    Column("share", "Share", ESTIMATE_GROUP, partial(units.pct, digits=1)),
    Column("bound", "Bound", ESTIMATE_GROUP, _text, numeric=False),
)
_BYTES_TOTAL = Column("bytes", "Total", "Bytes", units.human_bytes)

#: The per-op drill-down, after the index and module columns (which stay fixed on the left).
LAYER_TABLE: tuple[Column, ...] = (
    _LAYER["op"],
    *_OP_ESTIMATE,
    _LAYER["macs"],
    _LAYER["flops"],
    _LAYER["ai"],
    _BYTES_TOTAL,
    _LAYER["input_bytes"],
    _LAYER["output_bytes"],
    _LAYER["weight_bytes"],
    _LAYER["live_bytes"],
    _LAYER["output_shape"],
    _LAYER["module_type"],
    _LAYER["category"],
)
LAYER_FIXED: tuple[Column, ...] = (_LAYER["index"], _LAYER["module"])

#: The drill-down aggregated by module.
MODULE_TABLE: tuple[Column, ...] = (
    Column("ops", "Ops", "", _text),
    *_OP_ESTIMATE,
    _LAYER["macs"],
    _LAYER["flops"],
    _LAYER["ai"],
    _BYTES_TOTAL,
    _LAYER["input_bytes"],
    _LAYER["output_bytes"],
    _LAYER["weight_bytes"],
    Column("live_bytes", "Peak live", "Memory", units.human_bytes),
    _LAYER["module_type"],
)
MODULE_FIXED: tuple[Column, ...] = (_LAYER["module"],)

#: Layer columns shown only when the records carry the value (older analyses have no live bytes).
LAYER_OPTIONAL: frozenset[str] = frozenset({"live_bytes"})

#: Natural direction of layer sort keys: costs list the largest first (what holds the model back).
LAYER_ASCENDING = frozenset({"index", "module", "module_type", "op", "category", "output_shape", "bound"})

#: Keys ``s`` cycles through in the drill-down, in order.
LAYER_SORT_CYCLE: tuple[str, ...] = ("index", "time_s", "flops", "macs", "bytes", "ai")
