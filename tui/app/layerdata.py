"""Rows of the per-layer drill-down: op records joined with their roofline estimates, or per module.

Rows are dicts of raw values (formatted by the table's columns, exported as they are). Definitions:

- ``time_s``, ``bound``: the op's roofline estimate on the selected target (``metrics_core.perf.roofline``);
- ``share``: the op's estimated time as a percentage (0-100) of the model's estimated latency;
- ``live_bytes``: activation bytes live during the op (``OpRecord.live_bytes``, from
  ``metrics_core.capture.peak_memory``; None when the analysis did not compute it);
- per op and per module (``op_rows``, ``aggregate_by_module``): ``metrics_core.perf.module_sums``, the one
  implementation the CLI's ``layers --by-module`` and the Python API's ``Report.by_module`` use too;
- per kernel (``aggregate_by_kernel``, compiled execution: ``metrics_core.perf.fusion``): the ops one fused
  or library kernel runs, with the kernel's own traffic (external inputs read once, only outputs read later
  written), time and bound; ``kernel`` of an op row is the index of its kernel (None in eager execution).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from metrics_core.common.records import OpRecord
from metrics_core.perf.module_sums import (  # noqa: F401 (re-exported: the app's module view)
    SUMMED,
    aggregate_by_module,
    module_depth,
    module_prefix,
    op_rows,
)


def kernel_label(n: int, op_rows_of_kernel: Sequence[dict[str, Any]]) -> str:
    """The kernel's number and the modules (or ops) it runs, in order, named after their common parent:
    ``k3 layer1.0: bn1 › relu`` (``k1 bn1 › relu › maxpool`` at the top level; one module: its path,
    ``k2 layer1.0.conv1``), so that the same names in different blocks stay apart."""
    paths = [str(r["module"]).split(".") if r["module"] else [] for r in op_rows_of_kernel]
    common: list[str] = []
    for parts in zip(*paths, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    if paths and all(len(p) == len(common) for p in paths) and common:  # one module: its path
        return f"k{n} {'.'.join(common)}"
    names = [".".join(p[len(common) :]) or r["op"] for p, r in zip(paths, op_rows_of_kernel, strict=True)]
    prefix = f"{'.'.join(common)}: " if common else ""
    return f"k{n} {prefix}" + " › ".join(dict.fromkeys(names))


def aggregate_by_kernel(rows: Sequence[dict[str, Any]], estimate: Any) -> list[dict[str, Any]]:
    """Op rows (``op_rows`` of a compiled estimate) grouped per kernel, in kernel order: the kernel's FLOPs,
    traffic (``bytes``: after fusion), time, share and bound from ``estimate.kernels``; ``module`` is the
    kernel's label (``kernel_label``), ``module_type`` its kind (extern, fused, attention)."""
    by_kernel: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("kernel") is not None:
            by_kernel.setdefault(row["kernel"], []).append(row)
    latency = estimate.latency_s if estimate is not None else 0.0
    out = []
    for n, members in sorted(by_kernel.items()):
        k = estimate.kernels[n]
        live = [r["live_bytes"] for r in members if r["live_bytes"] is not None]
        out.append(
            {
                "index": members[0]["index"],
                "module": kernel_label(n, members),
                "module_type": k.kind,
                "kernel": n,
                "ops": len(members),
                "macs": sum(r["macs"] for r in members),
                "flops": k.flops,
                "input_bytes": None,
                "output_bytes": None,
                "weight_bytes": sum(r["weight_bytes"] for r in members),
                "bytes": k.bytes,
                "ai": k.flops / k.bytes if k.bytes else 0.0,
                "time_s": k.time_s,
                "share": 100.0 * k.time_s / latency if latency else None,
                "bound": k.bound,
                "live_bytes": max(live) if live else None,
            }
        )
    return out


def has_live_bytes(records: Sequence[OpRecord]) -> bool:
    """Whether the records carry live bytes (the peak-memory analysis ran)."""
    return any(r.live_bytes is not None for r in records)


def in_module(rows: Sequence[dict[str, Any]], module: str, depth: int | None) -> list[dict[str, Any]]:
    """The op rows that ``aggregate_by_module(rows, depth)`` sums into the group ``module``."""
    return [r for r in rows if module_prefix(r["module"], depth) == module]


def filter_rows(rows: Sequence[dict[str, Any]], text: str, keys: Sequence[str]) -> list[dict[str, Any]]:
    """Rows where every whitespace-separated word of ``text`` occurs (case-insensitively) in one of
    the ``keys`` values."""
    words = text.lower().split()
    if not words:
        return list(rows)
    out = []
    for row in rows:
        hay = " ".join(str(row.get(k, "")) for k in keys).lower()
        if all(w in hay for w in words):
            out.append(row)
    return out


def sort_rows(rows: Sequence[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    """Rows ordered by ``key``; rows whose value is None stay last, in their original order."""
    known = [r for r in rows if r.get(key) is not None]
    unknown = [r for r in rows if r.get(key) is None]
    return sorted(known, key=lambda r: r[key], reverse=descending) + unknown
