"""Which columns the app's tables show, in which order (definitions and formatters: metrics_core).

The comparison table shows the roofline estimate on the selected target first (what changes when the
target does), then the seed's metric groups (``metrics_core.columns.COMPARISON_COLUMNS``). The layer
table leads with the estimate too, then compute, bytes and op details (``LAYER_COLUMNS``).
"""

from __future__ import annotations

from functools import partial

from metrics_core import units
from metrics_core.columns import COMPARISON_COLUMNS, LAYER_COLUMNS, Column
from metrics_core.sorting import SEED_SORT_KEYS

ESTIMATE_GROUP = "Roofline (est.)"


def _text(v: object) -> str:
    return "-" if v is None else str(v)


def _per_second(v: float | None) -> str:
    return "-" if v is None else f"{units.human_count(v, 1)}/s"


#: Model-level estimate columns; keys are ``ModelEstimate.to_dict()`` keys with an ``est_`` prefix.
ESTIMATE_COLUMNS: tuple[Column, ...] = (
    Column("est_latency_s", "Latency", ESTIMATE_GROUP, units.human_time),
    Column("est_throughput_per_s", "Thruput", ESTIMATE_GROUP, _per_second),
    Column("est_bound", "Bound", ESTIMATE_GROUP, _text, numeric=False),
    Column("est_pct_of_peak", "% peak", ESTIMATE_GROUP, units.pct),
)

#: Every column of the comparison table after the model name.
COMPARISON_TABLE: tuple[Column, ...] = ESTIMATE_COLUMNS + COMPARISON_COLUMNS

#: Columns the comparison can be sorted by with ``,``/``.`` (``sort_reports`` knows these keys).
SORTABLE_COMPARISON: tuple[str, ...] = ("model", *(c.key for c in COMPARISON_COLUMNS))

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
    _LAYER["output_shape"],
    _LAYER["module_type"],
    _LAYER["category"],
)
LAYER_FIXED: tuple[Column, ...] = (_LAYER["index"], _LAYER["module"])

#: The drill-down aggregated by module.
MODULE_TABLE: tuple[Column, ...] = (
    Column("ops", "Ops", "Op", _text),
    *_OP_ESTIMATE,
    _LAYER["macs"],
    _LAYER["flops"],
    _LAYER["ai"],
    _BYTES_TOTAL,
    _LAYER["input_bytes"],
    _LAYER["output_bytes"],
    _LAYER["weight_bytes"],
    _LAYER["module_type"],
)
MODULE_FIXED: tuple[Column, ...] = (_LAYER["module"],)

#: Natural direction of layer sort keys: costs list the largest first (what holds the model back).
LAYER_ASCENDING = frozenset({"index", "module", "module_type", "op", "category", "output_shape", "bound"})

#: Keys ``s`` cycles through in the drill-down, in order.
LAYER_SORT_CYCLE: tuple[str, ...] = ("index", "time_s", "flops", "macs", "bytes", "ai")
