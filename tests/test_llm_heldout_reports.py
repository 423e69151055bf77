"""Held-out checks (issue 21): wrong answers reported against other LLM calculators (llm-analysis-style
estimators, LLM-Viewer, vram / KV-cache calculators, AIConfigurator, hf-mem, unsloth's estimator ...), each
mapped to a model modeltui has bundled or builds from its published config, and modeltui's answer held
against the correct value, derived here by hand from the config. The issue or pull request that reported
the wrong answer is cited above each test. Bytes are decimal; "GiB" figures in the reports are 2^30 B."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

from metrics_core.common.dtypes import ElementBits  # noqa: E402
from metrics_core.perf.hardware import get_target  # noqa: E402
from metrics_core.perf.llm import Scenario, estimate_llm  # noqa: E402
from metrics_core.runtime.llm_capture import capture_llm  # noqa: E402

FP16 = ElementBits(16, 16, 16)
H100 = get_target("h100-sxm5-80gb")
GIB = 1 << 30
SDPA = "scaled_dot_product_attention"

#: Qwen3-0.6B and Qwen3-4B, the architecture fields of https://huggingface.co/Qwen/Qwen3-0.6B/blob/main/
#: config.json and https://huggingface.co/Qwen/Qwen3-4B/blob/main/config.json: head_dim 128 is NOT
#: hidden / heads (1024 / 16 = 64; 2560 / 32 = 80), the case the reports below are about.
QWEN3 = {"architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "head_dim": 128,
         "hidden_act": "silu", "max_position_embeddings": 40960, "model_type": "qwen3",
         "num_key_value_heads": 8, "rms_norm_eps": 1e-06, "rope_theta": 1000000, "tie_word_embeddings": True,
         "use_sliding_window": False, "vocab_size": 151936}  # fmt: skip
QWEN3_06B = {**QWEN3, "hidden_size": 1024, "intermediate_size": 3072, "num_attention_heads": 16,
             "num_hidden_layers": 28, "max_window_layers": 28}  # fmt: skip
QWEN3_4B = {**QWEN3, "hidden_size": 2560, "intermediate_size": 9728, "num_attention_heads": 32,
            "num_hidden_layers": 36, "max_window_layers": 36}  # fmt: skip


def run(name: str, prompt: int, generate: int, batch: int = 1):
    """The capture and estimate of ``name`` (one-token KV blocks: the reports compare unpaged bytes)."""
    capture = capture_llm(name, batch, prompt, generate, FP16)
    return capture, estimate_llm(capture, H100, Scenario(batch, prompt, generate, kv_block_tokens=1))


@pytest.fixture(scope="module")
def qwen3(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("qwen3")
    out = {}
    for name, cfg in (("0.6b", QWEN3_06B), ("4b", QWEN3_4B)):
        (folder / f"{name}.json").write_text(json.dumps(cfg))
        out[name] = f"hf:{folder / name}.json"
    return out


# https://github.com/unslothai/unsloth/pull/4757 ("Architecture-aware KV cache VRAM estimation"): the legacy
# `2 * n_kv_heads * (embed // n_heads) * n_layers * n_ctx * bpe` gave Qwen3-0.6B 2.19 GB where 4.38 GB is
# right (head_dim 128, not 1024 / 16 = 64), at its 40,960-token context.
# https://github.com/allenai/open-instruct/pull/1096 and https://github.com/NVIDIA-NeMo/Automodel/pull/611:
# FLOP counters that sized q_proj as hidden x hidden for Qwen3.
def test_qwen3_06b_kv_uses_head_dim_not_hidden_over_heads(qwen3):
    capture, est = run(qwen3["0.6b"], 32, 40960 - 32)
    # K + V: 2 x 28 layers x 8 KV heads x 128 x 2 B = 114,688 B per token
    assert est.kv_bytes_per_token == 2 * 28 * 8 * 128 * 2 == 114_688
    # at 40,960 tokens: 4,697,620,480 B = 4.375 GiB (the report's 4.38; hidden / heads would give half)
    assert est.kv_cache_bytes == 114_688 * 40960 == 4_697_620_480
    assert round(est.kv_cache_bytes / GIB, 2) == 4.38
    # q_proj 1024 -> 16 heads x 128 = 2,048 and o_proj 2,048 -> 1024: per prompt token 2 x 1024 x 2048 MACs
    q = [r.macs for r in capture.prefill.records if r.module == "model.layers.0.self_attn.q_proj"]
    o = [r.macs for r in capture.prefill.records if r.module == "model.layers.0.self_attn.o_proj"]
    assert q == [32 * 1024 * 2048] and o == [32 * 2048 * 1024]
    # parameters: tied embedding 151,936 x 1,024; per layer q 1024x2048, k and v 1024x1024, o 2048x1024,
    # q/k norms 2 x 128, MLP 3 x 1024 x 3072, two RMSNorms 2 x 1024 = 15,730,944; final norm 1,024
    layer = 1024 * 2048 + 2 * 1024 * 1024 + 2048 * 1024 + 256 + 3 * 1024 * 3072 + 2048
    assert est.params == 151936 * 1024 + 28 * layer + 1024 == 596_049_920


# https://github.com/LMCache/LMCache/issues/688 ("kv cache caculator wrong results"): head_size computed as
# hidden_size / num_attention_heads, wrong for Qwen3-4B.
def test_qwen3_4b_kv_per_token(qwen3):
    _capture, est = run(qwen3["4b"], 16, 1)
    # 2 x 36 layers x 8 KV heads x 128 x 2 B = 147,456 B (hidden / heads = 80 would give 92,160)
    assert est.kv_bytes_per_token == 2 * 36 * 8 * 128 * 2 == 147_456
    # parameters (4,022,468,096, the model page's 4.0B): tied embedding 151,936 x 2,560; per layer q
    # 2560x4096, k and v 2560x1024, o 4096x2560, q/k norms 256, MLP 3 x 2560 x 9728, norms 2 x 2560
    layer = 2560 * 4096 + 2 * 2560 * 1024 + 4096 * 2560 + 256 + 3 * 2560 * 9728 + 2 * 2560
    assert est.params == 151936 * 2560 + 36 * layer + 2560 == 4_022_468_096


# https://github.com/unslothai/unsloth/pull/4757: Gemma-3 27B at 128K, 81.38 GB (every layer full, head_dim
# 5376 / 32 = 168) where 10.41 GB is right (52 of 62 layers hold a 1,024-token window, head_dim 128).
def test_gemma3_27b_sliding_layers_hold_their_window():
    capture, est = run("hf:google/gemma-3-27b-pt", 32, 131072 - 32)
    # sliding_window_pattern 6: layers 6, 12, ..., 60 (1-based) global -> 10 global, 52 local
    assert capture.layer_kinds.count("attention") == 10 and capture.layer_kinds.count("sliding") == 52
    # per layer and token: 2 x 16 KV heads x 128 x 2 B = 8,192 B; 10 x 8,192 x 131,072 + 52 x 8,192 x 1,024
    assert est.kv_bytes_per_token == 62 * 8192
    assert est.kv_cache_bytes == 10 * 8192 * 131072 + 52 * 8192 * 1024 == 11_173_625_856
    assert round(est.kv_cache_bytes / GIB, 2) == 10.41
    # the report's wrong figure, for the record: 62 x 2 x 16 x 168 x 2 B x 131,072 = 81.38 GiB
    assert round(62 * 2 * 16 * 168 * 2 * 131072 / GIB, 2) == 81.38


# https://github.com/lablup/mlxcel/pull/172 ("architecture-aware KV-cache memory estimation"): Gemma-3-1B at
# 32,768 tokens is 139 MiB ("22 layers capped at 512, 4 global"), not the ~832 MiB of a flat formula.
def test_gemma3_1b_at_32k():
    capture, est = run("hf:google/gemma-3-1b-pt", 32, 32768 - 32)
    assert capture.layer_kinds.count("attention") == 4 and capture.layer_kinds.count("sliding") == 22
    # per layer and token: 2 x 1 KV head x 256 x 2 B = 1,024 B; 4 x 1,024 x 32,768 + 22 x 1,024 x 512
    assert est.kv_cache_bytes == 4 * 1024 * 32768 + 22 * 1024 * 512 == 145_752_064
    assert round(est.kv_cache_bytes / 2**20) == 139
    assert round(26 * 1024 * 32768 / 2**20) == 832  # the flat formula's figure


# https://github.com/unslothai/unsloth/pull/4757: DeepSeek-V3.1 (DeepSeek-V3's architecture) at its 163,840
# tokens is 10.72 GB of MLA latent, where the GQA formula gave 2.08 GB.
# https://github.com/ai-dynamo/aiconfigurator/pull/912: MLA models falling through to the GQA branch
# overestimated KV per token ~6x; the latent is kv_lora_rank + qk_rope_head_dim elements per layer.
# https://github.com/gpustack/gguf-parser-go/issues/8: a 65,536-token DeepSeek-V3 cache estimated as
# hundreds of GiB (expanded per-head K/V) where the paper's latent is far smaller.
# https://github.com/deepseek-ai/DeepSeek-V3/issues/231: how the 37B activated parameters are counted (8 of
# 256 routed experts per token, everything else active).
def test_deepseek_v3_latent_kv_and_active_params():
    capture, est = run("hf:deepseek-ai/DeepSeek-V3", 32, 163840 - 32)
    # latent: 61 layers x (512 + 64) x 2 B = 70,272 B per token; at 163,840 tokens 11,513,364,480 B
    assert est.kv_bytes_per_token == 61 * (512 + 64) * 2 == 70_272
    assert est.kv_cache_bytes == 70_272 * 163840 == 11_513_364_480
    assert round(est.kv_cache_bytes / GIB, 2) == 10.72
    # at 65,536 tokens: 4,605,345,792 B of latent; a cache of expanded K/V (128 heads x (128 + 64 + 128))
    # would hold 61 x 40,960 x 2 B = 4,997,120 B per token, 327,491,256,320 B (305 GiB)
    assert capture.kv_held_per_sequence(65536) == 61 * 576 * 2 * 65536 == 4_605_345_792
    assert est.cache["kv_bytes_per_token_full_kv"] * 65536 == 61 * 128 * 320 * 2 * 65536 == 327_491_256_320
    # active: 58 MoE layers x 256 routed experts x 3 x 7168 x 2048 = 653,908,770,816 routed parameters, of
    # which 8 / 256 are active per token; the rest (attention, dense layers, the shared expert, router,
    # embeddings) always: 671,026,404,352 - 653,908,770,816 x 248 / 256
    routed = 58 * 256 * 3 * 7168 * 2048
    assert est.params == 671_026_404_352
    assert est.active_params == est.params - routed * 248 // 256 == 37_552_282_624  # "37B activated"


# https://github.com/alvarobartt/hf-mem/issues/60: sliding-window layers left out of the per-token KV of
# gpt-oss-120b (36,864 B); vLLM's log gives 73,728 B/token (36 layers x 2 x 8 x 64 x 2 B).
def test_gpt_oss_120b_counts_its_sliding_layers():
    capture, est = run("hf:openai/gpt-oss-120b", 32, 32)
    assert capture.layer_kinds.count("sliding") == 18 and capture.layer_kinds.count("attention") == 18
    assert est.kv_bytes_per_token == 36 * 2 * 8 * 64 * 2 == 73_728
    # at 64 tokens every layer holds all of them (within the 128-token window)
    assert est.kv_cache_bytes == 73_728 * 64
    # past the window the 18 sliding layers hold 128 tokens (modeltui's documented layout, as vLLM's
    # sliding-window manager frees blocks that left the window): at 8,192 tokens
    assert capture.kv_held_per_sequence(8192) == 18 * 2048 * 8192 + 18 * 2048 * 128


# https://github.com/jranaraki/vllm-fit/issues/2: KV per token with an extra num_attention_heads factor and
# no GQA; the fix is 2 x layers x kv_heads x head_dim x bytes (Llama-2-7B: MHA, 32 KV heads).
# https://github.com/TransformerLensOrg/TransformerLens/issues/448: Llama-7B's parameters counted with a
# 2-matrix MLP (5,033,164,800); SwiGLU has three.
def test_llama2_7b_kv_per_token_and_swiglu_params():
    _capture, est = run("hf:meta-llama/Llama-2-7b-hf", 16, 1)
    assert est.kv_bytes_per_token == 2 * 32 * 32 * 128 * 2 == 524_288
    # embedding and head 2 x 32,000 x 4,096; per layer 4 x 4096^2 attention + 3 x 4096 x 11,008 MLP + 2
    # RMSNorms; final norm
    layer = 4 * 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096
    assert est.params == 2 * 32000 * 4096 + 32 * layer + 4096 == 6_738_415_616


# https://github.com/hahnyuan/LLM-Viewer/issues/12 ("GQA Correction for KV memory"): the decode step's
# attention loaded K/V for num_attention_heads heads instead of num_key_value_heads.
def test_llama31_8b_decode_reads_the_kv_heads_only():
    capture, _est = run("hf:meta-llama/Llama-3.1-8B", 64, 1)
    attention = [r for r in capture.decode_first.records if r.op == SDPA]
    assert len(attention) == 32
    # q (1, 32, 1, 128), K and V (1, 8, 64, 128): the 8 KV heads read in place (no repeat to 32 heads)
    assert {tuple(map(tuple, r.input_shapes[:3])) for r in attention} == {
        ((1, 32, 1, 128), (1, 8, 64, 128), (1, 8, 64, 128))
    }
    # bytes read per layer: q 32 x 128 x 2 B + K and V 2 x 8 x 64 x 128 x 2 B = 270,336
    assert {r.input_bytes for r in attention} == {32 * 128 * 2 + 2 * 8 * 64 * 128 * 2}
    assert not [r for r in capture.decode_first.records if r.op in ("repeat_interleave", "expand_copy")]


# https://github.com/jranaraki/vllm-fit/issues/27: Mixtral-8x7B read as ~13B parameters (one MLP per layer)
# and an untied lm_head missed.
def test_mixtral_params_and_active_params():
    from metrics_core.capture.params import active_params, count_params
    from metrics_core.sources.build import build_model
    from metrics_core.sources.resolve import get_spec

    model = build_model(get_spec("hf:mistralai/Mixtral-8x7B-v0.1"), attn_implementation="sdpa")
    params, _ = count_params(model)
    # experts: 32 layers x 8 x 3 x 4096 x 14,336 = 45,097,156,608; the rest (attention 4096 x (4096 + 2 x
    # 1024 + 4096) per layer, router 4096 x 8, norms, embedding AND the untied head 2 x 32,000 x 4,096)
    experts = 32 * 8 * 3 * 4096 * 14336
    rest = 32 * (4096 * (4096 + 2 * 1024 + 4096) + 4096 * 8 + 2 * 4096) + 2 * 32000 * 4096 + 4096
    assert params == experts + rest == 46_702_792_704
    # active: 2 of 8 experts per token -> 12,879,925,248 (the model card's 12.9B)
    assert active_params(model, params) == rest + experts // 4 == 12_879_925_248


# https://github.com/huggingface/trl/pull/6709 and https://github.com/pytorch/torchtitan/pull/3225: tied
# embeddings counted once in the parameters, yet the LM head's V x h multiply-adds still run (and the
# embedding lookup is no matmul).
def test_gpt2_tied_head_counted_once_and_still_computed():
    capture, est = run("hf:gpt2", 16, 4)
    # 124,439,808: wte 50,257 x 768 once (the head shares it), wpe 1,024 x 768, 12 layers, final LayerNorm
    assert est.params == 124_439_808
    head = [r for r in capture.decode_first.records if r.module == "lm_head"]
    assert [r.macs for r in head] == [768 * 50257]
    embedding = [r for r in capture.decode_first.records if r.op == "embedding"]
    assert [(r.macs, r.flops) for r in embedding] == [(0, 0), (0, 0)]  # tokens and positions: lookups


# https://github.com/vllm-project/vllm/pull/19290 (review): a FLOP counter sizing q_proj as hidden x hidden,
# wrong for Gemma-2 (hidden 3,584, 16 heads x head_dim 256 = 4,096).
# https://github.com/verl-project/verl/pull/6389 (review): causal attention counted over all L^2 pairs.
def test_gemma2_9b_projections_and_causal_pairs():
    from metrics_core.perf.llm import causal_records

    capture, _est = run("hf:google/gemma-2-9b", 64, 1)
    records = capture.prefill.records
    q = [r.macs for r in records if r.module == "model.layers.0.self_attn.q_proj"]
    o = [r.macs for r in records if r.module == "model.layers.0.self_attn.o_proj"]
    assert q == [64 * 3584 * 4096] and o == [64 * 4096 * 3584]
    # causal prefill: 64 x 65 / 2 = 2,080 pairs x 16 heads x (256 + 256) MACs per layer, not 64^2
    attention = [r.macs for r in causal_records(records, 64) if r.op == SDPA]
    assert attention == [2080 * 16 * 512] * 42
