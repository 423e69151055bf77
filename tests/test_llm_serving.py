"""Serving mechanics of ``modeltui llm`` (paged KV, chunked prefill, speculative decoding, continuous
batching, per-layer breakdown): every expected value derived here by hand from a tiny GPT-2 config
(2 layers, 4 heads of 16 dims, hidden 64, vocabulary 1,000)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

from metrics_core.common.dtypes import ElementBits  # noqa: E402
from metrics_core.common.errors import UsageError  # noqa: E402
from metrics_core.perf.hardware import get_target  # noqa: E402
from metrics_core.perf.llm import Scenario, estimate_llm, largest_batch  # noqa: E402
from metrics_core.perf.paged_kv import paged_tokens, paging_bytes  # noqa: E402
from metrics_core.runtime.llm_capture import capture_llm  # noqa: E402

FP16 = ElementBits(16, 16, 16)
A100 = get_target("a100-sxm4-80gb")
#: K and V of one token in one layer, fp16: 2 x hidden 64 x 2 bytes = 256 B; two layers: 512 B/token.
KV_LAYER_TOKEN = 2 * 64 * 2


def write_gpt2(path, **overrides) -> None:
    from transformers import GPT2Config

    fields = {"vocab_size": 1000, "n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 4096,
              "bos_token_id": 0, "eos_token_id": 0, **overrides}  # fmt: skip
    cfg = GPT2Config(**fields).to_dict()
    cfg["architectures"] = ["GPT2LMHeadModel"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg))


@pytest.fixture
def tiny(tmp_path, monkeypatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELTUI_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("MODELTUI_CACHE_DIR", str(tmp_path / "cache"))
    write_gpt2(tmp_path / "tiny" / "config.json")
    return "hf:tiny/config.json"


# ------------------------------------------------------------------------------------------- paged KV


def test_paged_tokens_and_sliding_layers():
    assert [paged_tokens(t, 16) for t in (1, 16, 17, 12)] == [16, 16, 32, 16]
    assert paged_tokens(12, 1) == 12
    # layer 0 full: 12 tokens in one 16-token block, 4 slots spare x 100 B; layer 1 window 4: 4 tokens in
    # one block, 12 spare x 100 B -> 400 + 1,200
    assert paging_bytes([100, 100], [None, 4], 12, 16) == 1600
    assert paging_bytes([100, 100], [None, 4], 12, 1) == 0


def test_paged_kv_in_what_fits_and_the_largest_batch(tiny):
    s = Scenario(batch_size=2, prompt_tokens=8, generate_tokens=4)  # vLLM: 16-token blocks
    cap = capture_llm(tiny, 2, 8, 4, s.validated(A100).bits)
    paged = estimate_llm(cap, A100, s)
    flat = estimate_llm(cap, A100, Scenario(batch_size=2, prompt_tokens=8, generate_tokens=4, kv_block_tokens=1))
    assert paged.kv_bytes_per_token == 2 * KV_LAYER_TOKEN == 512
    # context 8 + 4 = 12 tokens: one 16-token block per layer and sequence -> 2 x 16 x 512 B
    assert paged.kv_block_tokens == 16
    assert paged.kv_cache_bytes == 2 * 16 * 512 == 16_384
    assert paged.kv_paging_bytes == 2 * 4 * 512 == 4_096
    assert flat.kv_cache_bytes == 2 * 12 * 512 and flat.kv_paging_bytes == 0
    assert paged.resident_bytes - flat.resident_bytes == 4_096
    # the largest batch: the free memory over (16 x 512 B of blocks + the activations per sequence)
    free = A100.memory_gb * 1e9 - paged.weight_bytes
    assert paged.max_batch_size == largest_batch(free, 16 * 512, cap.activation_lines)
    assert flat.max_batch_size == largest_batch(free, 12 * 512, cap.activation_lines)
    assert paged.max_batch_size < flat.max_batch_size
    # 64-token blocks (TensorRT-LLM's default) hold 64 slots for the 12 tokens
    trt = estimate_llm(cap, A100, Scenario(batch_size=2, prompt_tokens=8, generate_tokens=4, kv_block_tokens=64))
    assert trt.kv_cache_bytes == 2 * 64 * 512
    assert trt.to_dict()["kv_block_tokens"] == 64 and trt.to_dict()["kv_paging_bytes"] == 2 * 52 * 512


def test_block_size_is_checked():
    with pytest.raises(UsageError, match="--block-size"):
        Scenario(kv_block_tokens=0).validated(A100)
