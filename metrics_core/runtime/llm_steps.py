"""Decode-step captures of a decoder LLM from which ``perf.serving.StepModel`` prices ANY forward step of a
serving engine (a running batch's decode, prefill chunks, speculative verification) without capturing it.

A decode step (``input_ids (B, 1)``, a static KV cache of C tokens, as ``runtime.llm_capture``) is captured
at B = 1 and 2 sequences (2 and 3 when the batch-1 step runs other ops: reshapes that are views at batch 1
and copies above, as in DeepSeek-V3's MLA and Llama-4's MoE) and two contexts ``c1 < c2`` (within every
sliding window and chunk, so each layer's cost is still linear in its context there). Every op's FLOPs and
bytes are then ``a + b B + c C + d B C`` (``perf.serving``); the four captures give the four coefficients
exactly.

The cache is laid out per layer (``capture.kv_cache``): MLA layers keep their latent, SSM (Mamba) layers a
constant state whose ops do not grow with the context, sliding and chunked layers at most one window; a
vision-language model's decode step is its language model's. Runs in a worker process (``pool.run_call``):
it builds the model. Decoders only (encoder-decoders: a one-line refusal).
"""

from __future__ import annotations

from typing import Any

from metrics_core.common.dtypes import ElementBits
from metrics_core.common.errors import ModeltuiError, UnsupportedModelError, UsageError, one_line_error

#: The two contexts of the fit (tokens), each at most the smallest sliding window.
FIT_CONTEXTS: tuple[int, int] = (16, 32)


def fit_contexts(windows: list[int | None], limit: int | None) -> tuple[int, int]:
    """``(c1, c2)``: ``FIT_CONTEXTS`` shrunk to fit the smallest sliding window and the model's positions
    ``limit`` (a layer's decode cost is linear in its context only up to its window)."""
    bound = min([w for w in windows if w] + ([limit] if limit else []), default=FIT_CONTEXTS[1])
    c2 = max(2, min(FIT_CONTEXTS[1], bound))
    return max(1, min(FIT_CONTEXTS[0], c2 // 2)), c2


def capture_steps(name: str, bits: ElementBits, attention: str = "sdpa") -> Any:
    """Build ``name`` on meta and capture its decode step at batch 1 and 2 and contexts ``fit_contexts``:
    a ``perf.serving.StepCapture``. The cache is laid out per layer as ``runtime.llm_capture`` lays it out
    (``capture.kv_cache.probe_decoder_cache``: attention, sliding, chunked, MLA latent, SSM state), MLA
    layers decode absorbed (``capture.mla``) and Mamba scans run vectorised (``capture.ssm``), as in the
    captured estimate. ``UsageError`` (one line) for a model that is not a decoder LLM;
    ``UnsupportedModelError`` (one line) for an architecture whose decode step cannot be captured."""
    try:
        return _capture_steps(name, bits, attention)
    except ModeltuiError:
        raise
    except Exception as exc:  # an architecture this capture does not know: one line, never a traceback
        raise UnsupportedModelError(
            f"{name}: the serving views (--users, --draft, --chunk) cannot capture its decode step: "
            f"{one_line_error(exc)}"
        ) from None


def _capture_steps(name: str, bits: ElementBits, attention: str) -> Any:
    import inspect

    import torch

    from metrics_core.capture.inputs import model_float_dtype
    from metrics_core.capture.kv_cache import decoder_cache, kv_geometry, probe_decoder_cache
    from metrics_core.capture.layer_replicas import capture_replicated
    from metrics_core.capture.mla import absorbed_mla
    from metrics_core.capture.params import active_params, count_params, embedding_tables
    from metrics_core.capture.routed_experts import routed_top_k
    from metrics_core.capture.ssm import vectorized_scans
    from metrics_core.perf.serving import StepCapture, same_ops
    from metrics_core.runtime.llm_capture import (
        DECODER_TASKS,
        VLM_TASK,
        not_a_language_model,
        softcap_of,
        softcapped,
    )
    from metrics_core.sources.build import build_model
    from metrics_core.sources.resolve import get_spec

    spec = get_spec(name)
    if spec.source in ("torchvision", "timm") or (spec.source == "hf" and spec.task not in DECODER_TASKS):
        if spec.source == "hf" and spec.task in ("seq2seq-lm", "speech-seq2seq"):
            raise UsageError(
                f"{name} is an encoder-decoder: the serving views (--users, --draft, --chunk, --layers) "
                "model decoder LLMs"
            )
        raise not_a_language_model(name, spec.task)
    overrides = {"attn_implementation": attention} if spec.source == "hf" else {}
    model = build_model(spec, device="meta", **overrides)
    config = getattr(model, "config", None)
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    if config is None or not isinstance(getattr(text, "num_hidden_layers", None), int):
        raise UsageError(f"{name} has no transformers-style config (num_hidden_layers ...); llm needs one")
    dtype = model_float_dtype(model)
    probe = probe_decoder_cache(model, dtype)
    kinds = [c.kind for c in probe.layers]
    layers = len(probe.layers)
    attention_layers = [i for i, k in enumerate(kinds) if k not in ("ssm", "none")]
    if not attention_layers:
        kv_heads, heads = 1, None  # attention-free (Mamba): no KV heads, any --tp splits the channels
    else:
        _layers, kv_heads, _head_dim = kv_geometry(config)
        heads = text.num_attention_heads
    if "mla" in kinds:
        kv_heads = 1  # one latent per token, replicated on every tensor-parallel GPU (vLLM's MLA)
    windows = [c.window if c.kind == "sliding" else None for c in probe.layers]
    chunks = [c.window if c.kind == "chunked" else None for c in probe.layers]
    params, _ = count_params(model)
    own_embedding, tied_embedding = embedding_tables(model)
    forward = inspect.signature(model.forward).parameters
    cache_arg = "cache" if "cache" in forward else "past_key_values"
    limit = spec.max_tokens[0] if spec.max_tokens else None
    # a chunked layer's decode builds its mask once its buffer is full (context = chunk): fit below it
    c1, c2 = fit_contexts([*windows, *(c - 1 for c in chunks if c and c > 2)], limit)
    position = torch.empty((1,), dtype=torch.int64, device="meta")
    softcap = softcap_of(config)

    def step(batch: int, context: int) -> list:
        ids = torch.empty((batch, 1), dtype=torch.int64, device="meta")
        cache, kv, lengths = decoder_cache(model, probe, batch, context, dtype)
        kwargs = {"input_ids": ids, cache_arg: cache, "cache_position": position, "use_cache": True}
        values = [(ids, torch.ones((batch, 1), dtype=torch.int64)), (position, torch.tensor([context - 1]))]
        values += lengths
        # as runtime.llm_capture's decode: MLA absorbed, Mamba scans vectorised, identical layers once;
        # experts run densely (Llama-4's bmm over all E) priced as top-k routing runs them
        # (capture.routed_experts)
        with absorbed_mla(model), vectorized_scans(model):
            records = capture_replicated(model, (), "fp32", kwargs, values, bits, kv).records
        return routed_top_k(softcapped(records) if softcap else records, experts, top_k)

    experts = next((getattr(text, a) for a in ("num_local_experts", "num_experts", "n_routed_experts")
                    if isinstance(getattr(text, a, None), int)), None)  # fmt: skip
    top_k = getattr(text, "num_experts_per_tok", None) if experts else None
    batches = (1, 2)
    steps = {(b, c1): step(b, c1) for b in batches}
    if not same_ops(*steps.values()):  # at batch 1 some reshapes are views that copy at larger batches
        batches = (2, 3)
        steps = {(2, c1): steps[(2, c1)], (3, c1): step(3, c1)}
    steps.update({(b, c2): step(b, c2) for b in batches})
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    logits = tuple(n for n, m in model.named_modules() if head is not None and m is head)
    vocab = getattr(text, "vocab_size", None) or getattr(config, "vocab_size", None)
    return StepCapture(
        model=spec.name,
        params=params,
        weight_bytes=params * bits.weights // 8,
        embedding_bytes=own_embedding * bits.weights // 8,
        tied_embedding_bytes=tied_embedding * bits.weights // 8,
        layers=layers,
        attention_heads=heads,
        kv_heads=kv_heads,
        hidden_size=text.hidden_size,
        vocab_size=int(vocab) if vocab else None,
        experts=experts,
        experts_per_token=top_k,
        windows=windows,
        contexts=(c1, c2),
        steps=steps,
        logits_modules=logits,
        bits=bits,
        active_params=active_params(model, params),
        chunks=chunks if any(chunks) else [],
        layer_kinds=kinds,
        attention_layers=attention_layers,
        layer_token_elements=[c.latent_elements for c in probe.layers],
        state_elements=sum(c.state_elements for c in probe.layers),
        notes=step_notes(kinds, spec.task == VLM_TASK),
        batches=batches,
    )


def step_notes(kinds: list[str], vlm: bool) -> list[str]:
    """The step model's assumptions for this architecture, one line each (text and JSON)."""
    out = []
    if "mla" in kinds:
        out.append(
            "MLA: every step (prefill chunks too) is priced with the absorbed latent attention of the decode "
            "capture (capture.mla); the cache holds the latent (kv_lora_rank + qk_rope_head_dim per token)"
        )
    if any(k.startswith("ssm") for k in kinds):
        out.append(
            "SSM layers: a constant state per sequence (conv + recurrent, at the activations' precision) "
            "counted with the KV per user; their cost does not grow with the context; a prefill chunk of T "
            "tokens is priced as T decode state updates (bytes: an upper bound of a fused chunked scan's)"
        )
    if "chunked" in kinds:
        out.append(
            "chunked attention layers: query i attends to the keys of its own chunk up to itself; each holds "
            "and reads at most one chunk of K/V"
        )
    if vlm:
        out.append(
            "vision-language model: the step model prices the language model; the prompt's image tokens are "
            "prompt tokens, the vision tower's own cost is not in these steps (it is in llm's prefill)"
        )
    return out
