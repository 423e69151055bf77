"""Multi-head latent attention (DeepSeek-V2/V3, Kimi-K2) decoding as serving engines run it.

transformers' MLA layers cache the compressed latent (``kv_lora_rank`` channels of ``kv_nope`` and the
``qk_rope_head_dim`` channels of the shared rotary key per token) and, at every step, re-expand the
whole context to per-head K and V with ``kv_b_proj`` (``expand_kv``): ``C x kv_lora_rank x heads x
(qk_nope + v_head_dim)`` MACs per layer and step, and per-head K/V of ``C x heads x (qk_head + v)``
elements written and read. Serving engines (vLLM's and SGLang's MLA backends, FlashMLA) absorb
``kv_b_proj`` into the query and the output instead (DeepSeek-V2 paper, arXiv:2405.04434, sec. 2.1.2:
"W^UK can be absorbed into W^Q, and W^UV into W^O"): per step and layer

- the query's no-rope part goes to the latent space, ``q_lat = q_nope W^UK`` (``heads x qk_nope x rank``
  MACs per token);
- the scores are ``q_lat . kv_nope + q_rot . k_rot`` over the context (``heads x C x (rank + rope)``
  MACs), the output ``p . kv_nope`` (``heads x C x rank``), read from the latent cache in place;
- the output goes back per head, ``o W^UV`` (``heads x rank x v_head_dim`` MACs per token).

``absorbed_mla(model)`` swaps that in for a decode capture: each MLA layer's ``expand_kv`` returns the
cached latents unexpanded and attention runs through ``ABSORBED_ATTENTION``: the two per-head projections
(``W^UK``, ``W^UV``) as einsums (vLLM's MLA backends run them as batched GEMMs), the attention core as ONE
op, ``modeltui::mla_decode_attention`` (``mla_decode_attention``), as FlashMLA runs it: the queries and
the latent cache read once, the scores kept on chip, the output written once. Its cost rule is
``costs.attention.mla_decode_cost``; MACs and bytes are exact for a fused kernel. Imports transformers;
runs in the workers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

#: The attention implementation name the absorbed decode registers with transformers.
ABSORBED_ATTENTION = "modeltui_mla_absorbed"


@torch.library.custom_op("modeltui::mla_decode_attention", mutates_args=())
def mla_decode_attention(
    q_lat: torch.Tensor, q_rot: torch.Tensor, kv_nope: torch.Tensor, k_rot: torch.Tensor, scale: float
) -> torch.Tensor:
    """The absorbed MLA attention core as one op (module docstring). ``q_lat`` ``(B, 1, R, rank)`` and
    ``q_rot`` ``(B, 1, R, rope)`` (``R`` = heads x query tokens) over the cache's ``kv_nope`` ``(B, 1, C,
    rank)`` and ``k_rot`` ``(B, 1, C, rope)``: ``softmax(scale (q_lat kv_nope^T + q_rot k_rot^T)) kv_nope``,
    ``(B, 1, R, rank)``. On real tensors it computes exactly that; on meta it gives the shape."""
    scores = q_lat @ kv_nope.transpose(-1, -2) + q_rot @ k_rot.transpose(-1, -2)
    return torch.softmax(scores * scale, dim=-1) @ kv_nope


@mla_decode_attention.register_fake
def _mla_decode_attention_shape(
    q_lat: torch.Tensor, q_rot: torch.Tensor, kv_nope: torch.Tensor, k_rot: torch.Tensor, scale: float
) -> torch.Tensor:
    return q_lat.new_empty(q_lat.shape)


def is_mla(module: Any) -> bool:
    """Whether ``module`` is a transformers MLA attention layer (``kv_b_proj``, ``kv_lora_rank``,
    ``expand_kv``)."""
    return all(hasattr(module, a) for a in ("kv_b_proj", "kv_lora_rank", "expand_kv", "qk_nope_head_dim"))


def _absorbed_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: Any,
    scaling: float | None = None,
    **_kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Absorbed MLA attention. ``query`` ``(B, H, L, qk_nope + qk_rope)``; ``key`` the cached latent
    ``kv_nope`` ``(B, 1, C, rank)``; ``value`` the cached rotary key ``(B, 1, C, rope)`` (what the patched
    ``expand_kv`` passes on). Returns ``(B, L, H, v_head_dim)``, as transformers' attention functions.
    The decode step attends to its whole cache (no mask: the cache holds exactly the context)."""
    b, h, length, _ = query.shape
    nope, rank = module.qk_nope_head_dim, module.kv_lora_rank
    weight = module.kv_b_proj.weight.view(h, nope + module.v_head_dim, rank)
    w_uk, w_uv = weight[:, :nope, :], weight[:, nope:, :]
    q_nope, q_rot = query[..., :nope], query[..., nope:]
    q_lat = torch.einsum("bhld,hdr->bhlr", q_nope, w_uk).reshape(b, 1, h * length, rank)
    q_rot = q_rot.reshape(b, 1, h * length, q_rot.shape[-1])
    scale = float(scaling if scaling is not None else query.shape[-1] ** -0.5)
    out = torch.ops.modeltui.mla_decode_attention(q_lat, q_rot, key, value, scale).view(b, h, length, rank)
    out = torch.einsum("bhlr,hvr->bhlv", out, w_uv)
    return out.transpose(1, 2).contiguous(), None


def _register() -> None:
    from transformers import AttentionInterface

    if ABSORBED_ATTENTION not in AttentionInterface._global_mapping:
        AttentionInterface.register(ABSORBED_ATTENTION, _absorbed_attention)


@contextlib.contextmanager
def absorbed_mla(model: Any) -> Iterator[bool]:
    """Within the block, ``model``'s MLA layers decode with ``kv_b_proj`` absorbed (module docstring);
    yields whether the model has any. The model is restored on exit."""
    layers = [m for m in model.modules() if is_mla(m)]
    if not layers:
        yield False
        return
    _register()
    configs = {id(m.config): m.config for m in layers if hasattr(m, "config")}
    saved = {k: c._attn_implementation for k, c in configs.items()}
    try:
        for m in layers:
            m.expand_kv = _unexpanded
        for c in configs.values():
            c._attn_implementation = ABSORBED_ATTENTION
        yield True
    finally:
        for m in layers:
            del m.expand_kv
        for k, c in configs.items():
            c._attn_implementation = saved[k]


def _unexpanded(kv_nope: torch.Tensor, k_rot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return kv_nope, k_rot
