"""Sorting, selection and histogram cost rules (category ``reduction``); MACs = 0.

Comparisons count as FLOPs (as ``max``/``argmax`` do). Conventions, per row of ``n`` elements along the
sorted dimension:

- ``sort`` / ``argsort`` / ``msort``: ``n * ceil(log2 n)`` comparisons (a comparison sort's bound);
- ``topk`` (and ``kthvalue``, ``median``, ``mode`` as selections): ``n * max(1, ceil(log2 k))``
  comparisons (a size-k heap over the row; k = 1 is a single pass);
- ``histc`` / ``bincount``: 2 FLOPs per input element (scale to a bin index, one increment);
- ``searchsorted`` / ``bucketize``: ``ceil(log2 n)`` comparisons per query (binary search in ``n``
  boundaries).
"""

from __future__ import annotations

import math
from typing import Any

from metrics_core.costs._common import arg
from metrics_core.costs.registry import register


def log2_ceil(n: int) -> int:
    """``ceil(log2 n)`` for n >= 1 (0 for n <= 1)."""
    return max(0, math.ceil(math.log2(n))) if n > 1 else 0


def _row(x: Any, dim: int) -> tuple[int, int]:
    """``(rows, n)``: elements along ``dim`` and the number of such rows (a 0-D tensor is one row of 1)."""
    if x.dim() == 0:
        return 1, 1
    n = x.shape[dim]
    return (x.numel() // n if n else 0), n


def _int_arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: int) -> int:
    value = arg(args, kwargs, index, name, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


@register("sort", "argsort", category="reduction")
def sort_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """``sort`` / ``argsort``: FLOPs = rows x ``n * ceil(log2 n)`` comparisons along ``dim`` (default
    -1); MACs = 0."""
    rows, n = _row(args[0], _int_arg(args, kwargs, 1, "dim", -1))
    return 0, rows * n * log2_ceil(n)


@register("msort", category="reduction")
def msort_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """``msort``: ``sort`` along dim 0."""
    rows, n = _row(args[0], 0)
    return 0, rows * n * log2_ceil(n)


@register("topk", category="reduction")
def topk_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """``topk(x, k, dim=-1)``: FLOPs = rows x ``n * max(1, ceil(log2 k))`` comparisons; MACs = 0."""
    x, k = args[0], arg(args, kwargs, 1, "k")
    rows, n = _row(x, arg(args, kwargs, 2, "dim", -1))
    return 0, rows * n * max(1, log2_ceil(int(k)))


@register("kthvalue", "median", "nanmedian", "mode", category="reduction")
def selection_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Selections (``kthvalue``, ``median``, ``mode``): FLOPs = ``n * ceil(log2 n)`` per row (the dim,
    or all elements when none is given); MACs = 0."""
    x = args[0]
    dim = next((a for a in args[1:3] if isinstance(a, int) and not isinstance(a, bool)), None)
    if dim is None or x.dim() == 0:
        n = x.numel()
        return 0, n * log2_ceil(n)
    rows, n = _row(x, dim)
    return 0, rows * n * log2_ceil(n)


@register("histc", "bincount", "histogram", category="reduction")
def histogram_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """``histc`` / ``bincount``: FLOPs = 2 per input element (bin index, increment); MACs = 0."""
    return 0, 2 * args[0].numel()


@register("searchsorted", "bucketize", category="reduction")
def search_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """``searchsorted(boundaries, values)`` / ``bucketize(values, boundaries)``: ``ceil(log2 n)``
    comparisons per value, n = boundaries along the last dim; MACs = 0."""
    a, b = args[0], args[1]
    boundaries, values = (a, b) if len(args) > 1 and hasattr(b, "shape") and a.dim() >= 1 else (b, a)
    if not hasattr(boundaries, "shape") or boundaries.dim() == 0:
        return 0, 0
    n = boundaries.shape[-1]
    count = values.numel() if hasattr(values, "numel") else 1
    return 0, count * log2_ceil(n)
