"""Convolution cost rules (category ``conv``): every aten convolution variant, 1-D/2-D/3-D.

Stride, padding, dilation and groups need no special handling: they are already reflected in the output
shape (regular convolution) and in the weight shape ``(C_out, C_in/groups, *kernel)`` (transposed:
``(C_in, C_out/groups, *kernel)``). Bias adds fused into the convolution are not counted, nor are fused
epilogues (``cudnn_convolution_relu``'s ReLU, ``cudnn_convolution_add_relu``'s add and ReLU):
FLOPs = 2 x MACs exactly.
"""

from __future__ import annotations

from math import prod
from typing import Any

from metrics_core.costs._common import arg, out_numel
from metrics_core.costs.registry import register


def conv_macs(x: Any, weight: Any, out: Any, transposed: bool) -> int:
    """MACs of a convolution from its input, weight and output shapes.

    Regular: ``N * C_out * prod(out_spatial) * (C_in/groups) * prod(kernel)``
    = ``out.numel() * prod(weight.shape[1:])``.
    Transposed: ``N * C_in * prod(in_spatial) * (C_out/groups) * prod(kernel)``
    = ``x.numel() * prod(weight.shape[1:])`` (every input element is scattered through its kernel).
    """
    per_point = prod(weight.shape[1:])
    return (x.numel() if transposed else out_numel(out)) * per_point


@register("convolution", "_convolution", "convolution_overrideable", category="conv")
def convolution_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Generic convolution (``transposed`` is argument 6): MACs by ``conv_macs``; FLOPs = 2 x MACs."""
    macs = conv_macs(args[0], args[1], out, bool(arg(args, kwargs, 6, "transposed", False)))
    return macs, 2 * macs


@register(
    "conv1d",
    "conv2d",
    "conv3d",
    "_convolution_mode",
    "cudnn_convolution",
    "cudnn_convolution_relu",
    "cudnn_convolution_add_relu",
    "miopen_convolution",
    "miopen_convolution_relu",
    "miopen_convolution_add_relu",
    "miopen_depthwise_convolution",
    "mkldnn_convolution",
    "_conv_depthwise2d",
    "conv_depthwise3d",
    "thnn_conv2d",
    "_slow_conv2d_forward",
    "slow_conv3d",
    "slow_conv3d_forward",
    "slow_conv_dilated2d",
    "slow_conv_dilated3d",
    "_nnpack_spatial_convolution",
    "_mps_convolution",
    category="conv",
)
def regular_conv_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Non-transposed convolution: MACs = ``out.numel() * (C_in/groups) * prod(kernel)``; FLOPs = 2 x MACs."""
    macs = conv_macs(args[0], args[1], out, transposed=False)
    return macs, 2 * macs


@register(
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "cudnn_convolution_transpose",
    "miopen_convolution_transpose",
    "slow_conv_transpose2d",
    "slow_conv_transpose3d",
    "_mps_convolution_transpose",
    category="conv",
)
def transposed_conv_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Transposed convolution: MACs = ``N * C_in * prod(in_spatial) * (C_out/groups) * prod(kernel)``;
    FLOPs = 2 x MACs. Stride, padding and output_padding change the output size, not the MACs."""
    macs = conv_macs(args[0], args[1], out, transposed=True)
    return macs, 2 * macs


@register("conv_tbc", category="conv")
def conv_tbc_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Time-batch-channel 1-D convolution, input ``(T, N, C_in)``, weight ``(k, C_in, C_out)``:
    MACs = ``out.numel() * k * C_in``; FLOPs = 2 x MACs."""
    weight = args[1]
    macs = out_numel(out) * weight.shape[0] * weight.shape[1]
    return macs, 2 * macs
