"""Activation cost rules (category ``activation``): FLOPs per output element, from a table; MACs = 0.

Counting convention: each elementary operation on one element (add, subtract, multiply, divide, compare,
min/max, exp, log, tanh, erf) is 1 FLOP; an activation costs the operations of its defining formula.
"""

from __future__ import annotations

from typing import Any

from metrics_core.costs._common import arg, out_numel, per_output_element_rule
from metrics_core.costs.registry import register

#: FLOPs per output element, with the formula counted. In-place variants (``relu_``...) cost the same.
ACTIVATION_FLOPS: dict[str, int] = {
    "relu": 1,  # max(x, 0)
    "relu_": 1,
    "threshold": 1,  # x > t ? x : v
    "threshold_": 1,
    "hardtanh": 2,  # min(max(x, lo), hi)  (ReLU6 dispatches as hardtanh(0, 6))
    "hardtanh_": 2,
    "relu6": 2,
    "relu6_": 2,
    "leaky_relu": 2,  # x > 0 ? x : a * x  (compare, multiply)
    "leaky_relu_": 2,
    "_prelu_kernel": 2,  # as leaky_relu, learned slope
    "prelu": 2,
    "hardshrink": 2,  # |x| > l ? x : 0  (abs, compare)
    "softshrink": 3,  # two compares, one add
    "elu": 4,  # x > 0 ? x : a * (exp(x) - 1)  (compare, exp, subtract, multiply)
    "elu_": 4,
    "selu": 5,  # scale * elu(x)
    "selu_": 5,
    "celu": 5,  # max(0, x) + min(0, a * (exp(x / a) - 1))
    "celu_": 5,
    "sigmoid": 4,  # 1 / (1 + exp(-x))  (negate, exp, add, divide)
    "sigmoid_": 4,
    "silu": 5,  # x * sigmoid(x)
    "silu_": 5,
    "tanh": 1,  # elementary
    "tanh_": 1,
    "hardsigmoid": 4,  # min(max(x + 3, 0), 6) / 6  (add, max, min, divide)
    "hardsigmoid_": 4,
    "hardswish": 5,  # x * hardsigmoid(x)
    "hardswish_": 5,
    "mish": 5,  # x * tanh(log(1 + exp(x)))  (exp, add, log, tanh, multiply)
    "mish_": 5,
    "softplus": 5,  # log(1 + exp(b * x)) / b  (multiply, exp, add, log, divide)
    "log_sigmoid_forward": 5,  # -log(1 + exp(-x))  (negate, exp, add, log, negate)
    "glu": 5,  # a * sigmoid(b), per output element
}

#: GELU FLOPs per output element by ``approximate``:
#: "none": x * 0.5 * (1 + erf(x / sqrt(2))) = multiply, erf, add, multiply, multiply = 5;
#: "tanh": 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))) = 2 (x^3) + 1 + 1 + 1 + tanh + 1 + 2 = 9.
GELU_FLOPS: dict[str, int] = {"none": 5, "tanh": 9}


for _op, _flops in ACTIVATION_FLOPS.items():
    register(_op, category="activation")(per_output_element_rule(_op, _flops, "ACTIVATION_FLOPS"))


@register("gelu", "gelu_", category="activation")
def gelu_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """GELU: FLOPs = ``GELU_FLOPS[approximate]`` (5 erf form, 9 tanh form) x output elements; MACs = 0."""
    approximate = arg(args, kwargs, 1, "approximate", "none")
    return 0, GELU_FLOPS[approximate] * out_numel(out)


@register("clamp", "clamp_", category="activation")
def clamp_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """``clamp(x, min, max)``: FLOPs = (number of bounds given: 1 or 2) x output elements; MACs = 0."""
    bounds = (arg(args, kwargs, 1, "min") is not None) + (arg(args, kwargs, 2, "max") is not None)
    return 0, bounds * out_numel(out)


@register("clamp_min", "clamp_min_", "clamp_max", "clamp_max_", category="activation")
def clamp_bound_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """``clamp_min`` / ``clamp_max``: FLOPs = 1 (a max or min) x output elements; MACs = 0."""
    return 0, out_numel(out)
