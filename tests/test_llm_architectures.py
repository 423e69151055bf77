"""``llm`` across architecture families (issue 21, item 1): multi-head latent attention, hybrid
attention + state-space models, chunked attention, soft-capped / alternating Gemma attention. Tiny configs
(2 layers, hidden 64) built on meta; every expected value is derived here from the config's numbers."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

from metrics_core.common.dtypes import ElementBits  # noqa: E402
from metrics_core.perf.hardware import get_target  # noqa: E402
from metrics_core.perf.llm import Scenario, attended_pairs, causal_records, estimate_llm  # noqa: E402
from metrics_core.runtime.llm_capture import capture_llm  # noqa: E402

FP16 = ElementBits(16, 16, 16)
H100 = get_target("h100-sxm5-80gb")
SDPA = "scaled_dot_product_attention"

#: Shared by the tiny decoders: 2 layers, hidden 64, 4 query heads, 2 KV heads, vocabulary 256.
BASE = {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
        "num_hidden_layers": 2, "vocab_size": 256, "max_position_embeddings": 4096}  # fmt: skip

CONFIGS = {
    # MLA: 4 heads, kv_lora_rank 32, qk_rope 8, qk_nope 16, v 16; layer 0 dense, layer 1 MoE (4 routed
    # experts, 1 shared, top-2)
    "deepseek": {**BASE, "model_type": "deepseek_v3", "architectures": ["DeepseekV3ForCausalLM"],
                 "num_key_value_heads": 4, "kv_lora_rank": 32, "q_lora_rank": 48, "qk_rope_head_dim": 8,
                 "qk_nope_head_dim": 16, "v_head_dim": 16, "n_routed_experts": 4, "n_shared_experts": 1,
                 "num_experts_per_tok": 2, "moe_intermediate_size": 32, "first_k_dense_replace": 1,
                 "n_group": 2, "topk_group": 1},
    # Jamba: layer 0 Mamba (expand 2 -> 128 channels, d_conv 4, d_state 8), layer 1 attention
    "jamba": {**BASE, "model_type": "jamba", "architectures": ["JambaForCausalLM"], "attn_layer_period": 2,
              "attn_layer_offset": 1, "expert_layer_period": 2, "expert_layer_offset": 1, "num_experts": 4,
              "num_experts_per_tok": 2, "mamba_d_state": 8, "mamba_d_conv": 4, "mamba_expand": 2,
              "use_mamba_kernels": False},
    "mamba": {"model_type": "mamba", "architectures": ["MambaForCausalLM"], "hidden_size": 64,
              "num_hidden_layers": 2, "vocab_size": 256, "state_size": 8, "conv_kernel": 4, "expand": 2},
    # Mamba-2: 8 heads x 16 = 128 channels, 1 group, d_state 8, d_conv 4
    "mamba2": {"model_type": "mamba2", "architectures": ["Mamba2ForCausalLM"], "hidden_size": 64,
               "num_hidden_layers": 2, "vocab_size": 256, "state_size": 8, "conv_kernel": 4, "expand": 2,
               "num_heads": 8, "head_dim": 16, "n_groups": 1, "chunk_size": 16},
    # Llama-4: no_rope_layers [1, 0] -> layer 0 chunked (chunk 8), layer 1 full (NoPE)
    "llama4": {**BASE, "model_type": "llama4_text", "architectures": ["Llama4ForCausalLM"], "head_dim": 16,
               "attention_chunk_size": 8, "no_rope_layers": [1, 0], "num_local_experts": 4,
               "num_experts_per_tok": 1, "interleave_moe_layer_step": 1, "intermediate_size_mlp": 128},
    # Gemma-2: layer 0 sliding (window 8), layer 1 global; attention logits soft-capped at 50
    "gemma2": {**BASE, "model_type": "gemma2", "architectures": ["Gemma2ForCausalLM"], "head_dim": 16,
               "sliding_window": 8, "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0,
               "query_pre_attn_scalar": 16},
    "gemma3": {**BASE, "model_type": "gemma3_text", "architectures": ["Gemma3ForCausalLM"], "head_dim": 16,
               "sliding_window": 8, "layer_types": ["sliding_attention", "full_attention"],
               "query_pre_attn_scalar": 16},
    "gpt_oss": {**BASE, "model_type": "gpt_oss", "architectures": ["GptOssForCausalLM"], "head_dim": 16,
                "num_local_experts": 4, "num_experts_per_tok": 2, "sliding_window": 8,
                "layer_types": ["sliding_attention", "full_attention"]},
}  # fmt: skip

PROMPT, GENERATE = 32, 8


@pytest.fixture(scope="module")
def configs(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("configs")
    out = {}
    for name, cfg in CONFIGS.items():
        (folder / f"{name}.json").write_text(json.dumps(cfg))
        out[name] = f"hf:{folder / name}.json"
    return out


def run(name: str, batch: int = 1, bits: ElementBits = FP16):
    # one-token KV blocks: these tests hold the architectures' cache facts; paging (whole blocks of the
    # stack's size) is tested on its own in test_llm_serving
    capture = capture_llm(name, batch, PROMPT, GENERATE, bits)
    return capture, estimate_llm(capture, H100, Scenario(batch, PROMPT, GENERATE, kv_block_tokens=1))


def test_mla_reports_the_latent_and_the_full_kv(configs):
    capture, est = run(configs["deepseek"])
    # latent per token per layer: kv_lora_rank 32 + qk_rope_head_dim 8 = 40 elements x 2 B = 80 B;
    # 2 MLA layers -> 160 B per token
    assert capture.layer_kinds == ["mla", "mla"]
    assert capture.kv_layer_token_bytes == [80, 80]
    assert est.kv_bytes_per_token == 160
    # full K/V: 4 heads x (16 + 8) K + 4 heads x 16 V = 160 elements x 2 B = 320 B per layer -> 640 B
    assert est.cache["kv_bytes_per_token_full_kv"] == 640
    assert "MLA latent" in est.cache["kv_layout"] and "full per-head K/V" in est.cache["kv_layout"]
    # held at the last step (context 32 + 8 = 40): 40 x 160 B; the latent replicated on each TP GPU
    assert est.kv_cache_bytes == 40 * 160
    assert capture.kv_heads == 1


def test_mla_decode_absorbs_kv_b_proj_as_serving_engines(configs):
    capture, _est = run(configs["deepseek"])
    # per MLA layer at context C = 32, 4 heads, rank 32, rope 8, nope 16, v 16: the query to the latent
    # 4 x 16 x 32 = 2,048; one fused attention core: scores over the latent 4 x 32 x 32 = 4,096 and the
    # rotary key 4 x 32 x 8 = 1,024, the output over the latent 4 x 32 x 32 = 4,096 (9,216); back per head
    # 4 x 32 x 16 = 2,048 MACs
    attention = [r for r in capture.decode_first.records if r.module.endswith("self_attn") and r.macs]
    assert [r.macs for r in attention] == [2048, 9216, 2048] * 2
    core = attention[1]
    assert (core.op, core.category) == ("mla_decode_attention", "attention")
    # FLOPs: 2 x MACs + 6 per score (softmax 5, scaling 1) over 4 heads x 32 cached tokens
    assert core.flops == 2 * 9216 + 6 * 4 * 32
    # no re-expansion of the context through kv_b_proj (it would be 32 x 32 x 4 x 32 MACs per layer)
    assert not [r for r in capture.decode_first.records if r.module.endswith("kv_b_proj")]
    # as a fused kernel (FlashMLA) reads and writes, exactly: the queries (4 heads x 32 latent + 4 x 8
    # rotary) and the cache (32 tokens x (32 latent + 8 rotary)) read once, 2 B each; the 4 x 32 latent
    # output written once; no scores in memory
    assert core.input_bytes == (4 * 32 + 4 * 8 + 32 * 32 + 32 * 8) * 2 == 2880
    assert core.output_bytes == 4 * 32 * 2


def test_jamba_keeps_kv_in_attention_layers_and_a_constant_state_in_mamba_layers(configs):
    capture, est = run(configs["jamba"], batch=2)
    assert capture.layer_kinds == ["ssm", "attention"]
    # attention layer: 2 KV heads x 16 (64 / 4 heads) x (K + V) = 64 elements x 2 B = 128 B per token
    assert est.kv_bytes_per_token == 128
    # Mamba layer: 128 channels (expand 2 x 64); conv state as serving engines keep it, 128 x (d_conv 4 - 1)
    # = 384 elements -> 768 B (transformers' cache: 128 x 4 -> 1,024 B); SSM state 128 x d_state 8 = 1,024
    # elements -> 2,048 B
    assert est.cache["conv_state_bytes_per_sequence"] == 768
    assert est.cache["conv_state_bytes_per_sequence_transformers"] == 1024
    assert est.cache["ssm_state_bytes_per_sequence"] == 2048
    assert est.cache["state_bytes_per_sequence"] == 2816
    # two sequences at context 40: 2 x (40 x 128 + 2,816)
    assert est.kv_cache_bytes == 2 * (40 * 128 + 2816)


def test_pure_mamba_has_state_only(configs):
    capture, est = run(configs["mamba"])
    assert capture.layer_kinds == ["ssm", "ssm"]
    assert est.kv_bytes_per_token == 0
    # per layer: conv 128 x (4 - 1) = 384, SSM 128 x 8 = 1,024 elements; 2 layers x 2 B
    assert est.cache["conv_state_bytes_per_sequence"] == 2 * 384 * 2
    assert est.cache["ssm_state_bytes_per_sequence"] == 2 * 1024 * 2
    assert est.kv_cache_bytes == 1536 + 4096
    assert capture.attention_heads is None  # no attention: any --tp passes the heads check


def test_mamba2_state(configs):
    _capture, est = run(configs["mamba2"])
    # conv over x, B and C: 128 + 2 x 1 group x d_state 8 = 144 channels x (d_conv 4 - 1) = 432 elements
    # (vLLM's mamba2 conv state (conv_kernel - 1, conv_dim)); SSM state: 8 heads x 16 head_dim x d_state 8
    # = 1,024 elements; 2 layers x 2 B
    assert est.cache["conv_state_bytes_per_sequence"] == 2 * 432 * 2
    assert est.cache["conv_state_bytes_per_sequence_transformers"] == 2 * 576 * 2
    assert est.cache["ssm_state_bytes_per_sequence"] == 2 * 1024 * 2


def test_llama4_chunked_layers_bound_the_kv_and_the_prefill_pairs(configs):
    capture, est = run(configs["llama4"])
    assert capture.layer_kinds == ["chunked", "attention"]
    assert capture.chunks == [8, None]
    # 2 KV heads x 16 x (K + V) x 2 B = 128 B per token per layer; at context 40 the chunked layer holds
    # its chunk of 8 tokens, the global layer 40: (8 + 40) x 128
    assert est.kv_cache_bytes == (8 + 40) * 128
    # prefill of 32 tokens: chunk 8 -> 4 chunks x 8 x 9 / 2 = 144 pairs; full: 32 x 33 / 2 = 528
    assert attended_pairs(32, None, 8) == 144
    assert attended_pairs(30, None, 8) == 3 * 36 + 6 * 7 // 2  # 3 full chunks, 6 tokens in the last
    raw = [r for r in capture.prefill.records if r.op == SDPA]
    counted = [r for r in causal_records(capture.prefill.records, 32, capture.windows, capture.chunks)
               if r.op == SDPA]  # fmt: skip
    # raw MACs per layer: 1 x 4 heads x 32 x 32 x (16 + 16) = 131,072
    assert [r.macs for r in raw] == [131072, 131072]
    assert [r.macs for r in counted] == [131072 * 144 // 1024, 131072 * 528 // 1024]
    # and the estimate counts those pairs: its prefill FLOPs are the records' with these two scaled
    others = sum(r.flops or 0 for r in capture.prefill.records if r.op != SDPA)
    assert est.prefill.flops == others + sum(r.flops for r in counted)


def test_llama4_dense_expert_bmm_is_priced_as_top_k(configs):
    """transformers' Llama4TextExperts runs all E experts as one bmm; serving engines run the k routed
    ones. Tiny config: hidden 64, expert dim 128, E = 4, k = 1, both layers MoE (interleave step 1)."""
    from metrics_core.perf.llm import moe_decode_records

    capture, est = run(configs["llama4"])
    # per layer: gate_up (4, 64, 256) + down (4, 128, 64) = 65,536 + 32,768 = 98,304 expert parameters
    # (x 2 B = 196,608 B); one token through k = 1 expert: 2 x (64 x 256 + 128 x 64) = 49,152 FLOPs
    bmm = [r for r in capture.prefill.records if r.op == "bmm" and r.module.endswith("feed_forward.experts")]
    # prefill of 32 tokens: 32 x 49,152 = 1,572,864 FLOPs per layer, not E x that (6,291,456)
    assert sum(r.flops for r in bmm) == 2 * 32 * 49152
    assert sum(r.weight_bytes for r in bmm) == 2 * 196608  # a prefill reads every expert
    # the expert activation bytes are the routed copies' too: gate_up reads 32 x 64 x 2 B = 4,096 B
    assert [r.input_bytes for r in bmm[:2]] == [4096, 32 * 128 * 2]
    step = [r for r in capture.decode_first.records if r.module.endswith("feed_forward.experts")]
    assert sum(r.flops for r in step if r.op == "bmm") == 2 * 49152
    # a decode step at batch 1 reads the one expert its token reaches: 196,608 / 4 = 49,152 B per layer
    read = moe_decode_records(step, 4, 1, 1)
    assert sum(r.weight_bytes for r in read) == 2 * 49152
    assert est.experts_read_per_layer == 1.0
    # batch 2: E (1 - (1 - k/E)^2) = 4 x (1 - 9/16) = 1.75 experts -> 196,608 x 1.75 / 4 = 86,016 B
    assert sum(r.weight_bytes for r in moe_decode_records(step, 4, 1, 2)) == 2 * 86016


def test_gemma2_builds_without_eager_and_counts_the_soft_cap(configs, tmp_path):
    capture, est = run(configs["gemma2"])
    assert capture.layer_kinds == ["sliding", "attention"]
    assert est.kv_cache_bytes == (8 + 40) * 128  # as Llama-4's: window 8 on layer 0
    uncapped = {**CONFIGS["gemma2"], "attn_logit_softcapping": None}
    (tmp_path / "plain.json").write_text(json.dumps(uncapped))
    plain = capture_llm(f"hf:{tmp_path / 'plain.json'}", 1, PROMPT, GENERATE, FP16)
    capped = [r.flops for r in capture.prefill.records if r.op == SDPA]
    base = [r.flops for r in plain.prefill.records if r.op == SDPA]
    # soft cap: 3 FLOPs per score, 1 x 4 heads x 32 x 32 = 4,096 scores per layer
    assert [c - b for c, b in zip(capped, base, strict=True)] == [3 * 4096, 3 * 4096]


def test_gemma3_and_gpt_oss_alternate_local_and_global_layers(configs):
    for name in ("gemma3", "gpt_oss"):
        capture, est = run(configs[name])
        assert capture.layer_kinds == ["sliding", "attention"]
        assert est.cache["layer_kinds"] == {"attention": 1, "sliding": 1}
        assert est.kv_cache_bytes == (8 + 40) * 128


MOE_CONFIGS = {
    # Qwen-MoE: every layer MoE (4 routed experts of width 32, top-2) plus a shared expert of width 64
    # behind a sigmoid gate; attention with q/k/v biases, untied embeddings
    "qwen2_moe": {**BASE, "model_type": "qwen2_moe", "architectures": ["Qwen2MoeForCausalLM"],
                  "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
                  "shared_expert_intermediate_size": 64},
    # OPT: its decoder slices positions by the cache length in Python (past_seen_tokens)
    "opt": {"model_type": "opt", "architectures": ["OPTForCausalLM"], "hidden_size": 64, "ffn_dim": 128,
            "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 256,
            "max_position_embeddings": 512, "word_embed_proj_dim": 64},
}  # fmt: skip


@pytest.fixture(scope="module")
def moe_configs(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("moe")
    for name, cfg in MOE_CONFIGS.items():
        (folder / f"{name}.json").write_text(json.dumps(cfg))
    return {name: f"hf:{folder / name}.json" for name in MOE_CONFIGS}


def test_qwen_moe_active_params_include_the_shared_expert(moe_configs):
    capture, _est = run(moe_configs["qwen2_moe"])
    # per layer: attention q 64x64+64, k 64x32+32, v 64x32+32, o 64x64 = 12,416; 2 RMSNorms 128;
    # router 64x4 = 256; routed experts 4 x (64x64 gate/up + 32x64 down) = 24,576; shared expert
    # 3 x 64x64 = 12,288 and its gate 64 -> 49,728 per layer; embeddings + LM head 2 x 256x64, final norm 64
    assert capture.params == 2 * 49728 + 2 * 16384 + 64 == 132288
    # active: the routed experts at k/E = 2/4, everything else (the shared expert too) whole
    assert capture.active_params == 132288 - 2 * 24576 + 2 * 24576 * 2 // 4 == 107712


def test_deepseek_shared_experts_are_active(configs):
    capture, _est = run(configs["deepseek"])
    # layer 1's routed experts: 4 x (64x64 gate/up + 32x64 down) = 24,576 parameters, at 2/4 active;
    # its shared expert (3 x 64x32) and layer 0's dense MLP are whole
    assert capture.params - capture.active_params == 24576 // 2


def test_opt_reads_the_cache_length_in_python(moe_configs):
    capture, est = run(moe_configs["opt"])
    # 4 heads x 16 x (K + V) = 128 elements x 2 B = 256 B per token per layer, 2 layers
    assert est.kv_bytes_per_token == 512
    assert est.kv_cache_bytes == 40 * 512
    # params: tokens 256x64 + positions (512 + 2 offset) x 64 + 2 layers x (4 x (64x64 + 64) + fc1 64x128
    # + 128 + fc2 128x64 + 64 + 2 LayerNorms x 128) + final LayerNorm 128; the LM head is tied
    assert capture.params == 16384 + 514 * 64 + 2 * (16640 + 8320 + 8256 + 256) + 128 == 116352


LLAMA = {**BASE, "model_type": "llama", "architectures": ["LlamaForCausalLM"]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"num_attention_heads": 0},
            "field 'num_attention_heads' is 0; it must be a positive integer",
        ),
        (
            {"num_hidden_layers": -1},
            "field 'num_hidden_layers' is -1; it must be a positive integer",
        ),
        (
            {"model_type": "frobnicator"},
            "does not know model_type 'frobnicator'; check the config or upgrade",
        ),
    ],
)
def test_bad_architectures_are_one_line_errors(tmp_path, capsys, change, message):
    from tui import cli

    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**LLAMA, **change}))
    code = cli.main(
        ["llm", f"hf:{path}", "--hardware", "h100-sxm5-80gb", "--prompt", "16", "--generate", "4"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_an_architecture_the_capture_cannot_run_is_one_line(monkeypatch):
    from metrics_core.common.errors import UnsupportedModelError
    from metrics_core.runtime import llm_capture

    def broken(*_args):
        raise RuntimeError("shape mismatch in layer 3\n  deep traceback text")

    monkeypatch.setattr(llm_capture, "_capture_llm", broken)
    with pytest.raises(UnsupportedModelError) as info:
        llm_capture.capture_llm("hf:x", 1, 16, 4, FP16)
    assert (
        str(info.value)
        == "hf:x: llm cannot capture this architecture: RuntimeError: shape mismatch in layer 3"
    )


# LLaVA: a 2-layer CLIP tower (hidden 32, 32-pixel images of 8-pixel patches: 16 patches + CLS), a
# 2-layer projector 32 -> 64 -> 64, a 2-layer Llama LM; image token id 250
LLAVA = {"model_type": "llava", "architectures": ["LlavaForConditionalGeneration"], "image_token_index": 250,
         "text_config": {**BASE, "model_type": "llama"},
         "vision_config": {"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                           "num_attention_heads": 2, "num_hidden_layers": 2, "image_size": 32,
                           "patch_size": 8, "projection_dim": 32},
         "vision_feature_layer": -2, "vision_feature_select_strategy": "default"}  # fmt: skip


def test_llava_prompt_holds_the_image_tokens_and_the_tower_cost(tmp_path, capsys):
    from metrics_core.runtime.llm_capture import image_tokens, in_vision

    path = tmp_path / "llava.json"
    path.write_text(json.dumps(LLAVA))
    # (32 / 8)^2 = 16 patches; the default strategy drops CLS
    assert image_tokens(LLAVA) == 16
    assert image_tokens({**LLAVA, "vision_feature_select_strategy": "full"}) == 17
    assert image_tokens(BASE) is None
    capture, est = run(f"hf:{path}")
    assert est.cache["image_tokens"] == 16
    # the projector on the 16 image tokens: linear_1 16 x 32 x 64 MACs, linear_2 16 x 64 x 64 MACs
    projector = [r for r in capture.prefill.records if "multi_modal_projector" in r.module and r.macs]
    assert [r.macs for r in projector] == [16 * 32 * 64, 16 * 64 * 64]
    # the patch embedding: 16 patches x (3 x 8 x 8) x 32 channels
    patch = [r for r in capture.prefill.records if r.module.endswith("patch_embedding")]
    assert [r.macs for r in patch] == [16 * 192 * 32]
    assert est.cache["vision_flops"] == sum(r.flops for r in capture.prefill.records if in_vision(r.module))
    # the LM's KV as a Llama's: 2 heads x 16 x (K + V) x 2 B x 2 layers, the image's tokens in the context
    assert est.kv_bytes_per_token == 256
    assert est.kv_cache_bytes == 40 * 256
    # a prompt with no room after the image: one line, before any build
    from tui import cli

    code = cli.main(["llm", f"hf:{path}", "--hardware", "h100-sxm5-80gb", "--prompt", "16"])
    assert code == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("the prompt holds one image of 16 tokens; give --prompt above 16")
    )


def _bundled_probe(model_id: str, **changes):
    """The per-layer cache facts of a bundled config at full width, its depth cut by ``changes``."""
    from metrics_core.capture.kv_cache import probe_decoder_cache
    from metrics_core.sources import hf_source
    from metrics_core.sources.build import build_model
    from metrics_core.sources.spec import ModelSpec

    entry = hf_source.bundled()[model_id]
    config = {**entry["config"], **changes}
    spec = ModelSpec(
        name=f"hf:{model_id}", family="hf", task="causal-lm", input_shape=(16,), input_kind="tokens",
        builder="metrics_core.sources.hf_build:build",
        builder_kwargs={"config": config, "model_class": "AutoModelForCausalLM"}, source="hf",
    )  # fmt: skip
    import torch

    model = build_model(spec, device="meta", attn_implementation="sdpa")
    return probe_decoder_cache(model, torch.float32).layers


def test_bundled_deepseek_v3_latent_and_full_kv_per_layer():
    layers = _bundled_probe("deepseek-ai/DeepSeek-V3", num_hidden_layers=1)
    # latent: kv_lora_rank 512 + qk_rope_head_dim 64 = 576; full: 128 heads x (128 + 64) K + 128 x 128 V
    assert [(c.kind, c.latent_elements, c.full_elements) for c in layers] == [("mla", 576, 40960)]
    # the whole model at 16 bits: 61 layers x 576 x 2 B = 70,272 B/token (latent), 61 x 40,960 x 2 B =
    # 4,997,120 B/token (full K/V)
    assert 61 * 576 * 2 == 70272 and 61 * 40960 * 2 == 4997120


def test_bundled_jamba_state_per_mamba_layer():
    layers = _bundled_probe("ai21labs/Jamba-v0.1", num_hidden_layers=8)
    # attention every 8th layer from offset 4; Mamba elsewhere: 8,192 channels (expand 2 x 4,096)
    assert [c.kind for c in layers] == ["ssm"] * 4 + ["attention"] + ["ssm"] * 3
    mamba, attention = layers[0], layers[4]
    # d_conv 4 (engines keep 3 inputs per channel, transformers 4), d_state 16
    assert (mamba.conv_elements, mamba.ssm_elements) == (8192 * 3, 8192 * 16)
    assert mamba.conv_elements_transformers == 8192 * 4
    assert attention.kv_elements == 2 * 8 * 128  # K + V, 8 KV heads x 128
    # the 32-layer model at 16 bits: 28 Mamba layers x (24,576 + 131,072) x 2 B = 8,716,288 B per
    # sequence (transformers' cache: 28 x (32,768 + 131,072) x 2 = 9,175,040 B); 4 attention layers x
    # 2,048 x 2 B = 16,384 B per token
    assert 28 * (8192 * 3 + 8192 * 16) * 2 == 8716288


def test_bundled_llama4_scout_chunked_and_global_layers():
    layers = _bundled_probe("meta-llama/Llama-4-Scout-17B-16E", num_hidden_layers=4)
    # every 4th layer NoPE with global attention; the others chunked (8,192 tokens); 8 KV heads x 128
    assert [(c.kind, c.window) for c in layers] == [("chunked", 8192)] * 3 + [("attention", None)]
    assert {c.kv_elements for c in layers} == {2 * 8 * 128}


def test_bundled_gemma3_and_gpt_oss_alternation():
    gemma = _bundled_probe("google/gemma-3-1b-pt", num_hidden_layers=6)
    # sliding_window_pattern 6: five 512-token local layers, then a global one; 1 KV head x 256
    assert [(c.kind, c.window) for c in gemma] == [("sliding", 512)] * 5 + [("attention", None)]
    assert {c.kv_elements for c in gemma} == {2 * 256}
    oss = _bundled_probe(
        "openai/gpt-oss-20b", num_hidden_layers=2, layer_types=["sliding_attention", "full_attention"]
    )
    # 128-token sliding then full; 8 KV heads x 64
    assert [(c.kind, c.window, c.kv_elements) for c in oss] == [
        ("sliding", 128, 1024),
        ("attention", None, 1024),
    ]


def test_bundled_mamba_state():
    layers = _bundled_probe("state-spaces/mamba-2.8b-hf", num_hidden_layers=1)
    # 5,120 channels, d_conv 4 (3 kept by engines), d_state 16
    assert [(c.kind, c.conv_elements, c.ssm_elements) for c in layers] == [("ssm", 5120 * 3, 5120 * 16)]
    # the 64-layer model at 16 bits: 64 x (5,120 x 16 + 5,120 x (4 - 1)) x 2 B = 12,451,840 B per sequence
    assert 64 * (layers[0].ssm_elements + layers[0].conv_elements) * 2 == 12_451_840


def test_mla_decode_op_computes_absorbed_attention_on_real_tensors():
    import torch

    from metrics_core.capture.mla import mla_decode_attention

    # 2 query rows, 3 cached tokens, rank 4, rope 2: softmax(s (q_lat kv^T + q_rot k_rot^T)) kv
    g = torch.Generator().manual_seed(0)
    q_lat, q_rot = torch.randn(1, 1, 2, 4, generator=g), torch.randn(1, 1, 2, 2, generator=g)
    kv, k_rot = torch.randn(1, 1, 3, 4, generator=g), torch.randn(1, 1, 3, 2, generator=g)
    full_q, full_k = torch.cat([q_lat, q_rot], -1), torch.cat([kv, k_rot], -1)
    expected = torch.softmax(0.5 * full_q @ full_k.transpose(-1, -2), -1) @ kv
    assert torch.allclose(mla_decode_attention(q_lat, q_rot, kv, k_rot, 0.5), expected)


def test_compare_builds_gemma2_and_mamba_without_eager(configs, capsys):
    from tui import cli

    code = cli.main(["compare", configs["gemma2"], configs["mamba"], "--format", "json"])
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert code == 0
    # Gemma-2: tied embedding 256 x 64; per layer q 64x64, k and v 64x32, o 64x64, MLP 3 x 64x128, four
    # RMSNorms of 64 -> 37,120; final norm 64
    assert rows[configs["gemma2"]]["params"] == 16384 + 2 * 37120 + 64 == 90688
    # Mamba: tied embedding; per layer in_proj 64 x 256, conv 128 x 4 + 128, x_proj 128 x (dt_rank 4 +
    # 2 x 8), dt_proj 4 x 128 + 128, A_log 128 x 8, D 128, out_proj 128 x 64, norm 64 -> 29,632
    assert rows[configs["mamba"]]["params"] == 16384 + 2 * 29632 + 64 == 75712


def test_mamba_scan_captured_whole_sequence_with_the_loops_flops(configs, monkeypatch):
    import contextlib

    from metrics_core.capture import ssm

    vectorized = capture_llm(configs["mamba"], 1, PROMPT, GENERATE, FP16).prefill.records
    monkeypatch.setattr(ssm, "vectorized_scans", lambda _model: contextlib.nullcontext())
    looped = capture_llm(configs["mamba"], 1, PROMPT, GENERATE, FP16).prefill.records
    # the same FLOPs and MACs as transformers' token loop: per layer and token, the recurrence's multiply
    # and add over 128 channels x 8 states and its 128 x 8 MACs with C
    assert sum(r.flops or 0 for r in vectorized) == sum(r.flops or 0 for r in looped)
    assert sum(r.macs for r in vectorized) == sum(r.macs for r in looped)
    assert [r.macs for r in vectorized if r.op == "bmm"] == [PROMPT * 128 * 8] * 2
    assert sum(r.macs for r in looped if r.op == "bmm") == 2 * PROMPT * 128 * 8
    # ... in whole-sequence ops: per layer the loop's 3 ops a token (multiply, add, matmul), its zero
    # state and its stack, against the vectorized multiply, add and matmul
    assert len(looped) - len(vectorized) == 2 * (3 * PROMPT + 2 - 3)
