"""Dynamic-resolution vision-language models (Qwen2-VL, Qwen2.5-VL; issue 21, item 1) in ``llm``: the
image's LM tokens for a stated resolution (transformers' Qwen2-VL processor: 28-pixel multiples within
[56 x 56, 28 x 28 x 1,280] pixels, 14-pixel patches, 2 x 2 merged), the vision tower's parameters and cost,
M-RoPE positions fed to the language model. Every expected value is derived here from the configs."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

from metrics_core.capture.vision_prompt import image_prompt, smart_resize  # noqa: E402
from metrics_core.common.dtypes import ElementBits  # noqa: E402
from metrics_core.perf.hardware import get_target  # noqa: E402
from metrics_core.perf.llm import Scenario, estimate_llm  # noqa: E402
from metrics_core.runtime.llm_capture import capture_llm, in_vision  # noqa: E402
from metrics_core.sources import hf_source  # noqa: E402

FP16 = ElementBits(16, 16, 16)
H100 = get_target("h100-sxm5-80gb")
QWEN2_VL = hf_source.bundled()["Qwen/Qwen2-VL-7B-Instruct"]["config"]
QWEN25_VL = hf_source.bundled()["Qwen/Qwen2.5-VL-7B-Instruct"]["config"]

#: A tiny flat Qwen2-VL config: a 2-layer LM (hidden 64, 4 heads, 2 KV heads of 16) and a 2-block tower
#: (embed 32, 2 heads, MLP ratio 2, 8-pixel patches, 2 x 2 merge, 2 temporal), 64 x 64 images.
TINY = {"model_type": "qwen2_vl", "architectures": ["Qwen2VLForConditionalGeneration"], "hidden_size": 64,
        "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2,
        "vocab_size": 256, "max_position_embeddings": 4096, "bos_token_id": 1, "eos_token_id": 2,
        "image_token_id": 250, "video_token_id": 251, "vision_start_token_id": 252,
        "vision_end_token_id": 253,
        "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
        "vision_config": {"depth": 2, "embed_dim": 32, "hidden_size": 64, "mlp_ratio": 2, "num_heads": 2,
                          "in_chans": 3, "patch_size": 8, "spatial_merge_size": 2, "temporal_patch_size": 2,
                          "image_size": 64}}  # fmt: skip


def _sized(config: dict, size) -> dict:
    return {**config, "vision_config": {**config["vision_config"], "image_size": size}}


def test_image_tokens_for_a_stated_resolution():
    # the stated default, 448 x 448: 448 / 28 = 16 merged tokens a side -> 256 (1,024 patches of 14 px)
    image = image_prompt(QWEN2_VL)
    assert (image.tokens, image.height, image.width, image.grid) == (256, 448, 448, (1, 32, 32))
    # a patch row: 3 channels x 2 temporal x 14 x 14 = 1,176 values; framing <|vision_start|> <|vision_end|>
    assert image.patch_values == 1176 and image.framing == (151652, 151653) and image.prompt_tokens == 258
    # 224 x 224: 8 x 8 = 64 tokens, 66 with the framing (Qwen2-VL paper, arXiv:2409.12191, sec. 2.1)
    assert image_prompt(_sized(QWEN2_VL, 224)).prompt_tokens == 66
    # 1000 x 700 rounds to 1008 x 700 (36 x 25 blocks of 28): 705,600 px within the bounds -> 900 tokens
    assert smart_resize(1000, 700, 28) == (1008, 700)
    assert image_prompt(_sized(QWEN2_VL, [1000, 700])).tokens == 900
    # 2000 x 2000 rounds to 2016^2 > 1,003,520 px: scaled by sqrt(4e6 / 1,003,520) = 1.9965 -> floor(35.78)
    # = 35 blocks a side = 980 px -> 1,225 tokens
    assert smart_resize(2000, 2000, 28) == (980, 980)
    assert image_prompt(_sized(QWEN2_VL, 2000)).tokens == 1225
    # 28 x 28 = 784 px < 56 x 56: scaled up by 2 -> 56 x 56 -> 2 x 2 = 4 tokens
    assert image_prompt(_sized(QWEN2_VL, 28)).tokens == 4
    # Qwen2.5-VL: the same processor arithmetic
    assert image_prompt(QWEN25_VL).tokens == 256
    # a stated size that is no size is refused, never replaced by the default
    with pytest.raises(ValueError, match="is not a size"):
        image_prompt(_sized(QWEN2_VL, -448))
    with pytest.raises(ValueError, match="aspect ratio above 200"):
        image_prompt(_sized(QWEN2_VL, [28, 6000]))


def _vision_params(model_id: str) -> tuple[int, int]:
    from metrics_core.sources.build import build_model
    from metrics_core.sources.resolve import get_spec

    model = build_model(get_spec(f"hf:{model_id}"), attn_implementation="sdpa")
    params = {id(p): (n, p) for n, p in model.named_parameters()}.values()
    return sum(p.numel() for _n, p in params), sum(p.numel() for n, p in params if in_vision(n))


def test_bundled_qwen2_vl_vision_tower_params_from_the_config():
    total, vision = _vision_params("Qwen/Qwen2-VL-7B-Instruct")
    # patch embedding Conv3d 3 -> 1280, kernel 2 x 14 x 14, no bias: 1,505,280; per block two LayerNorms
    # 2 x 2,560, qkv 1280 x 3840 + 3840, proj 1280^2 + 1280, MLP (ratio 4) 1280 x 5120 + 5120 and
    # 5120 x 1280 + 1280 = 19,677,440, x 32 blocks; merger: LayerNorm 2,560, 5120^2 + 5120, 5120 x 3584 + 3584
    attention = (1280 * 3840 + 3840) + (1280 * 1280 + 1280)
    block = 2 * 2560 + attention + (1280 * 5120 + 5120) + (5120 * 1280 + 1280)
    merger = 2560 + (5120 * 5120 + 5120) + (5120 * 3584 + 3584)
    assert vision == 1_505_280 + 32 * block + merger == 675_759_104
    assert total == 8_291_375_616  # the model page's 8.29B


def test_bundled_qwen25_vl_vision_tower_params_from_the_config():
    total, vision = _vision_params("Qwen/Qwen2.5-VL-7B-Instruct")
    # RMSNorms (weight only) 2 x 1,280; qkv and proj as Qwen2-VL; a gated SiLU MLP 1280 -> 3420 (gate, up
    # with biases) -> 1280 = 19,702,200 per block; merger with an RMSNorm of 1,280
    attention = (1280 * 3840 + 3840) + (1280 * 1280 + 1280)
    block = 2 * 1280 + attention + 2 * (1280 * 3420 + 3420) + (3420 * 1280 + 1280)
    merger = 1280 + (5120 * 5120 + 5120) + (5120 * 3584 + 3584)
    assert vision == 1_505_280 + 32 * block + merger == 676_550_144
    assert total == 8_292_166_656  # the model page's 8.29B


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("qwen_vl") / "qwen2_vl.json"
    path.write_text(json.dumps(TINY))
    return f"hf:{path}"


PROMPT, GENERATE = 40, 8


def test_qwen2_vl_prefill_counts_the_image_and_the_tower(tiny):
    capture = capture_llm(tiny, 2, PROMPT, GENERATE, FP16)
    est = estimate_llm(capture, H100, Scenario(2, PROMPT, GENERATE, kv_block_tokens=1))
    # 64 x 64 pixels: 8 x 8 patches of 8 px, merged 2 x 2 -> 16 LM tokens (+ 2 framing tokens)
    assert est.cache["image_tokens"] == 16 and est.cache["image_size"] == [64, 64]
    prefill = capture.prefill.records
    # the patch embedding: 2 images x 64 patches x (3 x 2 x 8 x 8 = 384 values) x 32 channels
    assert [r.macs for r in prefill if r.module.endswith("patch_embed.proj")] == [2 * 64 * 384 * 32]
    # each block attends within each image (64 patches, 2 heads of 16): QK^T and PV 64 x 64 x 16 MACs each
    tower = [r for r in prefill if r.op == "scaled_dot_product_attention" and in_vision(r.module)]
    assert [r.macs for r in tower] == [2 * 2 * 64 * 64 * 16] * 4  # 2 blocks x 2 images
    # the merger: 2 x 16 tokens of 4 x 32 = 128 values, 128 -> 128 -> 64
    merger = [r.macs for r in prefill if ".merger.mlp" in r.module and r.macs]
    assert merger == [32 * 128 * 128, 32 * 128 * 64]
    # the tower's parameters: patch 3 x 2 x 8 x 8 x 32 = 12,288; per block LayerNorms 2 x 64, qkv 32 x 96
    # + 96, proj 32 x 32 + 32, MLP 32 x 64 + 64 and 64 x 32 + 32 = 8,544; merger 64 + 128^2 + 128 + 128 x 64
    # + 64
    assert est.cache["vision_params"] == 12288 + 2 * 8544 + (64 + 16512 + 8256) == 54208
    assert est.cache["vision_flops"] == sum(r.flops for r in prefill if in_vision(r.module))
    # M-RoPE positions come in as position_ids (3, B, P), computed on the host: no position arithmetic
    # (get_rope_index's aranges) runs on the device
    assert not [r for r in prefill if r.module == "model" and r.op == "arange"]
    rotary = next(r for r in prefill if r.module.endswith("language_model.rotary_emb"))
    assert rotary.input_shapes == [[3, 2, PROMPT, 1]]  # position_ids[..., None], the three M-RoPE axes
    # the LM's KV as a Qwen2's: 2 layers x 2 KV heads x 16 x (K + V) x 2 B; 2 sequences at 48 tokens
    assert est.kv_bytes_per_token == 256
    assert est.kv_cache_bytes == 2 * 48 * 256
    assert "dynamic resolution" in est.cache["notes"][-1] and "M-RoPE" in est.cache["notes"][-1]


def test_qwen2_vl_prompt_without_room_is_one_line(tiny, capsys):
    from tui import cli

    code = cli.main(["llm", tiny, "--hardware", "h100-sxm5-80gb", "--prompt", "18"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.strip().endswith(
        "the prompt holds one image of 16 tokens and 2 framing tokens; give --prompt above 18"
    )


def test_the_towers_attention_stays_bidirectional_when_its_length_is_the_prompts(tiny):
    from metrics_core.perf.llm import causal_records

    # a 64-token prompt and 64 patches per image: only the language model's attention is causal
    capture = capture_llm(tiny, 1, 64, 4, FP16)
    records = capture.prefill.records
    scaled = causal_records(records, 64)
    sdpa = [(a, b) for a, b in zip(records, scaled, strict=True) if a.op == "scaled_dot_product_attention"]
    tower = [(a.macs, b.macs) for a, b in sdpa if in_vision(a.module)]
    lm = [(a.macs, b.macs) for a, b in sdpa if not in_vision(a.module)]
    # the tower: 64 x 64 pairs x 2 heads x (16 + 16), whole; the LM: 4 heads x 16 x 2 over 64 x 65 / 2 pairs
    assert tower == [(64 * 64 * 2 * 32, 64 * 64 * 2 * 32)] * 2
    assert lm == [(64 * 64 * 4 * 32, 64 * 65 // 2 * 4 * 32)] * 2
