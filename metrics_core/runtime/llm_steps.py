"""Decode-step captures of a decoder LLM from which ``perf.serving.StepModel`` prices ANY forward step of a
serving engine (a running batch's decode, prefill chunks, speculative verification) without capturing it.

A decode step (``input_ids (B, 1)``, a static KV cache of C tokens, as ``runtime.llm_capture``) is captured
at B = 1 and 2 sequences and two contexts ``c1 < c2`` (within every sliding window, so each layer's cost is
still linear in its context there). Every op's FLOPs and bytes are then ``a + b B + c C + d B C``
(``perf.serving``); the four captures give the four coefficients exactly.

Runs in a worker process (``pool.run_call``): it builds the model. Decoders only (encoder-decoders: a
one-line refusal).
"""

from __future__ import annotations

from typing import Any

from metrics_core.common.dtypes import ElementBits
from metrics_core.common.errors import UsageError

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
    a ``perf.serving.StepCapture``. ``UsageError`` (one line) for a model that is not a decoder LLM."""
    import inspect

    import torch

    from metrics_core.capture.inputs import model_float_dtype
    from metrics_core.capture.kv_cache import kv_geometry, static_cache
    from metrics_core.capture.layer_replicas import capture_replicated
    from metrics_core.capture.params import active_params, count_params
    from metrics_core.capture.routed_experts import routed_top_k
    from metrics_core.perf.serving import StepCapture
    from metrics_core.runtime.llm_capture import DECODER_TASKS, attention_windows, not_a_language_model
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
    if config is None or not hasattr(config, "num_attention_heads"):
        raise UsageError(f"{name} has no transformers-style config (num_attention_heads ...); llm needs one")
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    layers, kv_heads, _head_dim = kv_geometry(config)
    params, _ = count_params(model)
    dtype = model_float_dtype(model)
    forward = inspect.signature(model.forward).parameters
    cache_arg = "cache" if "cache" in forward else "past_key_values"
    windows = attention_windows(text, layers)
    limit = spec.max_tokens[0] if spec.max_tokens else None
    c1, c2 = fit_contexts(windows, limit)
    position = torch.empty((1,), dtype=torch.int64, device="meta")

    def step(batch: int, context: int) -> list:
        ids = torch.empty((batch, 1), dtype=torch.int64, device="meta")
        cache, kv = static_cache(model, batch, context, dtype)
        kwargs = {"input_ids": ids, cache_arg: cache, "cache_position": position, "use_cache": True}
        values = [(ids, torch.ones((batch, 1), dtype=torch.int64)), (position, torch.tensor([context - 1]))]
        # identical layers captured once (capture.layer_replicas: the same records); experts run densely
        # (Llama-4's bmm over all E) priced as top-k routing runs them (capture.routed_experts)
        records = capture_replicated(model, (), "fp32", kwargs, values, bits, kv).records
        return routed_top_k(records, experts, top_k)

    experts = next((getattr(text, a) for a in ("num_local_experts", "num_experts", "n_routed_experts")
                    if isinstance(getattr(text, a, None), int)), None)  # fmt: skip
    top_k = getattr(text, "num_experts_per_tok", None) if experts else None
    steps = {(b, c): step(b, c) for b in (1, 2) for c in (c1, c2)}
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    logits = tuple(n for n, m in model.named_modules() if head is not None and m is head)
    vocab = getattr(text, "vocab_size", None) or getattr(config, "vocab_size", None)
    return StepCapture(
        model=spec.name,
        params=params,
        weight_bytes=params * bits.weights // 8,
        layers=layers,
        attention_heads=text.num_attention_heads,
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
    )
