"""The serving views' step model (``--users``, ``--chunk``, ``--draft``; ``perf.serving``,
``runtime.llm_steps``) across architecture families (issue 21): multi-head latent attention (the latent
cache), hybrid attention + Mamba and pure Mamba (a constant state per sequence, no KV growth in SSM
layers), chunked attention (Llama-4) and a vision-language model (LLaVA: its language model). The tiny
configs of ``test_llm_architectures`` (2 layers, hidden 64) built on meta; every expected value is derived
here by hand from the config's numbers."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

from metrics_core.perf.llm import Scenario, estimate_llm  # noqa: E402
from metrics_core.perf.serving import (  # noqa: E402
    Segment,
    StepModel,
    chunk_sum,
    concurrency,
    step_estimate,
)
from metrics_core.runtime.llm_capture import capture_llm  # noqa: E402
from metrics_core.runtime.llm_steps import capture_steps  # noqa: E402
from tests.test_llm_architectures import CONFIGS, FP16, H100, LLAVA  # noqa: E402

FIELDS = ("op", "macs", "flops", "input_bytes", "output_bytes", "weight_bytes")


@pytest.fixture(scope="module")
def names(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("serving-archs")
    out = {}
    for name, cfg in {**CONFIGS, "llava": LLAVA}.items():
        (folder / f"{name}.json").write_text(json.dumps(cfg))
        out[name] = f"hf:{folder / name}.json"
    return out


def steps_of(name: str) -> StepModel:
    return StepModel(capture_steps(name, FP16))


def same_as_captured(model: StepModel, name: str, batch: int = 2) -> None:
    """The step model's decode steps at contexts 32 and 40 are the captured decode steps, op for op."""
    cap = capture_llm(name, batch, 32, 8, FP16)
    for ph in (cap.decode_first, cap.decode_last):
        made = model.records([Segment(batch, 1, ph.context - 1)])
        assert [[getattr(r, f) for f in FIELDS] for r in made] == [
            [getattr(r, f) for f in FIELDS] for r in ph.records
        ]


def users_kv(model: StepModel, users: int = 2, block: int = 16) -> float:
    s = Scenario(batch_size=1, prompt_tokens=32, generate_tokens=8, kv_block_tokens=block)
    return concurrency(model, H100, s, users).kv_bytes_per_user


def test_mla_step_model_keeps_the_latent(names):
    model = steps_of(names["deepseek"])
    cap = model.capture
    # at batch 1 some reshapes of the absorbed MLA are views, copies at batch 2: fitted at batch 2 and 3
    assert cap.batches == (2, 3)
    assert cap.layer_kinds == ["mla", "mla"] and cap.kv_heads == 1
    # per MLA layer and token: kv_lora_rank 32 + qk_rope_head_dim 8 = 40 latent elements
    assert list(cap.layer_token_elements) == [40, 40]
    same_as_captured(model, names["deepseek"])
    # the fused core at context 40 (one sequence): 4 heads x 40 keys x (32 + 8 scores + 32 output) =
    # 11,520 MACs; FLOPs 2 x MACs + 6 per score (softmax 5, scale 1) x 4 heads x 40 = 24,000
    core = [r for r in model.records([Segment(1, 1, 39)]) if r.op == "mla_decode_attention"]
    assert [(r.macs, r.flops) for r in core] == [(11_520, 24_000)] * 2
    # KV per user at P + O = 40 tokens in 16-token blocks: 48 slots x 2 layers x 40 x 2 B = 7,680 B
    assert users_kv(model) == 48 * 2 * 40 * 2 == 7_680
    # the latent is replicated on every GPU: --tp 2 does not halve it
    s = Scenario(batch_size=1, prompt_tokens=32, generate_tokens=8, kv_block_tokens=16, tp=2)
    assert concurrency(model, H100, s, 2).kv_bytes_per_user == 7_680


def test_hybrid_step_model_holds_kv_in_attention_layers_and_a_constant_state(names):
    model = steps_of(names["jamba"])
    cap = model.capture
    assert cap.layer_kinds == ["ssm", "attention"]
    assert list(cap.attention_layers) == [1]  # the only attention op is layer 1's
    # attention layer: 2 KV heads x 16 x (K + V) = 64 elements per token; the Mamba layer none
    assert list(cap.layer_token_elements) == [0, 64]
    # Mamba layer state: conv 128 channels x (d_conv 4 - 1) = 384 + SSM 128 x d_state 8 = 1,024
    assert cap.state_elements == 1_408
    same_as_captured(model, names["jamba"])
    # per user at 40 tokens, 16-token blocks: 48 x 64 x 2 B = 6,144 B of KV + 1,408 x 2 B = 2,816 B state
    assert users_kv(model) == 6_144 + 2_816
    # the SSM layer's ops do not grow with the context: only the attention layer's change
    short, long = (model.records([Segment(1, 1, c - 1)]) for c in (100, 4_000))
    grew = {
        r.module
        for r, q in zip(short, long, strict=True)
        if (r.flops, r.input_bytes) != (q.flops, q.input_bytes)
    }
    assert grew and all(m.startswith("model.layers.1.") for m in grew)


def test_pure_mamba_step_model_has_state_only_and_any_tp(names):
    model = steps_of(names["mamba"])
    cap = model.capture
    assert cap.attention_heads is None and list(cap.layer_token_elements) == [0, 0]
    assert cap.state_elements == 2 * 1_408
    same_as_captured(model, names["mamba"])
    # no KV: the state alone, 2 layers x 1,408 x 2 B, whatever the context or the block
    assert users_kv(model) == users_kv(model, block=1) == 5_632
    # no attention heads to split: --tp 3 is priced, not refused
    s = Scenario(batch_size=1, prompt_tokens=32, generate_tokens=8, tp=3).validated(H100)
    est = step_estimate(model, H100, s, [Segment(1, 1, 31)])
    assert est.flops == sum((r.flops or 0) // 3 for r in model.records([Segment(1, 1, 31)]))


def test_chunk_sum_by_hand():
    # chunk 8: 32 tokens from the start are 4 full chunks of 8 x 9 / 2 = 36 pairs
    assert chunk_sum(0, 32, 8) == 144
    # queries 7..10 after 6 keys: 7 + 8 in the first chunk, then 1 + 2 in the next
    assert chunk_sum(6, 4, 8) == 18
    # a decode step at context 36 sees its chunk's (36 - 1) mod 8 + 1 = 4 keys
    assert chunk_sum(35, 1, 8) == 4


def test_llama4_step_model_counts_chunked_pairs(names):
    model = steps_of(names["llama4"])
    cap = model.capture
    assert cap.layer_kinds == ["chunked", "attention"] and list(cap.chunks) == [8, None]
    # fitted below the chunk (at a full chunk transformers builds its mask): contexts 3 and 7
    assert cap.contexts == (3, 7)
    sdpa = [r for r in model.records([Segment(1, 32, 0)]) if r.op == "scaled_dot_product_attention"]
    # a 32-token prefill, 4 heads x (16 + 16) = 128 MACs per pair: chunked layer 144 pairs (4 chunks of
    # 36), full layer 32 x 33 / 2 = 528
    assert [r.macs for r in sdpa] == [144 * 128, 528 * 128]
    # a decode at context 36: its chunk's 4 keys in layer 0, 36 in layer 1
    sdpa = [r for r in model.records([Segment(1, 1, 35)]) if r.op == "scaled_dot_product_attention"]
    assert [r.macs for r in sdpa] == [4 * 128, 36 * 128]
    # KV per user at 40 tokens in 16-token blocks: the chunked layer holds 8 tokens (one 16-slot block),
    # the full layer 48 slots; 2 KV heads x 16 x 2 x 2 B = 128 B per token
    assert users_kv(model) == (16 + 48) * 128


def test_vlm_step_model_is_its_language_models(names):
    model = steps_of(names["llava"])
    cap = model.capture
    # the Llama LM: 2 KV heads x 16 x (K + V) per token and layer
    assert list(cap.layer_token_elements) == [64, 64]
    assert any("vision tower" in n for n in cap.notes)
    same_as_captured(model, names["llava"])
    # its estimate from the steps has the captured one's KV (context 40: 40 x 2 layers x 128 B)
    s = Scenario(batch_size=1, prompt_tokens=32, generate_tokens=8, kv_block_tokens=1)
    captured = estimate_llm(capture_llm(names["llava"], 1, 32, 8, FP16), H100, s)
    from metrics_core.perf.serving import estimate_from_steps

    assert estimate_from_steps(model, H100, s).kv_cache_bytes == captured.kv_cache_bytes == 40 * 256


def test_cli_serving_views_of_a_hybrid_model(names, capsys, tmp_path, monkeypatch):
    from tui import cli

    monkeypatch.setenv("MODELTUI_CACHE_DIR", str(tmp_path / "cache"))
    args = ["llm", names["jamba"], "--hardware", "h100-sxm5-80gb", "--prompt", "32", "--generate", "8",
            "--users", "2", "--chunk", "16", "--draft", "ngram", "--format", "json"]  # fmt: skip
    assert cli.main(args) == 0
    out = json.loads(capsys.readouterr().out)[0]
    # vLLM's 16-token blocks at 40 tokens: 48 x 128 B of KV + the Mamba layer's 2,816 B state
    assert out["concurrency"][0]["kv_bytes_per_user"] == 48 * 128 + 2_816
    assert [c["tokens"] for c in out["chunked_prefill"]["chunks"]] == [16, 16]
    assert any("SSM layers" in n for n in out["step_model_notes"])
