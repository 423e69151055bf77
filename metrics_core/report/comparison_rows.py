"""The comparison table as flat export rows, one definition for ``modeltui compare --format csv|markdown``
and the app's export, so both write the same columns under the same names.

A flat row is ``ModelReport.summary_dict()`` (the seed's metrics, every one of ``METRIC_NAMES``:
``size_mb_fp32`` too, which the tables leave out), the published accuracy fields
(``acc1``, ``acc5``, ``acc_weights``, ``acc_resolution``, ``acc_note``), the roofline estimate on the
selected target as ``est_*`` (``est_latency_s``, ``est_throughput_per_s``, ``est_attained_flops_per_s``,
``est_pct_of_peak``, ``est_memory_bound_time_pct``, ``est_bound``), peak inference memory as ``mem_*``
(``mem_peak_activation_bytes``, ``mem_weight_bytes``, ``mem_peak_total_bytes``: prefixed because
``weight_bytes`` is already the weights' share of memory traffic), the energy estimate on the target
(``est_energy_per_inference_j``, ``est_energy_per_sample_j``, ``est_inferences_per_j``: board power x
estimated latency, an upper bound), the inputs fed and ``error`` for a failed model. Units
are in the names (``_s``, ``_bytes``, ``_pct``, ``_per_s``). Columns appear when any row has them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from metrics_core.common import units
from metrics_core.common.input_spec import describe_inputs
from metrics_core.common.records import ModelReport
from metrics_core.report.accuracy import accuracy_fields
from metrics_core.report.columns import (
    ACCURACY_COLUMNS,
    ACCURACY_DETAIL_COLUMNS,
    COMPARISON_COLUMNS,
    ERROR_COLUMN,
    ESTIMATE_COLUMNS,
    MEMORY_COLUMNS,
    SIZE_DETAIL_COLUMNS,
    Column,
)

#: What each model's forward pass was fed (``describe_inputs``: dtype[full shape], keyword names).
INPUTS_COLUMN = Column("inputs", "Inputs", "Model", lambda v: "-" if v is None else str(v), numeric=False)

#: The seed's metric columns of flat exports: ``COMPARISON_COLUMNS`` with the export-only
#: ``SIZE_DETAIL_COLUMNS`` after ``size_mb``, so that a CSV carries every metric its JSON has.
EXPORT_COMPARISON_COLUMNS: tuple[Column, ...] = tuple(
    c for col in COMPARISON_COLUMNS for c in (col, *(SIZE_DETAIL_COLUMNS if col.key == "size_mb" else ()))
)

#: Estimate columns of flat exports: ``ESTIMATE_COLUMNS`` keys with an ``est_`` prefix.
EXPORT_ESTIMATE_COLUMNS: tuple[Column, ...] = tuple(
    replace(c, key=f"est_{c.key}", header=f"{c.header}" if "(est.)" in c.header else f"{c.header} (est.)")
    for c in ESTIMATE_COLUMNS
)
#: Peak-memory columns of flat exports: ``MEMORY_COLUMNS`` keys with a ``mem_`` prefix.
EXPORT_MEMORY_COLUMNS: tuple[Column, ...] = tuple(
    replace(c, key=f"mem_{c.key}", header=f"{c.header} (peak memory, est.)") for c in MEMORY_COLUMNS
)


#: Estimated energy on the target (``perf.energy``: board power x estimated latency, an upper bound).
EXPORT_ENERGY_COLUMNS: tuple[Column, ...] = (
    Column("est_energy_per_inference_j", "J/inference (est., upper bound)", "Energy", units.human_energy),
    Column("est_energy_per_sample_j", "J/sample (est., upper bound)", "Energy", units.human_energy),
    Column("est_inferences_per_j", "Inferences/J (est.)", "Energy", units.fixed),
)


def flat_row(report: ModelReport, estimate: Any = None, energy: Any = None) -> dict[str, Any]:
    """One model's flat export row (see the module docstring); ``estimate``: its ``ModelEstimate`` on the
    selected target, ``energy``: its ``perf.energy.EnergyEstimate`` there (None: no such columns)."""
    row = report.summary_dict()
    row["inputs"] = describe_inputs(report.inputs) if report.inputs else None  # what the pass was fed
    row.update(accuracy_fields(report))
    if estimate is not None:
        est = estimate.to_dict()
        row.update({c.key: est.get(c.key.removeprefix("est_")) for c in EXPORT_ESTIMATE_COLUMNS})
    if energy is not None:
        e = energy.to_dict()
        row.update({c.key: e.get(c.key.removeprefix("est_")) for c in EXPORT_ENERGY_COLUMNS})
    memory = report.extras.get("memory") if report.extras else None
    if memory:
        row.update({c.key: memory.get(c.key.removeprefix("mem_")) for c in EXPORT_MEMORY_COLUMNS})
    return row


def export_columns(rows: Sequence[Mapping[str, Any]]) -> tuple[Column, ...]:
    """The flat export's columns (after ``model``) for these rows: the seed's, accuracy, then estimates,
    peak memory and the error column when any row has them."""
    cols = (INPUTS_COLUMN, *EXPORT_COMPARISON_COLUMNS, *ACCURACY_COLUMNS, *ACCURACY_DETAIL_COLUMNS)
    if any("est_latency_s" in r for r in rows):
        cols += EXPORT_ESTIMATE_COLUMNS
    if any("est_energy_per_inference_j" in r for r in rows):
        cols += EXPORT_ENERGY_COLUMNS
    if any("mem_peak_total_bytes" in r for r in rows):
        cols += EXPORT_MEMORY_COLUMNS
    if any(r.get("error") for r in rows):
        cols += (ERROR_COLUMN,)
    return tuple(cols)
