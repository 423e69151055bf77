"""Softmax cost rules (category ``activation``)."""

from __future__ import annotations

from typing import Any

from metrics_core.costs.registry import register

#: FLOPs per element of softmax over any dim: running max (1 compare), subtract max (1), exp (1),
#: sum (1 add), divide by the sum (1). log_softmax: max, subtract, exp, sum, subtract log-sum = also 5
#: (the one log per row is not counted).
SOFTMAX_FLOPS_PER_ELEMENT = 5


@register(
    "softmax",
    "_softmax",
    "_safe_softmax",
    "_masked_softmax",
    "log_softmax",
    "_log_softmax",
    category="activation",
)
def softmax_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Softmax / log-softmax: FLOPs = ``SOFTMAX_FLOPS_PER_ELEMENT`` (5) x input elements; MACs = 0.
    ``_masked_softmax``'s mask select is not counted."""
    return 0, SOFTMAX_FLOPS_PER_ELEMENT * args[0].numel()
