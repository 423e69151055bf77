"""Backward-pass and loss cost rules: the aten ops autograd dispatches for a training step.

Each backward op is costed in the category of its forward op (a convolution's gradients are ``conv``
work, a norm's are ``norm`` ...), so a training step's category shares read like inference's.

- ``convolution_backward`` (grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed,
  output_padding, groups, output_mask): each gradient asked for in ``output_mask`` costs:
  grad_input = the forward convolution's MACs (a transposed convolution of grad_output with the weight),
  grad_weight = the forward MACs (a correlation of input with grad_output), grad_bias = one add per
  grad_output element. So a convolution whose input needs a gradient does 2x its forward MACs backward
  (the first layer of a network, whose input needs none, 1x). FLOPs = 2 x MACs + the bias adds.
  (Linear layers need no rule here: autograd runs their backward as two ``mm`` ops, 2x the forward MACs.)
- Pointwise activation backward (``threshold_backward`` of ReLU, ``gelu_backward`` ...): FLOPs per
  grad_input element in ``ACTIVATION_BACKWARD_FLOPS`` (the derivative's arithmetic, with the grad multiply).
- Softmax backward: ``y * (g - sum(g * y))`` = 4 FLOPs per element (multiply, sum, subtract, multiply);
  log-softmax backward ``g - exp(y) * sum(g)`` = 4 (sum, exp, multiply, subtract).
- Norm backward, per input element (``NORM_BACKWARD_FLOPS``): batch norm with batch statistics 9 (x-hat
  recomputed 2, the sums of g and g * x-hat 3, ``(g - mean g - x-hat * mean(g x-hat)) * rstd * w`` 4; the
  weight and bias gradients are those sums); with running statistics 1 (``g * rstd * w``, folded);
  layer / group norm 10 (g * w first: the weight is per feature, then the same 9), + 1 each for the weight
  and the bias gradients (sums over the rows). RMS norm (``_fused_rms_norm_backward``): 7.
- Pooling backward: max pooling scatters each grad_output element to its argmax (1 add each); average
  pooling spreads each grad_output element over its window (``kernel`` adds + 1 divide each); adaptive
  average pooling: 1 FLOP per input element.
- Linear-family upsampling backward (``upsample_bilinear2d_backward`` ...): each grad_output element is
  scattered to its T input taps, a multiply and an add each: 2T FLOPs per grad_output element.
- Data-movement backward (``select_backward``, ``slice_backward`` ...): zeros and a copy, no FLOPs.
- ``embedding_dense_backward``: one add per grad_output element (rows scattered into the table's gradient).
- Losses: ``nll_loss_forward`` (log-probabilities gathered at the targets, summed): 1 FLOP per target;
  ``nll_loss_backward``: 1 per target (the scaled -1 scattered), the zero fill free; ``mse_loss`` and
  ``mse_loss_backward``: 3 per element.
- ``_scaled_dot_product_flash_attention_backward`` (the capture's one fused attention backward op, flash /
  memory-efficient attention, Dao 2023 "FlashAttention-2" Algorithm 2): five matmuls per score,
  recomputing S = Q K^T, then dV = P^T dO, dP = dO V^T, dQ = dS K, dK = dS^T Q: MACs = B*H*L*S*(3E + 2Ev)
  (2.5x the forward's when E = Ev); FLOPs = 2 x MACs + 5 per score (P from the saved log-sum-exp: scale,
  subtract, exp; dS = P * (dP - D): subtract, multiply) + 2*Ev per query row (D = rowsum(dO * O)).
- Mixed-precision loss scaling (``torch.amp.GradScaler``'s ops; the CUDA kernels in PyTorch's
  ``aten/src/ATen/native/cuda/AmpKernels.cu``): ``_amp_foreach_non_finite_check_and_unscale_`` (grads,
  found_inf, inv_scale) checks each gradient element for inf/NaN and multiplies it by 1/scale in place:
  2 FLOPs per element (the check, the multiply); ``_amp_update_scale_`` updates the scalar scale on its
  longest path: the found_inf test, the growth tracker's increment and its compare with the interval, the
  scale's multiply and its finiteness check: 5 FLOPs.
"""

from __future__ import annotations

from math import prod
from typing import Any

from metrics_core.costs._common import arg, ntuple, out_numel, per_output_element_rule
from metrics_core.costs.conv import conv_macs
from metrics_core.costs.registry import register

#: FLOPs per gradient element of pointwise activation backward ops (derivative arithmetic + the multiply
#: by the incoming gradient).
ACTIVATION_BACKWARD_FLOPS: dict[str, int] = {
    "threshold_backward": 1,  # g where x > t else 0: one select
    "hardtanh_backward": 2,  # g where min < x < max: two compares folded in a select
    "leaky_relu_backward": 2,  # g * (x > 0 ? 1 : slope)
    "elu_backward": 3,  # g * (x > 0 ? 1 : y + alpha)
    "sigmoid_backward": 3,  # g * y * (1 - y)
    "tanh_backward": 3,  # g * (1 - y^2)
    "hardsigmoid_backward": 2,  # g / 6 inside (-3, 3)
    "hardswish_backward": 4,  # g * (2x + 3) / 6 inside (-3, 3)
    "silu_backward": 9,  # s = sigmoid(x) (4) recomputed; g * s * (1 + x * (1 - s)) (5)
    "gelu_backward": 9,  # exact: g * (Phi(x) + x * phi(x)): erf-CDF 4, exp-PDF 3, multiply, add
    "softplus_backward": 5,  # g * sigmoid(b x): multiply, exp, add, divide, multiply
    "mish_backward": 12,  # tanh(softplus) and its derivative recomputed
    "log_sigmoid_backward": 4,
    "glu_backward": 6,
}

#: Norm backward FLOPs per input element (module docstring).
NORM_BACKWARD_FLOPS = {"batch_stats": 9, "running_stats": 1, "layer": 10, "affine_grad": 1, "rms": 7}

#: FLOPs per element of softmax / log-softmax backward.
SOFTMAX_BACKWARD_FLOPS = 4

#: FLOPs per score of fused attention backward besides its matmuls (module docstring).
ATTENTION_BACKWARD_SCORE_FLOPS = 5

for _op, _flops in ACTIVATION_BACKWARD_FLOPS.items():
    register(_op, category="activation")(per_output_element_rule(_op, _flops, "ACTIVATION_BACKWARD_FLOPS"))


@register("convolution_backward", category="conv")
def convolution_backward_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Gradients of a convolution (module docstring): forward MACs per input / weight gradient asked for
    in ``output_mask`` (argument 10), one add per grad_output element for the bias gradient."""
    grad_out, x, weight = args[0], args[1], args[2]
    transposed = bool(arg(args, kwargs, 7, "transposed", False))
    mask = arg(args, kwargs, 10, "output_mask", (True, True, True))
    forward = conv_macs(x, weight, grad_out, transposed)
    macs = forward * (int(bool(mask[0])) + int(bool(mask[1])))
    bias = grad_out.numel() if mask[2] else 0
    return macs, 2 * macs + bias


@register("_softmax_backward_data", "_log_softmax_backward_data", category="activation")
def softmax_backward_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Softmax / log-softmax backward: FLOPs = 4 per gradient element; MACs = 0."""
    return 0, SOFTMAX_BACKWARD_FLOPS * out_numel(out)


@register("native_batch_norm_backward", "cudnn_batch_norm_backward", "miopen_batch_norm_backward",
          category="norm")  # fmt: skip
def batch_norm_backward_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Batch-norm backward: 9 FLOPs per input element with batch statistics (``train``, argument 7),
    1 with running statistics; MACs = 0."""
    train = bool(arg(args, kwargs, 7, "train", True))
    per = NORM_BACKWARD_FLOPS["batch_stats" if train else "running_stats"]
    return 0, per * args[1].numel()


@register("native_layer_norm_backward", "native_group_norm_backward", category="norm")
def layer_norm_backward_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Layer / group-norm backward: 10 FLOPs per input element for the input gradient, + 1 for the weight
    gradient and + 1 for the bias gradient when asked for (the last argument, ``output_mask``)."""
    mask = args[-1] if args and isinstance(args[-1], (list, tuple)) else (True, True, True)
    per = NORM_BACKWARD_FLOPS["layer"] if mask[0] else 0
    per += NORM_BACKWARD_FLOPS["affine_grad"] * (int(bool(mask[1])) + int(bool(mask[2])))
    return 0, per * args[1].numel()


@register("_fused_rms_norm_backward", category="norm")
def rms_norm_backward_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """RMS-norm backward: 7 FLOPs per input element; MACs = 0."""
    return 0, NORM_BACKWARD_FLOPS["rms"] * args[1].numel()


@register("max_pool2d_with_indices_backward", "max_pool3d_with_indices_backward", category="pooling")
def max_pool_backward_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Max-pool backward: one add per grad_output element (scattered to its argmax); MACs = 0."""
    return 0, args[0].numel()


@register("avg_pool2d_backward", "avg_pool3d_backward", category="pooling")
def avg_pool_backward_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Average-pool backward: each grad_output element divided once and added to its ``kernel`` window
    (argument 2): FLOPs = grad_output elements x (prod(kernel) + 1); MACs = 0."""
    given = arg(args, kwargs, 2, "kernel_size", 1)
    given = (given,) if isinstance(given, int) else tuple(given)
    kernel = ntuple(given, len(given) if len(given) > 1 else max(args[1].dim() - 2, 1)) or (1,)
    return 0, args[0].numel() * (prod(kernel) + 1)


@register("_adaptive_avg_pool2d_backward", "_adaptive_avg_pool3d_backward", category="pooling")
def adaptive_pool_backward_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Adaptive average-pool backward: 1 FLOP per input (gradient) element; MACs = 0."""
    return 0, out_numel(out)


#: Input taps per gradient element of the linear-family upsampling backward ops (``costs.interpolate``).
UPSAMPLE_BACKWARD_TAPS: dict[str, int] = {
    "upsample_linear1d_backward": 2,
    "upsample_bilinear2d_backward": 4,
    "upsample_trilinear3d_backward": 8,
    "upsample_bicubic2d_backward": 16,
}


def _upsample_backward_rule(op: str, taps: int) -> Any:
    def rule(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
        return 0, 2 * taps * args[0].numel()

    rule.__name__ = rule.__qualname__ = f"{op}_cost"
    rule.__doc__ = (
        f"``{op}``: each grad_output element scattered to its {taps} input taps, a multiply and an add "
        f"each: FLOPs = 2 x {taps} per grad_output element; MACs = 0."
    )
    return rule


for _op, _taps in UPSAMPLE_BACKWARD_TAPS.items():
    register(_op, category="elementwise")(_upsample_backward_rule(_op, _taps))


@register("embedding_dense_backward", "embedding_backward", category="data-movement")
def embedding_backward_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Embedding backward: one add per grad_output element (rows scattered into the table gradient)."""
    return 0, args[0].numel()


@register("select_backward", "slice_backward", "diagonal_backward", "unfold_backward",
          "index_select_backward", category="data-movement")  # fmt: skip
def movement_backward_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Backward of a view or gather: zeros and a copy into them, no FLOPs."""
    return 0, 0


@register("nll_loss_forward", "nll_loss2d_forward", "nll_loss_backward", "nll_loss2d_backward",
          category="reduction")  # fmt: skip
def nll_loss_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Negative log-likelihood (the second half of cross-entropy) and its backward: 1 FLOP per target
    (argument 1 of the forward, 2 of the backward); MACs = 0."""
    target = next((a for a in args if hasattr(a, "shape") and not a.dtype.is_floating_point), None)
    return 0, target.numel() if target is not None else 0


@register("mse_loss", "mse_loss_backward", category="reduction")
def mse_loss_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Mean squared error and its backward: 3 FLOPs per input element (forward: subtract, square, sum;
    backward: subtract, scale by 2/N, multiply by the incoming gradient); MACs = 0. The input is argument
    0 of the forward and 1 of the backward: the larger of the two is counted."""
    x = max((a for a in args[:2] if hasattr(a, "shape")), key=lambda a: a.numel())
    return 0, 3 * x.numel()


#: The op the capture records for a fused attention backward (``capture.dispatch``), with the first five
#: arguments of that aten op: ``(grad_out, q, k, v, out)``.
SDPA_BACKWARD_OP = "_scaled_dot_product_flash_attention_backward"


@register(SDPA_BACKWARD_OP, category="attention")
def sdpa_backward_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Fused attention backward, arguments ``(grad_out, q, k, v, out, ...)`` in layout ``(B, H, L, E)``:
    MACs = ``B*H*L*S*(3E + 2Ev)``; FLOPs = 2 x MACs + 5 per score + 2*Ev per query row (module doc)."""
    q, k, v = args[1], args[2], args[3]
    rows = prod(q.shape[:-1])
    scores = rows * k.shape[-2]
    macs = scores * (3 * q.shape[-1] + 2 * v.shape[-1])
    return macs, 2 * macs + ATTENTION_BACKWARD_SCORE_FLOPS * scores + 2 * v.shape[-1] * rows


@register("_amp_foreach_non_finite_check_and_unscale_", category="elementwise")
def amp_unscale_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """GradScaler's unscale: a finiteness check and a multiply by 1/scale per gradient element."""
    return 0, 2 * sum(g.numel() for g in args[0])


@register("_amp_update_scale_", category="elementwise")
def amp_update_scale_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """GradScaler's scale update: 5 scalar FLOPs on its longest path (module docstring)."""
    return 0, 5
