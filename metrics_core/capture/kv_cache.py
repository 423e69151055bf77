"""A KV cache for capturing one decode step as serving kernels run it.

transformers' ``StaticCache`` (pre-allocated ``(B, kv_heads, C, head_dim)`` tensors per layer, updated in
place with ``index_copy_``) is what a serving engine does: the new token's K and V are written once, and
attention reads the cache of length C once per layer, with no concatenation copies (the default
``DynamicCache`` ``torch.cat``s the whole cache every layer and step). The cache is allocated here, on
meta, before the capture, so the capture knows its tensors (their bytes follow the KV precision).
Imports transformers; runs in the analysis workers.
"""

from __future__ import annotations

from typing import Any

import torch


def kv_geometry(config: Any) -> tuple[int, int, int]:
    """``(layers, kv_heads, head_dim)`` of a decoder config (``num_key_value_heads`` defaults to
    ``num_attention_heads``; ``head_dim`` to ``hidden_size / num_attention_heads``)."""
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    heads = text.num_attention_heads
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    return text.num_hidden_layers, kv_heads, head_dim


def static_cache(
    model: Any, batch_size: int, context: int, dtype: torch.dtype
) -> tuple[Any, list[torch.Tensor]]:
    """A ``StaticCache`` of ``context`` tokens for ``batch_size`` sequences, allocated on meta, and its
    K/V tensors (every layer's keys and values)."""
    from transformers import StaticCache

    _layers, kv_heads, head_dim = kv_geometry(model.config)
    cache = StaticCache(config=model.config, max_cache_len=context)
    tensors: list[torch.Tensor] = []
    with torch.device("meta"):
        probe = torch.empty((batch_size, kv_heads, 1, head_dim), dtype=dtype)
        for layer in cache.layers:
            layer.lazy_initialization(probe, probe)
            layer.cumulative_length = torch.tensor(context - 1)
            # "compileable" caches make transformers materialise a mask (and, for GQA, copy K/V per query
            # head); serving kernels attend to the cache unmasked with native GQA, as an eager one does
            layer.is_compileable = False
            tensors += [layer.keys, layer.values]
    return cache, tensors
