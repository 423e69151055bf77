"""Quantised weight / KV-cache formats (metrics_core.perf.quant): sizes hand-derived from the layouts."""

from __future__ import annotations

from fractions import Fraction

import pytest

from metrics_core.perf import quant
from metrics_core.perf.quant import KV_FORMATS, WEIGHT_FORMATS, kv_format, weight_format

# --- bits per weight from the struct layouts ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "block_bytes", "block_weights"),
    [
        ("q4_0", 18, 32),  # ggml block_q4_0: fp16 d + 16 bytes of nibbles
        ("q4_1", 20, 32),  # + fp16 m
        ("q5_0", 22, 32),  # fp16 d + 4 bytes of fifth bits + 16 bytes
        ("q5_1", 24, 32),
        ("q8_0", 34, 32),  # fp16 d + 32 int8
        ("q4_k", 144, 256),  # fp16 d, dmin + 12 bytes of 6-bit scales/mins + 128 bytes
        ("q5_k", 176, 256),  # + 32 bytes of fifth bits
        ("q6_k", 210, 256),  # 128 + 64 + 16 int8 scales + fp16 d
        ("mxfp4", 17, 32),  # ggml block_mxfp4: e8m0 + 16 bytes
        ("nvfp4", 36, 64),  # ggml block_nvfp4: 4 e4m3 scales + 32 bytes
    ],
)
def test_block_formats_match_struct_sizes(name, block_bytes, block_weights):
    assert weight_format(name).exact_bits_per_weight == Fraction(8 * block_bytes, block_weights)


def test_hand_derived_values():
    assert weight_format("q4_0").bits_per_weight == 4.5
    assert weight_format("q8_0").bits_per_weight == 8.5
    assert weight_format("q4_k").bits_per_weight == 4.5  # 144 * 8 / 256
    assert weight_format("q5_k").bits_per_weight == 5.5
    assert weight_format("q6_k").bits_per_weight == 6.5625  # 210 * 8 / 256
    assert weight_format("nvfp4").bits_per_weight == 4.5  # 4 + 8/16
    assert weight_format("mxfp4").bits_per_weight == 4.25  # 4 + 8/32
    assert weight_format("int4-g128").bits_per_weight == 4.15625  # 4 + (16 + 4)/128
    assert weight_format("int4-g128-sym").bits_per_weight == 4.125  # 4 + 16/128
    assert weight_format("int4-g64").bits_per_weight == 4.3125  # 4 + 20/64
    assert weight_format("int4-g32").bits_per_weight == 4.625  # 4 + 20/32
    assert weight_format("fp8").bits_per_weight == 8
    assert weight_format("fp8-block").exact_bits_per_weight == 8 + Fraction(32, 128 * 128)
    assert weight_format("int8").bits_per_weight == 8
    assert weight_format("fp16").bits_per_weight == 16
    assert weight_format("bf16").bits_per_weight == 16


def test_k_quant_overheads_decompose():
    """Q4_K: 6-bit scale + 6-bit min per 32 (0.375) + fp16 d and dmin per 256 (0.125)."""
    f = weight_format("q4_k")
    assert (f.group_size, f.scale_bits, f.zero_bits) == (32, 6, 6)
    assert (f.super_block_size, f.super_block_bits) == (256, 32)
    assert f.scale_overhead_bits == 0.5
    q6 = weight_format("q6_k")
    assert (q6.group_size, q6.scale_bits, q6.super_block_bits) == (16, 8, 16)


def test_mixes_use_published_figures():
    f = weight_format("q4_k_m")
    assert f.mix and "q6_k" in f.mix_of
    assert f.bits_per_weight == pytest.approx(4.8944)  # llama.cpp tools/quantize/README.md, Llama-3.1-8B
    assert weight_format("q5_k_m").bits_per_weight == pytest.approx(5.7036)
    # a mix sits above its base block type (the q6_k tensors)
    assert weight_format("q4_k").bits_per_weight < f.bits_per_weight < weight_format("q6_k").bits_per_weight
    assert not weight_format("q4_k").mix


def test_weight_bytes():
    assert weight_format("q4_0").weight_bytes(7e9) == 3_937_500_000
    assert weight_format("q4_0").weight_bytes(7_000_000_000) == 3_937_500_000
    assert weight_format("fp16").weight_bytes(7e9) == 14_000_000_000
    assert weight_format("int4").weight_bytes(128) == 67  # 128 * 4.15625 / 8 = 66.5, padded up
    assert weight_format("mxfp4").weight_bytes(0) == 0
    with pytest.raises(ValueError):
        weight_format("fp16").weight_bytes(-1)


# --- names and aliases ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("int4", "int4-g128"),
        ("awq", "int4-g128"),
        ("gptq", "int4-g128"),
        ("w4a16", "int4-g128"),
        ("Q4_K_M", "q4_k_m"),
        ("q4-k-m", "q4_k_m"),
        ("Q8_0", "q8_0"),
        ("NVFP4", "nvfp4"),
        ("mxfp4", "mxfp4"),
        ("w8a8", "int8"),
        ("w8a16", "int8"),
        ("w8a8-fp8", "fp8"),
        ("marlin", "int4-g128-sym"),
    ],
)
def test_aliases(alias, name):
    assert weight_format(alias).name == name


def test_registry_order_and_names():
    assert WEIGHT_FORMATS[:2] == ("fp16", "bf16")
    assert len(set(WEIGHT_FORMATS)) == len(WEIGHT_FORMATS)
    for n in WEIGHT_FORMATS:
        assert weight_format(n).name == n
    assert quant.weight_aliases()["awq"] == "int4-g128"


def test_unknown_weight_name_suggests():
    with pytest.raises(ValueError) as err:
        weight_format("q4km")
    text = str(err.value)
    assert "unknown weight format 'q4km'" in text
    assert "did you mean q4_k_m" in text
    assert "choose one of fp16, bf16" in text and "nvfp4" in text
    with pytest.raises(ValueError, match="did you mean nvfp4"):
        weight_format("nvfp")
    with pytest.raises(ValueError) as err:
        weight_format("zzzz")
    assert "did you mean" not in str(err.value)


# --- compute paths and dequant work ---------------------------------------------------------------------


def test_native_paths():
    assert weight_format("fp8").native_compute == "fp8"
    assert weight_format("int8").native_compute == "int8"
    assert weight_format("nvfp4").native_compute == "fp4"
    assert weight_format("mxfp4").native_compute == "fp4"
    assert weight_format("q4_k_m").native_compute == "int8"  # llama.cpp q8_1 dp4a / int8 MMA
    assert weight_format("int4").native_compute is None
    assert weight_format("fp16").native_compute is None
    assert weight_format("nvfp4").native_min_arch == "sm_100"


def test_dequant_flops():
    # Marlin: convert 1.5 + zero 1 + scale 1 (asymmetric), 2.5 symmetric
    assert weight_format("awq").dequant_flops_per_weight == 3.5
    assert weight_format("int4-g128-sym").dequant_flops_per_weight == 2.5
    assert weight_format("int8").dequant_flops_per_weight == 1.0
    assert weight_format("fp16").dequant_flops_per_weight == 0.0
    assert weight_format("q4_0").dequant_flops_per_weight == 2.0  # (q - 8) * d
    assert weight_format("fp8").dequant_flops(native=True) == 0.0
    assert weight_format("nvfp4").dequant_flops(native=True) == 0.0
    assert weight_format("q4_0").native_dequant_per_token
    with pytest.raises(ValueError):
        weight_format("int4").dequant_flops(native=True)
    for n in WEIGHT_FORMATS:
        f = weight_format(n)
        assert 0 <= f.dequant_flops_per_weight <= 4
        assert f.source
        if f.family == "float" and f.element_bits == 16:
            assert f.dequant_flops_per_weight == 0


# --- KV cache -------------------------------------------------------------------------------------------


def test_kv_formats():
    assert KV_FORMATS[:2] == ("fp16", "bf16")
    assert kv_format("fp16").bytes_per_element() == 2
    assert kv_format("bf16").bits_per_element() == 16
    assert kv_format("fp8").bits_per_element() == 8  # per-tensor scale: no per-element bits
    assert kv_format("fp8").bytes_per_element() == 1
    assert kv_format("int8").bits_per_element() == 8.25  # 8 + (16 + 16)/128
    assert kv_format("int8").bits_per_element(head_dim=64) == 8.5
    assert kv_format("int4").bits_per_element() == 4.25
    assert kv_format("nvfp4").bits_per_element() == 4.5  # 4 + 8/16
    assert kv_format("nvfp4").bits_per_element(head_dim=64) == 4.5  # block scales ignore head_dim
    assert kv_format("FP8_E4M3").name == "fp8"
    assert kv_format("int8").kv_bytes(1024) == 1056
    with pytest.raises(ValueError):
        kv_format("int8").bits_per_element(head_dim=0)


def test_unknown_kv_name_suggests():
    with pytest.raises(ValueError, match="unknown kv format 'fp9'; did you mean fp8"):
        kv_format("fp9")
