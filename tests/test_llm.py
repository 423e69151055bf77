"""LLM serving estimates (modeltui llm): every expected value derived here from the config's numbers."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

from metrics_core.common.dtypes import ElementBits  # noqa: E402
from metrics_core.common.errors import UsageError  # noqa: E402
from metrics_core.perf.hardware import get_target  # noqa: E402
from metrics_core.perf.llm import Scenario, estimate_llm, expected_experts  # noqa: E402
from metrics_core.runtime.llm_capture import capture_llm  # noqa: E402
from metrics_core.sources import hf_source  # noqa: E402
from tui import cli  # noqa: E402

FP16 = ElementBits(16, 16, 16)
A100 = get_target("a100-sxm4-80gb")


def config(model_id: str) -> dict:
    return hf_source.bundled()[model_id]["config"]


def estimate(model_id, target=A100, bits=FP16, **scenario):
    s = Scenario(**scenario)
    capture = capture_llm(f"hf:{model_id}", s.batch_size, s.prompt_tokens, s.generate_tokens, bits)
    return capture, estimate_llm(capture, target, s)


def prefill_peak(model_id: str, batch: int, prompt: int) -> int:
    """Peak activation bytes (fp16) of a decoder's prefill of ``batch`` x ``prompt`` tokens, captured
    directly (logits of the last position, as llm captures them)."""
    import torch

    from metrics_core.capture.peak_memory import peak_memory
    from metrics_core.capture.trace import capture
    from metrics_core.sources.build import build_model
    from metrics_core.sources.resolve import get_spec

    model = build_model(get_spec(f"hf:{model_id}"), device="meta", attn_implementation="sdpa")
    ids = torch.empty((batch, prompt), dtype=torch.int64, device="meta")
    kwargs = {"input_ids": ids, "use_cache": False, "logits_to_keep": 1}
    values = [(ids, torch.ones((batch, prompt), dtype=torch.int64))]
    return peak_memory(capture(model, (), "fp32", kwargs, values, FP16)).peak_activation_bytes


def test_llama2_7b_decode_kv_and_max_batch():
    c = config("meta-llama/Llama-2-7b-hf")
    layers, heads, hidden = c["num_hidden_layers"], c["num_key_value_heads"], c["hidden_size"]
    kv_per_token = 2 * layers * heads * (hidden // c["num_attention_heads"]) * 2  # K and V, fp16
    assert kv_per_token == 524_288
    capture, est = estimate("meta-llama/Llama-2-7b-hf", prompt_tokens=2048, generate_tokens=2048)
    assert est.kv_bytes_per_token == kv_per_token
    # decode at context 2,048 reads every weight but the embedding table, and 2,048 tokens of KV (1.07 GB)
    params = 6_738_415_616
    weights_no_embedding = (params - c["vocab_size"] * hidden) * 2
    kv = 2048 * kv_per_token
    assert kv == 1_073_741_824
    decode = est.decode_first
    assert decode.bound == "memory"
    assert weights_no_embedding + kv <= decode.bytes <= (weights_no_embedding + kv) * 1.005
    # max batch at 4,096 tokens of context on 80 GB: the largest B whose weights + B x 4,096 x KV per token
    # + prefill's peak activations at B fit; checked against the peaks captured at B and B + 1
    b = est.max_batch_size
    assert 28 <= b <= 31  # "about 30"
    free = 80e9 - params * 2
    assert b * 4096 * kv_per_token + prefill_peak("meta-llama/Llama-2-7b-hf", b, 2048) <= free
    assert (b + 1) * 4096 * kv_per_token + prefill_peak("meta-llama/Llama-2-7b-hf", b + 1, 2048) > free
    d = est.to_dict()
    assert (
        d["weight_bytes"] == params * 2 and d["kv_cache_bytes"] == 4096 * kv_per_token and d["fits"] is True
    )


def test_llama31_8b_gqa_kv_per_token():
    c = config("meta-llama/Llama-3.1-8B")
    expected = (
        2
        * c["num_hidden_layers"]
        * c["num_key_value_heads"]
        * (c["hidden_size"] // c["num_attention_heads"])
        * 2
    )
    assert expected == 131_072
    _, est = estimate("meta-llama/Llama-3.1-8B", prompt_tokens=64, generate_tokens=16)
    assert est.kv_bytes_per_token == expected


def test_llama31_70b_fits_with_tp2_or_int4_weights():
    params = 70_553_706_496
    capture, fp16 = estimate("meta-llama/Llama-3.1-70B", prompt_tokens=128, generate_tokens=32)
    assert (fp16.weight_bytes, fp16.fits) == (params * 2, False)
    tp2 = estimate_llm(capture, A100, Scenario(prompt_tokens=128, generate_tokens=32, tp=2))
    assert tp2.weight_bytes == params and tp2.fits
    # per GPU: 8 KV heads split 2 ways
    assert tp2.kv_cache_bytes == fp16.kv_cache_bytes // 2
    int4 = capture_llm("hf:meta-llama/Llama-3.1-70B", 1, 128, 32, ElementBits(16, 4, 16))
    w4 = estimate_llm(int4, A100, Scenario(prompt_tokens=128, generate_tokens=32, weights="int4"))
    # int4 = int4-g128: 4 bits + an fp16 scale and a 4-bit zero point per 128 weights = 4.15625 bits; the
    # output head and the untied token embedding (128,256 x 8,192 = 1,050,673,152 weights each) stay at 2
    # bytes (vLLM serves AWQ / GPTQ checkpoints, which keep lm_head and embed_tokens in 16 bits)
    table = 128_256 * 8_192
    expected = (params - 2 * table) * 4.15625 / 8 + 2 * table * 2
    assert expected == 39_765_832_864  # the embedding at int4 would be 1,555,488,768 B less
    assert (w4.scenario.weights, w4.weight_bytes, w4.fits) == ("int4-g128", expected, True)


def test_causal_prefill_counts_the_lower_triangle():
    c = config("meta-llama/Llama-2-7b-hf")
    p, hidden, heads, layers = 64, c["hidden_size"], c["num_attention_heads"], c["num_hidden_layers"]
    _, est = estimate("meta-llama/Llama-2-7b-hf", prompt_tokens=p, generate_tokens=1)
    # dense SDPA FLOPs per layer: 2 x MACs (P^2 x 2 x hidden) + 6 per score x heads x P^2; causal keeps
    # P(P+1)/2 of the P^2 scores
    dense_attention = layers * p * p * (4 * hidden + 6 * heads)
    saved = dense_attention - dense_attention * (p + 1) // (2 * p)
    assert est.prefill.flops_dense - est.prefill.flops == saved


def test_mixtral_total_active_and_experts_read_per_decode_step():
    capture, est = estimate("mistralai/Mixtral-8x7B-v0.1", prompt_tokens=16, generate_tokens=4, batch_size=8)
    assert (capture.params, capture.active_params) == (46_702_792_704, 12_879_925_248)
    assert expected_experts(8, 2, 1) == 2.0
    assert est.experts_read_per_layer == pytest.approx(8 * (1 - 0.75**8))  # 7.199 of 8 experts
    # prefill reads every expert; a decode step of 8 tokens reads 7.2 of 8 experts' weights on average,
    # every other weight but the embedding table, a little KV and activations
    experts_bytes = 32 * 8 * 3 * 4096 * 14336 * 2
    others = 46_702_792_704 * 2 - experts_bytes - 32000 * 4096 * 2
    assert est.prefill.bytes > experts_bytes
    expected = experts_bytes * est.experts_read_per_layer / 8 + others
    assert expected <= est.decode_first.bytes <= expected * 1.01


def test_tensor_parallel_adds_two_allreduces_per_layer():
    c = config("meta-llama/Llama-2-7b-hf")
    _, est = estimate("meta-llama/Llama-2-7b-hf", prompt_tokens=32, generate_tokens=4, tp=2)
    # decode: 2 all-reduces x 32 layers of the 4,096 x 2-byte message over the A100's NVSwitch (600 GB/s
    # both ways), with vLLM's custom all-reduce (the default stack): perf.comm's collective model
    from metrics_core.perf.comm import collective_time, link_for

    message = 1 * 1 * c["hidden_size"] * 2
    one = collective_time("all_reduce", message, 2, link_for("nvswitch", 600), custom_allreduce=True)
    assert est.decode_first.allreduce_s == pytest.approx(2 * 32 * one.time_s)
    assert one.algorithm.startswith("custom")


def test_sliding_window_prefill_counts_the_pairs_inside_the_window():
    from transformers import MistralConfig, Qwen2Config

    from metrics_core.common.records import OpRecord
    from metrics_core.perf.llm import attended_pairs, causal_records
    from metrics_core.runtime.llm_capture import attention_windows

    # L = 10, W = 4: queries see 1, 2, 3, 4, 4, 4, 4, 4, 4, 4 keys = 34; full causal: 10 x 11 / 2 = 55
    assert (attended_pairs(10, 4), attended_pairs(10, None), attended_pairs(10, 16)) == (34, 55, 55)
    sdpa = OpRecord(0, "attn", "Attention", "scaled_dot_product_attention", "attention",
                    [[1, 8, 10, 64]], [1, 8, 10, 64], "fp16", 1000, 2000, 0, 0, 0)  # fmt: skip
    windowed, full = causal_records([sdpa, sdpa], 10, [4, None])
    assert (windowed.macs, windowed.flops, full.macs, full.flops) == (340, 680, 550, 1100)
    # windows from configs: Mistral slides on every layer, Qwen2.5 does not (use_sliding_window false),
    # Gemma-2-style layer types alternate
    assert attention_windows(MistralConfig(sliding_window=4096, num_hidden_layers=2), 2) == [4096, 4096]
    assert attention_windows(Qwen2Config(sliding_window=4096, use_sliding_window=False), 2)[:2] == [
        None,
        None,
    ]
    gemma = MistralConfig(sliding_window=4096)
    gemma.layer_types = ["sliding_attention", "full_attention"]
    assert attention_windows(gemma, 2) == [4096, None]


def test_mistral_prefill_beyond_its_window():
    c = config("mistralai/Mistral-7B-v0.1")
    w = c["sliding_window"]  # 4,096
    _, est = estimate("mistralai/Mistral-7B-v0.1", prompt_tokens=8192, generate_tokens=1)
    # per (query, key) pair, head and layer (docs/cost_rules.md, SDPA): 2 x (E + Ev) MAC FLOPs + 5 softmax
    # + 1 scaling + 1 mask FLOPs; 32 heads of 128, 32 layers
    head_dim = c["hidden_size"] // c["num_attention_heads"]
    per_pair = (2 * 2 * head_dim + 7) * c["num_attention_heads"] * c["num_hidden_layers"]
    dense_pairs = 8192 * 8192
    windowed_pairs = w * (w + 1) // 2 + (8192 - w) * w  # 8,390,656 + 16,777,216
    assert est.prefill.flops_dense - est.prefill.flops == per_pair * (dense_pairs - windowed_pairs)


def test_cli_json_keys_and_bad_input(capsys):
    code = cli.main(["llm", "hf:gpt2", "--hardware", "a100-sxm4-80gb", "--prompt", "32", "--generate", "8",
                     "--format", "json"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    (row,) = json.loads(out)
    keys = [
        "model",
        "hardware",
        "batch_size",
        "prompt_tokens",
        "generate_tokens",
        "weights_precision",
        "activations_precision",
        "kv_precision",
        "tp",
        "params",
        "active_params",
        "weight_bytes",
        "kv_bytes_per_token",
        "kv_cache_bytes",
        "resident_bytes",
        "fits",
        "max_batch_size",
        "ttft_s",
        "tpot_s",
        "decode_tokens_per_s",
        "generation_s",
        "prefill",
        "decode",
        "estimate",
    ]
    assert set(keys) <= set(row)
    assert set(row["prefill"]) >= {"flops", "bytes", "ai", "bound", "memory_bound_time_pct"}
    assert row["kv_bytes_per_token"] == 2 * 12 * 768 * 2 and row["estimate"] is True
    for argv, message in [
        (["llm", "hf:bert-base-uncased", "--hardware", "a100-sxm4-80gb"],
         "hf:bert-base-uncased is not a language model (encoder); llm analyses decoders and "
         "encoder-decoders (hf: configs, causal-LM factories)"),
        (["llm", "hf:gpt2", "--hardware", "t4", "--activations", "bf16"],
         "NVIDIA T4 has no bf16 compute path; the kernels compute in the activations' precision: choose "
         "--activations among fp16, int8"),
        (["llm", "hf:gpt2", "--hardware", "h100-sxm5-80gb", "--activations", "fp8", "--weights", "fp16"],
         "--activations fp8 computes fp8 GEMMs from fp8 weights (W8A8 / W4A4): --weights fp16 has no fp8 "
         "path; choose --weights fp8 / fp8-channel / fp8-block or --activations fp16/bf16"),
        (["llm", "hf:gpt2", "--hardware", "mi300x", "--stack", "tensorrt-llm"],
         "TensorRT-LLM runs on NVIDIA hardware, not AMD Instinct MI300X: choose another --stack "
         "(hf-eager, torch-compile, vllm, vllm-2024, sglang, llama-cpp, llama-cpp-2024 run these settings "
         "here)"),
        (["llm", "hf:gpt2", "--hardware", "h100-sxm5-80gb", "--stack", "llama.cpp", "--tp", "2"],
         "llama.cpp has no tensor parallelism beyond 1 (it splits layers across GPUs): --tp 1 "
         "(hf-eager, torch-compile, vllm, vllm-2024, tensorrt-llm, sglang run these settings here)"),
        (["llm", "hf:gpt2", "--hardware", "h100-sxm5-80gb", "--stack", "vlm"],
         "unknown serving stack 'vlm'; did you mean vllm or vllm-2024? (choose one of hf-eager, "
         "torch-compile, vllm, vllm-2024, tensorrt-llm, sglang, llama-cpp, llama-cpp-2024)"),
        (["llm", "hf:gpt2", "--hardware", "a100-sxm4-80gb", "--tp", "8"],
         "--tp 8: hf:gpt2's 12 attention heads do not split 8 ways"),
        (["llm", "hf:gpt2", "--hardware", "a100-sxm4-80gb", "--tp", "16"],
         "--tp 16: a100-sxm4-80gb joins at most 8 GPUs over its nvswitch link (one server); GPUs on several "
         "nodes (InfiniBand / Ethernet) are not modelled: choose --tp 8 or fewer"),
        (["llm", "hf:gpt2", "--hardware", "a100-sxm4-80gb", "--tp", "5"],
         "--tp 5: hf:gpt2's 12 attention heads do not split 5 ways"),
        (["llm", "resnet18", "--hardware", "a100-sxm4-80gb"],
         "resnet18 is not a language model (classification); llm analyses decoders and encoder-decoders "
         "(hf: configs, causal-LM factories)"),
        (["llm", "hf:gpt2", "--hardware", "a100-sxm4-80gb", "--prompt", "1000", "--generate", "100"],
         "hf:gpt2 takes at most 1,024 tokens (n_positions); prompt + generate = 1,100 is longer"),
        (["llm", "hf:gpt2", "--hardware", "a100-sxm4-80gb", "--prompt", "0"],
         "--prompt: prompt lengths must be positive integers, got '0' in '0'"),
        (["llm", "hf:gpt2", "--hardware", "a100-sxm4-80gb", "--context", "100"],
         "--context 100 is outside the decode steps of hf:gpt2 at prompt 512 (512 to 640): set --prompt / "
         "--generate so that every context lies in every generation"),
        (["llm", "hf:gpt2", "--hardware", "a100-sxm4-80gb", "--context", "x"],
         "--context: contexts must be positive integers, got 'x' in 'x'"),
        (["llm", "hf:openai/whisper-large-v3", "--hardware", "a100-sxm4-80gb", "--prompt", "512"],
         "hf:openai/whisper-large-v3 encodes a fixed 30 s audio window (1,500 encoder positions): leave "
         "--prompt out (or give 1500)"),
        (["llm", "hf:openai/whisper-large-v3", "--hardware", "a100-sxm4-80gb", "--generate", "448"],
         "hf:openai/whisper-large-v3 takes at most 448 tokens (max_target_positions); decoder start + "
         "generate = 449 is longer"),
        (["llm", "hf:t5-base", "--hardware", "a100-sxm4-80gb", "--context", "600"],
         "--context 600 is outside the decode steps of hf:t5-base's decoder at prompt 512 (1 to 129): set "
         "--generate so that every context lies in every generation"),
        (["llm", "hf:t5-base", "--hardware", "a100-sxm4-80gb", "--tp", "5"],
         "--tp 5: hf:t5-base's 12 attention heads do not split 5 ways"),
    ]:  # fmt: skip
        assert cli.main(argv) == 2
        assert capsys.readouterr().err == f"modeltui: error: {message}\n"


def test_more_than_four_million_tokens_in_flight_still_capture():
    # 4,100 sequences x 1,024 tokens: transformers reads values of (B, P) position tensors, which the
    # capture must still know (a 2^22-element limit once refused this as data-dependent)
    capture = capture_llm("hf:gpt2", 4100, 1024, 1, FP16)
    assert capture.prefill.tokens == 1024 and capture.decode_first.kv_cache_bytes == 4100 * 1024 * 36_864


def test_calibrated_batch1_decode_is_memory_bound_and_follows_weight_precision():
    """Under the default calibrated model, decode's skinny GEMMs run as GEMV (vector units at least), so
    a batch-1 decode step of Llama-2-7B stays memory-bound and fewer weight bytes mean less time."""
    from metrics_core.perf.llm import Scenario

    tpot = {}
    for weights in ("fp16", "int8", "int4"):
        s = Scenario(prompt_tokens=64, generate_tokens=8, weights=weights, execution="compiled",
                     efficiency="calibrated")  # fmt: skip
        capture = capture_llm("hf:meta-llama/Llama-2-7b-hf", 1, 64, 8, s.bits)
        est = estimate_llm(capture, A100, s)
        assert est.decode_first.bound == "memory"
        tpot[weights] = est.tpot_s
    assert tpot["int4"] < tpot["int8"] < tpot["fp16"]


def test_mistral_kv_cache_stops_growing_at_its_window():
    # Mistral-7B slides a 4,096-token window on every layer: past it, each layer's cache holds (and a
    # decode step reads) 4,096 tokens, not the whole context
    c = config("mistralai/Mistral-7B-v0.1")
    w, layers, kv_heads = c["sliding_window"], c["num_hidden_layers"], c["num_key_value_heads"]
    per_token = 2 * layers * kv_heads * (c["hidden_size"] // c["num_attention_heads"]) * 2
    assert per_token == 131_072
    capture, est = estimate("mistralai/Mistral-7B-v0.1", prompt_tokens=4000, generate_tokens=200)
    assert est.kv_bytes_per_token == per_token
    assert est.kv_cache_bytes == w * per_token  # 536,870,912, not 4,200 x 131,072 = 550,502,400
    assert capture.decode_last.kv_cache_bytes == w * per_token
    sdpa = next(r for r in capture.decode_last.records if r.op == "scaled_dot_product_attention")
    assert sdpa.input_shapes[1][-2] == w  # the step at context 4,200 reads 4,096 keys per layer
    # TPOT: the step time grows from context 4,000 to the window, then stays flat to 4,200; the mean over
    # the generation is the trapezoid over the steps at 4,000, 4,096 and 4,200 (not (t4000 + t4200) / 2)
    assert capture.knots == [4000, w, 4200]
    at_w = estimate_llm(capture, A100, Scenario(prompt_tokens=4000, generate_tokens=200, context_tokens=w))
    t0, t1, t2 = est.decode_first.time_s, at_w.decode.time_s, est.decode_last.time_s
    assert t2 == t1 > t0
    assert est.tpot_s == pytest.approx(((w - 4000) * (t0 + t1) / 2 + (4200 - w) * t1) / 200)


def test_context_list_reports_each_decode_step(capsys):
    # GPT-2: a decode step at context C reads C tokens of KV (2 x 12 layers x 768 x 2 bytes each), so
    # steps 4 tokens apart differ by 4 x 36,864 bytes, and the list adds no other difference
    code = cli.main(["llm", "hf:gpt2", "--hardware", "a100-sxm4-80gb", "--prompt", "32", "--generate", "8",
                     "--context", "32,36,40", "--format", "json"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = json.loads(out)
    assert [r["context_tokens"] for r in rows] == [32, 36, 40]
    bytes_ = [r["decode"]["bytes"] for r in rows]
    assert bytes_[1] - bytes_[0] == bytes_[2] - bytes_[1] == 4 * 36_864
    assert rows[0]["decode"]["time_s"] == rows[0]["tpot_first_s"]
    assert rows[2]["decode"] == rows[2]["decode_last"]
    assert {r["tpot_s"] for r in rows} == {rows[0]["tpot_s"]}  # the mean over the generation


def test_t5_encoder_decoder_prefill_and_caches():
    c = config("google-t5/t5-base")
    d, heads, d_kv, ff, vocab = c["d_model"], c["num_heads"], c["d_kv"], c["d_ff"], c["vocab_size"]
    enc_layers, dec_layers = c["num_layers"], c.get("num_decoder_layers", c["num_layers"])
    p, n, b = 64, 8, 2
    capture, est = estimate("google-t5/t5-base", prompt_tokens=p, generate_tokens=n, batch_size=b)
    assert est.architecture == "encoder-decoder" and est.encoder_tokens == p
    # prefill = the encoder over P (bidirectional: every pair) + the decoder's step over its start token,
    # which projects every layer's cross-attention K/V from the P encoder positions; MACs per sequence
    linear = 4 * d * d + 2 * d * ff
    encoder = enc_layers * (p * linear + 2 * p * p * heads * d_kv)
    decoder = dec_layers * ((6 * d * d + 2 * d * ff) + 2 * d * d * p + 2 * heads * d_kv * (1 + p)) + d * vocab
    assert sum(r.macs for r in capture.prefill.records) == b * (encoder + decoder)  # 2 x 6,542,247,936
    assert est.prefill.flops == est.prefill.flops_dense  # nothing causal to halve
    # KV: self-attention per decoder token and cross-attention per encoder position, both
    # 2 x 12 layers x 12 heads x 64 x 2 bytes
    per_token = 2 * dec_layers * heads * d_kv * 2
    assert per_token == 36_864
    assert (est.kv_bytes_per_token, est.cross_kv_bytes_per_token) == (per_token, per_token)
    assert est.cross_kv_cache_bytes == b * p * per_token
    # vLLM's paged KV: the 1 + N = 9 decoder tokens held in one 16-token block (perf.paged_kv)
    assert est.kv_block_tokens == 16
    assert est.kv_cache_bytes == b * (16 * per_token + p * per_token)
    # decode contexts count decoder tokens: 1 (the start token) to 1 + N; each step reads the cross cache
    assert (capture.decode_first.context, capture.decode_last.context) == (1, 1 + n)
    assert capture.decode_first.cross_kv_bytes == b * p * per_token
    d_json = est.to_dict()
    assert (d_json["architecture"], d_json["context_tokens"], d_json["encoder_tokens"]) == (
        "encoder-decoder",
        1,
        p,
    )


def test_whisper_prefill_is_its_fixed_window():
    c = config("openai/whisper-large-v3")
    layers, heads, d = c["decoder_layers"], c["decoder_attention_heads"], c["d_model"]
    positions = c["max_source_positions"]  # 1,500: 3,000 mel frames through the stride-2 convolution
    capture, est = estimate("openai/whisper-large-v3", prompt_tokens=positions, generate_tokens=16)
    per_token = 2 * layers * heads * (d // heads) * 2
    assert per_token == 163_840
    assert est.cross_kv_bytes_per_token == per_token and est.encoder_tokens == 1500
    # 1 + 16 = 17 decoder tokens in two 16-token blocks (vLLM's paged KV, perf.paged_kv)
    assert est.kv_cache_bytes == 32 * per_token + 1500 * per_token
    # the encoder's linear layers over 1,500 positions: 32 layers x (4 d^2 + 2 d x 4d) MACs per position
    ffn = c["encoder_ffn_dim"]
    encoder_linear = c["encoder_layers"] * positions * (4 * d * d + 2 * d * ffn)
    mm = sum(
        r.macs for r in capture.prefill.records if r.op in ("mm", "addmm") and ".encoder." in f".{r.module}."
    )
    assert mm == encoder_linear
    with pytest.raises(UsageError, match="fixed 30 s window"):
        capture_llm("hf:openai/whisper-large-v3", 1, 512, 4, FP16)


def test_bart_from_a_config_file(tmp_path, capsys):
    # any hf: seq2seq config: BART's decoder (3 layers of 4 heads x 16) caches 2 x 3 x 64 x 2 bytes per token
    from transformers import BartConfig

    cfg = BartConfig(vocab_size=1000, d_model=64, encoder_layers=2, decoder_layers=3,
                     encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128,
                     decoder_ffn_dim=128, max_position_embeddings=128).to_dict()  # fmt: skip
    cfg["architectures"] = ["BartForConditionalGeneration"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    argv = ["llm", f"hf:{path}", "--hardware", "a100-sxm4-80gb", "--prompt", "32", "--generate", "8"]
    assert cli.main([*argv, "--batch-size", "2", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    per_token = 2 * 3 * 64 * 2
    assert (row["architecture"], row["kv_bytes_per_token"], row["cross_kv_bytes_per_token"]) == (
        "encoder-decoder",
        per_token,
        per_token,
    )
    # the 1 + 8 = 9 decoder tokens in one 16-token block (vLLM's paged KV, perf.paged_kv)
    assert row["kv_cache_bytes"] == 2 * (16 * per_token + 32 * per_token)
    assert cli.main([*argv[:4], "--prompt", "200", "--generate", "8"]) == 2
    assert capsys.readouterr().err == (
        f"modeltui: error: hf:{path}'s encoder takes at most 128 tokens (max_position_embeddings); "
        "--prompt 200\n"
    )


def test_t5_max_batch_counts_the_shared_position_bias_once():
    # T5's relative-position bias (1 x 12 heads x P x P) is shared by the batch: the largest batch must not
    # depend on the batch the capture ran at (B x P x 36,864 of cross KV + (1 + N) x 36,864 self KV each)
    s = {"prompt_tokens": 512, "generate_tokens": 64}
    target = get_target("a100-pcie-40gb")
    one = estimate("google-t5/t5-base", target, batch_size=1, **s)[1]
    four = estimate("google-t5/t5-base", target, batch_size=4, **s)[1]
    assert one.max_batch_size == four.max_batch_size
    capture = estimate("google-t5/t5-base", target, batch_size=2, **s)[0]
    (shared, per_sequence), *_ = sorted(capture.activation_lines, key=lambda x: -x[1])
    assert shared == 12 * 512 * 512 * 2  # where activations grow fastest, the shared part is the fp16 bias
