"""Capture an LLM's serving phases on meta: prefill of P prompt tokens and one decode step at a context,
from the real module graph (``hf:`` decoder models and custom causal-LM factories).

- Prefill: ``input_ids`` ``(B, P)``, no cache, causal SDPA (one fused attention op per layer), logits of
  the last position only (``logits_to_keep=1``, as serving engines compute them).
- Decode at context C: ``input_ids`` ``(B, 1)`` with a pre-allocated static KV cache of C tokens
  (``metrics_core.capture.kv_cache``): the new K/V written once with ``index_copy_``, the cache read once
  per layer by attention, no concatenation copies; the embedding reads only the gathered rows.

Bytes follow each tensor class's precision (``ElementBits``: weights, activations, KV cache). Runs in a
worker process (``pool.run_call``): it builds the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from metrics_core.common.dtypes import ElementBits
from metrics_core.common.errors import UsageError
from metrics_core.common.records import OpRecord


@dataclass
class PhaseCapture:
    """One phase: its op records, peak live activation bytes (KV cache excluded), tokens per sequence
    processed, the context it attends to, and the bytes of the KV cache allocated for it (decode)."""

    records: list[OpRecord]
    peak_activation_bytes: int
    tokens: int
    context: int
    kv_cache_bytes: int = 0


@dataclass
class LlmCapture:
    """What ``capture_llm`` returns (picklable): model facts and the three phase captures."""

    model: str
    params: int
    active_params: int | None
    weight_bytes: int
    layers: int
    attention_heads: int
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


def capture_llm(
    name: str, batch_size: int, prompt: int, generate: int, bits: ElementBits, attention: str = "sdpa"
) -> LlmCapture:
    """Build ``name`` on meta and capture prefill (``prompt`` tokens) and decode at contexts ``prompt``
    and ``prompt + generate``, for ``batch_size`` sequences. ``UsageError`` (one line) for a model that
    is not a decoder language model."""
    import inspect

    import torch

    from metrics_core.capture.inputs import model_float_dtype
    from metrics_core.capture.kv_cache import kv_geometry, static_cache
    from metrics_core.capture.params import active_params, count_params
    from metrics_core.capture.peak_memory import peak_memory
    from metrics_core.capture.trace import capture
    from metrics_core.sources.build import build_model
    from metrics_core.sources.resolve import get_spec

    spec = get_spec(name)
    if spec.source == "hf" and spec.task != "causal-lm":
        raise UsageError(f"{name} is not a decoder language model ({spec.task}); llm analyses causal LMs")
    overrides = {"attn_implementation": attention} if spec.source == "hf" else {}
    model = build_model(spec, device="meta", **overrides)
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "num_attention_heads"):
        raise UsageError(f"{name} has no transformers-style config (num_attention_heads ...); llm needs one")
    layers, kv_heads, head_dim = kv_geometry(config)
    params, _ = count_params(model)
    dtype = model_float_dtype(model)

    def ids(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.empty((batch_size, n), dtype=torch.int64, device="meta")
        return t, torch.ones((batch_size, n), dtype=torch.int64)

    def phase(kwargs: dict, values: list, kv: list, tokens: int, context: int) -> PhaseCapture:
        trace = capture(model, (), "fp32", kwargs, values, bits, kv)
        memory = peak_memory(trace, 0)
        kv_bytes = sum(t.numel() for t in kv) * bits.kv // 8
        peak = max(0, memory.peak_activation_bytes - kv_bytes) if kv else memory.peak_activation_bytes
        return PhaseCapture(trace.records, peak, tokens, context, kv_bytes)

    prompt_ids, prompt_values = ids(prompt)
    prefill_kwargs: dict[str, Any] = {"input_ids": prompt_ids, "use_cache": False}
    if "logits_to_keep" in inspect.signature(model.forward).parameters:
        prefill_kwargs["logits_to_keep"] = 1  # serving engines compute the next token's logits only
    prefill = phase(prefill_kwargs, [(prompt_ids, prompt_values)], [], prompt, prompt)

    cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

    def decode(context: int) -> PhaseCapture:
        cache, kv = static_cache(model, batch_size, context, dtype)
        step, step_values = ids(1)
        position = torch.empty((1,), dtype=torch.int64, device="meta")
        kwargs = {"input_ids": step, cache_arg: cache, "cache_position": position, "use_cache": True}
        values = [(step, step_values), (position, torch.tensor([context - 1]))]
        return phase(kwargs, values, kv, 1, context)

    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    experts = next((getattr(text, a) for a in ("num_local_experts", "num_experts", "n_routed_experts")
                    if isinstance(getattr(text, a, None), int)), None)  # fmt: skip
    top_k = getattr(text, "num_experts_per_tok", None) if experts else None
    return LlmCapture(
        windows=attention_windows(text, layers),
        model=spec.name,
        params=params,
        active_params=active_params(model, params),
        weight_bytes=params * bits.weights // 8,  # parameters (buffers such as RoPE tables are KB)
        layers=layers,
        attention_heads=text.num_attention_heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        hidden_size=text.hidden_size,
        experts=experts,
        experts_per_token=top_k,
        prefill=prefill,
        decode_first=decode(prompt),
        decode_last=decode(prompt + generate),
    )


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
    from metrics_core.perf.llm import estimate_llm
    from metrics_core.runtime.pool import run_call

    s = scenario.validated(target)
    capture = run_call(
        capture_llm,
        name,
        s.batch_size,
        s.prompt_tokens,
        s.generate_tokens,
        s.bits,
        attention,
        timeout_s=timeout_s,
    )
    return estimate_llm(capture, target, s)
