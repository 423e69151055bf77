"""Identical decoder layers captured once (``metrics_core.capture.layer_replicas``, issue 21 item 4): the
replicated capture equals the full capture exactly — every op record (FLOPs, MACs, bytes, shapes, module
paths and indices), the storage events (so peak memory and data flow), the cache layout, the ``llm``
phase captures (KV bytes, params, prefill pairs, peak activations) and the step model's captures — for
small random configs of each family whose layers differ in kind. The expected values are the full
capture's, taken in the same test (``MODELTUI_LAYER_REPLICAS=0``)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

pytest.importorskip("transformers")

import torch  # noqa: E402

from metrics_core.capture import layer_replicas  # noqa: E402
from metrics_core.capture.layer_replicas import capture_replicated, plan_layers  # noqa: E402
from metrics_core.capture.peak_memory import peak_memory  # noqa: E402
from metrics_core.capture.trace import capture  # noqa: E402
from metrics_core.common.dtypes import ElementBits  # noqa: E402

FP16 = ElementBits(16, 16, 16)
BASE = {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
        "vocab_size": 256, "max_position_embeddings": 4096}  # fmt: skip

#: Configs whose layers come in several kinds; (config, layers captured of the stack): the prefix holds the
#: first layer of each kind and the one after it, and each pair of kinds twice more (``plan_layers``).
CONFIGS = {
    # one kind: layers 0, 1 (first of a kind and the next), 2, 3 (the pair twice) of 8
    "llama": ({**BASE, "model_type": "llama", "architectures": ["LlamaForCausalLM"],
               "num_hidden_layers": 8}, 4),
    "mixtral": ({**BASE, "model_type": "mixtral", "architectures": ["MixtralForCausalLM"],
                 "num_hidden_layers": 8, "num_local_experts": 4, "num_experts_per_tok": 2}, 4),
    # sliding / global alternate: firsts 0, 1; pairs (G, S) at 4, 6 and (S, G) at 3, 5; the last layer (11)
    # is global, so the prefix ends on a global layer: 0..7
    "gemma2": ({**BASE, "model_type": "gemma2", "architectures": ["Gemma2ForCausalLM"],
                "num_hidden_layers": 12, "head_dim": 16, "sliding_window": 8, "attn_logit_softcapping": 50.0,
                "final_logit_softcapping": 30.0, "query_pre_attn_scalar": 16}, 8),
    # MoE every second layer (decoder_sparse_step 2), layer 5 dense by mlp_only_layers: kinds D M D M D d D
    # M ...; firsts 0, 1, 5 (and 2, 6 after them); pairs (D, M) at 3, 7 and (M, D) at 4, 8; the last
    # layer's pair (D, M) again at 9: 0..9
    "qwen2_moe": ({**BASE, "model_type": "qwen2_moe", "architectures": ["Qwen2MoeForCausalLM"],
                   "num_hidden_layers": 14, "num_experts": 4, "num_experts_per_tok": 2,
                   "moe_intermediate_size": 32, "shared_expert_intermediate_size": 64,
                   "decoder_sparse_step": 2, "mlp_only_layers": [5]}, 10),
    # MLA; the first 2 layers dense, then MoE with a shared expert: firsts 0, 2 (and 1, 3); (M, M) at 4, 5
    "deepseek_v3": ({**BASE, "model_type": "deepseek_v3", "architectures": ["DeepseekV3ForCausalLM"],
                     "num_hidden_layers": 9, "num_key_value_heads": 4, "kv_lora_rank": 32, "q_lora_rank": 48,
                     "qk_rope_head_dim": 8, "qk_nope_head_dim": 16, "v_head_dim": 16, "n_routed_experts": 4,
                     "n_shared_experts": 1, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
                     "first_k_dense_replace": 2, "n_group": 2, "topk_group": 1}, 6),
    # Mamba / attention (every 4th from 2) x dense / MoE (odd layers): kinds repeat every 4 layers; firsts
    # 0, 1, 2 (and 3); each of the 4 pairs at 4..7 and 8..11
    "jamba": ({**BASE, "model_type": "jamba", "architectures": ["JambaForCausalLM"], "num_hidden_layers": 24,
               "attn_layer_period": 4, "attn_layer_offset": 2, "expert_layer_period": 2,
               "expert_layer_offset": 1, "num_experts": 4, "num_experts_per_tok": 2, "mamba_d_state": 8,
               "mamba_d_conv": 4, "mamba_expand": 2, "use_mamba_kernels": False}, 12),
    # chunked RoPE layers, every 4th NoPE and full; MoE every 2nd layer: kinds C/M, C/D, C/M, N/D; firsts 0,
    # 1, 3 (and 2, 4); the 4 pairs at 5..8 and 9..12; the last layer's pair (C, N) again at 15: 0..15
    "llama4": ({**BASE, "model_type": "llama4_text", "architectures": ["Llama4ForCausalLM"],
                "num_hidden_layers": 24, "head_dim": 16, "attention_chunk_size": 8,
                "no_rope_layers": [0 if i % 4 == 3 else 1 for i in range(24)], "num_local_experts": 4,
                "num_experts_per_tok": 1, "interleave_moe_layer_step": 2, "intermediate_size_mlp": 128}, 16),
}  # fmt: skip


@pytest.fixture(scope="module")
def names(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("replica_configs")
    out = {}
    for name, (cfg, _k) in CONFIGS.items():
        (folder / f"{name}.json").write_text(json.dumps(cfg))
        out[name] = f"hf:{folder / name}.json"
    return out


def canonical(trace) -> tuple:  # noqa: ANN001
    """A trace's storage events with keys renumbered by first appearance (inputs, then ops, then outputs),
    and their sizes: two captures of the same pass give the same value."""
    order: dict[int, int] = {}
    for k in trace.input_keys:
        order.setdefault(k, len(order))
    events = []
    for reads, allocs in trace.events:
        for k in (*reads, *allocs):
            order.setdefault(k, len(order))
        events.append((tuple(order[k] for k in reads), tuple(order[k] for k in allocs)))
    sizes = {order[k]: trace.sizes[k] for k in order}
    outputs = tuple(order.get(k, -1) for k in trace.output_keys)
    return events, sizes, outputs, tuple(order[k] for k in trace.input_keys), trace.head_index


def build(name: str):  # noqa: ANN201
    from metrics_core.sources.build import build_model
    from metrics_core.sources.resolve import get_spec

    return build_model(get_spec(name), device="meta", attn_implementation="sdpa")


def assert_same_trace(full, rep) -> None:  # noqa: ANN001
    assert rep.records == full.records  # every field: op, module, shapes, MACs, FLOPs, bytes, index
    assert canonical(rep) == canonical(full)
    assert peak_memory(rep) == peak_memory(full)  # live bytes of every op, the peak and where


@pytest.mark.parametrize("family", list(CONFIGS))
def test_replicated_phases_equal_full_capture(names, family, monkeypatch) -> None:
    """Prefill and a decode step over a static cache (the ``llm`` captures): the replicated trace is the
    full one, and only the planned prefix of layers was run."""
    from metrics_core.capture.kv_cache import decoder_cache, probe_decoder_cache
    from metrics_core.capture.ssm import vectorized_scans

    model = build(names[family])
    layers = CONFIGS[family][0]["num_hidden_layers"]
    plan = plan_layers(model)
    assert plan is not None and plan.path == "model.layers"
    assert plan.prefix == CONFIGS[family][1] < layers
    # prefill of 2 sequences x 16 tokens
    ids = torch.empty((2, 16), dtype=torch.int64, device="meta")
    kwargs = {"input_ids": ids, "use_cache": False}
    values = [(ids, torch.ones((2, 16), dtype=torch.int64))]
    with vectorized_scans(model):
        full = capture(model, (), "fp32", kwargs, values, FP16)
        rep = capture_replicated(model, (), "fp32", kwargs, values, FP16)
    assert rep.layer_sources is not None and full.layer_sources is None
    assert rep.layer_sources[: plan.prefix] == list(range(plan.prefix))
    assert (
        len({r.module.split(".")[2] for r in rep.records if r.module.startswith("model.layers.")}) == layers
    )
    assert_same_trace(full, rep)
    # the cache layout read by the probe (copied layers laid out as the layer they copy)
    probe = probe_decoder_cache(model, torch.float32)
    monkeypatch.setenv(layer_replicas.ENV_SWITCH, "0")
    assert probe_decoder_cache(model, torch.float32) == probe
    monkeypatch.delenv(layer_replicas.ENV_SWITCH)
    # one decode step of 2 sequences at context 20
    cache, kv, lengths = decoder_cache(model, probe, 2, 20, torch.float32)
    step = torch.empty((2, 1), dtype=torch.int64, device="meta")
    position = torch.empty((1,), dtype=torch.int64, device="meta")
    kwargs = {"input_ids": step, "past_key_values": cache, "cache_position": position, "use_cache": True}
    values = [(step, torch.ones((2, 1), dtype=torch.int64)), (position, torch.tensor([19])), *lengths]
    full = capture(model, (), "fp32", kwargs, values, FP16, kv)
    rep = capture_replicated(model, (), "fp32", kwargs, values, FP16, kv)
    assert rep.layer_sources is not None
    assert_same_trace(full, rep)


@pytest.mark.parametrize("family", ["llama", "gemma2", "deepseek_v3", "jamba", "llama4"])
def test_llm_capture_equal_with_and_without_replicas(names, family, monkeypatch) -> None:
    """``capture_llm`` (prefill at three batch sizes for the activation lines, decode at the first, last
    and a middle context) is the same object either way: records, peak activations, KV bytes per layer,
    params, layer kinds, windows and chunks; so every ``llm`` figure, per-layer breakdown and prefill pair
    count derived from it is the same."""
    from metrics_core.perf.hardware import get_target
    from metrics_core.perf.llm import Scenario, causal_records, estimate_llm
    from metrics_core.perf.llm_layers import breakdown
    from metrics_core.runtime.llm_capture import capture_llm

    monkeypatch.setenv(layer_replicas.ENV_SWITCH, "0")
    full = capture_llm(names[family], 2, 24, 8, FP16, "sdpa", (28,))
    monkeypatch.delenv(layer_replicas.ENV_SWITCH)
    rep = capture_llm(names[family], 2, 24, 8, FP16, "sdpa", (28,))
    assert rep == full
    # what is derived from it, spelled out: KV bytes per layer, params, the prefill's attended pairs (the
    # causal, sliding and chunked counts per SDPA op), the per-layer breakdown, every estimate
    assert (rep.kv_layer_token_bytes, rep.params, rep.layer_kinds) == (
        full.kv_layer_token_bytes,
        full.params,
        full.layer_kinds,
    )
    pairs = [causal_records(c.prefill.records, 24, c.windows, c.chunks) for c in (rep, full)]
    assert pairs[0] == pairs[1]
    h100 = get_target("h100-sxm5-80gb")
    scenario = Scenario(2, 24, 8, context_tokens=28, kv_block_tokens=1)
    est = [estimate_llm(c, h100, scenario) for c in (rep, full)]
    assert est[0].to_dict() == est[1].to_dict()
    assert breakdown(est[0].prefill.ops) == breakdown(est[1].prefill.ops)
    assert breakdown(est[0].decode_first.ops) == breakdown(est[1].decode_first.ops)


@pytest.mark.parametrize("family", ["llama", "gemma2", "qwen2_moe"])
def test_step_captures_equal_with_and_without_replicas(names, family, monkeypatch) -> None:
    """The step model's four decode-step captures (``runtime.llm_steps``) are the same either way."""
    from metrics_core.runtime.llm_steps import capture_steps

    monkeypatch.setenv(layer_replicas.ENV_SWITCH, "0")
    full = capture_steps(names[family], FP16)
    monkeypatch.delenv(layer_replicas.ENV_SWITCH)
    assert capture_steps(names[family], FP16) == full


# -- fall back to the full capture where copying is not safe --------------------------------------------


class _Layer(torch.nn.Module):
    def __init__(self, index: int, repeats_by_index: bool) -> None:
        super().__init__()
        self.layer_idx = index  # not in the signature (a cache slot number)
        self.repeats_by_index = repeats_by_index
        self.proj = torch.nn.Linear(8, 8)

    def forward(self, x: torch.Tensor, first: torch.Tensor | None = None) -> torch.Tensor:
        # ops that depend on the index in a way the signature does not see: layer i runs i + 1 projections
        for _ in range(self.layer_idx + 1 if self.repeats_by_index else 1):
            x = self.proj(x)
        return x + first if first is not None else x


class _Stack(torch.nn.Module):
    """A decoder-like stack of 6 identical-looking layers; ``reads_first``: every layer also reads layer 0's
    output (a cross-layer read); ``repeats_by_index``: a layer's ops depend on its index."""

    def __init__(self, reads_first: bool = False, repeats_by_index: bool = False) -> None:
        super().__init__()
        self.config = SimpleNamespace(num_hidden_layers=6)
        self.layers = torch.nn.ModuleList(_Layer(i, repeats_by_index) for i in range(6))
        self.reads_first = reads_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = None
        for i, layer in enumerate(self.layers):
            x = layer(x, first if self.reads_first else None)
            if i == 0:
                first = x
        return x.sum()


@pytest.mark.parametrize(
    ("kwargs", "replicated"),
    [({}, True), ({"reads_first": True}, False), ({"repeats_by_index": True}, False)],
)
def test_unsafe_stacks_fall_back_to_the_full_capture(kwargs, replicated) -> None:
    """A layer that reads another layer's output than the one before it, or whose ops depend on its index
    beyond its signature, is captured in full: the result is the full capture's either way."""
    with torch.device("meta"):
        model = _Stack(**kwargs)
    x = torch.empty((2, 8), device="meta")
    full = capture(model, (x,), "fp32")
    rep = capture_replicated(model, (x,), "fp32")
    assert (rep.layer_sources is not None) is replicated
    assert_same_trace(full, rep)


def test_switch_off_captures_every_layer(names, monkeypatch) -> None:
    """``MODELTUI_LAYER_REPLICAS=0``: no plan is used (benchmarks compare against it)."""
    monkeypatch.setenv(layer_replicas.ENV_SWITCH, "0")
    model = build(names["llama"])
    ids = torch.empty((1, 4), dtype=torch.int64, device="meta")
    trace = capture_replicated(
        model, (), "fp32", {"input_ids": ids}, [(ids, torch.ones((1, 4), dtype=torch.int64))]
    )
    assert trace.layer_sources is None
