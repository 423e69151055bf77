"""The rows of the per-op table (``modeltui layers``, ``Report.by_op()``): one schema, one implementation.

A row is an op record's fields (``LAYER_KEYS``) and, when estimates on a target are given, the op's
estimated times (``est_`` prefix: they are estimates, the record's fields are counts), its bound, the
performance-model modes (``execution``, ``efficiency``) and, under compiled execution, the fused kernel
it runs in (``kernel``: index into the estimate's kernels; ``kernel_ops``: how many ops it fuses); under
eager execution, ``est_copy_bytes``: the bytes the op's kernel moves in copies it makes inside itself
(``OpRecord.hidden_copies``, each read and written once: 2 x their sum; 0 for most ops), which its
``est_memory_s`` includes and its own ``input_bytes`` / ``output_bytes`` do not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metrics_core.common.records import OpRecord

#: Keys of one op's counts, in order (the record's fields plus its arithmetic intensity).
LAYER_KEYS: tuple[str, ...] = (
    "index",
    "module",
    "module_type",
    "op",
    "category",
    "input_shapes",
    "output_shape",
    "dtype",
    "macs",
    "flops",
    "input_bytes",
    "output_bytes",
    "weight_bytes",
    "ai",
    "covered",
    "live_bytes",
)

#: Keys an op gains from an estimate on a target (seconds; ``est_l2_bytes`` in bytes).
ESTIMATE_KEYS: tuple[str, ...] = (
    "est_time_s",
    "est_compute_s",
    "est_memory_s",
    "est_overhead_s",
    "est_l2_bytes",
    "bound",
)


def layer_rows(records: Sequence[OpRecord], estimate: Any = None) -> list[dict[str, Any]]:  # noqa: ANN401
    """One dict per record, in execution order; ``estimate`` is the ``perf.roofline.ModelEstimate`` of
    these records on a target (its ``ops`` align with ``records``) or None for counts only."""
    kernel_of: dict[int, tuple[int, int]] = {}
    modes: dict[str, Any] = {}
    if estimate is not None:
        modes = {"estimate": True, "execution": estimate.execution, "efficiency": estimate.efficiency}
        if estimate.execution == "compiled":  # eager runs one kernel per op: no kernel column
            kernel_of = {i: (n, len(k.ops)) for n, k in enumerate(estimate.kernels) for i in k.ops}
    rows = []
    for i, r in enumerate(records):
        d = r.to_dict()
        row = {k: d[k] for k in LAYER_KEYS}
        if estimate is not None:
            e = estimate.ops[i].to_dict()
            row.update({key: e[key.removeprefix("est_")] for key in ESTIMATE_KEYS}, **modes)
            if kernel_of:
                row["kernel"], row["kernel_ops"] = kernel_of[i]
            elif estimate.execution == "eager":
                row["est_copy_bytes"] = 2 * sum(r.hidden_copies or ())
        rows.append(row)
    return rows


def layer_csv_keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The CSV columns of ``rows`` (``layer_rows``): counts, then estimates and kernels when present."""
    keys = list(LAYER_KEYS)
    if rows and "bound" in rows[0]:
        keys += list(ESTIMATE_KEYS)
    if rows and "kernel" in rows[0]:
        keys += ["kernel", "kernel_ops"]
    if rows and "est_copy_bytes" in rows[0]:
        keys.append("est_copy_bytes")
    return keys


def summary_row(report: Any, estimate: Any = None, energy: Any = None) -> dict[str, Any]:  # noqa: ANN401
    """The JSON object of one model in ``modeltui compare --format json`` (and ``Report.to_json()``):
    ``ModelReport.summary_dict()``, its published accuracy fields, peak memory (``memory``), and with a
    target its ``roofline`` estimate (``perf.roofline.ModelEstimate``) and ``energy``
    (``perf.energy`` estimate, or None when the latency is zero)."""
    from metrics_core.report.accuracy import accuracy_fields

    row = report.summary_dict()
    row.update(accuracy_fields(report))
    if "memory" in report.extras:
        row["memory"] = report.extras["memory"]
    if estimate is not None:
        row["roofline"] = estimate.to_dict()
        if energy is not None:
            row["energy"] = energy.to_dict()
    return row
