"""Serving mechanics of ``modeltui llm`` (paged KV, chunked prefill, speculative decoding, continuous
batching, per-layer breakdown): every expected value derived here by hand from a tiny GPT-2 config
(2 layers, 4 heads of 16 dims, hidden 64, vocabulary 1,000)."""

from __future__ import annotations

import csv
import io
import json
import math

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
    from metrics_core.runtime.llm_cache import clear_memory

    clear_memory()  # captures kept by an earlier test's process-wide memo
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
    flat = estimate_llm(
        cap, A100, Scenario(batch_size=2, prompt_tokens=8, generate_tokens=4, kv_block_tokens=1)
    )
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
    trt = estimate_llm(
        cap, A100, Scenario(batch_size=2, prompt_tokens=8, generate_tokens=4, kv_block_tokens=64)
    )
    assert trt.kv_cache_bytes == 2 * 64 * 512
    assert trt.to_dict()["kv_block_tokens"] == 64 and trt.to_dict()["kv_paging_bytes"] == 2 * 52 * 512


def test_block_size_is_checked():
    with pytest.raises(UsageError, match="--block-size"):
        Scenario(kv_block_tokens=0).validated(A100)


# --------------------------------------------------------------------------------- the step model
#: Per decode token: c_attn 2 x 64 x 192 = 24,576 FLOPs (bias fused), the logits 2 x 64 x 1,000 = 128,000;
#: attention per (query, key) pair and layer: 4 heads x (2 x (16 + 16) MACs + 6 softmax/scale FLOPs) = 280.
C_ATTN, LOGITS, PAIR = 2 * 64 * 192, 2 * 64 * 1000, 4 * (2 * 32 + 6)


@pytest.fixture
def steps(tiny):
    from metrics_core.perf.serving import StepModel
    from metrics_core.runtime.llm_steps import capture_steps

    return StepModel(capture_steps(tiny, FP16))


def _flops(records, module, op=None):
    return [r.flops for r in records if r.module == module and (op is None or r.op == op)]


def test_step_model_reproduces_a_captured_decode_step(tiny, steps):
    from metrics_core.perf.serving import Segment, step_estimate

    s = Scenario(batch_size=3, prompt_tokens=40, generate_tokens=4)
    cap = capture_llm(tiny, 3, 40, 4, FP16)
    for ph in (cap.decode_first, cap.decode_last):  # contexts 40 and 44, fitted from 16 and 32
        made = steps.records([Segment(3, 1, ph.context - 1)])
        fields = ("op", "macs", "flops", "input_bytes", "output_bytes", "weight_bytes", "output_shape")
        assert [[getattr(r, f) for f in fields] for r in made] == [
            [getattr(r, f) for f in fields] for r in ph.records
        ]
    # by hand: 3 sequences x 40 keys x 280 FLOPs per pair in each layer's attention
    assert _flops(
        steps.records([Segment(3, 1, 39)]), "transformer.h.0.attn", "scaled_dot_product_attention"
    ) == [3 * 40 * PAIR]
    est = estimate_llm(cap, A100, s)
    assert step_estimate(steps, A100, s, [Segment(3, 1, 39)]).time_s == pytest.approx(est.decode_first.time_s)


def test_chunked_prefill_attends_every_earlier_token(steps):
    from metrics_core.perf.serving import Segment, chunked_prefill, request_overhead_s

    # P = 40 in chunks of 16: (16 after 0), (16 after 16), (8 after 32); chunk c attends to every earlier
    # token: T o + T (T + 1) / 2 pairs = 136, 16 x 16 + 136 = 392, 8 x 32 + 36 = 292; sum 820 = 40 x 41 / 2
    s = Scenario(batch_size=3, prompt_tokens=40, generate_tokens=4)
    cp = chunked_prefill(steps, A100, s, chunk=16)
    assert [(c.tokens, c.offset, c.pairs) for c in cp.chunks] == [(16, 0, 136), (16, 16, 392), (8, 32, 292)]
    assert cp.to_dict()["attention_pairs"] == 820 == 40 * 41 // 2
    # each chunk step also decodes the 2 running sequences at context 40 + 4 / 2 = 42 (41 keys before it)
    assert (cp.running, cp.running_context) == (2, 42)
    second = steps.records([Segment(1, 16, 16, 0), Segment(2, 1, 41)])
    assert _flops(second, "transformer.h.1.attn", "scaled_dot_product_attention") == [(392 + 2 * 42) * PAIR]
    assert _flops(second, "transformer.h.0.attn.c_attn") == [(16 + 2) * C_ATTN]
    # logits: only the running decodes' (the prompt's only on its last chunk)
    assert _flops(second, "lm_head") == [2 * LOGITS]
    last = steps.records([Segment(1, 8, 32, 1), Segment(2, 1, 41)])
    assert _flops(last, "lm_head") == [3 * LOGITS]
    # TTFT = the three chunk steps + vLLM's per-request overhead (3 ms)
    assert request_overhead_s(s) == pytest.approx(3e-3)
    assert cp.ttft_s == pytest.approx(sum(c.step.time_s for c in cp.chunks) + 3e-3)
    assert cp.running_tpot_s == pytest.approx(sum(c.step.time_s for c in cp.chunks) / 3)
    # one chunk of the whole prompt: one step
    assert [(c.tokens, c.pairs) for c in chunked_prefill(steps, A100, s, chunk=0).chunks] == [(40, 820)]


def test_chunk_pairs_apply_the_sliding_window_mistral():
    from metrics_core.perf.serving import mean_layer_pairs, pairs_by_window

    # Mistral-7B: 32 layers, window 4,096; P = 8,192 in chunks of 2,048. Query j (1-based position) sees
    # min(j, 4096) keys: chunk 1: 2048 x 2049 / 2 = 2,098,176; chunk 2 (after 2,048): positions
    # 2049..4096, (2049 + 4096) x 2048 / 2 = 6,292,480; chunks 3 and 4 (after 4,096 and 6,144): 2,048 x
    # 4,096 = 8,388,608 each (full attention would give 10,486,784 and 14,681,088)
    windows = [4096] * 32
    chunks = [pairs_by_window(windows, o, 2048) for o in (0, 2048, 4096, 6144)]
    assert chunks == [((4096, 32, 2_098_176),), ((4096, 32, 6_292_480),), ((4096, 32, 8_388_608),),
                      ((4096, 32, 8_388_608),)]  # fmt: skip
    assert sum(mean_layer_pairs(c) for c in chunks) == 25_167_872
    assert pairs_by_window([None] * 32, 6144, 2048) == ((None, 32, 14_681_088),)


def test_chunked_prefill_pairs_per_layer_window(steps):
    """Alternating windows (Gemma-2 style): the tiny GPT-2's layer 0 given a window of 8, layer 1 full."""
    from dataclasses import replace

    from metrics_core.perf.serving import Segment, StepModel, chunked_prefill

    windowed = object.__new__(StepModel)
    windowed.capture, windowed.fits = replace(steps.capture, windows=[8, None]), steps.fits
    s = Scenario(batch_size=1, prompt_tokens=40, generate_tokens=4)
    cp = chunked_prefill(windowed, A100, s, chunk=16)
    # window 8, query j sees min(j, 8) keys: chunk 1 (j = 1..16): 36 + 8 x 8 = 100; chunk 2 (17..32):
    # 16 x 8 = 128; chunk 3 (33..40): 8 x 8 = 64. Full layer: 136, 392, 292 (previous test)
    assert [c.by_window for c in cp.chunks] == [((8, 1, 100), (None, 1, 136)), ((8, 1, 128), (None, 1, 392)),
                                                ((8, 1, 64), (None, 1, 292))]  # fmt: skip
    # per attention layer, the mean over the 2 layers: (100 + 136) / 2 = 118, (128 + 392) / 2 = 260,
    # (64 + 292) / 2 = 178; 556 in all
    assert [c.pairs for c in cp.chunks] == [118, 260, 178]
    d = cp.to_dict()
    assert d["attention_pairs"] == 556
    assert d["chunks"][0]["attention_pairs_by_window"] == [
        {"window": 8, "layers": 1, "pairs": 100}, {"window": None, "layers": 1, "pairs": 136}]  # fmt: skip
    assert "sliding window applied" in d["assumptions"]
    # and the step priced the windowed layer's 100 pairs, the full one's 136
    first = windowed.records([Segment(1, 16, 0, 0)])
    assert _flops(first, "transformer.h.0.attn", "scaled_dot_product_attention") == [100 * PAIR]
    assert _flops(first, "transformer.h.1.attn", "scaled_dot_product_attention") == [136 * PAIR]


def test_speculative_decoding_tokens_per_step_and_tpot(tiny, steps, tmp_path):
    from metrics_core.perf.serving import Segment, StepModel, step_estimate
    from metrics_core.perf.speculative import expected_tokens, speculative
    from metrics_core.runtime.llm_steps import capture_steps

    # Leviathan et al. 2023: (1 - a^(k+1)) / (1 - a); k = 4, a = 0.8: (1 - 0.32768) / 0.2 = 3.3616
    assert expected_tokens(4, 0.8) == pytest.approx(3.3616)
    assert expected_tokens(3, 1.0) == 4.0 and expected_tokens(5, 0.0) == 1.0
    s = Scenario(batch_size=3, prompt_tokens=40, generate_tokens=4)
    spec = speculative(steps, steps, A100, s, 4, 0.8)
    # the verification: 3 sequences x 5 tokens through every layer and the logits
    verify = steps.records([Segment(3, 5, 41, 5)])
    assert _flops(verify, "transformer.h.0.attn.c_attn") == [15 * C_ATTN]
    assert _flops(verify, "lm_head") == [15 * LOGITS]
    t_d = step_estimate(steps, A100, s, [Segment(3, 1, 41)]).time_s
    t_v = step_estimate(steps, A100, s, [Segment(3, 5, 41, 5)]).time_s
    assert spec.tpot_s == pytest.approx((4 * t_d + t_v) / 3.3616)
    assert spec.tokens_per_s == pytest.approx(3 * 3.3616 / (4 * t_d + t_v))
    ngram = speculative(steps, None, A100, s, 4, 0.8)  # host lookup: no draft GPU time
    assert ngram.tpot_s == pytest.approx(t_v / 3.3616) and ngram.to_dict()["draft"] == "ngram"
    write_gpt2(tmp_path / "other" / "config.json", vocab_size=2000)
    other = StepModel(capture_steps("hf:other/config.json", FP16))
    with pytest.raises(UsageError) as err:
        speculative(steps, other, A100, s, 4, 0.8)
    assert str(err.value) == (
        "--draft hf:other/config.json has a vocabulary of 2,000 tokens, hf:tiny/config.json has 1,000: a "
        "draft model must share the target's tokenizer"
    )
    with pytest.raises(UsageError, match="--acceptance"):
        expected_tokens(4, 1.5)


def test_draft_model_memory_counts_in_fits_and_max_batch(tiny, tmp_path, capsys):
    from metrics_core.perf.serving import StepModel
    from metrics_core.perf.speculative import draft_memory, with_draft
    from metrics_core.runtime.llm_steps import capture_steps
    from tui import cli

    h100 = get_target("h100-sxm5-80gb")
    s = Scenario(batch_size=2, prompt_tokens=8, generate_tokens=4, weights="fp8", activations="fp8")
    bits = s.validated(h100).bits
    assert bits == ElementBits(8, 8, 16)  # KV stays fp16
    write_gpt2(tmp_path / "draft" / "config.json", n_layer=1)
    mem = draft_memory(StepModel(capture_steps("hf:draft/config.json", bits)), h100, s)
    # the 1-layer draft: wte 1,000 x 64 + wpe 4,096 x 64 + ln_f 128 + one block (ln_1 128, c_attn
    # 64 x 192 + 192, c_proj 64 x 64 + 64, ln_2 128, c_fc 64 x 256 + 256, c_proj 256 x 64 + 64 = 49,984)
    # = 64,000 + 262,144 + 128 + 49,984 = 376,256 parameters, 1 B each at fp8, but the output head (wte,
    # tied: 1,000 x 64) stays at 2 B under vLLM (Stack.quantized_head false): + 64,000 B, and so does the
    # learned-position table (wpe, an nn.Embedding: Stack.quantized_embedding false): + 262,144 B
    assert (mem.params, mem.weight_bytes) == (376_256, 376_256 + 64_000 + 262_144)
    assert (mem.weights, mem.kv, mem.tp) == ("fp8", "fp16", 1)
    # K and V of 64 values at the fp16 KV format: 256 B per token (not the fp8 activations' 128 B); at
    # P + N = 12 tokens in one 16-token vLLM block: 4,096 B per sequence, 8,192 B for the batch of 2
    assert mem.kv_bytes_per_token == 256
    assert (mem.kv_per_sequence_bytes, mem.kv_cache_bytes) == (4096, 8192)
    est = estimate_llm(capture_llm(tiny, 2, 8, 4, bits), h100, s)
    assert est.kv_per_sequence_bytes == 2 * 16 * 256  # the 2-layer target: 8,192 B per sequence
    both = with_draft(est, mem)
    assert both.resident_bytes == est.resident_bytes + 702_400 + 8192
    free = 80e9 - est.weight_bytes - 702_400
    assert both.max_batch_size == largest_batch(free, 8192 + 4096, est.batch_lines)
    assert both.max_batch_size < est.max_batch_size
    d = both.to_dict()
    assert d["draft"]["weight_bytes"] == 702_400 and d["draft"]["kv_precision"] == "fp16"
    assert d["resident_bytes"] == est.resident_bytes + 710_592
    # the CLI: the memory line, the JSON and the speculative view name the draft's formats and TP
    args = ["llm", "hf:tiny/config.json", "--hardware", "h100-sxm5-80gb", "--weights", "fp8",
            "--activations", "fp8", "--prompt", "8", "--generate", "4", "--batch-size", "2",
            "--draft", "hf:draft/config.json"]  # fmt: skip
    assert cli.main([*args, "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["draft"]["weight_bytes"] == 702_400 and row["draft"]["kv_cache_bytes"] == 8192
    assert row["speculative"]["draft_weights_precision"] == "fp8" and row["speculative"]["draft_tp"] == 1
    assert cli.main(args) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "+ draft hf:draft/config.json (weights fp8, KV fp16, TP 1): weights 702.40 KB + KV cache 8.19 KB"
        in out
    )


def test_when_no_user_fits_the_users_view_gives_no_speeds(steps):
    from dataclasses import replace

    from metrics_core.perf.serving import concurrency
    from metrics_core.perf.serving_report import concurrency_text

    s = Scenario(prompt_tokens=40, generate_tokens=4)
    c = concurrency(steps, A100, s, 4, chunk=16)
    assert c.max_users_fit > 0 and c.to_dict()["tpot_s"] == c.tpot_s
    # not even one user's KV cache beside the weights: nothing runs, so no speeds in JSON or the table
    none = replace(c, fits=False, max_users_fit=0, running=4, max_running=0)
    d = none.to_dict()
    assert [d[k] for k in ("ttft_s", "tpot_s", "tokens_per_s", "requests_per_s", "step_bound")] == [None] * 5
    assert (d["fits"], d["max_users_fit"]) == (False, 0)
    text = concurrency_text([none])
    assert "nothing can run, no speeds" in text
    row = text.splitlines()[-1].split()
    assert row == ["4", "-", "-", "-", "-", "-", "-", "NO"]


def test_concurrency_steady_state_and_largest_users(steps):
    from metrics_core.perf.serving import Segment, concurrency, max_users, step_estimate

    s = Scenario(prompt_tokens=40, generate_tokens=4)
    c = concurrency(steps, A100, s, 32, chunk=16)
    # a request: 3 prefill steps (chunks of 16) + 4 decode steps; of 32 users 32 x 3/7 prefill, 32 x 4/7
    # decode; a user's steps carry the 31 others: 31/7 in each chunk position, 31 x 4/7 decoding at 42
    assert (c.prefill_steps, c.prefilling_users, c.decoding_users) == (
        3,
        pytest.approx(96 / 7),
        pytest.approx(128 / 7),
    )
    others = [Segment(31 / 7, 16, 0, 0), Segment(31 / 7, 16, 16, 0), Segment(31 / 7, 8, 32, 1),
              Segment(31 * 4 / 7, 1, 41)]  # fmt: skip
    own = [Segment(1 / 3, 16, 0, 0), Segment(1 / 3, 16, 16, 0), Segment(1 / 3, 8, 32, 1)]
    t_d = step_estimate(steps, A100, s, [*others, Segment(1, 1, 41)]).time_s
    t_p = step_estimate(steps, A100, s, [*others, *own]).time_s
    service = 3 * t_p + 4 * t_d
    assert c.tpot_s == pytest.approx(t_d)
    assert c.ttft_s == pytest.approx(3 * t_p + 3e-3)
    assert c.tokens_per_s == pytest.approx(32 * 4 / service)
    # Little's law: N = lambda x (TTFT without the request overhead + O x TPOT)
    assert c.requests_per_s * (c.ttft_s - 3e-3 + 4 * c.tpot_s) == pytest.approx(32)
    # KV per user at 44 tokens: three 16-token blocks x 512 B; users that fit beside the weights
    assert c.kv_bytes_per_user == 48 * 512
    weights = steps.capture.weight_bytes
    assert c.max_users_fit == int((80e9 - weights) // (48 * 512))
    d = c.to_dict()
    assert "Little's law" in d["assumptions"] and d["estimate"] is True
    # vLLM runs at most 256 sequences (max_num_seqs): 512 users -> 256 running, the others queue; Little's
    # law: each request spends 512 / 256 services in the system, one of them served: it waits one
    q = concurrency(steps, A100, s, 512, chunk=16)
    full = concurrency(steps, A100, s, 256, chunk=16)
    assert (q.running, q.max_running) == (256, 256)
    service = 256 / full.requests_per_s  # one request's prefill and decode steps
    assert q.tpot_s == pytest.approx(full.tpot_s) and q.queue_wait_s == pytest.approx(service)
    assert q.ttft_s == pytest.approx(service + full.ttft_s)
    assert q.requests_per_s * (q.queue_wait_s + service) == pytest.approx(512)
    # the largest N meeting a TPOT target: N meets it, N + 1 does not
    target = concurrency(steps, A100, s, 100, chunk=16).tpot_s
    best = max_users(steps, A100, s, max_tpot_s=target, chunk=16)
    assert best.limited_by == "tpot" and 100 <= best.users < 256
    assert concurrency(steps, A100, s, best.users, chunk=16).tpot_s <= target
    assert concurrency(steps, A100, s, best.users + 1, chunk=16).tpot_s > target
    # a target every running batch meets: limited by the stack's largest batch
    assert max_users(steps, A100, s, max_tpot_s=1.0, chunk=16).limited_by == "max_batch"


# ------------------------------------------------------------------------------ per-layer breakdown


def test_layer_breakdown_of_a_decode_step(tiny):
    from metrics_core.perf.llm_layers import by_part, layer_of, part_of

    modules = ("transformer.wte", "transformer.h.0.attn.c_attn", "model.layers.3.mlp.up_proj",
               "transformer.h.1.ln_2", "lm_head", "model.rotary_emb", "transformer.h.0")  # fmt: skip
    parts = ["embedding", "attention", "mlp", "norm", "logits", "attention", "other"]
    assert [part_of(m) for m in modules] == parts
    assert layer_of("model.layers.12.self_attn.q_proj") == 12 and layer_of("lm_head") is None
    # ideal efficiency, eager: each op max(FLOPs / peak, bytes / bandwidth) + the target's launch overhead
    s = Scenario(batch_size=2, prompt_tokens=8, generate_tokens=4, execution="eager", efficiency="ideal")
    cap = capture_llm(tiny, 2, 8, 4, FP16)
    est = estimate_llm(cap, A100, s)
    rows = est.decode.layers()
    mlp0 = next(r for r in rows if (r.layer, r.part) == (0, "mlp"))
    # layer 0's MLP for 2 tokens: c_fc 2 x 2 x 64 x 256 + c_proj the same + GELU 8 elementwise ops x 512
    assert mlp0.ops == 10 and mlp0.flops == 65_536 + 65_536 + 8 * 512
    # bytes: c_fc 256 + 1,024 + 33,280 (weights and bias), c_proj 1,024 + 256 + 32,896, GELU 6 x 2,048 +
    # 2 x 3,072
    assert mlp0.bytes == 34_560 + 34_176 + 6 * 2048 + 2 * 3072 == 87_168
    assert mlp0.memory_s == pytest.approx(87_168 / A100.bandwidth)  # every MLP op memory-bound (AI < 2)
    assert mlp0.compute_s == pytest.approx(mlp0.flops / A100.peak_flops("fp16"))
    assert mlp0.overhead_s == pytest.approx(10 * A100.launch_overhead_s)
    # the parts add up to the step
    assert sum(r.time_s for r in rows) == pytest.approx(est.decode.time_s)
    assert sum(r.time_s for r in by_part(rows)) == pytest.approx(est.decode.time_s)
    logits = next(r for r in rows if r.part == "logits")
    assert logits.flops == 2 * LOGITS  # two tokens' logits


# ------------------------------------------------------------------------------------------- the CLI


def test_cli_serving_views_json_and_table(tiny, capsys, tmp_path):
    from tui import cli

    argv = ["llm", tiny, "--hardware", "a100-sxm4-80gb", "--prompt", "40", "--generate", "4"]
    assert cli.main([*argv, "--users", "8,512", "--max-tpot", "50ms", "--chunk", "16", "--draft", "ngram",
                     "--layers", "--format", "json"]) == 0  # fmt: skip
    (row,) = json.loads(capsys.readouterr().out)
    assert [c["users"] for c in row["concurrency"]] == [8, 512]
    assert [c["running_users"] for c in row["concurrency"]] == [8, 256]
    assert "Little's law" in row["concurrency"][0]["assumptions"]
    # the users table is plain decoding: with a draft it says so (the draft is priced in its own view)
    assert row["concurrency_note"] == "plain decoding, without the draft model"
    assert row["max_users"]["max_users"] == 256 and row["max_users"]["limited_by"] == "max_batch"
    assert [c["attention_pairs"] for c in row["chunked_prefill"]["chunks"]] == [136, 392, 292]
    assert row["speculative"]["expected_tokens_per_step"] == pytest.approx((1 - 0.7**5) / 0.3)
    assert [(x["layer"], x["part"]) for x in row["layers"]["decode"]][:3] == [
        (None, "embedding"), (0, "attention"), (0, "mlp")]  # fmt: skip
    assert cli.main([*argv, "--users", "8", "--layers"]) == 0
    out = capsys.readouterr().out
    assert "concurrency under continuous batching (est.)" in out and "model: continuous batching" in out
    assert "decode @ 40 per layer" in out
    write_gpt2(tmp_path / "big" / "config.json", vocab_size=2000)
    assert cli.main([*argv, "--draft", "hf:big/config.json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "modeltui: error: --draft hf:big/config.json has a vocabulary of 2,000 tokens, hf:tiny/config.json "
        "has 1,000: a draft model must share the target's tokenizer"
    ]
    assert cli.main([*argv, "--max-tpot", "fast"]) == 2
    assert "--max-tpot 'fast'" in capsys.readouterr().err
    assert cli.main(["llm", "hf:google-t5/t5-base", "--hardware", "l4", "--users", "4"]) == 2
    assert capsys.readouterr().err.startswith("modeltui: error: hf:google-t5/t5-base is an encoder-decoder:")


# ------------------------------------------------------------------------------------ capture cache


def test_llm_captures_are_cached_and_a_corrupt_entry_is_rebuilt(tiny, capsys, monkeypatch):
    from metrics_core.runtime import llm_cache, pool
    from tui import cli

    argv = [
        "llm",
        tiny,
        "--hardware",
        "a100-sxm4-80gb",
        "--prompt",
        "40",
        "--generate",
        "4",
        "--format",
        "json",
    ]
    assert cli.main([*argv, "--users", "8"]) == 0
    cold = json.loads(capsys.readouterr().out)
    entries = sorted(p.name.split("-")[-2] for p in llm_cache.llm_dir().glob("*.pkl"))
    # the phase capture, its prefill part and its two decode steps (contexts 40 and 44), the step model
    assert entries == ["decode", "decode", "phases", "prefill", "steps"]
    llm_cache.clear_memory()

    def no_capture(*args, **kwargs):
        raise AssertionError("a warm llm ran a capture")

    with monkeypatch.context() as m:
        m.setattr(pool, "run_call", no_capture)
        # the same command, and other hardware / stack / users: no capture, the same numbers for the same
        assert cli.main([*argv, "--users", "8"]) == 0
        assert json.loads(capsys.readouterr().out) == cold
        assert cli.main([*argv[:3], "h100-sxm5-80gb", *argv[4:], "--stack", "sglang", "--users", "64"]) == 0
        capsys.readouterr()
    # a corrupt entry is ignored (one warning) and rebuilt
    llm_cache.clear_memory()
    for p in llm_cache.llm_dir().glob("*phases*.pkl"):
        p.write_bytes(b"not a pickle")
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)[0]["ttft_s"] == cold[0]["ttft_s"]
    assert "corrupt LLM capture cache entry" in captured.err
    assert llm_cache.clear()[0] == 5


def test_another_generation_reuses_the_cached_prefill_and_decode_steps(tiny, monkeypatch):
    """A decoder's capture at another generation length or context (the app's ``generate`` change) is
    assembled from the cached prefill part and decode steps, capturing only the decode steps not seen
    yet, and equals the capture made from scratch."""
    from metrics_core.runtime import llm_cache, pool

    calls = []
    real = pool.run_call

    def spy(func, *args, **kwargs):
        calls.append((func.__name__, args[-1] if func.__name__ == "capture_llm_decodes" else None))
        return real(func, *args, **kwargs)

    monkeypatch.setattr(pool, "run_call", spy)
    first = llm_cache.phase_capture(tiny, 2, 40, 4, FP16)  # prefill, decode steps at contexts 40 and 44
    assert calls == [("capture_llm", None)]
    assert first == capture_llm(tiny, 2, 40, 4, FP16)
    # 8 tokens, the step at context 42 reported: only contexts 48 and 42 are captured
    longer = llm_cache.phase_capture(tiny, 2, 40, 8, FP16, "sdpa", (42,))
    assert calls[1:] == [("capture_llm_decodes", (48, 42))]
    assert longer == capture_llm(tiny, 2, 40, 8, FP16, "sdpa", (42,))
    # back to 4 tokens with the step at 42 reported: every part cached, nothing captured
    again = llm_cache.phase_capture(tiny, 2, 40, 4, FP16, "sdpa", (42,))
    assert len(calls) == 2
    assert again == capture_llm(tiny, 2, 40, 4, FP16, "sdpa", (42,))
    assert (
        estimate_llm(again, A100, Scenario(2, 40, 4, context_tokens=42)).to_dict()
        == estimate_llm(
            capture_llm(tiny, 2, 40, 4, FP16, "sdpa", (42,)), A100, Scenario(2, 40, 4, context_tokens=42)
        ).to_dict()
    )


def test_estimate_from_the_step_model_matches_the_captured_phases(tiny, steps):
    from metrics_core.perf.serving import estimate_from_steps

    s = Scenario(batch_size=3, prompt_tokens=40, generate_tokens=8)
    captured = estimate_llm(capture_llm(tiny, 3, 40, 8, FP16), A100, s)
    fast = estimate_from_steps(steps, A100, s, base=captured)
    assert fast.derived_from == "step model" and captured.to_dict()["derived_from"] == "capture"
    # decode steps are the captured ones (the same records: see the step-model test)
    assert fast.decode_first.time_s == pytest.approx(captured.decode_first.time_s)
    assert fast.decode_last.time_s == pytest.approx(captured.decode_last.time_s)
    assert fast.tpot_s == pytest.approx(captured.tpot_s)
    # KV: 48 tokens in three 16-token blocks x 512 B per sequence; activations scaled from the base
    assert fast.kv_cache_bytes == captured.kv_cache_bytes == 3 * 48 * 512
    assert fast.activation_bytes == captured.activation_bytes
    # prefill: one step of 3 x 40 tokens; its GEMMs are the captured prefill's (c_attn 120 x 24,576)
    assert (
        _flops([o for o in fast.prefill.ops], "transformer.h.0.attn.c_attn")
        == _flops(captured.prefill.ops, "transformer.h.0.attn.c_attn")
        == [120 * C_ATTN]
    )
    # ... and its attention the causal pairs: 3 x 40 x 41 / 2 x 280 per layer
    assert _flops(fast.prefill.ops, "transformer.h.0.attn", "scaled_dot_product_attention") == [
        3 * 820 * PAIR
    ]


def test_a_step_model_repriced_at_other_bits_matches_its_capture(tiny, steps):
    from metrics_core.perf.serving import Segment, StepModel
    from metrics_core.runtime.llm_steps import capture_steps

    fields = ("input_bytes", "output_bytes", "weight_bytes")
    segments = [Segment(1, 16, 16, 0), Segment(2, 1, 41)]  # a prefill chunk beside two decodes
    for bits in (ElementBits(16, 8, 8), ElementBits(16, 4, 16), ElementBits(8, 8, 8)):
        captured = StepModel(capture_steps(tiny, bits)).records(segments)
        repriced = steps.repriced(bits).records(segments)
        diff = [(a.op, f, getattr(b, f) - getattr(a, f)) for a, b in zip(repriced, captured, strict=True)
                for f in fields if getattr(a, f) != getattr(b, f)]  # fmt: skip
        # 8-bit activations: each index_copy_ reads an int64 position (8 bytes, kept) and the new K or V
        # of 3 tokens x 64 (halved): the repriced one halves the position too, 4 bytes short
        expected = [("index_copy_", "input_bytes", 4)] * 4 if bits.activations == 8 else []
        assert diff == expected
        again = steps.repriced(bits).capture
        assert again.weight_bytes == steps.capture.params * bits.weights // 8
        # the tables, held apart at 16 bits under quantised weights: wpe 4,096 x 64 (wte is the tied head)
        assert (again.embedding_bytes, again.tied_embedding_bytes) == (
            262_144 * bits.weights // 8,
            64_000 * bits.weights // 8,
        )


def test_a_cache_entry_holding_another_kind_of_capture_is_rebuilt(tiny, capsys):
    """An entry whose key matches but whose capture is not of its kind (a decode step where a phase
    capture belongs) is treated as corrupt: ignored with one warning line, removed, captured again."""
    import pickle

    from metrics_core.runtime import llm_cache

    key = llm_cache.capture_key(tiny, "phases", batch=1, prompt=8, generate=2, bits=FP16, attention="sdpa")
    right = llm_cache.cached(key, lambda: capture_llm(tiny, 1, 8, 2, FP16))
    path = llm_cache.entry_path(key)
    path.write_bytes(pickle.dumps((key, right.decode_first)))  # a PhaseCapture under a "phases" key
    llm_cache.clear_memory()
    assert llm_cache.lookup(key) is None
    assert "corrupt LLM capture cache entry" in capsys.readouterr().err
    assert not path.exists()
    assert llm_cache.cached(key, lambda: capture_llm(tiny, 1, 8, 2, FP16)) == right


def test_cli_draft_options_without_a_draft_and_csv_of_serving_views(tiny, capsys):
    from tui import cli

    argv = ["llm", tiny, "--hardware", "a100-sxm4-80gb", "--prompt", "40", "--generate", "4"]
    # --draft-tokens / --acceptance tune speculative decoding: without --draft they would change nothing
    for extra in (["--draft-tokens", "8"], ["--acceptance", "0.5"]):
        assert cli.main([*argv, *extra]) == 2
        assert capsys.readouterr().err.strip() == (
            f"modeltui: error: {extra[0]} needs --draft MODEL or --draft ngram (speculative decoding)"
        )
    assert cli.main([*argv, "--draft-tokens", "8", "--acceptance", "0.5"]) == 2
    assert "--draft-tokens and --acceptance need --draft" in capsys.readouterr().err
    # with --draft the defaults apply: 4 drafted tokens at 0.7 acceptance, (1 - 0.7^5) / 0.3 per step
    assert cli.main([*argv, "--draft", "ngram", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["speculative"]["expected_tokens_per_step"] == pytest.approx((1 - 0.7**5) / 0.3)
    # CSV keeps one flat row per configuration (README): the views asked for are named on stderr
    assert cli.main([*argv, "--users", "4,16", "--layers", "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert len(out.strip().splitlines()) == 2  # the header and the one configuration's row
    assert err.strip() == (
        "modeltui: note: --format csv holds the plain rows only (one per configuration); the --layers, "
        "--users results are in the table and --format json"
    )
    assert cli.main([*argv, "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    # the row carries each phase's time and its serial-pass part (0 on the default stack: vLLM's kernels
    # run no separate passes); the prefill phase's time is the TTFT (its runtime holds the stack's step and
    # per-request overheads)
    (row,) = csv.DictReader(io.StringIO(out))
    assert float(row["prefill_pass_s"]) == float(row["decode_pass_s"]) == 0.0
    assert float(row["prefill_time_s"]) == pytest.approx(float(row["ttft_s"]))


def test_step_model_prefill_matches_the_captured_prefill_llama(tmp_path, monkeypatch):
    """A Llama-style config at real widths (meta tensors cost nothing): hidden 2,048, 32 query heads and 8
    KV heads of 64, MLP 8,192, vocabulary 32,000, 2 layers. The step model's one-step prefill of P = 1,536
    tokens prices attention as the capture does: one sequence of 1,536 queries, not 1,536 sequences of
    one query (which priced it as skinny decode rows: 1.4-1.8x the captured TTFT)."""
    from metrics_core.perf.serving import Segment, StepModel, estimate_from_steps
    from metrics_core.runtime.llm_steps import capture_steps

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELTUI_CACHE_DIR", str(tmp_path / "cache"))
    cfg = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 2048,
           "intermediate_size": 8192, "num_attention_heads": 32, "num_key_value_heads": 8,
           "num_hidden_layers": 2, "vocab_size": 32000, "max_position_embeddings": 4096}  # fmt: skip
    (tmp_path / "llama.json").write_text(json.dumps(cfg))
    name, p = "hf:llama.json", 1536
    for b in (1, 8):
        s = Scenario(batch_size=b, prompt_tokens=p, generate_tokens=16)
        captured = estimate_llm(capture_llm(name, b, p, 16, FP16), A100, s)
        steps = StepModel(capture_steps(name, FP16))
        fast = estimate_from_steps(steps, A100, s)
        made = [r for r in steps.records([Segment(b, p, 0, 1)]) if r.op == "scaled_dot_product_attention"]
        # query (B, 32, 1536, 64), keys and values (B, 8, 1536, 64), as the captured prefill's op
        assert made[0].input_shapes[:3] == [[b, 32, p, 64], [b, 8, p, 64], [b, 8, p, 64]]
        assert made[0].output_shape == [b, 32, p, 64]
        # causal pairs 1,536 x 1,537 / 2 = 1,180,416 per sequence; per pair 32 heads x (2 x (64 + 64)
        # MACs + 6 softmax/scale FLOPs) = 8,384 FLOPs -> 9,896,607,744 per sequence and layer
        assert [r.flops for r in made] == [b * 9_896_607_744] * 2
        sdpa = [o for o in fast.prefill.ops if o.op == "scaled_dot_product_attention"]
        ref = [o for o in captured.prefill.ops if o.op == "scaled_dot_product_attention"]
        assert [o.time_s for o in sdpa] == pytest.approx([o.time_s for o in ref], rel=1e-9)
        # the whole prefill: FLOPs equal to 1e-5 (the captured prefill's position arithmetic), bytes to 3 %
        # (the step writes the KV cache, the use_cache=False capture copies K/V instead), time to 2 %
        assert fast.prefill.flops == pytest.approx(captured.prefill.flops, rel=1e-5)
        assert fast.prefill.bytes == pytest.approx(captured.prefill.bytes, rel=0.03)
        assert fast.prefill.time_s == pytest.approx(captured.prefill.time_s, rel=0.02)


def test_text_header_says_how_good_validated_is():
    """The text header carries the error the validation line states, so "validated" is never read as
    "accurate" (the MI300X vLLM rows: 44 % on rows never fitted)."""
    from metrics_core.perf.llm_report import _error_of

    line = "31 published points (throughput_tok_s); median |error| 44 % on rows never fitted: 1.47x geomean"
    assert _error_of(line) == " (median |error| 44 % on rows never fitted)"
    assert _error_of("6 points; median |error| 6 % in-sample (the stack's only GPU)") == (
        " (median |error| 6 % in-sample)"
    )
    assert _error_of("measured, no error stated") == ""


def test_the_output_head_stays_16_bit_where_the_served_checkpoints_keep_it():
    """AWQ / GPTQ / ModelOpt / vLLM FP8 leave lm_head in 16 bits; gpt-fast quantises every Linear and a GGUF
    file type's published bits include output.weight (``Stack.quantized_head``)."""
    from metrics_core.common.records import OpRecord
    from metrics_core.perf.llm import head_weight_bytes, scale_weights, weight_bytes_per_gpu
    from metrics_core.perf.stacks import get_stack

    vllm, gptfast = get_stack("vllm"), get_stack("torch-compile")
    int4 = Scenario(weights="int4", activations="fp16", stack="vllm")
    # int4-g128: 4 bits + an fp16 scale per 128 = 4.125 ... the catalog's 4.15625 bits / 4 element bits
    assert int4.weight_scale == pytest.approx(4.15625 / 4)
    assert int4.head_weight_scale(vllm) == 16 / 4  # the head priced at 2 bytes per weight
    assert int4.head_weight_scale(gptfast) == int4.weight_scale
    assert Scenario(weights="q4_k_m", stack="llama.cpp").validated(get_target("rtx-4090")).head_weight_scale(
        get_stack("llama-cpp")
    ) == pytest.approx(Scenario(weights="q4_k_m").weight_scale)
    assert Scenario(weights="bf16", activations="bf16").head_weight_scale(vllm) == 1.0

    def rec(module: str, weight_bytes: int) -> OpRecord:
        return OpRecord(0, module, "Linear", "mm", "matmul", [[1, 4096]], [1, 4096], "fp16", 0, 0, 0, 0,
                        weight_bytes)  # fmt: skip

    # Llama-3.1-8B's head, 128,256 x 4,096 weights captured at int4 (0.5 B): 262,668,288 B
    head, mlp = rec("lm_head", 262_668_288), rec("model.layers.0.mlp.down_proj", 29_360_128)
    out = scale_weights([head, mlp], int4.weight_scale, int4.head_weight_scale(vllm))
    assert [r.weight_bytes for r in out] == [1_050_673_152, round(29_360_128 * 4.15625 / 4)]
    assert head_weight_bytes([head, mlp]) == 262_668_288
    # held weights on one GPU: 4 GB captured x 1.0390625 + the head's 262,668,288 x (4 - 1.0390625)
    got = weight_bytes_per_gpu(4_000_000_000, 262_668_288, int4, vllm)
    assert got == math.ceil(4e9 * 4.15625 / 4 + 262_668_288 * (4 - 4.15625 / 4))


def test_the_16_bit_head_and_embedding_are_said_where_they_apply():
    from metrics_core.perf.stacks import get_stack

    h100 = get_target("h100-sxm5-80gb")
    both = "token embedding and output head (lm_head) kept in 16 bits, as the served checkpoints keep them"
    embedding = "token embedding kept in 16 bits (only the linear layers are quantised)"
    int4 = Scenario(weights="int4", activations="fp16", stack="vllm").validated(h100)
    bf16 = Scenario(weights="bf16", activations="bf16", stack="vllm").validated(h100)
    assert both in get_stack("vllm").mechanics(h100, int4)
    assert embedding not in get_stack("vllm").mechanics(h100, int4)
    assert not {both, embedding} & set(get_stack("vllm").mechanics(h100, bf16))  # nothing quantised
    # gpt-fast quantises the head (every nn.Linear), not the embedding
    assert embedding in get_stack("torch-compile").mechanics(h100, int4)
    assert both not in get_stack("torch-compile").mechanics(h100, int4)
    gguf = Scenario(weights="q4_k_m", stack="llama.cpp").validated(get_target("rtx-4090"))
    assert not {both, embedding} & set(get_stack("llama-cpp").mechanics(get_target("rtx-4090"), gguf))


def test_a_stack_cannot_quantise_the_embedding_and_keep_the_head():
    from metrics_core.perf.stacks import _stack

    entry = {"name": "x", "execution": "compiled", "cuda_graphs": True, "kernel_gap_us": 1,
             "step_overhead_us": 0, "request_overhead_us": 0, "custom_allreduce": False, "max_batch": 1,
             "source": "test", "quantized_embedding": True}  # fmt: skip
    with pytest.raises(
        ValueError, match="stack 'x': quantized_embedding = true requires quantized_head = true"
    ):
        _stack("x", entry)
    assert _stack("x", {**entry, "quantized_head": True}).quantized_embedding is True


def test_the_embedding_table_stays_16_bit_where_the_stacks_keep_it():
    """AWQ / GPTQ / ModelOpt / vLLM / gpt-fast quantise linear layers only: the nn.Embedding tables stay in
    16 bits; a GGUF file quantises token_embd (``Stack.quantized_embedding``)."""
    from metrics_core.common.records import OpRecord
    from metrics_core.perf.llm import scale_weights, weight_bytes_per_gpu
    from metrics_core.perf.stacks import get_stack

    vllm, gptfast, llamacpp = get_stack("vllm"), get_stack("torch-compile"), get_stack("llama-cpp")
    int4 = Scenario(weights="int4-awq", activations="fp16", stack="vllm")
    assert int4.embedding_weight_scale(vllm) == int4.embedding_weight_scale(gptfast) == 16 / 4
    q4km = Scenario(weights="q4_k_m", stack="llama.cpp").validated(get_target("rtx-4090"))
    assert q4km.embedding_weight_scale(llamacpp) == q4km.weight_scale == pytest.approx(4.8944 / 4)
    assert Scenario(weights="fp8", activations="fp8").embedding_weight_scale(vllm) == 16 / 8
    assert Scenario(weights="bf16", activations="bf16").embedding_weight_scale(vllm) == 1.0

    def rec(module: str, op: str, weight_bytes: int) -> OpRecord:
        return OpRecord(0, module, "Embedding", op, "data-movement", [[4, 4096]], [4, 4096], "fp16", 0, 0,
                        0, 0, weight_bytes)  # fmt: skip

    # a decode step of 4 sequences gathers 4 rows of 4,096 from Llama-3.1-8B's table, captured at int4 (0.5
    # B): 8,192 B; kept 16-bit, the rows are 2 B each: 32,768 B (not the 128,256-row table)
    gather, mlp = (
        rec("model.embed_tokens", "embedding", 8_192),
        rec("model.layers.0.mlp.down_proj", "mm", 1024),
    )
    out = scale_weights([gather, mlp], int4.weight_scale, int4.head_weight_scale(vllm), 4.0)
    assert [r.weight_bytes for r in out] == [32_768, round(1024 * 4.15625 / 4)]
    assert scale_weights([gather], int4.weight_scale)[0].weight_bytes == round(8_192 * 4.15625 / 4)
    # held: 4 GB captured x 1.0390625, the head's and the untied table's 262,668,288 B each x (4 - 1.0390625)
    got = weight_bytes_per_gpu(4_000_000_000, 262_668_288, int4, vllm, 262_668_288)
    assert got == math.ceil(4e9 * 4.15625 / 4 + 2 * 262_668_288 * (4 - 4.15625 / 4))
    # tied (one table, the head's): vLLM ties ParallelLMHead to the 16-bit embedding, counted once
    assert weight_bytes_per_gpu(4_000_000_000, 262_668_288, int4, vllm, 0, 262_668_288) == math.ceil(
        4e9 * 4.15625 / 4 + 262_668_288 * (4 - 4.15625 / 4)
    )
    # gpt-fast: the output Linear quantised, the nn.Embedding a 16-bit table of its own beside it
    assert weight_bytes_per_gpu(4_000_000_000, 262_668_288, int4, gptfast, 0, 262_668_288) == math.ceil(
        4e9 * 4.15625 / 4 + 262_668_288 * 4
    )


def write_llama(path, tied: bool) -> None:
    """A Llama of 2 layers: hidden 128 (4 heads of 32, 2 KV heads), MLP 256, vocabulary 1,000."""
    from transformers import LlamaConfig

    cfg = LlamaConfig(
        vocab_size=1000, hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=tied,
    ).to_dict()  # fmt: skip
    cfg["architectures"] = ["LlamaForCausalLM"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg))


def test_quantised_llama_weights_hold_its_embedding_at_16_bits(tmp_path, monkeypatch):
    """Weights held = non-embedding parameters x the format's bits / 8 (scales included) + the 16-bit head
    and embedding tables (vocab x hidden x 2 B each) under int4-awq on vLLM; a GGUF file at its own bits."""
    from metrics_core.perf.llm import scale_weights
    from metrics_core.perf.serving import StepModel, estimate_from_steps
    from metrics_core.perf.stacks import get_stack
    from metrics_core.runtime.llm_steps import capture_steps

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELTUI_CACHE_DIR", str(tmp_path / "cache"))
    write_llama(tmp_path / "untied" / "config.json", tied=False)
    write_llama(tmp_path / "tied" / "config.json", tied=True)
    h100, rtx = get_target("h100-sxm5-80gb"), get_target("rtx-4090")
    awq = Scenario(batch_size=2, prompt_tokens=16, generate_tokens=4, weights="int4-awq", stack="vllm")
    awq = awq.validated(h100)
    # per layer: q 128 x 128 + k, v 128 x 64 each + o 128 x 128 = 49,152; gate, up, down 3 x 128 x 256 =
    # 98,304; 2 norms 256 -> 147,712; x 2 layers + final norm 128 = 295,552 non-embedding parameters; the
    # token table and the untied head 1,000 x 128 = 128,000 each: 551,552 parameters
    untied = capture_llm("hf:untied/config.json", 2, 16, 4, awq.bits)
    assert (untied.params, untied.embedding_bytes, untied.tied_embedding_bytes) == (551_552, 64_000, 0)
    # 295,552 x 4.15625 / 8 = 153,548.5 B + 2 x 128,000 x 2 B = 665,548.5 -> 665,549 B
    assert (
        estimate_llm(untied, h100, awq).weight_bytes
        == 665_549
        == math.ceil(295_552 * 4.15625 / 8 + 2 * 128_000 * 2)
    )
    # the table at int4 as before would be 128,000 x (2 - 4.15625 / 8) = 189,500 B less
    # a decode step gathers 2 rows of 128 from it: 2 x 128 x 2 B = 512 B, not the table
    gather = [r for r in untied.decode_first.records if r.op == "embedding"]
    assert [r.weight_bytes for r in gather] == [2 * 128 * 4 // 8]  # as captured, the int4 element bits
    vllm = get_stack("vllm")
    scaled = scale_weights(
        gather, awq.weight_scale, awq.head_weight_scale(vllm), awq.embedding_weight_scale(vllm)
    )
    assert [r.weight_bytes for r in scaled] == [512]
    # the step capture (concurrency, drafts) holds the same bytes
    steps = StepModel(capture_steps("hf:untied/config.json", awq.bits))
    assert (steps.capture.embedding_bytes, steps.capture.tied_embedding_bytes) == (64_000, 0)
    assert estimate_from_steps(steps, h100, awq).weight_bytes == 665_549
    # tied: the one 1,000 x 128 table stays 16-bit with the head (vLLM), counted once: 423,552 parameters
    tied = capture_llm("hf:tied/config.json", 2, 16, 4, awq.bits)
    assert (tied.params, tied.embedding_bytes, tied.tied_embedding_bytes) == (423_552, 0, 64_000)
    assert estimate_llm(tied, h100, awq).weight_bytes == math.ceil(295_552 * 4.15625 / 8 + 128_000 * 2)
    # gpt-fast quantises the output Linear and keeps its nn.Embedding: 295,552 + 128,000 weights at int4 +
    # the 16-bit table, 66,500 + 153,548.5 + 256,000 = 476,048.5 -> 476,049 B
    fast = Scenario(
        batch_size=2, prompt_tokens=16, generate_tokens=4, weights="int4-awq", stack="torch-compile"
    )
    assert estimate_llm(tied, h100, fast.validated(h100)).weight_bytes == 476_049
    # GGUF Q4_K_M: every tensor, token_embd too, at the file type's published 4.8944 bits per weight:
    # 551,552 x 4.8944 / 8 = 337,439.5 -> 337,440 B
    gguf = Scenario(batch_size=2, prompt_tokens=16, generate_tokens=4, weights="q4_k_m", stack="llama.cpp")
    gguf = gguf.validated(rtx)
    assert estimate_llm(
        capture_llm("hf:untied/config.json", 2, 16, 4, gguf.bits), rtx, gguf
    ).weight_bytes == (337_440)


def test_a_gguf_block_type_file_holds_its_output_head_in_q6_k():
    """llama.cpp's quantize stores ``output.weight`` as Q6_K (6.5625 bits: 210 B per 256 weights) in a
    ``q4_0`` file (llama-quant.cpp); the head had been priced at the file type's 4.5 bits. Llama-2-7B:
    6,738,415,616 parameters, the 32,000 x 4,096 head and token table 131,072,000 each (untied), captured at
    q4_0's 4 element bits: (6,738,415,616 - 131,072,000) x 4.5 / 8 + 131,072,000 x 6.5625 / 8 =
    3,716,630,784 + 107,520,000 = 3,824,150,784 B (the published llama-2-7b.Q4_0.gguf is 3.83 GB); token_embd
    stays q4_0. A tied table is one tensor, in the output's type. Q8_0 files keep their head in Q8_0."""
    from metrics_core.perf.llm import weight_bytes_per_gpu
    from metrics_core.perf.stacks import get_stack

    cpp = get_stack("llama-cpp")
    q40 = Scenario(weights="q4_0", stack="llama.cpp").validated(get_target("rtx-4090"))
    assert q40.head_weight_scale(cpp) == 6.5625 / 4 and q40.file_output == "q6_k"
    params, head = 6_738_415_616, 131_072_000
    held = weight_bytes_per_gpu(params // 2, head // 2, q40, cpp, embedding_bytes=head // 2)
    assert held == 3_824_150_784
    # tied (no output.weight): the one table at Q6_K, once: (params - head) x 4.5 / 8 + head x 6.5625 / 8
    tied = weight_bytes_per_gpu((params - head) // 2, head // 2, q40, cpp, tied_embedding_bytes=head // 2)
    assert tied == (params - 2 * head) * 9 // 16 + 107_520_000
    q80 = Scenario(weights="q8_0", stack="llama.cpp").validated(get_target("rtx-4090"))
    assert q80.head_weight_scale(cpp) == q80.weight_scale == 8.5 / 8 and q80.file_output is None
    assert "output head (output.weight) in q6_k, as llama.cpp quantize stores it" in cpp.mechanics(None, q40)
