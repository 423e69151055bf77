"""Serving-stack kernel mechanics: fp16 accumulation, a dequantisation pass before prompt GEMMs, unfused
(materialised) attention scores, prompts streamed in chunks, stacks that inherit, and a vendor's own GEMM
scale. Every expected value is derived by hand in the comments (sources: ``data/stacks.toml``)."""

from __future__ import annotations

import pytest

from metrics_core.common.records import OpRecord
from metrics_core.perf import stacks as stacks_mod
from metrics_core.perf.efficiency import Tuning, attention_scores, kernel_terms
from metrics_core.perf.fusion import Kernel
from metrics_core.perf.hardware import get_target
from metrics_core.perf.llm import per_chunk_weights, prompt_steps
from metrics_core.perf.stacks import FP16_BYTES, check_param, get_stack


@pytest.fixture(autouse=True)
def no_user_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELTUI_CONFIG_DIR", str(tmp_path / "config"))


def linear(tokens: int, k: int = 4096, n: int = 4096, weight_bytes: int = 0) -> OpRecord:
    """A Linear of ``tokens`` rows: M = tokens, N = n, K = k (fp16 activations)."""
    return OpRecord(
        index=0, module="mlp.up", module_type="Linear", op="linear", category="matmul",
        input_shapes=[[1, tokens, k]], output_shape=[1, tokens, n], dtype="float16",
        macs=tokens * k * n, flops=2 * tokens * k * n, input_bytes=2 * tokens * k,
        output_bytes=2 * tokens * n, weight_bytes=weight_bytes or 2 * k * n,
    )  # fmt: skip


def sdpa(heads: int, q_len: int, kv_len: int, d: int = 128) -> OpRecord:
    """SDPA (B=1): MACs = H*L*S*(E + Ev) (costs.attention)."""
    macs = heads * q_len * kv_len * 2 * d
    return OpRecord(
        index=0, module="self_attn", module_type="LlamaAttention", op="scaled_dot_product_attention",
        category="attention",
        input_shapes=[[1, heads, q_len, d], [1, heads, kv_len, d], [1, heads, kv_len, d]],
        output_shape=[1, heads, q_len, d], dtype="float16", macs=macs, flops=2 * macs,
        input_bytes=2 * heads * d * (q_len + 2 * kv_len), output_bytes=2 * heads * q_len * d, weight_bytes=0,
    )  # fmt: skip


def terms(record: OpRecord, target: str, tuning: Tuning, kind: str = "extern"):
    reads = record.input_bytes + record.weight_bytes
    kernel = Kernel((0,), kind, record.flops, reads, record.output_bytes, 0)
    return kernel_terms(kernel, [record], get_target(target), "fp16", "eager", tuning=tuning)


def test_fp16_accumulation_runs_at_the_geforce_fp16_accumulate_peak():
    # RTX 4090: FP16 with FP32 accumulate 165.2 TFLOP/s (peak_tflops.fp16), with FP16 accumulate 330.3
    # (Ada whitepaper); an A100 has no separate figure: its 312 applies either way
    rec = linear(512)
    assert terms(rec, "rtx-4090", Tuning()).peak == pytest.approx(165.2e12)
    assert terms(rec, "rtx-4090", Tuning(fp16_accumulate=True)).peak == pytest.approx(330.3e12)
    assert terms(rec, "a100-sxm4-80gb", Tuning(fp16_accumulate=True)).peak == pytest.approx(312e12)


def test_a_dequantisation_pass_writes_and_rereads_an_fp16_copy_above_the_row_threshold():
    # Q4_0: 18 bytes per 32 weights = 0.5625 B/weight. A 4096 x 4096 weight = 16,777,216 weights =
    # 9,437,184 bytes. The pass writes 2 B/weight of fp16 and the GEMM reads them: 4 B/weight =
    # 67,108,864 extra bytes = 9,437,184 x (4 / 0.5625); one more launch (the pass kernel)
    q_bytes = 16_777_216 * 18 // 32
    assert q_bytes == 9_437_184
    tuning = get_stack("llama-cpp-2024").tuning(get_target("rtx-4090"), "fp16", 2.0 / 0.5625, 0.5625)
    assert tuning.dequant_pass_min_rows == 33
    assert tuning.dequant_pass_bytes_per_weight_byte == pytest.approx(2 * FP16_BYTES / 0.5625)
    big = linear(33, weight_bytes=q_bytes)
    t = terms(big, "rtx-4090", tuning)
    assert t.bytes - (big.input_bytes + big.weight_bytes + big.output_bytes) == pytest.approx(67_108_864)
    assert t.launches == 2
    assert t.dequant_flops == 0.0  # dequantised by the pass, not in the GEMM's registers
    # 32 rows: llama.cpp's MMQ (MMQ_MAX_BATCH_SIZE = 32) dequantises in registers: 2 FLOP/weight
    small = terms(linear(32, weight_bytes=q_bytes), "rtx-4090", tuning)
    assert small.launches == 1
    assert small.dequant_flops == pytest.approx(2.0 * 16_777_216)
    # fp16 weights are not dequantised: no pass whatever the rows
    plain = get_stack("llama-cpp-2024").tuning(get_target("rtx-4090"), "fp16", 0.0, 0.0)
    assert plain.dequant_pass_min_rows == 0


def test_unfused_attention_moves_its_score_matrix_through_dram():
    # 32 heads, 512 queries x 512 keys: 8,388,608 scores; llama.cpp without flash attention (May 2024):
    # KQ writes f16 (2), converted to f32 (read 2, write 4), softmax (read 4, write 4), converted to f16
    # for KQV (read 4, write 2), KQV reads it (2): 24 B per score = 201,326,592 bytes; 3 kernels, not 1
    rec = sdpa(32, 512, 512)
    assert attention_scores(rec) == 8_388_608
    t = terms(rec, "rtx-4090", Tuning(attention_score_bytes=24.0), kind="attention")
    assert t.bytes - (rec.input_bytes + rec.output_bytes) == 201_326_592
    assert t.launches == 3
    # the phase's bytes carry the same extra traffic its memory time moves (KernelTime.extra_bytes)
    from metrics_core.perf.efficiency import kernel_time

    kernel = Kernel((0,), "attention", rec.flops, rec.input_bytes, rec.output_bytes, 0)
    kt = kernel_time(kernel, [rec], get_target("rtx-4090"), "fp16", "calibrated", "eager",
                     Tuning(attention_score_bytes=24.0))  # fmt: skip
    assert kt.extra_bytes == 201_326_592
    # flash attention (the current llama.cpp default, -fa auto) keeps the scores on chip
    assert get_stack("llama-cpp").attention_score_bytes == 0.0
    assert get_stack("llama-cpp-2024").attention_score_bytes == 24.0


def test_a_prompt_in_chunks_streams_the_weights_once_per_chunk():
    # llama.cpp's 512-token micro-batches: a 4096-token prompt is 8 forward steps, each reading every
    # weight; the FLOPs stay the whole prompt's
    assert prompt_steps(4096, 512) == 8
    assert prompt_steps(4097, 512) == 9
    assert prompt_steps(4096, 0) == 1
    rec = linear(4096)
    out = per_chunk_weights([rec], 8)[0]
    assert out.weight_bytes == 8 * 2 * 4096 * 4096
    assert (out.flops, out.input_bytes) == (rec.flops, rec.input_bytes)
    assert per_chunk_weights([rec], 1)[0] is rec


def test_a_stack_inherits_what_it_does_not_state():
    parent, child = get_stack("llama-cpp"), get_stack("llama-cpp-2024")
    assert child.inherits == "llama-cpp"
    assert (child.bandwidth, child.step_overhead_us, child.kv_block_tokens) == (
        parent.bandwidth,
        parent.step_overhead_us,
        parent.kv_block_tokens,
    )
    assert child.fp16_accumulate is True and parent.fp16_accumulate is True
    assert (child.dequant_pass_min_tokens, parent.dequant_pass_min_tokens) == (33, 0)


def test_inheritance_cycles_and_unknown_parents_are_refused():
    with pytest.raises(ValueError, match="cycle: a -> b -> a"):
        stacks_mod._resolved({"stack": {"a": {"inherits": "b"}, "b": {"inherits": "a"}}})
    with pytest.raises(ValueError, match="inherits unknown stack 'nope'"):
        stacks_mod._resolved({"stack": {"a": {"inherits": "nope"}}})
    merged = stacks_mod._resolved({"stack": {"p": {"x": 1, "bw": {"hbm": 0.5, "gddr": 0.9}},
                                             "c": {"inherits": "p", "bw": {"hbm": 0.7}}}})  # fmt: skip
    assert merged["c"]["bw"] == {"hbm": 0.7, "gddr": 0.9} and merged["c"]["x"] == 1


def test_a_vendor_backend_has_its_own_gemm_scale():
    st = get_stack("llama-cpp")
    # Apple GPUs run llama.cpp's Metal kernels, not its cuBLAS path: their own key
    assert st.gemm_scale_key("fp16", "Apple") == "fp16@Apple"
    assert st.gemm_scale_key("fp16", "NVIDIA") == "fp16"
    assert st.gemm_scale_for("fp16", "Apple") == st.gemm_scale["fp16@Apple"]
    assert st.gemm_scale_for("bf16", "NVIDIA") == 1.0  # not stated: the generation's fraction
    assert check_param("gemm_scale.fp16@Apple") == ("gemm_scale", "fp16@Apple")
    with pytest.raises(ValueError, match="not one of"):
        check_param("gemm_scale.fp17@Apple")
