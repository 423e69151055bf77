"""Reduction cost rules (category ``reduction``): FLOPs per INPUT element, plus documented per-output
terms (the final divide of a mean, the root of a norm); MACs = 0."""

from __future__ import annotations

from typing import Any

from metrics_core.costs._common import out_numel
from metrics_core.costs.registry import CostFn, register

#: ``(FLOPs per input element, FLOPs per output element)`` by op.
REDUCTION_FLOPS: dict[str, tuple[int, int]] = {
    "sum": (1, 0),  # one add per element
    "nansum": (1, 0),
    "prod": (1, 0),  # one multiply per element
    "cumsum": (1, 0),  # scan: one add per element
    "cumsum_": (1, 0),
    "cumprod": (1, 0),
    "cumprod_": (1, 0),
    "amax": (1, 0),  # one compare per element
    "amin": (1, 0),
    "aminmax": (2, 0),  # two compares per element
    "argmax": (1, 0),
    "argmin": (1, 0),
    "any": (1, 0),
    "all": (1, 0),
    "count_nonzero": (1, 0),
    "mean": (1, 1),  # one add per element, one divide per output
    "nanmean": (1, 1),
    "var": (4, 2),  # mean add; subtract, square, add; divides for the mean and the variance
    "std": (4, 3),  # as var, + square root per output
    "var_mean": (4, 2),
    "std_mean": (4, 3),
    "linalg_vector_norm": (2, 1),  # |x|^p (1), add (1); root per output
    "norm": (2, 1),
    "logsumexp": (4, 2),  # max compare, subtract, exp, add; log and add-back of the max per output
}


def _reduction_rule(op: str, per_in: int, per_out: int) -> CostFn:
    def rule(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
        return 0, per_in * args[0].numel() + per_out * out_numel(out)

    rule.__name__ = rule.__qualname__ = f"{op}_cost"
    rule.__doc__ = (
        f"``{op}``: FLOPs = {per_in} x input elements + {per_out} x output elements (``REDUCTION_FLOPS``); "
        "MACs = 0."
    )
    return rule


for _op, (_in, _out) in REDUCTION_FLOPS.items():
    register(_op, category="reduction")(_reduction_rule(_op, _in, _out))


@register("max", "min", category="reduction")
def max_min_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """``max``/``min``: a reduction (``max(x)``, ``max(x, dim)``) costs 1 compare per input element; the
    binary overload ``max(x, other)`` (as ``maximum``) costs 1 per output element. MACs = 0."""
    if len(args) > 1 and hasattr(args[1], "shape"):
        return 0, out_numel(out)
    return 0, args[0].numel()
