"""Per-op and per-module rows of a model's records joined with their roofline estimates: one implementation
for the app's drill-down (``tui.app.layerdata``), ``modeltui layers --by-module`` and the Python API's
``Report.by_module``.

- ``op_rows``: one row per op record; ``time_s``, ``bound`` (the op's estimate on a target) and ``share``
  (its time as a percentage, 0-100, of the model's estimated latency) when an estimate is given;
  ``live_bytes``: activation bytes live during the op (``OpRecord.live_bytes``).
- ``aggregate_by_module``: ops attributed to the same module, or with ``depth`` to the same module path
  prefix of ``depth`` parts (``layer1.0.conv1`` at depth 2 is ``layer1.0``; ops of the model's own forward
  are ``(model)``), summed (MACs, FLOPs, bytes, time, share); ``ai`` = summed FLOPs / summed bytes;
  ``live_bytes`` the largest of its ops'; ``bound`` the regime with most of the group's time
  (``perf.roofline.dominant_bound``).
- ``module_rows``: those groups in the exported schema (``MODULE_KEYS``, ``MODULE_EST_KEYS``), with the
  parameters each path holds (``capture.params.module_table``, counted for the deepest row at or above
  each module, so rows sum to the model's parameters), its share of the model's MACs and its ops without
  a cost rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from metrics_core.perf.roofline import dominant_bound

if TYPE_CHECKING:
    from metrics_core.common.records import OpRecord
    from metrics_core.perf.roofline import ModelEstimate

SUMMED: tuple[str, ...] = ("macs", "flops", "input_bytes", "output_bytes", "weight_bytes", "bytes", "time_s")


def op_rows(records: Sequence[OpRecord], estimate: ModelEstimate | None) -> list[dict[str, Any]]:
    """One row per op record, with ``time_s``/``bound``/``share`` when an estimate is given."""
    latency = estimate.latency_s if estimate is not None else 0.0
    ops = estimate.ops if estimate is not None else ()
    compiled = estimate is not None and estimate.execution == "compiled"
    kernel_of = {i: n for n, k in enumerate(estimate.kernels) for i in k.ops} if compiled else {}
    rows = []
    for i, r in enumerate(records):
        row: dict[str, Any] = {
            "index": r.index,
            "module": r.module or "(model)",
            "module_type": r.module_type,
            "op": r.op,
            "category": r.category,
            "output_shape": r.output_shape,
            "macs": r.macs,
            "flops": r.flops,
            "input_bytes": r.input_bytes,
            "output_bytes": r.output_bytes,
            "weight_bytes": r.weight_bytes,
            "bytes": r.input_bytes + r.output_bytes + r.weight_bytes,
            "ai": r.ai,
            "live_bytes": r.live_bytes,
            "time_s": None,
            "bound": None,
            "share": None,
            "kernel": kernel_of.get(i),
            "covered": r.covered,
        }
        if i < len(ops):
            row["time_s"] = ops[i].time_s
            row["bound"] = ops[i].bound
            row["share"] = 100.0 * ops[i].time_s / latency if latency else None
        rows.append(row)
    return rows


def module_depth(rows: Sequence[dict[str, Any]]) -> int:
    """The deepest module path (in dotted parts) among the rows; 1 for a flat model."""
    return max((len(str(r["module"]).split(".")) for r in rows), default=1)


def module_prefix(module: str, depth: int | None) -> str:
    """``module`` cut to its first ``depth`` dotted parts (unchanged when ``depth`` is None)."""
    return module if depth is None else ".".join(module.split(".")[:depth])


def aggregate_by_module(rows: Sequence[dict[str, Any]], depth: int | None = None) -> list[dict[str, Any]]:
    """Op rows (from ``op_rows``) summed per module (or per module prefix of ``depth`` parts), in
    order of each group's first op. ``module_type`` is the group module's own class when one of its ops
    ran directly in it (records only name the innermost module), else empty."""
    groups: dict[str, dict[str, Any]] = {}
    bound_time: dict[str, dict[str, float]] = {}
    for row in rows:
        name = module_prefix(row["module"], depth)
        g = groups.get(name)
        if g is None:
            g = groups[name] = {
                "index": row["index"],
                "module": name,
                "module_type": row["module_type"] if name == row["module"] else "",
                "ops": 0,
                "share": None,
                "bound": None,
                "live_bytes": None,
                **{k: None if k == "time_s" else 0 for k in SUMMED},
            }
            bound_time[name] = {}
        if not g["module_type"] and row["module"] == name:
            g["module_type"] = row["module_type"]
        g["ops"] += 1
        for k in SUMMED:
            if row[k] is not None:
                g[k] = (g[k] or 0) + row[k]
        if row["live_bytes"] is not None:
            g["live_bytes"] = max(g["live_bytes"] or 0, row["live_bytes"])
        if row["share"] is not None:
            g["share"] = (g["share"] or 0.0) + row["share"]
        if row["bound"] and row["time_s"] is not None:
            bound_time[name][row["bound"]] = bound_time[name].get(row["bound"], 0.0) + row["time_s"]
    for name, g in groups.items():
        g["ai"] = g["flops"] / g["bytes"] if g["bytes"] else 0.0
        if g["time_s"]:  # the regime (compute / memory / overhead) of most of the group's time
            g["bound"] = dominant_bound(bound_time[name])
    return list(groups.values())


#: Keys of one exported module row, in order; ``MODULE_EST_KEYS`` follow with an estimate.
MODULE_KEYS: tuple[str, ...] = (
    "module", "module_type", "depth", "ops", "first_op", "params", "macs", "macs_pct", "flops",
    "input_bytes", "output_bytes", "weight_bytes", "bytes", "ai", "live_bytes", "uncovered_ops",
)  # fmt: skip
MODULE_EST_KEYS: tuple[str, ...] = ("est_time_s", "share_pct", "bound")


def module_rows(
    records: Sequence[OpRecord],
    estimate: ModelEstimate | None,
    depth: int,
    modules: dict[str, list] | None = None,
) -> list[dict[str, Any]]:
    """The ops summed per module path of ``depth`` parts, as ``MODULE_KEYS`` (+ ``MODULE_EST_KEYS`` with
    an estimate: ``est_time_s`` in seconds, ``share_pct`` of the model's estimated latency, ``bound``)
    rows in order of each path's first op. ``modules`` (``capture.params.module_table``, a report's
    ``extras["modules"]``) gives each path's class and parameters; without it ``params`` is None and
    ``module_type`` is the class of the path's own ops (empty when none ran directly in it)."""
    ops = op_rows(records, estimate)
    uncovered: dict[str, int] = {}
    for r in ops:
        if not r["covered"]:
            key = module_prefix(r["module"], depth)
            uncovered[key] = uncovered.get(key, 0) + 1
    groups = aggregate_by_module(ops, depth)
    owned = _params_by_row(modules, [g["module"] for g in groups]) if modules is not None else None
    total_macs = sum(r.macs for r in records)
    out = []
    for g in groups:
        path = g["module"]
        row = {
            "module": path,
            "module_type": modules[path][0] if modules is not None and path in modules else g["module_type"],
            "depth": 0 if path == "(model)" else path.count(".") + 1,
            "ops": g["ops"],
            "first_op": g["index"],
            "params": owned.get(path, 0) if owned is not None else None,
            "macs": g["macs"],
            "macs_pct": 100.0 * g["macs"] / total_macs if total_macs else 0.0,
            "flops": g["flops"],
            "input_bytes": g["input_bytes"],
            "output_bytes": g["output_bytes"],
            "weight_bytes": g["weight_bytes"],
            "bytes": g["bytes"],
            "ai": g["ai"],
            "live_bytes": g["live_bytes"],
            "uncovered_ops": uncovered.get(path, 0),
        }
        if estimate is not None:
            row.update(est_time_s=g["time_s"] or 0.0, share_pct=g["share"], bound=g["bound"] or "overhead")
        out.append(row)
    return out


def _params_by_row(modules: dict[str, list], paths: list[str]) -> dict[str, int]:
    """Each module's own parameters counted for the deepest row path at or above it (a parent row with ops
    of its own, such as a residual add in ``layer1.0``, is not counted again beside its children's rows),
    so the rows sum to the model's parameters; a module whose ops fall in no row (never called) counts
    for the nearest row above it, else ``(model)``."""
    rows = set(paths)
    out: dict[str, int] = {}
    for name, (_, n) in modules.items():
        if not n:
            continue
        parts = name.split(".") if name else []
        owner = "(model)"
        for k in range(len(parts), 0, -1):
            candidate = ".".join(parts[:k])
            if candidate in rows:
                owner = candidate
                break
        out[owner] = out.get(owner, 0) + n
    return out
