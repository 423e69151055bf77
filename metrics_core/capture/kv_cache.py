"""A KV cache for capturing one decode step as serving kernels run it.

transformers' ``StaticCache`` (pre-allocated ``(B, kv_heads, C, head_dim)`` tensors per layer, updated in
place with ``index_copy_``) is what a serving engine does: the new token's K and V are written once, and
attention reads the cache of length C once per layer, with no concatenation copies (the default
``DynamicCache`` ``torch.cat``s the whole cache every layer and step). An encoder-decoder's decoder step
also reads a cross-attention cache of the encoder's positions (``encoder_decoder_cache``). The caches are
allocated here, on meta, before the capture, so the capture knows its tensors (their bytes follow the
KV precision). Imports transformers; runs in the analysis workers.

A decoder's cache is laid out per layer as transformers lays it out for the config
(``decoder_layers``): one unrecorded-for-decode probe step (``capture`` of one token into a one-token
``StaticCache``) lets the model allocate each layer's tensors itself, so every architecture's shapes are
its own: multi-head latent attention keeps full K ``(B, H, C, qk_nope + qk_rope)`` and V
``(B, H, C, v_head_dim)`` in transformers' cache, state-space (Mamba) layers a constant conv state and
recurrent (SSM) state per sequence, sliding and chunked layers ``min(C, window)`` tokens, shared-KV or
attention-free layers nothing.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
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


#: transformers cache layer types (``get_layer_types_and_kwargs``) -> the kind ``llm`` reports.
LAYER_KINDS: dict[str, str] = {
    "full_attention": "attention",
    "sliding_attention": "sliding",
    "chunked_attention": "chunked",
    "linear_attention": "ssm",
    "conv": "ssm",
    "hybrid": "ssm+attention",
    "hybrid_sliding": "ssm+sliding",
    "dummy": "none",
}


@dataclass(frozen=True)
class LayerCache:
    """What one decoder layer keeps per sequence, in elements (bytes = elements x the KV precision's bits
    / 8).

    ``kind``: ``attention`` (full causal), ``sliding`` (the last ``window`` tokens), ``chunked`` (Llama-4
    local attention: the tokens of the current ``window``-token chunk), ``mla`` (multi-head latent
    attention), ``ssm`` (a state-space/linear-attention layer), ``none`` (no cache: shared KV or no
    attention). ``kv_elements``: K plus V elements per token in transformers' cache. ``latent_elements``:
    per token in a serving engine's cache; for ``mla`` the compressed latent ``kv_lora_rank +
    qk_rope_head_dim`` that vLLM, SGLang and transformers keep (DeepSeek-V2 paper, sec. 2.1.2,
    arXiv:2405.04434), with ``full_elements`` the full per-head K and V a cache of expanded K/V holds
    (``heads x (qk_nope_head_dim + qk_rope_head_dim + v_head_dim)``); else all three equal.
    ``conv_elements`` / ``ssm_elements``: an SSM layer's constant state per sequence as serving engines keep
    it: the causal convolution's last ``d_conv - 1`` inputs of each channel (the step's own input completes
    the window; vLLM's ``MambaStateShapeCalculator``: ``(channels, conv_kernel - 1)``) and the recurrent
    state; ``conv_elements_transformers``: the ``d_conv`` inputs per channel transformers' cache holds (it
    shifts the new input into a full window before the convolution)."""

    kind: str
    kv_elements: int = 0
    latent_elements: int = 0
    window: int | None = None
    conv_elements: int = 0
    ssm_elements: int = 0
    full_elements: int = 0
    conv_elements_transformers: int = 0

    @property
    def state_elements(self) -> int:
        """Constant per-sequence state elements (conv + SSM)."""
        return self.conv_elements + self.ssm_elements


def mla_latent(config: Any) -> int | None:
    """``kv_lora_rank + qk_rope_head_dim`` of a multi-head latent attention config (DeepSeek-V2/V3,
    Kimi-K2), else None."""
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    rank, rope = getattr(text, "kv_lora_rank", None), getattr(text, "qk_rope_head_dim", None)
    if isinstance(rank, int) and rank > 0 and isinstance(rope, int) and rope >= 0:
        return rank + rope
    return None


def mla_full_kv(config: Any) -> int:
    """Full per-head K plus V elements per token of a multi-head latent attention layer:
    ``heads x (qk_nope_head_dim + qk_rope_head_dim) + heads x v_head_dim``."""
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    heads = text.num_attention_heads
    return heads * (text.qk_nope_head_dim + text.qk_rope_head_dim) + heads * text.v_head_dim


def layer_types(config: Any) -> list[tuple[str, int | None]]:
    """``(transformers layer type, window)`` per decoder layer, as transformers' ``StaticCache`` builds
    them (``cache_utils.get_layer_types_and_kwargs``: ``layer_types``, else ``sliding_window`` /
    ``attention_chunk_size``; the window of sliding and chunked layers)."""
    from transformers.cache_utils import get_layer_types_and_kwargs

    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    kinds, kwargs = get_layer_types_and_kwargs(text)
    return [(k, kw.get("sliding_window")) for k, kw in zip(kinds, kwargs, strict=False)]


@dataclass
class CacheProbe:
    """Per-layer cache facts of a decoder (``probe_decoder_cache``): the ``LayerCache`` of each layer and
    the per-sequence shapes transformers allocated (keys, values, conv state, recurrent state; None where
    the layer has none) to rebuild the cache at any batch and context."""

    layers: list[LayerCache]
    shapes: list[dict[str, tuple[int, ...] | None]]


def probe_decoder_cache(model: Any, dtype: torch.dtype) -> CacheProbe:
    """Run ``model`` for one token into a one-token ``StaticCache`` (on meta, under the capture so that
    meta-only dispatch rules apply; the records are discarded) and read what each layer allocated."""
    from transformers import StaticCache

    from metrics_core.capture.layer_replicas import capture_replicated

    cache = StaticCache(config=model.config, max_cache_len=1)
    ids = torch.empty((1, 1), dtype=torch.int64, device="meta")
    position = torch.empty((1,), dtype=torch.int64, device="meta")
    values = [(ids, torch.zeros((1, 1), dtype=torch.int64)), (position, torch.tensor([0]))]
    for layer in cache.layers:
        _not_compileable(layer)
        if hasattr(layer, "cumulative_length"):
            layer.cumulative_length = _known_length(0, values)
        if hasattr(layer, "cumulative_length_linear"):
            layer.cumulative_length_linear = _known_length(0, values)
    kwargs = {"input_ids": ids, _cache_arg(model): cache, "cache_position": position, "use_cache": True}
    # identical layers run once: a copied layer's cache is laid out as the layer it copies
    sources = capture_replicated(model, (), "fp32", kwargs, values).layer_sources
    latent = mla_latent(model.config)
    types = layer_types(model.config)
    layers, shapes = [], []
    for i, own in enumerate(cache.layers):
        layer = cache.layers[sources[i]] if sources is not None and i < len(sources) else own
        kind_name, window = types[i] if i < len(types) else ("full_attention", None)
        kind = LAYER_KINDS.get(kind_name, kind_name)
        keys, values = getattr(layer, "keys", None), getattr(layer, "values", None)
        conv = (getattr(layer, "conv_states", None) or {}).get(0)
        state = (getattr(layer, "recurrent_states", None) or {}).get(0)
        kv = 0
        if isinstance(keys, torch.Tensor) and isinstance(values, torch.Tensor):
            kv = keys[0].numel() // keys.shape[-2] + values[0].numel() // values.shape[-2]
        conv_full = conv[0].numel() if isinstance(conv, torch.Tensor) else 0
        # transformers' conv state is (channels, d_conv); engines keep d_conv - 1 of the last axis
        conv_n = conv_full // conv.shape[-1] * (conv.shape[-1] - 1) if conv_full else 0
        ssm_n = state[0].numel() if isinstance(state, torch.Tensor) else 0
        if latent is not None and kv:
            kind = "mla"
        if not kv and not conv_full and not ssm_n:
            kind = "none"
        layers.append(
            LayerCache(
                kind=kind,
                kv_elements=kv,
                latent_elements=latent if kind == "mla" and latent is not None else kv,
                full_elements=mla_full_kv(model.config) if kind == "mla" else kv,
                window=window if kv and kind_name not in ("full_attention", "hybrid") else None,
                conv_elements=conv_n,
                ssm_elements=ssm_n,
                conv_elements_transformers=conv_full,
            )
        )
        shapes.append(
            {
                "keys": tuple(keys.shape[1:]) if isinstance(keys, torch.Tensor) else None,
                "values": tuple(values.shape[1:]) if isinstance(values, torch.Tensor) else None,
                "conv": tuple(conv.shape[1:]) if isinstance(conv, torch.Tensor) else None,
                "state": tuple(state.shape[1:]) if isinstance(state, torch.Tensor) else None,
            }
        )
    return CacheProbe(layers, shapes)


def _cache_arg(model: Any) -> str:
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _not_compileable(layer: Any) -> None:
    """ "compileable" caches make transformers materialise a mask (and, for GQA, copy K/V per query head);
    serving kernels attend to the cache unmasked with native GQA, as an eager one does. Linear-attention
    layers (a read-only property) have no mask to build."""
    with contextlib.suppress(AttributeError):
        layer.is_compileable = False


def _known_length(held: int, values: list) -> torch.Tensor:
    """A meta scalar holding ``held`` tokens, its value known to the capture (``values``): models that
    read the cache length in Python (OPT slices its positions by it) get it, as they would on a device."""
    t = torch.empty((), dtype=torch.int64, device="meta")
    values.append((t, torch.tensor(held, device="cpu")))
    return t


def decoder_cache(
    model: Any, probe: CacheProbe, batch_size: int, context: int, dtype: torch.dtype
) -> tuple[Any, list[torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]]:
    """A ``StaticCache`` of ``context`` tokens for ``batch_size`` sequences laid out as ``probe`` found
    (allocated on meta, already holding ``context - 1`` tokens: attention layers' K/V, SSM layers' conv
    and recurrent states marked as following a previous step), its K/V tensors (what the capture prices
    at the KV precision; SSM states are priced as activations) and the known values of its token counts
    (``capture``'s ``input_values``)."""
    from transformers import StaticCache

    cache = StaticCache(config=model.config, max_cache_len=context)
    tensors: list[torch.Tensor] = []
    values: list[tuple[torch.Tensor, torch.Tensor]] = []
    with torch.device("meta"):
        for layer, shape in zip(cache.layers, probe.shapes, strict=False):
            if shape["keys"] is not None and hasattr(layer, "lazy_initialization") and hasattr(layer, "keys"):
                k = torch.empty((batch_size, *shape["keys"]), dtype=dtype)
                v = torch.empty((batch_size, *shape["values"]), dtype=dtype)
                if hasattr(layer, "cumulative_length_linear"):  # hybrid: attention part
                    from transformers.cache_utils import StaticLayer

                    StaticLayer.lazy_initialization(layer, k, v)
                else:
                    layer.lazy_initialization(k, v)
                layer.cumulative_length = _known_length(context - 1, values)
                tensors += [layer.keys, layer.values]
            if shape["conv"] is not None or shape["state"] is not None:
                conv = torch.empty((batch_size, *shape["conv"]), dtype=dtype) if shape["conv"] else None
                state = torch.empty((batch_size, *shape["state"]), dtype=dtype) if shape["state"] else None
                from transformers.cache_utils import LinearAttentionLayer

                LinearAttentionLayer.lazy_initialization(layer, conv_states=conv, recurrent_states=state)
                layer.has_previous_state[0] = True
                layer.cumulative_length_linear = _known_length(context - 1, values)
                # SSM states are not KV: priced as activations (their own precision in serving engines)
            _not_compileable(layer)
    return cache, tensors, values


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
            _not_compileable(layer)
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
