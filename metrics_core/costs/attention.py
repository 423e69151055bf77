"""Attention cost rules (category ``attention``): scaled-dot-product attention in every CPU/GPU variant,
and the fused ``nn.MultiheadAttention`` / ``nn.TransformerEncoderLayer`` fast-path ops.

Scaled-dot-product attention with ``q (B, H, L, E)``, ``k (B, H, S, E)``, ``v (B, H, S, Ev)``, on the
``B*H*L*S`` scores:
    MACs  = B*H*L*S*(E + Ev)                    (q @ k^T, then probabilities @ v)
    FLOPs = 2*MACs + 5*B*H*L*S (softmax, ``SOFTMAX_FLOPS_PER_ELEMENT``) + B*H*L*S (scaling)
            [+ B*H*L*S when an additive/boolean mask or bias tensor is given]
Causal masking, dropout and windowing do not reduce the count (dense attention is counted). Grouped-query
attention uses the query's heads. Layouts differ by variant: most take ``(B, H, L, E)``; the low-level
``_flash_attention_forward`` / ``_efficient_attention_forward`` take ``(B, L, H, E)``; packed variable-length
inputs ``(total, H, E)`` count ``total_q * max_k`` scores (an upper bound: the per-sequence lengths are data).
"""

from __future__ import annotations

from math import prod
from typing import Any

from metrics_core.costs._common import arg, first_tensor
from metrics_core.costs.activation import ACTIVATION_FLOPS, GELU_FLOPS
from metrics_core.costs.norm import norm_flops
from metrics_core.costs.registry import register
from metrics_core.costs.softmax import SOFTMAX_FLOPS_PER_ELEMENT

#: FLOPs per attention score besides the two matmuls: softmax (5) + scaling by 1/sqrt(E) (1).
SCORE_FLOPS = SOFTMAX_FLOPS_PER_ELEMENT + 1


def sdpa_cost(q: Any, k: Any, v: Any, kv_len: int, masked: bool) -> tuple[int, int]:
    """``(macs, flops)`` of attention with ``prod(q.shape[:-1])`` query rows (B*H*L) over ``kv_len`` keys."""
    scores = prod(q.shape[:-1]) * kv_len
    macs = scores * (q.shape[-1] + v.shape[-1])
    return macs, 2 * macs + scores * (SCORE_FLOPS + (1 if masked else 0))


def _is_tensor(x: Any) -> bool:
    return hasattr(x, "shape")


@register(
    "scaled_dot_product_attention",
    "_scaled_dot_product_attention_math",
    "_scaled_dot_product_attention_math_for_mps",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
    "_scaled_dot_product_fused_attention_overrideable",
    category="attention",
)
def sdpa_bhle_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """SDPA, layout ``(B, H, L, E)``, mask/bias argument 3: MACs = ``B*H*L*S*(E + Ev)``;
    FLOPs = 2*MACs + 6*B*H*L*S (softmax 5 + scaling 1), + B*H*L*S with a mask."""
    q, k, v = args[0], args[1], args[2]
    mask = arg(args, kwargs, 3, "attn_mask", kwargs.get("attn_bias"))
    return sdpa_cost(q, k, v, k.shape[-2], _is_tensor(mask))


@register("mla_decode_attention", category="attention")
def mla_decode_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Multi-head latent attention decoded with ``kv_b_proj`` absorbed, as one fused kernel (modeltui's
    ``modeltui::mla_decode_attention``, ``capture.mla``; FlashMLA): the latent query ``q_lat (B, 1, R,
    rank)`` and rotary query ``q_rot (B, 1, R, rope)`` (``R = H*L`` query rows) over the cached latent
    ``kv_nope (B, 1, S, rank)`` and rotary key ``k_rot (B, 1, S, rope)``: scores ``q_lat . kv_nope + q_rot
    . k_rot`` (``rank + rope`` MACs each), the output ``p . kv_nope`` (``rank``). MACs = ``B*R*S*(2 rank +
    rope)``; FLOPs = 2*MACs + 6*B*R*S (softmax 5 + scaling 1), as SDPA with ``E = rank + rope``, ``Ev =
    rank``."""
    q_lat, q_rot, kv_nope = args[0], args[1], args[2]
    scores = prod(q_lat.shape[:-1]) * kv_nope.shape[-2]
    macs = scores * (2 * q_lat.shape[-1] + q_rot.shape[-1])
    return macs, 2 * macs + scores * SCORE_FLOPS


@register(
    "_scaled_dot_product_flash_attention", "_scaled_dot_product_flash_attention_for_cpu", category="attention"
)
def sdpa_flash_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Flash SDPA, layout ``(B, H, L, E)`` (CPU variant: keyword ``attn_mask``): MACs = ``B*H*L*S*(E + Ev)``;
    FLOPs = 2*MACs + 6*B*H*L*S, + B*H*L*S with a mask."""
    q, k, v = args[0], args[1], args[2]
    return sdpa_cost(q, k, v, k.shape[-2], _is_tensor(kwargs.get("attn_mask")))


@register("_flash_attention_forward", category="attention")
def flash_forward_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Low-level flash attention, layout ``(B, L, H, E)`` or packed ``(total, H, E)`` with ``max_k``
    (argument 6): MACs = ``B*L*H*S*(E + Ev)``; FLOPs = 2*MACs + 6*B*H*L*S."""
    return _blhe_cost(args[0], args[1], args[2], arg(args, kwargs, 6, "max_k"), False)


@register("_flash_attention_forward_no_dropout_inplace", category="attention")
def flash_forward_inplace_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """As ``_flash_attention_forward`` with the output tensor first (q, k, v are arguments 1-3)."""
    return _blhe_cost(args[1], args[2], args[3], arg(args, kwargs, 7, "max_k"), False)


@register("_efficient_attention_forward", category="attention")
def efficient_forward_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Low-level memory-efficient attention, layout ``(B, L, H, E)`` (packed: B = 1, ``max_seqlen_k``
    argument 7), bias argument 3: MACs = ``B*L*H*S*(E + Ev)``; FLOPs = 2*MACs + 6*B*H*L*S (+1 with bias)."""
    q, k, v = args[0], args[1], args[2]
    packed = arg(args, kwargs, 5, "cu_seqlens_k") is not None
    kv_len = arg(args, kwargs, 7, "max_seqlen_k") if packed else k.shape[1]
    return sdpa_cost(q, k, v, kv_len, _is_tensor(arg(args, kwargs, 3, "bias")))


@register("_cudnn_attention_forward", category="attention")
def cudnn_forward_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Low-level cuDNN attention: layout ``(B, H, L, E)``, or packed ``(total, H, E)`` with ``max_k``
    (argument 7); bias argument 3: MACs = ``B*H*L*S*(E + Ev)``; FLOPs = 2*MACs + 6*B*H*L*S (+1 with bias)."""
    q, k, v = args[0], args[1], args[2]
    kv_len = arg(args, kwargs, 7, "max_k") if q.dim() == 3 else k.shape[-2]
    return sdpa_cost(q, k, v, kv_len, _is_tensor(arg(args, kwargs, 3, "attn_bias")))


def _blhe_cost(q: Any, k: Any, v: Any, max_k: Any, masked: bool) -> tuple[int, int]:
    kv_len = max_k if q.dim() == 3 else k.shape[1]
    return sdpa_cost(q, k, v, kv_len, masked)


def mha_cost(
    batch: int, q_len: int, kv_len: int, dim: int, heads: int, qkv_bias: bool, masked: bool, avg_weights: bool
) -> tuple[int, int]:
    """``(macs, flops)`` of PyTorch's fused multi-head attention (``_native_multi_head_attention``).

    MACs: q/k/v in-projections ``B*(L + 2S)*D*D``, attention ``B*L*S*2D`` (= H heads x L*S*(E + Ev) with
    E = Ev = D/H), out-projection ``B*L*D*D``. FLOPs = 2*MACs plus what the kernel does element-wise:
    in-projection bias adds ``B*(L + 2S)*D`` (with a bias), query scaling by 1/sqrt(D/H) ``B*L*D``,
    softmax 5 per score (``B*H*L*S`` scores), +1 per score with a mask, and when the head-averaged
    weights are returned, their mean (``B*H*L*S`` adds + ``B*L*S`` divides). The out-projection bias is
    fused (not counted), as in ``addmm``. These are exactly the ops of the unfused path.
    """
    rows_in = batch * (q_len + 2 * kv_len)
    scores = batch * heads * q_len * kv_len
    macs = rows_in * dim * dim + batch * q_len * kv_len * 2 * dim + batch * q_len * dim * dim
    flops = 2 * macs + (rows_in * dim if qkv_bias else 0) + batch * q_len * dim
    flops += scores * (SOFTMAX_FLOPS_PER_ELEMENT + (1 if masked else 0))
    if avg_weights:
        flops += scores + batch * q_len * kv_len
    return macs, flops


@register("_native_multi_head_attention", "_triton_multi_head_attention", category="attention")
def native_mha_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Fused ``nn.MultiheadAttention`` (eval + no_grad fast path): query ``(B, L, D)``, key/value
    ``(B, S, D)``, ``embed_dim`` D (argument 3), ``num_head`` H (4), in-projection ``(3D, D)``:
    MACs = ``B*(L + 2S)*D*D + 2*B*L*S*D + B*L*D*D``; FLOPs per ``mha_cost``."""
    q, k = args[0], args[1]
    dim, heads = args[3], args[4]
    weights = first_tensor(out[1:]) if isinstance(out, (tuple, list)) else None
    need_weights = bool(arg(args, kwargs, 10, "need_weights", True))
    average = bool(arg(args, kwargs, 11, "average_attn_weights", True))
    avg = need_weights and average and weights is not None and weights.numel() > 0
    return mha_cost(
        q.shape[0], q.shape[-2], k.shape[-2], dim, heads,
        _is_tensor(args[6]), _is_tensor(arg(args, kwargs, 9, "mask")), avg,
    )  # fmt: skip


@register("_transformer_encoder_layer_fwd", category="attention")
def transformer_encoder_layer_cost(
    args: tuple[Any, ...], kwargs: dict[str, Any], out: Any
) -> tuple[int, int]:
    """Fused ``nn.TransformerEncoderLayer`` (eval + no_grad fast path), src ``(B, L, D)``, FFN width F:
    self-attention per ``mha_cost`` (no returned weights), 2 residual adds (``2*B*L*D``), 2 layer norms
    (7 per element with affine), FFN MACs ``2*B*L*D*F`` (biases fused), activation on ``B*L*F``
    (ReLU 1 or GELU 5 per element, argument 7 ``use_gelu``).
    MACs = ``4*B*L*D*D + 2*B*L*L*D + 2*B*L*D*F``; FLOPs = 2*MACs + the element-wise terms above."""
    src = args[0]
    dim, heads = args[1], args[2]
    batch, length = prod(src.shape[:-2]), src.shape[-2]
    ffn = args[14].shape[0]
    masked = _is_tensor(arg(args, kwargs, 18, "mask"))
    macs, flops = mha_cost(batch, length, length, dim, heads, _is_tensor(args[4]), masked, False)
    ffn_macs = 2 * batch * length * dim * ffn
    tokens = batch * length * dim
    act = GELU_FLOPS["none"] if args[7] else ACTIVATION_FLOPS["relu"]
    flops += 2 * ffn_macs + 2 * tokens
    flops += norm_flops(tokens, True, args[10], args[11]) + norm_flops(tokens, True, args[12], args[13])
    flops += act * batch * length * ffn
    return macs + ffn_macs, flops
