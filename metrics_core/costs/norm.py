"""Normalisation cost rules (category ``norm``): FLOPs per input element; MACs = 0.

FLOPs = elements x (statistics + normalise + affine), with the per-element constants below. Work done
once per channel / group / row (dividing the sums, adding eps, the reciprocal square root, folding
running statistics) is not counted: it is O(channels) against O(elements).
"""

from __future__ import annotations

from typing import Any

from metrics_core.costs._common import arg
from metrics_core.costs.registry import register

#: Batch statistics computed in one pass: sum x (add), x*x (multiply), sum x^2 (add).
NORM_STATS_FLOPS = 3
#: Normalise: (x - mean) * rstd.
NORM_NORMALIZE_FLOPS = 2
#: Affine: * weight (1, if a weight is given) and + bias (1, if a bias is given).
NORM_WEIGHT_FLOPS = 1
NORM_BIAS_FLOPS = 1
#: RMS norm statistics: x*x (multiply), sum (add); normalise: x * rrms (multiply).
RMS_STATS_FLOPS = 2
RMS_NORMALIZE_FLOPS = 1


def norm_flops(elements: int, stats: bool, weight: Any, bias: Any) -> int:
    """FLOPs of a mean/variance normalisation of ``elements`` elements (constants above)."""
    per = (NORM_STATS_FLOPS if stats else 0) + NORM_NORMALIZE_FLOPS
    per += (NORM_WEIGHT_FLOPS if weight is not None else 0) + (NORM_BIAS_FLOPS if bias is not None else 0)
    return per * elements


def _bn_training(args: tuple[Any, ...], kwargs: dict[str, Any], index: int) -> bool:
    """The ``training`` flag: argument ``index`` (5 in most batch-norm schemas; 3 in
    ``_native_batch_norm_legit.no_stats``, whose argument 5 is then ``eps``)."""
    if len(args) > index and isinstance(args[index], bool):
        return args[index]
    if len(args) > 3 and isinstance(args[3], bool):
        return args[3]
    return bool(kwargs.get("training", kwargs.get("use_input_stats", False)))


@register(
    "batch_norm",
    "native_batch_norm",
    "_native_batch_norm_legit",
    "_batch_norm_impl_index",
    "cudnn_batch_norm",
    "miopen_batch_norm",
    "instance_norm",
    category="norm",
)
def batch_norm_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Batch norm (and instance norm), FLOPs per input element:
    inference (``training``/``use_input_stats`` False: running statistics) = 2 normalise + 1 weight + 1 bias
    = 4 with affine; training (batch statistics) adds 3 for the statistics = 7 with affine. MACs = 0."""
    stats = _bn_training(args, kwargs, 5)
    return 0, norm_flops(args[0].numel(), stats, arg(args, kwargs, 1, "weight"), arg(args, kwargs, 2, "bias"))


@register("_native_batch_norm_legit_no_training", "_batch_norm_no_update", category="norm")
def batch_norm_inference_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Batch norm with running statistics: FLOPs = (2 normalise + 1 weight + 1 bias) per element = 4 with
    affine; MACs = 0."""
    return 0, norm_flops(args[0].numel(), False, arg(args, kwargs, 1, "weight"), arg(args, kwargs, 2, "bias"))


@register(
    "_batch_norm_with_update",
    "_batch_norm_with_update_functional",
    "_native_batch_norm_legit_functional",
    category="norm",
)
def batch_norm_training_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Batch norm computing batch statistics: FLOPs = (3 statistics + 2 normalise + 1 weight + 1 bias)
    per element = 7 with affine; MACs = 0 (the running-statistics update is O(C), not counted)."""
    return 0, norm_flops(args[0].numel(), True, arg(args, kwargs, 1, "weight"), arg(args, kwargs, 2, "bias"))


@register("native_layer_norm", "layer_norm", category="norm")
def layer_norm_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Layer norm: FLOPs = (3 statistics + 2 normalise + 1 weight + 1 bias) per element = 7 with affine;
    MACs = 0."""
    return 0, norm_flops(args[0].numel(), True, arg(args, kwargs, 2, "weight"), arg(args, kwargs, 3, "bias"))


@register("native_group_norm", category="norm")
def native_group_norm_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Group norm ``(input, weight, bias, N, C, HxW, group, eps)``: FLOPs = 7 per element with affine
    (3 statistics + 2 normalise + 1 weight + 1 bias); MACs = 0."""
    return 0, norm_flops(args[0].numel(), True, arg(args, kwargs, 1, "weight"), arg(args, kwargs, 2, "bias"))


@register("group_norm", category="norm")
def group_norm_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Group norm ``(input, num_groups, weight, bias)``: FLOPs = 7 per element with affine; MACs = 0."""
    return 0, norm_flops(args[0].numel(), True, arg(args, kwargs, 2, "weight"), arg(args, kwargs, 3, "bias"))


@register("rms_norm", "_fused_rms_norm", category="norm")
def rms_norm_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """RMS norm: FLOPs = (2 statistics + 1 normalise + 1 weight) per element = 4 with a weight; MACs = 0."""
    weight = arg(args, kwargs, 2, "weight")
    per = RMS_STATS_FLOPS + RMS_NORMALIZE_FLOPS + (NORM_WEIGHT_FLOPS if weight is not None else 0)
    return 0, per * args[0].numel()


@register("_weight_norm_interface", "_weight_norm", category="norm")
def weight_norm_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Weight normalisation ``w = g * v / ||v||`` (``v`` argument 0, norm over every dim but ``dim``):
    FLOPs = 2 per element of v for the squared norm (square, add) + 1 square root per norm + 2 per
    element (divide by the norm, multiply by g); MACs = 0."""
    v, g = args[0], args[1]
    return 0, 4 * v.numel() + g.numel()
