"""Serving-stack kernel mechanics: fp16 accumulation, a dequantisation pass before prompt GEMMs, unfused
(materialised) attention scores, prompts streamed in chunks, stacks that inherit, and a vendor's own GEMM
scale. Every expected value is derived by hand in the comments (sources: ``data/stacks.toml``)."""

from __future__ import annotations

import pytest

from metrics_core.common.errors import UsageError
from metrics_core.common.records import OpRecord
from metrics_core.perf import stacks as stacks_mod
from metrics_core.perf.efficiency import Tuning, attention_scores, kernel_terms, kernel_time
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
    # 67,108,864 extra bytes = 9,437,184 x (4 / 0.5625); one more launch (the pass kernel). The pass
    # kernel reads the 9,437,184 quantised bytes and writes the 33,554,432-byte copy (42,991,616 bytes,
    # serial); the GEMM's own loop reads the copy instead of the quantised weights
    q_bytes = 16_777_216 * 18 // 32
    assert q_bytes == 9_437_184
    tuning = get_stack("llama-cpp-2024").tuning(get_target("rtx-4090"), "fp16", 2.0 / 0.5625, 0.5625)
    assert tuning.dequant_pass_min_rows == 33
    assert tuning.dequant_pass_bytes_per_weight_byte == pytest.approx(2 * FP16_BYTES / 0.5625)
    big = linear(33, weight_bytes=q_bytes)
    t = terms(big, "rtx-4090", tuning)
    own = big.input_bytes + big.weight_bytes + big.output_bytes
    assert t.bytes + t.pass_bytes - own == pytest.approx(67_108_864)
    assert t.pass_bytes == pytest.approx(9_437_184 + 33_554_432)
    assert t.bytes == pytest.approx(own - 9_437_184 + 33_554_432)
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
    assert t.bytes == rec.input_bytes + rec.output_bytes  # the GEMMs' own Q, K, V reads and output write
    assert t.pass_bytes == 201_326_592  # between the two GEMMs: serial to them
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
    assert (child.bandwidth, child.gemm_scale, child.kv_block_tokens) == (
        parent.bandwidth,
        parent.gemm_scale,
        parent.kv_block_tokens,
    )
    # what it states wins: its step overhead (no CUDA graphs before May 2024) and its kernel mechanics
    assert (child.step_overhead_us, parent.step_overhead_us) == (1667.0, 0.0)
    assert (child.int8_mmq_min_tokens, parent.int8_mmq_min_tokens) == (0, 9)
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


def test_separate_memory_passes_add_to_a_compute_bound_kernel_instead_of_hiding_under_it():
    # One GEMM of 512 x 4096 x 4096 on an RTX 4090 with Q4_0 weights, llama-cpp-2024's tuning, ideal-ish
    # parameters set by hand so that every term is a round number: GEMM fraction 1, no quantisation loss
    # (tiles), bandwidth share 1, no gaps. Compute: 2 x 512 x 4096^2 = 17,179,869,184 FLOP at the 330.3
    # TFLOP/s fp16-accumulate peak = 52.01 us. The GEMM's own loop: activations 4,194,304 + output
    # 4,194,304 + the fp16 copy 33,554,432 = 41,943,040 B at 1,008 GB/s = 41.61 us, under the compute:
    # hidden. The pass (quantised 9,437,184 + copy 33,554,432 = 42,991,616 B) = 42.65 us, serial.
    # time = 52.01 + 42.65 = 94.66 us (the earlier model: max(52.01, 41.61 + 42.65) = 84.26 us)
    from dataclasses import replace

    from metrics_core.perf.efficiency import params_for, time_from_terms

    target = get_target("rtx-4090")
    tuning = get_stack("llama-cpp-2024").tuning(target, "fp16", 2.0 / 0.5625, 0.5625)
    rec = linear(512, weight_bytes=9_437_184)
    t = replace(terms(rec, "rtx-4090", tuning), q=None, clock=1.0, launch_s=0.0)
    p = replace(params_for(target), gemm=1.0, bandwidth=1.0, kernel_gap_us=0.0)
    compute = 17_179_869_184 / 330.3e12
    own = (4_194_304 + 4_194_304 + 33_554_432) / 1008e9
    passes = 42_991_616 / 1008e9
    kt = time_from_terms(t, p)
    assert kt.compute_s == pytest.approx(compute)
    assert kt.pass_s == pytest.approx(passes)
    assert kt.memory_s == pytest.approx(own + passes)  # memory_s: every DRAM byte's time
    assert kt.time_s == pytest.approx(compute + passes)  # 94.66 us
    assert 1e6 * kt.time_s == pytest.approx(94.66, abs=0.01)
    # limited by what: the bytes it moves take 84.26 us against 52.01 us of math: memory, as the columns show
    assert kt.bound == "memory"
    # a pass of a tenth of the size: 41.61 + 4.27 = 45.88 us of memory under 52.01 us of math: compute,
    # and the time is 52.01 + 4.27 = 56.28 us
    light = time_from_terms(replace(t, pass_bytes=4_299_162), p)
    assert light.bound == "compute"
    assert 1e6 * light.time_s == pytest.approx(56.28, abs=0.01)


def test_an_unfused_attention_computes_every_cached_key_of_each_micro_batch():
    # llama.cpp without flash attention: a micro-batch of m queries ending at token e multiplies them by all
    # e cached keys (the causal mask is applied in the softmax, nothing skipped): m x e scores.
    from metrics_core.perf.llm import attended_pairs, causal_records, unfused_pairs

    # pp512 in one micro-batch: 512 x 512 = 262,144, against 131,328 causal pairs (512 x 513 / 2)
    assert unfused_pairs(512, 512) == 262_144
    assert attended_pairs(512) == 131_328
    # 4,096 tokens in 512-token micro-batches: 512 x 512 x (1 + 2 + ... + 8) = 262,144 x 36 = 9,437,184
    assert unfused_pairs(4096, 512) == 9_437_184
    # 1,000 tokens: 512 x 512 + 488 x 1,000 = 750,144; one batch (0): 1,000^2
    assert unfused_pairs(1000, 512) == 750_144
    assert unfused_pairs(1000) == 1_000_000
    # the prefill record's MACs follow: H x L x L x 2d = 32 x 512 x 512 x 256 for the whole matrix,
    # x 262,144 / 512^2 = 1 unfused, x 131,328 / 262,144 causal (a fused kernel skips the masked half)
    rec = sdpa(32, 512, 512)
    (unfused,) = causal_records([rec], 512, unfused_micro_batch=512)
    (fused,) = causal_records([rec], 512)
    assert unfused.macs == 32 * 512 * 512 * 256 == 2_147_483_648
    assert fused.macs == 1_075_838_976  # 2,147,483,648 x 131,328 / 262,144


def test_the_current_llama_cpp_runs_quantised_prompt_gemms_as_int8_tensor_core_mma():
    # llama.cpp since June 2024 (MMQ with int8 MMA, mmq.cu): above 8 tokens a quantised GEMM runs at the int8
    # tensor peak (RTX 4090: 660.6 TOPS dense) x the stack's int8 GEMM scale, over the fp16 scale already in
    # the generation's fraction override; a pass first quantises the f32 activations to q8_1 (read 4 B,
    # write 1.125 B per element: 144 B per 128 values), and the GEMM reads that copy.
    stack = get_stack("llama-cpp")
    target = get_target("rtx-4090")
    tuning = stack.tuning(target, "fp16", 2.0 / 0.5625, 0.5625)
    assert (tuning.int8_mmq_min_rows, tuning.mmq_activation_bytes) == (9, (4.0, 1.125))
    rec = linear(512, weight_bytes=9_437_184)  # 512 x 4096 activations = 2,097,152 elements
    t = terms(rec, "rtx-4090", tuning)
    assert t.peak == pytest.approx(660.6e12 * stack.gemm_scale["int8"] / stack.gemm_scale["fp16"])
    assert t.pass_bytes == 2_097_152 * 5.125 == 10_747_904
    # own loop: the q8_1 copy (2,097,152 x 1.125 = 2,359,296) instead of the fp16 input (4,194,304)
    assert t.bytes == 2_359_296 + 9_437_184 + rec.output_bytes
    assert (t.launches, t.dequant_flops) == (2, 0.0)
    # 8 tokens: MMVQ (the decode kernels), in-register dequantisation at the fp16 rate
    small = terms(linear(8, weight_bytes=9_437_184), "rtx-4090", tuning)
    assert (small.peak, small.pass_bytes) == (pytest.approx(330.3e12), 0.0)
    # a V100's int8 (62.7 TOPS, dp4a) is below its fp16 tensor peak (125): no int8 MMA path
    assert stack.tuning(get_target("v100-sxm2-32gb"), "fp16", 2.0 / 0.5625, 0.5625).int8_mmq_min_rows == 0
    # fp16 weights are not quantised: cuBLAS
    assert stack.tuning(target, "fp16", 0.0, 0.0).int8_mmq_min_rows == 0
    # the builds before June 2024 dequantised to fp16 instead
    assert get_stack("llama-cpp-2024").tuning(target, "fp16", 2.0 / 0.5625, 0.5625).int8_mmq_min_rows == 0


def test_a_prompt_in_micro_batches_runs_chunk_sized_gemms():
    # 513 tokens in 512-token micro-batches: a 512-row GEMM and a 1-row one. The tiles are a full chunk's
    # (512 rows: four whole 128-row tiles), not 513 rows' (five tiles, the fifth almost empty), and the
    # fp16 copy is made only for the chunk of at least 33 tokens: one of the two weight streams (the record's
    # weight bytes are already x 2, perf.llm.per_chunk_weights), so the pass moves half of them + the copy.
    from dataclasses import replace

    from metrics_core.perf.efficiency import params_for, quantisation

    target = get_target("rtx-4090")
    base = get_stack("llama-cpp-2024").tuning(target, "fp16", 2.0 / 0.5625, 0.5625)
    tuning = replace(base, prefill_chunk_rows=512)
    rec = linear(513, weight_bytes=2 * 9_437_184)
    t = terms(rec, "rtx-4090", tuning)
    p = params_for(target)
    assert t.q == pytest.approx(quantisation((1, 512, 4096, 4096), p))
    assert quantisation((1, 513, 4096, 4096), p) < t.q  # the whole prompt's tiles would waste a fifth
    copy = 16_777_216 * 2  # one stream's fp16 copy: 2 B x 16,777,216 weights
    assert t.pass_bytes == pytest.approx(9_437_184 + copy)
    # 1,024 tokens: two full chunks, both dequantised
    two = terms(linear(1024, weight_bytes=2 * 9_437_184), "rtx-4090", tuning)
    assert two.pass_bytes == pytest.approx(2 * (9_437_184 + copy))


def test_a_short_last_micro_batch_streams_the_weights_in_the_open():
    # 513 tokens in 512-token chunks, fp16 weights (33,554,432 B per stream, x 2 streams in the record):
    # the 1-token chunk's math (1/513 of the GEMM) is far shorter than its pass over the weights, so that
    # pass does not hide under the 512-token chunk's math. RTX 4090 at fp16 165.2 TFLOP/s and 1,008 GB/s
    # with the parameters set to 1 (no tiles, no clock, no gaps): compute 2 x 513 x 4096^2 / 165.2e12 =
    # 104.20 us; own traffic (4,202,496 in + 67,108,864 weights + 4,202,496 out) / 1,008 GB/s = 74.91 us,
    # of which the last chunk's stream 33.29 us is exposed: time = max(104.20, 41.62) + 33.29 = 137.49 us
    from dataclasses import replace

    from metrics_core.perf.efficiency import params_for, time_from_terms

    target = get_target("rtx-4090")
    rec = linear(513, weight_bytes=2 * 33_554_432)
    t = replace(terms(rec, "rtx-4090", Tuning(prefill_chunk_rows=512)), q=None, clock=1.0, launch_s=0.0)
    assert (t.rest_share, t.rest_bytes) == (pytest.approx(1 / 513), 33_554_432)
    p = replace(params_for(target), gemm=1.0, bandwidth=1.0, kernel_gap_us=0.0)
    kt = time_from_terms(t, p)
    assert 1e6 * kt.compute_s == pytest.approx(104.20, abs=0.01)
    assert 1e6 * kt.pass_s == pytest.approx(33.29, abs=0.01)
    assert 1e6 * kt.time_s == pytest.approx(137.49, abs=0.01)
    # 1,000 tokens (512 + 488): the last chunk's math (48.8 % of the GEMM) outlasts its stream: hidden
    chunked = Tuning(prefill_chunk_rows=512)
    big = replace(terms(linear(1000, weight_bytes=2 * 33_554_432), "rtx-4090", chunked), q=None, clock=1.0)
    assert time_from_terms(big, p).pass_s == 0.0


def test_fp16_accumulation_is_named_only_where_it_changes_the_peak():
    """llama.cpp's cuBLAS GEMMs accumulate in fp16, which only GeForce parts run faster (their
    ``fp16_accumulate_tflops``: RTX 4090 330.3 against 165.2). The "stack kernels" line named it on an
    H100 (same 989.4 peak either way) and on CPUs (ggml's CPU path has no cuBLAS): it applies to neither."""
    from metrics_core.perf.llm import Scenario

    stack = get_stack("llama.cpp")

    def named(target_id: str) -> bool:
        target = get_target(target_id)
        scenario = Scenario(weights="q4_k_m", stack="llama.cpp").validated(target)
        return "fp16-accumulate GEMMs" in stack.mechanics(target, scenario)

    assert [named(t) for t in ("rtx-4090", "h100-sxm5-80gb", "xeon-6980p")] == [True, False, False]


def test_llama_cpp_serves_mxfp4_and_nvfp4_through_its_int8_kernels_never_the_fp4_peak():
    # ggml's MXFP4 (Aug 2025, gpt-oss) and NVFP4 (Mar 2026) are MMQ / MMVQ types like the GGUF ones
    # (mmq.cu ggml_cuda_should_use_mmq): block_mxfp4 = 1 E8M0 byte + 16 nibble bytes per 32 weights =
    # 17 x 8 / 32 = 4.25 bits, so 0.53125 bytes per weight, dequantised at 2 FLOP per weight (quant_formats)
    from metrics_core.perf.llm import Scenario
    from metrics_core.perf.quant import weight_format

    h100, b200 = get_target("h100-sxm5-80gb"), get_target("b200-hgx-180gb")
    s = Scenario(weights="mxfp4", stack="llama-cpp").validated(h100)
    assert weight_format("mxfp4").bits_per_weight == 17 * 8 / 32 == 4.25
    assert (s.compute_precision, s.native, s.dequantised_bytes_per_weight) == ("fp16", False, 0.53125)
    assert s.dequant_flops_per_weight_byte == 2.0 / 0.53125
    stack = get_stack("llama-cpp")
    for target, int8_peak in ((h100, 1978.9e12), (b200, 4500e12)):
        tuning = stack.tuning(target, "fp16", s.dequant_flops_per_weight_byte, s.dequantised_bytes_per_weight)
        assert tuning.int8_mmq_min_rows == 9
        t = terms(linear(512, weight_bytes=8_912_896), target.id, tuning)  # 4096 x 4096 x 0.53125 B
        # the int8 tensor peak x the int8 / fp16 GEMM scales (0.325 / 0.675), not B200's 9,000 TFLOP/s fp4
        assert t.peak == pytest.approx(int8_peak * 0.325 / 0.675)
    assert Scenario(weights="nvfp4", stack="llama-cpp").validated(h100).compute_precision == "fp16"
    # its activations stay 16-bit between layers: never W4A4, even on FP4 tensor cores
    with pytest.raises(UsageError) as info:
        Scenario(weights="mxfp4", activations="fp4", stack="llama-cpp").validated(b200)
    assert str(info.value) == (
        "llama.cpp runs mxfp4 weights with 16-bit activations (its quantised GEMMs quantise them inside): "
        "--activations fp16 or bf16 (vllm, vllm-2024, tensorrt-llm, sglang run these settings here)"
    )
    # the builds before June 2024 had no such type
    with pytest.raises(UsageError, match="llama.cpp before June 2024 does not serve mxfp4 weights"):
        Scenario(weights="mxfp4", stack="llama-cpp-2024").validated(h100)


def test_tensorrt_llm_runs_nvfp4_only_on_fp4_tensor_cores():
    # TensorRT-LLM's hardware support matrix: NVFP4 on Blackwell only, W4A4 (no weight-only NVFP4 kernel);
    # its NVFP4 KV cache needs Blackwell too (trtllm-gen). vLLM's FP4 Marlin serves NVFP4 weight-only.
    from metrics_core.perf.llm import Scenario

    h100, a100, b200 = (get_target(t) for t in ("h100-sxm5-80gb", "a100-sxm4-80gb", "b200-hgx-180gb"))
    with pytest.raises(UsageError) as info:
        Scenario(weights="nvfp4", stack="tensorrt-llm").validated(h100)
    assert str(info.value) == (
        "TensorRT-LLM runs nvfp4 weights only on fp4 tensor cores (Blackwell), which NVIDIA H100 SXM5 80GB "
        "lacks: choose --weights fp8 --activations fp8 or int4-awq (weight-only) (vllm, vllm-2024, sglang, "
        "llama-cpp run these settings here)"
    )
    with pytest.raises(UsageError, match="A100 SXM4 80GB lacks: choose --weights int8 --activations int8 or"):
        Scenario(weights="nvfp4", stack="tensorrt-llm").validated(a100)
    with pytest.raises(
        UsageError, match="only with fp4 activations on its fp4 tensor cores: --activations fp4"
    ):
        Scenario(weights="nvfp4", stack="tensorrt-llm").validated(b200)
    s = Scenario(weights="nvfp4", activations="fp4", kv="nvfp4", stack="tensorrt-llm").validated(b200)
    assert (s.native, s.compute_precision, s.kv_format) == (True, "fp4", "nvfp4")
    assert Scenario(weights="nvfp4", stack="vllm").validated(h100).compute_precision == "fp16"  # weight-only
    with pytest.raises(UsageError) as info:
        Scenario(kv="nvfp4", stack="tensorrt-llm").validated(h100)
    assert str(info.value) == (
        "TensorRT-LLM keeps a nvfp4 KV cache only on GPUs with fp4 tensor cores (Blackwell), not NVIDIA H100 "
        "SXM5 80GB: choose --kv fp8"
    )


def test_vllm_v0_kernels_have_a_floor_of_their_own_on_amd():
    # vllm-2024 inherits vllm (bandwidth, GEMM scales, overheads) and states one thing: on AMD GPUs each
    # kernel takes at least (5.5145 + 3.84116) / 2 = 4.68 ~ 4.7 us (vLLM's RMSNorm and SwiGLU on one row in
    # the rocm6.3.1 / vLLM 0.6.6 container, HuggingFace's MI300 kernels blog); NVIDIA GPUs keep vllm's 1.0 us
    v0, v1 = get_stack("vllm-2024"), get_stack("vllm")
    assert (v0.inherits, v0.bandwidth, v0.gemm_scale, v0.step_overhead_us) == (
        "vllm", v1.bandwidth, v1.gemm_scale, v1.step_overhead_us,
    )  # fmt: skip
    assert (v0.kernel_gap_for("AMD"), v0.kernel_gap_for("NVIDIA"), v1.kernel_gap_for("AMD")) == (
        4.7,
        1.0,
        1.0,
    )
    mi300x, h100 = get_target("mi300x"), get_target("h100-sxm5-80gb")
    assert dict(v0.tuning(mi300x, "fp8").overrides)["kernel_gap_us"] == 4.7
    assert dict(v0.tuning(h100, "fp8").overrides) == dict(v1.tuning(h100, "fp8").overrides)
    # a kernel of almost no work (one 16384-wide fp16 row normalised: 98,304 bytes, 0.03 us of HBM at the
    # stack's 0.64 x 5.3 TB/s) takes the floor plus that: 4.73 us, as the blog's 5.5 / 3.8 us kernels
    tiny = OpRecord(
        index=0, module="norm", module_type="LlamaRMSNorm", op="rms_norm", category="norm",
        input_shapes=[[1, 1, 16384], [16384]], output_shape=[1, 1, 16384], dtype="float16", macs=0,
        flops=4 * 16384, input_bytes=32768, output_bytes=32768, weight_bytes=32768,
    )  # fmt: skip
    k = Kernel((0,), "fused", tiny.flops, 65536, 32768, 0)
    t = kernel_time(k, [tiny], mi300x, "fp8", "calibrated", "compiled", tuning=v0.tuning(mi300x, "fp8"))
    assert t.time_s * 1e6 == pytest.approx(4.7 + 98304 / (0.73 * 0.875 * 5300e9) * 1e6, rel=1e-3)


def test_vendor_gaps_in_the_data_file_are_checked():
    with pytest.raises(ValueError, match="kernel_gap_us_by_vendor: must be a table of vendor = microseconds"):
        stacks_mod._stack(
            "x",
            {"name": "x", "execution": "compiled", "cuda_graphs": True, "kernel_gap_us": 1,
             "step_overhead_us": 0, "request_overhead_us": 0, "custom_allreduce": False, "max_batch": 1,
             "source": "s", "kernel_gap_us_by_vendor": {"AMD": -1}},
        )  # fmt: skip


def test_the_v0_floor_is_named_where_it_applies_and_vllm_on_mi300x_is_not_validated_by_v0_rows():
    # every output's "stack kernels" line names the 4.7 us floor on AMD parts (the one parameter vllm-2024
    # does not take from vllm), and only there; the 31 MI300X rows are vLLM V0's, so they validate
    # vllm-2024, not vllm (V1): an entry in [validated_llm.mi300x] is a validation in every output
    from metrics_core.perf.llm import stack_validation

    mi300x, h100 = get_target("mi300x"), get_target("h100-sxm5-80gb")
    v0 = get_stack("vllm-2024")
    floor = "a 4.7 us gap per kernel on AMD hardware (this stack's floor there)"
    assert v0.mechanics(mi300x) == [floor, "prompts in 2,048-token chunks"]
    assert v0.mechanics(h100) == ["prompts in 2,048-token chunks"]
    assert get_stack("vllm").mechanics(mi300x) == ["prompts in 2,048-token chunks"]
    assert v0.to_dict()["mechanics"] == [floor, "prompts in 2,048-token chunks"]
    assert stack_validation(mi300x, "vllm", None, "calibrated") is None
    assert stack_validation(mi300x, "vllm-2024", None, "calibrated").startswith(
        "31 published points (throughput_tok_s: vLLM 0.6.6 ROCm"
    )
