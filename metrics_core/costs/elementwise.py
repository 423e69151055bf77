"""Element-wise arithmetic cost rules (category ``elementwise``): FLOPs per OUTPUT element; MACs = 0.

Broadcasting is counted on the output (``x + b`` with x ``(N, C, H, W)`` and b ``(C, 1, 1)`` costs
``N*C*H*W``). Each elementary operation is 1 FLOP whatever its hardware cost: ``exp``, ``log``,
``sqrt``, ``pow`` and comparisons count like ``add``.
"""

from __future__ import annotations

from typing import Any

from metrics_core.costs._common import arg, out_numel, per_output_element_rule
from metrics_core.costs.registry import register

_UNARY_BINARY = (
    "mul", "mul_", "div", "div_", "floor_divide", "remainder", "fmod",
    "pow", "pow_", "float_power", "sqrt", "sqrt_", "rsqrt", "rsqrt_", "reciprocal", "reciprocal_",
    "exp", "exp_", "exp2", "expm1", "log", "log_", "log2", "log10", "log1p", "neg", "neg_", "abs", "abs_",
    "sign", "sgn", "signbit", "floor", "ceil", "round", "trunc", "frac", "erf", "erfc", "erfinv",
    "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "hypot", "copysign", "xlogy",
    "heaviside", "nan_to_num", "isnan", "isinf", "isfinite",
    "where", "maximum", "minimum", "fmax", "fmin",
    "eq", "eq_", "ne", "ne_", "lt", "lt_", "le", "le_", "gt", "gt_", "ge", "ge_",
    "logical_and", "logical_or", "logical_xor", "logical_not",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
)  # fmt: skip

#: FLOPs per output element: 1 for every unary/binary op above, documented exceptions below.
#: ``add``/``sub``/``rsub`` (1, or 2 with ``alpha != 1``) have their own rule, ``add_cost``.
ELEMENTWISE_FLOPS: dict[str, int] = {
    **dict.fromkeys(_UNARY_BINARY, 1),
    "lerp": 3,  # a + w * (b - a): subtract, multiply, add
    "lerp_": 3,
    "addcmul": 3,  # x + v * t1 * t2: two multiplies, one add
    "addcmul_": 3,
    "addcdiv": 3,  # x + v * t1 / t2: divide, multiply, add
    "addcdiv_": 3,
    # abs * (cos(angle) + i sin(angle)) (Llama-4's complex rotary table): cos, sin and two multiplies = 4
    # real FLOPs per complex output element, counted 2 here and doubled as any op on complex values
    # (``complex.COMPLEX_DEFAULT``)
    "polar": 2,
}

for _op, _flops in ELEMENTWISE_FLOPS.items():
    register(_op, category="elementwise")(per_output_element_rule(_op, _flops, "ELEMENTWISE_FLOPS"))


@register("add", "add_", "sub", "sub_", "rsub", category="elementwise")
def add_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """``x + alpha * y`` (and ``-``): FLOPs = 1 per output element, 2 when ``alpha != 1``; MACs = 0."""
    alpha = arg(args, kwargs, 2, "alpha", 1)
    return 0, (1 if alpha == 1 else 2) * out_numel(out)


@register("native_dropout", category="elementwise")
def dropout_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Dropout when training: FLOPs = 2 per element (mask compare, scale multiply; random numbers not
    counted); 0 when ``train`` is False (identity). MACs = 0."""
    train = arg(args, kwargs, 2, "train", True)
    return 0, (2 * out_numel(out) if train is not False else 0)


@register("col2im", category="elementwise")
def col2im_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """``col2im`` (``F.fold``): every column element is added into the image: FLOPs = input elements."""
    return 0, args[0].numel()
