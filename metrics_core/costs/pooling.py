"""Pooling cost rules (category ``pooling``); MACs = 0.

Window elements are counted exactly: only positions inside the input are summed or compared (padding
and ``ceil_mode`` overhang are not), with the real stride and dilation, so border windows cost less.
Per dimension, the count over all output positions is ``sum_o |{j < k : 0 <= o*s - p + j*d < In}|``;
the total is the product over dimensions times ``N * C``.
    avg:  FLOPs = window elements (adds) + 1 divide per output element
    max:  FLOPs = window elements - 1 comparisons per output element
Adaptive pools use PyTorch's windows ``[floor(i*In/Out), ceil((i+1)*In/Out))``.
"""

from __future__ import annotations

from math import prod
from typing import Any

from metrics_core.costs._common import arg, first_tensor, ntuple
from metrics_core.costs.registry import CostFn, register


def _dim_window_total(size: int, out: int, k: int, s: int, p: int, d: int) -> int:
    """Input positions read by all ``out`` windows of one dim (kernel k, stride s, pad p, dilation d)."""
    total = 0
    for o in range(out):
        start = o * s - p
        lo = 0 if start >= 0 else (-start + d - 1) // d  # first tap at or after index 0
        hi = min(k - 1, (size - 1 - start) // d)
        if hi >= lo:
            total += hi - lo + 1
    return total


def _adaptive_dim_total(size: int, out: int) -> int:
    """Input positions read by all ``out`` adaptive windows ``[floor(i*In/Out), ceil((i+1)*In/Out))``."""
    return sum(-(-(i + 1) * size // out) - (i * size) // out for i in range(out))


def _window_elements(x: Any, y: Any, nd: int, kernel: Any, stride: Any, padding: Any, dilation: Any) -> int:
    """Input elements read by all windows of a pooling from ``x`` to ``y`` over the last ``nd`` dims."""
    k = ntuple(kernel, nd)
    s = ntuple(stride, nd) or k
    p = ntuple(padding, nd) or (0,) * nd
    d = ntuple(dilation, nd) or (1,) * nd
    in_sp, out_sp = x.shape[-nd:], y.shape[-nd:]
    planes = y.numel() // max(1, prod(out_sp))
    return planes * prod(_dim_window_total(in_sp[i], out_sp[i], k[i], s[i], p[i], d[i]) for i in range(nd))


def _adaptive_window_elements(x: Any, y: Any, nd: int) -> int:
    in_sp, out_sp = x.shape[-nd:], y.shape[-nd:]
    planes = y.numel() // max(1, prod(out_sp))
    return planes * prod(_adaptive_dim_total(in_sp[i], out_sp[i]) for i in range(nd))


def _max_pool_rule(nd: int) -> CostFn:
    def rule(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
        y = first_tensor(out)
        window = _window_elements(
            args[0], y, nd,
            arg(args, kwargs, 1, "kernel_size"), arg(args, kwargs, 2, "stride", ()),
            arg(args, kwargs, 3, "padding", 0), arg(args, kwargs, 4, "dilation", 1),
        )  # fmt: skip
        return 0, window - y.numel()

    rule.__name__ = rule.__qualname__ = f"max_pool{nd}d_cost"
    rule.__doc__ = (
        f"{nd}-D max pooling ``(x, kernel_size, stride, padding, dilation, ceil_mode)``: FLOPs = window "
        "elements inside the input - 1, summed over output elements (comparisons); MACs = 0."
    )
    return rule


def _avg_pool_rule(nd: int) -> CostFn:
    def rule(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
        y = first_tensor(out)
        window = _window_elements(
            args[0], y, nd,
            arg(args, kwargs, 1, "kernel_size"), arg(args, kwargs, 2, "stride", ()),
            arg(args, kwargs, 3, "padding", 0), 1,
        )  # fmt: skip
        return 0, window + y.numel()

    rule.__name__ = rule.__qualname__ = f"avg_pool{nd}d_cost"
    rule.__doc__ = (
        f"{nd}-D average pooling ``(x, kernel_size, stride, padding, ceil_mode, count_include_pad, "
        "divisor_override)``: FLOPs = window elements inside the input (adds) + 1 divide per output element; "
        "MACs = 0. ``count_include_pad`` changes the divisor, not the count."
    )
    return rule


def _adaptive_rule(nd: int, kind: str) -> CostFn:
    def rule(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
        y = first_tensor(out)
        window = _adaptive_window_elements(args[0], y, nd)
        return 0, (window + y.numel()) if kind == "avg" else (window - y.numel())

    rule.__name__ = rule.__qualname__ = f"adaptive_{kind}_pool{nd}d_cost"
    formula = {
        "avg": "window elements (adds) + 1 divide per output element",
        "max": "window elements - 1 comparisons per output element",
    }[kind]
    rule.__doc__ = (
        f"{nd}-D adaptive {kind} pooling, windows ``[floor(i*In/Out), ceil((i+1)*In/Out))`` per dim: "
        f"FLOPs = {formula}; MACs = 0."
    )
    return rule


_MAX_POOLS = {
    "max_pool1d": 1, "max_pool1d_with_indices": 1, "quantized_max_pool1d": 1,
    "max_pool2d": 2, "max_pool2d_with_indices": 2, "mkldnn_max_pool2d": 2, "quantized_max_pool2d": 2,
    "max_pool3d": 3, "max_pool3d_with_indices": 3, "mkldnn_max_pool3d": 3, "quantized_max_pool3d": 3,
}  # fmt: skip
_AVG_POOLS = {"avg_pool1d": 1, "avg_pool2d": 2, "avg_pool3d": 3}
_ADAPTIVE_AVG = {
    "adaptive_avg_pool1d": 1, "adaptive_avg_pool2d": 2, "_adaptive_avg_pool2d": 2,
    "mkldnn_adaptive_avg_pool2d": 2, "adaptive_avg_pool3d": 3, "_adaptive_avg_pool3d": 3,
}  # fmt: skip
_ADAPTIVE_MAX = {"adaptive_max_pool1d": 1, "adaptive_max_pool2d": 2, "adaptive_max_pool3d": 3}

for _op, _nd in _MAX_POOLS.items():
    register(_op, category="pooling")(_max_pool_rule(_nd))
for _op, _nd in _AVG_POOLS.items():
    register(_op, category="pooling")(_avg_pool_rule(_nd))
for _op, _nd in _ADAPTIVE_AVG.items():
    register(_op, category="pooling")(_adaptive_rule(_nd, "avg"))
for _op, _nd in _ADAPTIVE_MAX.items():
    register(_op, category="pooling")(_adaptive_rule(_nd, "max"))


def _fractional_rule(nd: int) -> CostFn:
    def rule(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
        return 0, (prod(ntuple(args[1], nd)) - 1) * first_tensor(out).numel()

    rule.__name__ = rule.__qualname__ = f"fractional_max_pool{nd}d_cost"
    rule.__doc__ = (
        f"{nd}-D fractional max pooling (full-kernel windows at pseudo-random starts, never padded): "
        "FLOPs = ``prod(kernel) - 1`` comparisons per output element; MACs = 0."
    )
    return rule


register("fractional_max_pool2d", category="pooling")(_fractional_rule(2))
register("fractional_max_pool3d", category="pooling")(_fractional_rule(3))
