"""Column definitions shared by every table (CLI, TUI, exports): key, header, group, formatter.

A column's ``fmt`` is a function from the raw value to its display string; all of them come from
``metrics_core.common.units``. Headers carry their convention (MB is decimal, MACs vs FLOPs spelled out).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from metrics_core.common import units


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    group: str
    fmt: Callable[[Any], str]
    numeric: bool = True


def _text(v: Any) -> str:
    return "-" if v is None else str(v)


def _mb(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


#: The comparison table: the seed's metric groups, in the seed's order.
COMPARISON_COLUMNS: tuple[Column, ...] = (
    Column("params", "Params", "Model size", units.human_params),
    Column("trainable_params", "Trainable", "Model size", units.human_params),
    Column("active_params", "Active/token", "Model size", units.human_params),
    Column("size_mb", "Size MB", "Model size", _mb),
    Column("size_mb_int8", "Size MB int8", "Model size", _mb),
    Column("layers", "Layers", "Model size", _text),
    Column("max_width", "Max width", "Model size", _text),
    Column("macs", "MACs", "Compute", units.human_count),
    Column("flops", "FLOPs", "Compute", units.human_count),
    Column("flops_per_param", "FLOPs/param", "Compute", partial(units.fixed, digits=1)),
    Column("params_per_mac", "Params/MAC", "Compute", partial(units.fixed, digits=4)),
    Column("input_bytes", "Input", "Memory traffic", units.human_bytes),
    Column("output_bytes", "Output", "Memory traffic", units.human_bytes),
    Column("weight_bytes", "Weights", "Memory traffic", units.human_bytes),
    Column("memory_bytes", "Total", "Memory traffic", units.human_bytes),
    Column("bytes_per_flop", "Bytes/FLOP", "Memory traffic", partial(units.fixed, digits=3)),
    Column("avg_ai", "Avg AI", "Arithmetic intensity", units.fixed),
    Column("aggregate_ai", "Agg AI", "Arithmetic intensity", units.fixed),
    Column("compute_bound_pct", "Ops AI>50 (seed)", "Arithmetic intensity", units.pct),
    Column("memory_bound_pct", "Ops AI<10 (seed)", "Arithmetic intensity", units.pct),
    Column("classification", "Class (seed 10/50)", "Arithmetic intensity", _text, numeric=False),
)

#: The per-op table of ``modeltui layers`` and the drill-down.
LAYER_COLUMNS: tuple[Column, ...] = (
    Column("index", "#", "Op", _text),
    Column("module", "Module", "Op", _text, numeric=False),
    Column("module_type", "Type", "Op", _text, numeric=False),
    Column("op", "Op", "Op", _text, numeric=False),
    Column("category", "Category", "Op", _text, numeric=False),
    Column("output_shape", "Output", "Op", units.human_shape, numeric=False),
    Column("macs", "MACs", "Compute", units.human_count),
    Column("flops", "FLOPs", "Compute", units.human_count),
    Column("input_bytes", "In", "Bytes", units.human_bytes),
    Column("output_bytes", "Out", "Bytes", units.human_bytes),
    Column("weight_bytes", "Weights", "Bytes", units.human_bytes),
    Column("ai", "AI", "Intensity", units.fixed),
    Column("live_bytes", "Live", "Memory", units.human_bytes),
)

#: Roofline estimate columns added by ``--hardware`` (keys are ``ModelEstimate.to_dict()`` keys).
ESTIMATE_COLUMNS: tuple[Column, ...] = (
    Column("latency_s", "Latency (est.)", "Roofline", units.human_time),
    Column("throughput_per_s", "Samples/s (est.)", "Roofline", units.samples_per_s),
    Column("attained_flops_per_s", "FLOP/s (est.)", "Roofline", units.human_rate),
    Column("pct_of_peak", "% of peak", "Roofline", units.pct),
    Column("memory_bound_time_pct", "Mem-bound time", "Roofline", units.pct),
    Column("compute_bound_time_pct", "Compute-bound time", "Roofline", units.pct),
    Column("overhead_bound_time_pct", "Overhead-bound time", "Roofline", units.pct),
    Column("compute_s", "Compute (est.)", "Roofline", units.human_time),
    Column("memory_s", "Memory (est.)", "Roofline", units.human_time),
    Column("overhead_s", "Overhead (est.)", "Roofline", units.human_time),
    Column("bound", "Bound on target", "Roofline", _text, numeric=False),
)

#: Peak inference memory (keys of ``peak_memory.PeakMemory.to_dict()``, in ``report.extras["memory"]``).
MEMORY_COLUMNS: tuple[Column, ...] = (
    Column("peak_activation_bytes", "Peak activations", "Peak memory", units.human_bytes),
    Column("weight_bytes", "Weights resident", "Peak memory", units.human_bytes),
    Column("peak_total_bytes", "Peak total", "Peak memory", units.human_bytes),
)

#: Published ImageNet-1k accuracy (``report.accuracy.accuracy_fields`` keys): percent as published, "-"
#: where none is published; ``acc_resolution`` is the evaluation image side the figures belong to.
ACCURACY_GROUP = "Accuracy (ImageNet-1k, published)"
ACCURACY_COLUMNS: tuple[Column, ...] = (
    Column("acc1", "Top-1 %", ACCURACY_GROUP, partial(units.fixed, digits=3)),
    Column("acc5", "Top-5 %", ACCURACY_GROUP, partial(units.fixed, digits=3)),
)
#: The export-only accuracy details (what the weights are, at which resolution, a mismatch note).
ACCURACY_DETAIL_COLUMNS: tuple[Column, ...] = (
    Column("acc_weights", "Acc weights", ACCURACY_GROUP, _text, numeric=False),
    Column("acc_resolution", "Acc res px", ACCURACY_GROUP, _text),
    Column("acc_note", "Acc note", ACCURACY_GROUP, _text, numeric=False),
)

#: The export-only size columns: the fp32 size beside ``size_mb`` (the analysis dtype's), as the JSON of
#: ``compare`` carries it (``report.metrics``: ``size_mb_fp32`` = params x 4 B / 1e6). The text table and
#: the app show ``size_mb`` with the dtype in its header instead.
SIZE_DETAIL_COLUMNS: tuple[Column, ...] = (Column("size_mb_fp32", "Size MB fp32", "Model size", _mb),)

#: A failed model's one-line error, appended to exports when any model failed.
ERROR_COLUMN = Column("error", "Error", "Status", _text, numeric=False)

GROUPS: tuple[str, ...] = tuple(dict.fromkeys(c.group for c in COMPARISON_COLUMNS))
