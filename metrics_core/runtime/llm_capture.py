"""Capture an LLM's serving phases on meta from the real module graph: ``hf:`` decoder models, custom
causal-LM factories, and encoder-decoder models (T5, BART, Whisper).

Decoder models (``architecture`` "decoder"):

- Prefill: ``input_ids`` ``(B, P)``, no cache, causal SDPA (one fused attention op per layer), logits of
  the last position only (``logits_to_keep=1``, as serving engines compute them).
- Decode at context C (the tokens in the cache, the new one included): ``input_ids`` ``(B, 1)`` with a
  pre-allocated static KV cache of C tokens (``metrics_core.capture.kv_cache``): the new K/V written once
  with ``index_copy_``, the cache read once per layer by attention, no concatenation copies; the embedding
  reads only the gathered rows.

Encoder-decoder models (``architecture`` "encoder-decoder"; the decoder prompt is its start token):

- Prefill: the encoder over the source (T5/BART: P tokens; Whisper: its fixed 30 s window of
  ``2 x max_source_positions`` mel frames, ``max_source_positions`` encoder positions) and the decoder's
  first step over the start token, which projects every decoder layer's cross-attention K/V from the
  encoder output (``use_cache=False``: the projections are counted, as they are written once).
- Decode at decoder context C: the decoder alone (``encoder_outputs`` given), a static self-attention cache
  of C tokens and a static cross-attention cache of the encoder's positions (transformers'
  ``EncoderDecoderCache`` with every layer marked updated: the cross K/V are read, never recomputed).

Bytes follow each tensor class's precision (``ElementBits``: weights, activations, KV cache). Runs in a
worker process (``pool.run_call``): it builds the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from metrics_core.capture.vision_prompt import DYNAMIC_IMAGE_SIZE, in_vision
from metrics_core.common.dtypes import ElementBits
from metrics_core.common.errors import (
    DataDependentOpError,
    ModeltuiError,
    UnsupportedModelError,
    UsageError,
    one_line_error,
)
from metrics_core.common.records import OpRecord

#: ``ModelSpec.task`` of the models ``llm`` analyses: decoders and encoder-decoders.
DECODER_TASKS: frozenset[str] = frozenset({"causal-lm", "image-text-to-text"})
VLM_TASK = "image-text-to-text"
ENCODER_DECODER_TASKS: frozenset[str] = frozenset({"seq2seq-lm", "speech-seq2seq"})
SPEECH_TASK = "speech-seq2seq"


@dataclass
class PhaseCapture:
    """One phase: its op records, peak live activation bytes (KV cache excluded), tokens per sequence
    processed, the context it attends to, and the bytes of the KV cache it reads (decode: self-attention
    plus, for an encoder-decoder, ``cross_kv_bytes`` of cross-attention)."""

    records: list[OpRecord]
    peak_activation_bytes: int
    tokens: int
    context: int
    kv_cache_bytes: int = 0
    cross_kv_bytes: int = 0


@dataclass
class LlmCapture:
    """What ``capture_llm`` returns (picklable): model facts and the phase captures."""

    model: str
    params: int
    active_params: int | None
    weight_bytes: int
    layers: int
    attention_heads: int | None  # None: no attention layers (Mamba): any --tp passes the heads check
    kv_heads: int
    head_dim: int
    hidden_size: int
    experts: int | None
    experts_per_token: int | None
    prefill: PhaseCapture
    decode_first: PhaseCapture
    decode_last: PhaseCapture
    notes: list[str] = field(default_factory=list)
    #: Attention window per layer, in layer order (None: full causal attention; an int W: each query sees
    #: the last W keys, sliding-window attention). Empty: every layer full.
    windows: list[int | None] = field(default_factory=list)
    #: "decoder" or "encoder-decoder".
    architecture: str = "decoder"
    #: Encoder-decoders: the encoder's layers, attention heads and positions (the cross-attention cache
    #: holds ``encoder_tokens`` per sequence; ``cross_kv_bytes_per_token`` bytes each, at the KV precision).
    encoder_layers: int = 0
    encoder_heads: int = 0
    encoder_tokens: int = 0
    cross_kv_bytes_per_token: int = 0
    #: Self-attention KV bytes per token of one sequence, per decoder layer (K and V, KV precision).
    kv_layer_token_bytes: list[int] = field(default_factory=list)
    #: Decode steps at further contexts (``capture_llm``'s ``contexts`` and ``knots``), by context.
    decode_at: dict[int, PhaseCapture] = field(default_factory=dict)
    #: The contexts TPOT integrates over (``tpot_knots``).
    knots: list[int] = field(default_factory=list)
    #: Per decoder layer: what it keeps (``capture.kv_cache.LayerCache.kind``: attention, sliding, chunked,
    #: mla, ssm, none). Empty: every layer full attention (encoder-decoders).
    layer_kinds: list[str] = field(default_factory=list)
    #: Chunk size per decoder layer (Llama-4 chunked local attention: query i sees the keys of its own
    #: ``chunk``-token chunk up to itself); None: not chunked. Empty: none chunked.
    chunks: list[int | None] = field(default_factory=list)
    #: Constant state one sequence holds in the state-space (Mamba) layers: conv + recurrent state, at the
    #: activations' precision (bytes; 0 without SSM layers), and its two parts.
    state_bytes_per_sequence: int = 0
    conv_state_bytes_per_sequence: int = 0
    ssm_state_bytes_per_sequence: int = 0
    #: The conv state as transformers' cache holds it (``d_conv`` inputs per channel, not ``d_conv - 1``).
    conv_state_bytes_per_sequence_transformers: int = 0
    #: Multi-head latent attention: the full per-head K and V per token per layer (KV precision) a cache
    #: of expanded K/V would hold, beside ``kv_layer_token_bytes`` (the latent); empty otherwise.
    kv_layer_token_bytes_full: list[int] = field(default_factory=list)
    #: What ``kv_layer_token_bytes`` counts, in words (e.g. the MLA latent).
    kv_layout: str = "K and V per layer"
    #: Vision-language models: the LM tokens of the one image each prompt holds (part of the prompt), and
    #: the prefill FLOPs and parameters of the vision tower and its projector
    #: (``capture.vision_prompt.VISION_MODULES``).
    image_tokens: int = 0
    #: ``(height, width)`` pixels of that image (dynamic-resolution models: the stated size, resized as the
    #: processor does); None without an image.
    image_size: tuple[int, int] | None = None
    vision_flops: int = 0
    vision_params: int = 0
    #: Prefill's peak activations at any batch B: ``max(shared + B x per_sequence)`` over these
    #: ``(shared, per_sequence)`` lines (``capture.peak_memory.batch_lines``; T5's relative-position bias,
    #: for one, is shared by the batch). Empty: not known, taken as the peak at B over B per sequence.
    activation_lines: list[tuple[float, float]] = field(default_factory=list)
    #: Weight bytes (the weights' element bits) of the embedding tables that are not the output head's
    #: weight, and of the one that is (tied word embeddings; 0 when untied): ``capture.params.
    #: embedding_tables``. ``weight_bytes`` holds both, the tied table once.
    embedding_bytes: int = 0
    tied_embedding_bytes: int = 0

    @property
    def first_context(self) -> int:
        """The context of the first decode step: the prompt's P tokens (decoder) or the decoder's start
        token (encoder-decoder: 1)."""
        return self.decode_first.context

    def decode_phase(self, context: int) -> PhaseCapture:
        """The decode capture at ``context`` (KeyError if it was not captured)."""
        for ph in (self.decode_first, self.decode_last, *self.decode_at.values()):
            if ph.context == context:
                return ph
        raise KeyError(context)

    def kv_held_per_sequence(self, context: int) -> int:
        """KV-cache bytes one sequence holds at decoder context ``context``: each layer's per-token bytes
        times ``min(context, window)`` (sliding-window layers keep the last W tokens), plus the
        cross-attention cache of the encoder's positions for an encoder-decoder."""
        n = len(self.kv_layer_token_bytes)
        windows = self.windows or [None] * n
        chunks = self.chunks or [None] * n
        own = sum(
            b * min(context, w or context, c or context)
            for b, w, c in zip(self.kv_layer_token_bytes, windows, chunks, strict=False)
        )
        return own + self.encoder_tokens * self.cross_kv_bytes_per_token + self.state_bytes_per_sequence

    def cache_facts(self) -> dict[str, Any]:
        """The decoder's cache layout for the report (JSON ``cache``): layer kinds (counts, in order),
        what ``kv_bytes_per_token`` counts, transformers' full K/V per token where it differs (MLA), the
        SSM state per sequence, chunk sizes."""
        kinds = self.layer_kinds or ["attention"] * self.layers
        out: dict[str, Any] = {
            "layer_kinds": dict(sorted({k: kinds.count(k) for k in kinds}.items())),
            "layers": kinds,
            "kv_layout": self.kv_layout,
            "kv_bytes_per_token": sum(self.kv_layer_token_bytes),
            "kv_bytes_per_token_full_kv": sum(self.kv_layer_token_bytes_full)
            if self.kv_layer_token_bytes_full
            else sum(self.kv_layer_token_bytes),
            "state_bytes_per_sequence": self.state_bytes_per_sequence,
            "conv_state_bytes_per_sequence": self.conv_state_bytes_per_sequence,
            "conv_state_bytes_per_sequence_transformers": self.conv_state_bytes_per_sequence_transformers,
            "ssm_state_bytes_per_sequence": self.ssm_state_bytes_per_sequence,
            "chunk_tokens": sorted({c for c in self.chunks if c}) or None,
            "sliding_window_tokens": sorted({w for w in self.windows if w}) or None,
        }
        if self.image_tokens:
            out["image_tokens"] = self.image_tokens
            out["image_size"] = list(self.image_size) if self.image_size else None
            out["vision_flops"] = self.vision_flops
            out["vision_params"] = self.vision_params
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def not_a_language_model(name: str, task: str) -> UsageError:
    """The one-line refusal of a model ``llm`` does not analyse."""
    return UsageError(
        f"{name} is not a language model ({task}); llm analyses decoders and encoder-decoders (hf: configs, "
        "causal-LM factories)"
    )


def decode_contexts(architecture: str, prompt: int, generate: int) -> tuple[int, int]:
    """``(first, last)`` decode contexts of a generation: ``(P, P + N)`` for a decoder, ``(1, 1 + N)``
    (decoder tokens after the start token) for an encoder-decoder."""
    start = 1 if architecture == "encoder-decoder" else prompt
    return start, start + generate


def tpot_knots(architecture: str, first: int, last: int, windows: list[int | None]) -> list[int]:
    """The decode contexts TPOT integrates over (``perf.llm.mean_step_s``): the first and last steps, each
    sliding window W inside them (a step's cost grows with the context up to W, then stays flat), and for
    an encoder-decoder the second step (the first, at decoder context 1, can run another path: T5 slices
    no position bias there)."""
    knots = {first, last, *(w for w in windows if w is not None and first < w < last)}
    if architecture == "encoder-decoder" and first + 1 < last:
        knots.add(first + 1)
    return sorted(knots)


def image_tokens(config: dict[str, Any]) -> int | None:
    """LM tokens one image becomes in a vision-language ``config`` (``capture.vision_prompt.image_prompt``:
    LLaVA's fixed patches, Qwen2-VL's merged patches of the stated resolution); None: not a
    vision-language config with an image token and a size."""
    from metrics_core.capture.vision_prompt import image_prompt

    image = image_prompt(config)
    return None if image is None else image.tokens


def vlm_image(spec: Any) -> Any:
    """The ``capture.vision_prompt.ImagePrompt`` of a vision-language ``spec`` (one image per sequence).
    ``UsageError`` (one line) for one whose image cannot be sized or has no image token."""
    from metrics_core.capture.vision_prompt import image_prompt

    config = spec.builder_kwargs.get("config", {})
    try:
        image = image_prompt(config)
    except ValueError as exc:  # a stated image size the processor refuses
        raise UsageError(f"{spec.name}: vision_config.image_size: {exc}") from None
    if image is None:
        raise UsageError(
            f"{spec.name}: llm analyses vision-language models with an image token and a known image size "
            "(LLaVA class: vision_config.image_size / patch_size; Qwen2-VL class: spatial_merge_size / "
            f"temporal_patch_size); {config.get('model_type')!r} has neither a fixed image size nor a "
            "dynamic-resolution tower, or no image token (image_token_id)"
        )
    return image


def check_image_prompt(spec: Any, prompt: int) -> Any:
    """``vlm_image(spec)`` for a vision-language model (None for others), ``UsageError`` (one line) when
    ``prompt`` has no room for text after the image's tokens (and its framing tokens)."""
    if spec.task != VLM_TASK:
        return None
    image = vlm_image(spec)
    if prompt <= image.prompt_tokens:
        what = f"one image of {image.tokens:,} tokens"
        if image.framing:
            what += f" and {len(image.framing)} framing tokens"
        raise UsageError(f"{spec.name}: the prompt holds {what}; give --prompt above {image.prompt_tokens:,}")
    return image


def vision_note(image: Any) -> str:
    """The assumption line of a vision-language prefill (``ImagePrompt`` ``image``)."""
    text = (
        f"the prompt holds one {image.height}x{image.width} image: {image.tokens:,} of its tokens come from "
        "the vision tower, whose cost is in the prefill (vision_flops)"
    )
    if image.dynamic:
        t, h, w = image.grid
        text += (
            f"; dynamic resolution: the size is stated (vision_config.image_size, default "
            f"{DYNAMIC_IMAGE_SIZE}), {h}x{w} patches merged {h * w // image.tokens} to a token, "
            f"{len(image.framing)} framing tokens; M-RoPE positions computed on the host"
        )
    return text


def architecture_of(task: str) -> str:
    """ "encoder-decoder" for an encoder-decoder ``ModelSpec.task``, else "decoder"."""
    return "encoder-decoder" if task in ENCODER_DECODER_TASKS else "decoder"


def check_model_limits(spec: Any, tp: int, prompts: Sequence[int], generate: int, flag: str = "--") -> None:
    """``UsageError`` (one line, the reason) when ``spec``'s config refuses the settings, before any build:
    a tensor-parallel degree ``tp`` that does not split the attention heads (every head count the config
    gives: ``num_attention_heads`` / ``n_head``, an encoder-decoder's encoder and decoder heads), or a
    prompt + ``generate`` longer than the positions the model takes (``ModelSpec.max_tokens``: e.g.
    ``max_position_embeddings``; an encoder-decoder's decoder holds 1 + ``generate``, its encoder the
    prompt; a speech encoder's fixed window is not a prompt). ``flag`` prefixes the setting's name
    (``--tp`` on the command line, ``tp`` typed in the app). Token counts are whole tokens."""
    name = spec.name
    hf = getattr(spec, "source", None) == "hf"
    config = (spec.builder_kwargs.get("config", {}) or {}) if hf else {}
    encoder_decoder = hf and architecture_of(spec.task) == "encoder-decoder"
    fields = (
        ("decoder_attention_heads", "num_heads", "encoder_attention_heads")
        if encoder_decoder
        else ("num_attention_heads", "n_head")
    )
    from metrics_core.perf.llm import check_tp_heads

    for field_name in fields:
        heads = config.get(field_name) if isinstance(config, dict) else None
        check_tp_heads(heads if isinstance(heads, int) else None, tp, name, flag)
    if getattr(spec, "max_tokens", None) is not None and prompts:
        limit, source = spec.max_tokens
        longest = 1 + generate if encoder_decoder else max(prompts) + generate
        what = "decoder start + generate" if encoder_decoder else "prompt + generate"
        if longest > limit:
            raise UsageError(
                f"{name} takes at most {limit:,} tokens ({source}); {what} = {longest:,} is longer"
            )
        if encoder_decoder and spec.task != SPEECH_TASK and max(prompts) > limit:
            raise UsageError(
                f"{name}'s encoder takes at most {limit:,} tokens ({source}); {flag}prompt {max(prompts):,}"
            )


def speech_encoder_tokens(config: dict[str, Any]) -> int:
    """Encoder positions of a speech encoder-decoder (Whisper): ``max_source_positions`` (1500: a 30 s
    window of 3000 mel frames through the stride-2 convolution)."""
    return int(config.get("max_source_positions", 1500))


def capture_llm(
    name: str,
    batch_size: int,
    prompt: int,
    generate: int,
    bits: ElementBits,
    attention: str = "sdpa",
    contexts: tuple[int, ...] = (),
) -> LlmCapture:
    """Build ``name`` on meta and capture prefill (``prompt`` tokens) and decode at the first and last
    contexts of ``generate`` tokens (``decode_contexts``) and at each of ``contexts``, for ``batch_size``
    sequences. ``UsageError`` (one line) for a model that is not a decoder or encoder-decoder language
    model, or a speech model given a prompt other than its fixed encoder window;
    ``UnsupportedModelError`` (one line, naming the model type and what failed) for an architecture whose
    forward pass or cache the capture cannot run."""
    try:
        return _capture_llm(name, batch_size, prompt, generate, bits, attention, contexts)
    except ModeltuiError:
        raise
    except Exception as exc:  # an architecture this capture does not know: one line, never a traceback
        raise UnsupportedModelError(
            f"{name}: llm cannot capture this architecture: {one_line_error(exc)}"
        ) from None


def capture_llm_decodes(
    name: str, batch_size: int, prompt: int, bits: ElementBits, attention: str, contexts: tuple[int, ...]
) -> dict[int, PhaseCapture]:
    """The decode steps of ``capture_llm`` (same arguments, a decoder) at each of ``contexts`` only, by
    context: the very captures ``capture_llm`` makes for them (``runtime.llm_cache`` assembles a
    generation's capture from a cached prefill and these). Errors as ``capture_llm``'s."""
    try:
        return _capture_llm(name, batch_size, prompt, 0, bits, attention, contexts, decodes_only=True)
    except ModeltuiError:
        raise
    except Exception as exc:  # an architecture this capture does not know: one line, never a traceback
        raise UnsupportedModelError(
            f"{name}: llm cannot capture this architecture: {one_line_error(exc)}"
        ) from None


def _capture_llm(  # noqa: C901 - one capture session: closures over the built model
    name: str,
    batch_size: int,
    prompt: int,
    generate: int,
    bits: ElementBits,
    attention: str,
    contexts: tuple[int, ...],
    decodes_only: bool = False,
) -> Any:  # noqa: ANN401 (LlmCapture; with decodes_only the decode phases by context)
    import inspect

    import torch

    from metrics_core.capture.inputs import model_float_dtype
    from metrics_core.capture.kv_cache import (
        decoder_cache,
        encoder_decoder_cache,
        encoder_geometry,
        kv_geometry,
        probe_decoder_cache,
    )
    from metrics_core.capture.layer_replicas import capture_replicated
    from metrics_core.capture.params import active_params, count_params, embedding_tables
    from metrics_core.capture.peak_memory import batch_lines, peak_memory
    from metrics_core.capture.routed_experts import routed_top_k
    from metrics_core.capture.ssm import vectorized_scans
    from metrics_core.capture.trace import capture
    from metrics_core.sources.build import build_model
    from metrics_core.sources.resolve import get_spec

    spec = get_spec(name)
    if spec.source in ("torchvision", "timm") or (
        spec.source == "hf" and spec.task not in DECODER_TASKS | ENCODER_DECODER_TASKS
    ):
        raise not_a_language_model(name, spec.task)
    architecture = architecture_of(spec.task) if spec.source == "hf" else "decoder"
    overrides = {"attn_implementation": attention} if spec.source == "hf" else {}
    model = build_model(spec, device="meta", **overrides)
    config = getattr(model, "config", None)
    text_cfg = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    if (
        config is None
        or not hasattr(text_cfg, "num_hidden_layers")
        and not hasattr(config, "num_attention_heads")
    ):
        raise UsageError(f"{name} has no transformers-style config (num_hidden_layers ...); llm needs one")
    dtype = model_float_dtype(model)
    probe = None if architecture == "encoder-decoder" else probe_decoder_cache(model, dtype)
    if probe is not None and all(c.kind in ("ssm", "none") for c in probe.layers):
        layers, kv_heads, head_dim = len(probe.layers), 0, 0  # attention-free (Mamba): no KV heads
    else:
        layers, kv_heads, head_dim = kv_geometry(config)
    if probe is not None and any(c.kind == "mla" for c in probe.layers):
        kv_heads = 1  # one latent per token, replicated on every tensor-parallel GPU (vLLM's MLA)
    params, _ = count_params(model)
    own_embedding, tied_embedding = embedding_tables(model)
    forward = inspect.signature(model.forward).parameters
    cache_arg = "cache" if "cache" in forward else "past_key_values"

    def ids(n: int, batch: int = batch_size) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.empty((batch, n), dtype=torch.int64, device="meta")
        return t, torch.ones((batch, n), dtype=torch.int64)

    traces: list = []  # the prefill traces at two batch sizes (batch_lines)

    softcap = softcap_of(config)
    text = config
    if architecture == "decoder" and hasattr(config, "get_text_config"):
        text = config.get_text_config(decoder=True)  # an encoder-decoder's drops its decoder_* fields
    experts = next((getattr(text, a) for a in ("num_local_experts", "num_experts", "n_routed_experts")
                    if isinstance(getattr(text, a, None), int)), None)  # fmt: skip
    top_k = getattr(text, "num_experts_per_tok", None) if experts else None

    def phase(
        kwargs: dict, values: list, kv: list, tokens: int, context: int, cross: list = ()
    ) -> PhaseCapture:
        with vectorized_scans(model):  # Mamba-1 scans as whole-sequence ops (capture.ssm)
            # a decoder's identical layers captured once (capture.layer_replicas: the same trace)
            run = capture if architecture == "encoder-decoder" else capture_replicated
            trace = run(model, (), "fp32", kwargs, values, bits, [*kv, *cross])
        if softcap:
            trace.records[:] = softcapped(trace.records)
        # experts run densely (Llama-4's bmm over all E) priced as top-k routing runs them
        trace.records[:] = routed_top_k(trace.records, experts, top_k)
        if not kv and not cross:
            traces.append(trace)
        memory = peak_memory(trace, 0)
        kv_bytes = sum(t.numel() for t in (*kv, *cross)) * bits.kv // 8
        cross_bytes = sum(t.numel() for t in cross) * bits.kv // 8
        peak = max(0, memory.peak_activation_bytes - kv_bytes) if kv_bytes else memory.peak_activation_bytes
        return PhaseCapture(trace.records, peak, tokens, context, kv_bytes, cross_bytes)

    step, step_values = ids(1)
    position = torch.empty((1,), dtype=torch.int64, device="meta")
    encoder_layers = encoder_heads = encoder_tokens = 0
    vision = None
    if architecture == "encoder-decoder":
        encoder_layers, encoder_heads = encoder_geometry(config)
        if spec.task == SPEECH_TASK:
            encoder_tokens = speech_encoder_tokens(spec.builder_kwargs.get("config", {}))
            if prompt != encoder_tokens:
                raise UsageError(
                    f"{name} encodes a fixed 30 s window ({encoder_tokens:,} encoder positions): its prompt "
                    f"is {encoder_tokens:,}, not {prompt:,}"
                )
        else:
            encoder_tokens = prompt
        # a decoder mask of ones with known values: BART's decoder otherwise builds one on meta and asks
        # whether it is all ones (transformers' causal-mask shortcut), which meta cannot answer
        masked = "decoder_attention_mask" in forward

        def decoder_mask(n: int, batch: int = batch_size) -> tuple[dict[str, Any], list]:
            if not masked:
                return {}, []
            mask, ones = ids(n, batch)
            return {"decoder_attention_mask": mask}, [(mask, ones)]

        def prefill_inputs(batch: int) -> tuple[dict[str, Any], list]:
            """The encoder's input (token ids, or Whisper's mel features) and the decoder's start token."""
            start, start_values = ids(1, batch)
            mask_kwargs, mask_values = decoder_mask(1, batch)
            kwargs = {"decoder_input_ids": start, "use_cache": False, **mask_kwargs}
            values = [(start, start_values), *mask_values]
            if spec.task == SPEECH_TASK:
                kwargs["input_features"] = torch.empty((batch, *spec.input_shape), dtype=dtype, device="meta")
            else:
                source, source_values = ids(prompt, batch)
                kwargs["input_ids"] = source
                values.append((source, source_values))
            return kwargs, values

        hidden = getattr(config, "d_model", None) or config.hidden_size
        encoded = torch.empty((batch_size, encoder_tokens, hidden), dtype=dtype, device="meta")

        def decode(context: int) -> PhaseCapture:
            from transformers.modeling_outputs import BaseModelOutput

            cache, own, cross = encoder_decoder_cache(model, batch_size, context, encoder_tokens, dtype)
            mask_kwargs, mask_values = decoder_mask(context)
            kwargs = {
                "encoder_outputs": BaseModelOutput(last_hidden_state=encoded),
                "decoder_input_ids": step,
                cache_arg: cache,
                "cache_position": position,
                "use_cache": True,
                **mask_kwargs,
            }
            values = [(step, step_values), (position, torch.tensor([context - 1])), *mask_values]
            return phase(kwargs, values, own, 1, context, cross)

    else:
        hidden = (
            config.get_text_config(decoder=True).hidden_size
            if hasattr(config, "get_text_config")
            else config.hidden_size
        )

        vision = check_image_prompt(spec, prompt)

        def prefill_inputs(batch: int) -> tuple[dict[str, Any], list]:
            """The prompt's token ids (logits of the last position only); a vision-language model's start
            with one image's tokens (its pixels through the vision tower; ``capture.vision_prompt``)."""
            from metrics_core.capture.vision_prompt import image_inputs, mrope_positions

            if vision is None:
                prompt_ids, prompt_values = ids(prompt, batch)
                kwargs: dict[str, Any] = {"input_ids": prompt_ids}
                values = [(prompt_ids, prompt_values)]
            else:
                kwargs, values = image_inputs(vision, batch, prompt, dtype)
                positions = mrope_positions(model, kwargs, values)
                if positions is not None:  # M-RoPE: computed on the host, as serving engines do
                    kwargs["position_ids"] = torch.empty(positions.shape, dtype=torch.int64, device="meta")
                    values.append((kwargs["position_ids"], positions))
            kwargs["use_cache"] = False
            if "logits_to_keep" in forward:
                kwargs["logits_to_keep"] = 1  # serving engines compute the next token's logits only
            return kwargs, values

        def decode(context: int) -> PhaseCapture:
            from metrics_core.capture.mla import absorbed_mla

            cache, kv, lengths = decoder_cache(model, probe, batch_size, context, dtype)
            kwargs = {"input_ids": step, cache_arg: cache, "cache_position": position, "use_cache": True}
            values = [(step, step_values), (position, torch.tensor([context - 1])), *lengths]
            with absorbed_mla(model):  # MLA layers decode as serving engines do (capture.mla)
                return phase(kwargs, values, kv, 1, context)

    if decodes_only:
        return {c: decode(c) for c in dict.fromkeys(contexts)}
    prefill = phase(*prefill_inputs(batch_size), [], prompt, prompt)
    # peak activations at any batch (T5's position bias is shared by the batch): from two batches of at
    # least 2 (at batch 1 some reshapes are views, so its storages are not the others')
    fit_from = max(batch_size, 2)
    try:
        if fit_from != batch_size:
            traces.clear()
            phase(*prefill_inputs(fit_from), [], prompt, prompt)
        phase(*prefill_inputs(fit_from + 1), [], prompt, prompt)
        lines = batch_lines(traces[0], traces[1], fit_from)
    except DataDependentOpError:  # one more sequence passed what the capture knows values of: no lines
        lines = []
    traces.clear()
    first, last = decode_contexts(architecture, prompt, generate)
    decode_first, decode_last = decode(first), decode(last)
    layout = _Layout(bits) if probe is None else _Layout(bits, probe.layers)
    if probe is None:
        layout.per_token = _per_token_bytes(model, batch_size, dtype, bits)
    knots = tpot_knots(architecture, first, last, [*layout.windows, *layout.chunks])
    vision_flops = sum(r.flops or 0 for r in prefill.records if in_vision(r.module)) if vision else 0
    vision_params = sum(p.numel() for n, p in model.named_parameters() if in_vision(n)) if vision else 0
    notes = layout.notes(config)
    if vision:
        notes.append(vision_note(vision))
    return LlmCapture(
        image_tokens=vision.tokens if vision else 0,
        image_size=(vision.height, vision.width) if vision else None,
        vision_flops=vision_flops,
        vision_params=vision_params,
        windows=layout.windows,
        chunks=layout.chunks,
        layer_kinds=layout.kinds,
        state_bytes_per_sequence=layout.conv_bytes + layout.ssm_bytes,
        conv_state_bytes_per_sequence=layout.conv_bytes,
        conv_state_bytes_per_sequence_transformers=layout.conv_bytes_transformers,
        ssm_state_bytes_per_sequence=layout.ssm_bytes,
        kv_layer_token_bytes_full=layout.per_token_full,
        kv_layout=layout.description(config),
        notes=notes,
        knots=knots,
        activation_lines=lines,
        model=spec.name,
        params=params,
        active_params=active_params(model, params),
        weight_bytes=params * bits.weights // 8,  # parameters (buffers such as RoPE tables are KB)
        embedding_bytes=own_embedding * bits.weights // 8,
        tied_embedding_bytes=tied_embedding * bits.weights // 8,
        layers=layers,
        attention_heads=kv_heads
        if architecture == "encoder-decoder"
        else text.num_attention_heads
        if kv_heads
        else None,
        kv_heads=kv_heads or 1,
        head_dim=head_dim,
        hidden_size=hidden,
        experts=experts,
        experts_per_token=top_k,
        prefill=prefill,
        decode_first=decode_first,
        decode_last=decode_last,
        architecture=architecture,
        encoder_layers=encoder_layers,
        encoder_heads=encoder_heads,
        encoder_tokens=encoder_tokens,
        cross_kv_bytes_per_token=decode_first.cross_kv_bytes // (batch_size * encoder_tokens)
        if encoder_tokens
        else 0,
        kv_layer_token_bytes=layout.per_token,
        decode_at={c: decode(c) for c in dict.fromkeys([*knots, *contexts]) if c not in (first, last)},
    )


#: FLOPs per attention score of logit soft-capping, ``c * tanh(s / c)`` (Gemma-2's
#: ``attn_logit_softcapping``): a divide, a tanh, a multiply, as ``costs.activation`` counts tanh (1).
SOFTCAP_FLOPS_PER_SCORE = 3


def softcap_of(config: Any) -> float | None:
    """A config's attention logit soft cap (Gemma-2's ``attn_logit_softcapping``), None without one."""
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    cap = getattr(text, "attn_logit_softcapping", None)
    return cap if isinstance(cap, (int, float)) and cap > 0 else None


def softcapped(records: list[OpRecord]) -> list[OpRecord]:
    """``records`` with each fused attention op's FLOPs raised by ``SOFTCAP_FLOPS_PER_SCORE`` per score
    (``B x H x L x S`` scores: the query's shape ``(B, H, L, E)`` without E, times the keys' S), the soft
    cap a fused kernel applies to every score (FlashAttention-2's ``softcap``)."""
    from dataclasses import replace
    from math import prod

    from metrics_core.capture.dispatch import SDPA_OP

    out = []
    for r in records:
        if r.op == SDPA_OP and len(r.input_shapes) >= 2 and len(r.input_shapes[0]) == 4:
            scores = prod(r.input_shapes[0][:-1]) * r.input_shapes[1][-2]
            r = replace(r, flops=(r.flops or 0) + SOFTCAP_FLOPS_PER_SCORE * scores)
        out.append(r)
    return out


class _Layout:
    """A decoder's per-layer cache facts at the scenario's bits (from ``capture.kv_cache.CacheProbe``
    layers): bytes per token (serving engines' layout, and transformers' where it differs), sliding
    windows, chunk sizes, SSM state bytes per sequence."""

    def __init__(self, bits: ElementBits, layers: list[Any] = ()) -> None:
        self.layers = list(layers)
        kv, act = bits.kv, bits.activations
        self.kinds = [c.kind for c in self.layers]
        self.per_token = [c.latent_elements * kv // 8 for c in self.layers]
        self.per_token_full = [c.full_elements * kv // 8 for c in self.layers] if "mla" in self.kinds else []
        self.windows = [c.window if c.kind == "sliding" else None for c in self.layers]
        self.chunks = [c.window if c.kind == "chunked" else None for c in self.layers]
        self.conv_bytes = sum(c.conv_elements for c in self.layers) * act // 8
        self.conv_bytes_transformers = sum(c.conv_elements_transformers for c in self.layers) * act // 8
        self.ssm_bytes = sum(c.ssm_elements for c in self.layers) * act // 8
        if not any(self.chunks):
            self.chunks = []

    def description(self, config: Any) -> str:
        """What ``kv_bytes_per_token`` counts, in words."""
        from metrics_core.capture.kv_cache import mla_latent

        if "mla" in self.kinds:
            text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
            return (
                f"MLA latent, as serving engines (vLLM, SGLang) and transformers keep it: kv_lora_rank "
                f"{text.kv_lora_rank} + qk_rope_head_dim {text.qk_rope_head_dim} = {mla_latent(config)} "
                "elements per token per MLA layer; kv_bytes_per_token_full_kv: the full per-head K/V "
                "(heads x (qk_nope + qk_rope + v_head_dim)) of a cache that stores them expanded"
            )
        if self.kinds and all(k in ("ssm", "none") for k in self.kinds):
            return "no KV cache: state-space layers keep a constant state per sequence"
        return "K and V per attention layer"

    def notes(self, config: Any) -> list[str]:
        """The assumptions behind the figures, one line each."""
        out = []
        if "mla" in self.kinds:
            out.append(
                "MLA decode with kv_b_proj absorbed into the query and output, as serving engines run it "
                "(capture.mla): the attention core one fused op (FlashMLA: the latent cache read once, the "
                "scores on chip); the latent is replicated on every tensor-parallel GPU"
            )
        if any(k.startswith("ssm") for k in self.kinds):
            out.append(
                "SSM state (conv + recurrent) per sequence at the activations' precision, held whatever the "
                "context; the conv state as serving engines keep it, the last d_conv - 1 inputs per channel "
                "(transformers' cache holds d_conv: conv_state_bytes_per_sequence_transformers)"
            )
            out.append(
                "selective scans (prefill) and state updates (decode) are priced as transformers' unfused "
                "ops (capture.ssm): exact FLOPs, their bytes an upper bound of a fused kernel's (mamba_ssm's "
                "selective_scan / selective_state_update keep the discretised states on chip)"
            )
        if self.chunks:
            out.append(
                "chunked layers hold at most one chunk of K/V; their decode step is captured reading the "
                "whole chunk buffer (transformers' static layer)"
            )
        return out


def _per_token_bytes(model: Any, batch_size: int, dtype: Any, bits: ElementBits) -> list[int]:
    """Self-attention KV bytes per token of one sequence, per decoder layer: each layer of a one-token
    static cache (K and V elements per token, at the KV precision)."""
    from metrics_core.capture.kv_cache import static_cache

    _cache, tensors = static_cache(model, 1, 1, dtype)
    return [
        (tensors[i].numel() // tensors[i].shape[-2] + tensors[i + 1].numel() // tensors[i + 1].shape[-2])
        * bits.kv
        // 8
        for i in range(0, len(tensors), 2)
    ]


def attention_windows(config: Any, layers: int) -> list[int | None]:
    """The attention window of each layer from a transformers text config: ``layer_types`` when given
    (``sliding_attention`` layers use ``sliding_window``), else ``sliding_window`` on every layer unless
    ``use_sliding_window`` is false (Qwen2), else full attention."""
    window = getattr(config, "sliding_window", None)
    window = window if isinstance(window, int) and window > 0 else None
    kinds = getattr(config, "layer_types", None)
    if kinds:
        return [window if kind == "sliding_attention" else None for kind in kinds]
    if window is None or getattr(config, "use_sliding_window", True) is False:
        return [None] * layers
    return [window] * layers


def estimate_in_worker(
    name: str, target: Any, scenario: Any, attention: str = "sdpa", timeout_s: float | None = None
) -> Any:
    """``perf.llm.estimate_llm`` of ``name`` for ``scenario`` (a ``perf.llm.Scenario``, validated against
    ``target``), its phases captured in a worker process (``pool.run_call``); the CLI and the app call it."""
    return estimates_in_worker(name, target, [scenario], attention, timeout_s)[0]


def estimates_in_worker(
    name: str, target: Any, scenarios: list[Any], attention: str = "sdpa", timeout_s: float | None = None
) -> list[Any]:
    """``perf.llm.estimate_llm`` of ``name`` for each of ``scenarios``, which differ only in their
    ``context_tokens`` and performance-model settings: ONE capture (in a worker process) with every
    context's decode step. ``UsageError`` for scenarios that differ otherwise."""
    from metrics_core.perf.llm import estimate_llm
    from metrics_core.runtime.pool import run_call

    checked = [s.validated(target) for s in scenarios]
    s = checked[0]
    shape = (s.batch_size, s.prompt_tokens, s.generate_tokens, s.bits)
    if any((o.batch_size, o.prompt_tokens, o.generate_tokens, o.bits) != shape for o in checked):
        raise UsageError("estimates_in_worker: the scenarios differ in more than their context")
    contexts = tuple(sorted({o.context_tokens for o in checked if o.context_tokens is not None}))
    capture = run_call(capture_llm, name, *shape, attention, contexts, timeout_s=timeout_s)
    return [estimate_llm(capture, target, o) for o in checked]
