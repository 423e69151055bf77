"""A KV cache for capturing one decode step as serving kernels run it.

transformers' ``StaticCache`` (pre-allocated ``(B, kv_heads, C, head_dim)`` tensors per layer, updated in
place with ``index_copy_``) is what a serving engine does: the new token's K and V are written once, and
attention reads the cache of length C once per layer, with no concatenation copies (the default
``DynamicCache`` ``torch.cat``s the whole cache every layer and step). An encoder-decoder's decoder step
also reads a cross-attention cache of the encoder's positions (``encoder_decoder_cache``). The caches are
allocated here, on meta, before the capture, so the capture knows its tensors (their bytes follow the
KV precision). Imports transformers; runs in the analysis workers.
"""

from __future__ import annotations

from typing import Any

import torch

#: Config fields of an encoder-decoder's decoder, in the order transformers' configs spell them
#: (BART/Whisper ``decoder_*``; T5 ``num_decoder_layers`` / ``num_heads`` / ``d_kv``).
DECODER_LAYER_FIELDS: tuple[str, ...] = (
    "decoder_layers",
    "num_decoder_layers",
    "num_layers",
    "num_hidden_layers",
)
DECODER_HEAD_FIELDS: tuple[str, ...] = ("decoder_attention_heads", "num_heads", "num_attention_heads")


def _first_int(config: Any, fields: tuple[str, ...]) -> int | None:
    return next((v for f in fields if isinstance(v := getattr(config, f, None), int) and v > 0), None)


def is_encoder_decoder(config: Any) -> bool:
    """Whether a transformers config describes an encoder-decoder (T5, BART, Whisper)."""
    return bool(getattr(config, "is_encoder_decoder", False))


def kv_geometry(config: Any) -> tuple[int, int, int]:
    """``(layers, kv_heads, head_dim)`` of the decoder whose KV cache a decode step reads.

    Decoder configs: ``num_hidden_layers``; ``num_key_value_heads`` (defaults to ``num_attention_heads``);
    ``head_dim`` (defaults to ``hidden_size / num_attention_heads``). Encoder-decoders: the decoder's layers
    and heads (``DECODER_LAYER_FIELDS``, ``DECODER_HEAD_FIELDS``; T5's ``num_decoder_layers`` defaults to
    ``num_layers``), ``d_kv`` (T5) or ``d_model / heads`` per head, no grouped KV heads."""
    if is_encoder_decoder(config):  # its own fields (get_text_config drops Whisper's decoder_* fields)
        layers = _first_int(config, DECODER_LAYER_FIELDS)
        heads = _first_int(config, DECODER_HEAD_FIELDS)
        head_dim = getattr(config, "d_kv", None) or config.d_model // heads
        return layers, heads, head_dim
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    heads = text.num_attention_heads
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    return text.num_hidden_layers, kv_heads, head_dim


def encoder_geometry(config: Any) -> tuple[int, int]:
    """``(layers, attention heads)`` of an encoder-decoder's encoder (``encoder_layers`` /
    ``encoder_attention_heads``, else T5's ``num_layers`` / ``num_heads``)."""
    layers = _first_int(config, ("encoder_layers", "num_layers", "num_hidden_layers"))
    heads = _first_int(config, ("encoder_attention_heads", "num_heads", "num_attention_heads"))
    return layers, heads


def static_cache(
    model: Any, batch_size: int, context: int, dtype: torch.dtype
) -> tuple[Any, list[torch.Tensor]]:
    """A ``StaticCache`` of ``context`` tokens for ``batch_size`` sequences, allocated on meta, and its
    K/V tensors (every layer's keys and values). Sliding-window layers hold ``min(context, window)``
    tokens (transformers' sliding static layers), as serving engines keep them. For an encoder-decoder it
    is the decoder's self-attention cache (one layer per decoder layer)."""
    import copy

    from transformers import StaticCache

    layers, kv_heads, head_dim = kv_geometry(model.config)
    config = model.config
    if is_encoder_decoder(config):
        config = copy.deepcopy(config)
        config.num_hidden_layers = layers  # Whisper's and T5's map to the encoder's depth
    cache = StaticCache(config=config, max_cache_len=context)
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


def encoder_decoder_cache(
    model: Any, batch_size: int, context: int, encoder_tokens: int, dtype: torch.dtype
) -> tuple[Any, list[torch.Tensor], list[torch.Tensor]]:
    """transformers' ``EncoderDecoderCache`` for one decoder step of an encoder-decoder: a static
    self-attention cache of ``context`` tokens and a static cross-attention cache of ``encoder_tokens``
    (already filled: every layer marked updated, so cross-attention reads it and never recomputes K/V).
    Returns ``(cache, self-attention K/V tensors, cross-attention K/V tensors)``, allocated on meta."""
    from transformers import EncoderDecoderCache

    own, own_tensors = static_cache(model, batch_size, context, dtype)
    cross, cross_tensors = static_cache(model, batch_size, encoder_tokens, dtype)
    for layer in cross.layers:
        layer.cumulative_length = torch.tensor(encoder_tokens)
    cache = EncoderDecoderCache(own, cross)
    cache.is_updated = dict.fromkeys(range(len(cross.layers)), True)
    return cache, own_tensors, cross_tensors
