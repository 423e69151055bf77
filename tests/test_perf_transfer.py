"""Model structure that carries fitted parameters to measurements the fit did not see (issue 19): a compiled
convolution's efficiency from the generation's GEMM fraction, one GCD of an MI250X as its own target, and a
run's board power limit in the power model. Every expected value is derived by hand in its comment."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from metrics_core.perf import efficiency
from metrics_core.perf.efficiency import IMPLICIT_GEMM_PREMISE, KernelTerms, clock_for, time_from_terms
from metrics_core.perf.hardware import get_target
from metrics_core.perf.power import with_power_limit


@pytest.fixture(autouse=True)
def no_user_file(tmp_path, monkeypatch):
    """No user efficiency file: the built-in parameters."""
    monkeypatch.setenv("MODELTUI_CONFIG_DIR", str(tmp_path / "config"))


# ------------------------------------------------------------------ compiled convolution = gemm x implicit


def test_compiled_conv_is_the_generation_gemm_times_one_op_class_factor():
    # [op_class] implicit_gemm = 0.92 for every generation; Ada gemm 1.0 -> 0.92 (the value fitted on the
    # RTX 4090's torch.compile files before the factor existed), Ampere 0.92 x 0.92 = 0.8464,
    # Hopper 0.80 x 0.92 = 0.736
    ada = efficiency.params_for(get_target("rtx-4090"))
    assert (ada.implicit_gemm, ada.conv_compiled) == (0.92, None)
    assert ada.compiled_conv == pytest.approx(0.92)
    assert efficiency.params_for(get_target("rtx-3090")).compiled_conv == pytest.approx(0.8464)
    assert efficiency.params_for(get_target("h100-sxm5-80gb")).compiled_conv == pytest.approx(0.736)
    # CPUs state their own (oneDNN, not cuDNN): the explicit value wins
    assert efficiency.params_for(get_target("xeon-6980p")).compiled_conv == 0.60


def test_a_fitted_gemm_fraction_moves_the_compiled_conv_with_it():
    # what the leave-one-GPU-out fit relies on: eager files fit gemm, compiled convs follow it
    p = replace(efficiency.params_for(get_target("rtx-3090")), gemm=0.9, implicit_gemm=IMPLICIT_GEMM_PREMISE)
    assert p.compiled_conv == pytest.approx(0.9)  # 0.9 x the premise 1.0
    assert p.value("conv_compiled") == pytest.approx(0.9)
    assert replace(p, conv_compiled=0.5).value("conv_compiled") == 0.5  # a user's explicit value wins
    assert efficiency.generation_values("ada")["implicit_gemm"] == 0.92
    assert "conv_compiled" not in efficiency.generation_values("ada")  # derived, not stated
    assert efficiency.generation_values("generic-cpu")["conv_compiled"] == 0.60


def test_compiled_conv_kernel_time_uses_gemm_times_implicit_gemm():
    # 1 TFLOP on a 100 TFLOP/s peak, rated clock, no tile quantisation: rate = 100e12 x 0.92 x 0.92
    # = 84.64e12 FLOP/s -> 11.815 ms of compute; Ampere's 2 us kernel gap is the overhead
    p = efficiency.params_for(get_target("rtx-3090"))
    terms = KernelTerms(
        cls="conv_compiled", flops=1e12, bytes=1e6, peak=100e12, clock=1.0, vector_peak=35.6e12, q=None,
        skinny=0.0, io_bytes=0.0, bandwidth=936e9, launch_s=0.0, eager=False,
    )  # fmt: skip
    t = time_from_terms(terms, p)
    assert t.compute_s == pytest.approx(1e12 / 84.64e12)
    assert t.overhead_s == pytest.approx(2e-6)
    assert t.bound == "compute"


def test_user_file_may_set_implicit_gemm(tmp_path):
    parsed = efficiency.parse_user_efficiency("[target.rtx-4090]\nimplicit_gemm = 0.85\n", "f.toml")
    assert parsed == {"rtx-4090": {"implicit_gemm": 0.85}}
    with pytest.raises(ValueError, match="implicit_gemm = 0.4: outside its range 0.5-1"):
        efficiency.parse_user_efficiency("[target.rtx-4090]\nimplicit_gemm = 0.4\n", "f.toml")


# ------------------------------------------------------------------------------------- one GCD of MI250X


def test_mi250x_gcd_is_half_the_package():
    pkg, gcd = get_target("mi250x"), get_target("mi250x-gcd")
    # CDNA 2: 2 GCDs, each with 4 of the 8 HBM2e stacks and 110 of the 220 CUs
    assert gcd.bandwidth == 1638.4e9 == pkg.bandwidth / 2
    assert gcd.memory_gb == 64 == pkg.memory_gb / 2
    assert gcd.peak_flops("fp16") == 191.5e12 == pkg.peak_flops("fp16") / 2
    # the catalog's package FP32 47.9 = 220 CUs x 128 x 1.7 GHz; one GCD's 110 CUs: half, 23.95
    assert gcd.peak_flops("fp32") == pytest.approx(47.9e12 / 2)
    assert efficiency.params_for(gcd).units == 110
    # the same memory-bound decode step (bytes / bandwidth) takes twice as long on one GCD: 13.5 GB of
    # weights -> 4.120 ms on the package's 3276.8 GB/s, 8.240 ms on a GCD's 1638.4 GB/s
    assert 13.5e9 / gcd.bandwidth == pytest.approx(2 * 13.5e9 / pkg.bandwidth)
    assert 13.5e9 / gcd.bandwidth == pytest.approx(8.2397e-3, rel=1e-4)


def test_cdna_streams_a_measured_lower_share_of_its_hbm_peak():
    from metrics_core.perf.stacks import stacks

    # stream benchmarks (data/efficiency.toml): MI300X read / scale / triad 79.2 / 76.6 / 75.5 %, BabelStream
    # copy 77.5 % -> CDNA 3 0.77; the MI210 die (one CDNA 2 GCD) read / scale / triad 85.3 / 86.2 / 75.2 %,
    # mean 0.82; NVIDIA's copy / triad ~88 % (A100, H100, RTX 4090)
    mi300x, gcd, h100 = get_target("mi300x"), get_target("mi250x-gcd"), get_target("h100-sxm5-80gb")
    p300, p250 = efficiency.params_for(mi300x), efficiency.params_for(gcd)
    assert (p300.generation, p300.bandwidth) == ("cdna3", 0.77)
    assert (p250.generation, p250.bandwidth) == ("cdna2", 0.82)
    assert efficiency.params_for(get_target("mi325x")).generation == "cdna3"
    assert efficiency.params_for(h100).bandwidth == 0.88
    # a stack's decode share was fitted on NVIDIA parts: on CDNA 3 it is scaled by 0.77 / 0.88 = 0.875, on
    # CDNA 2 by 0.82 / 0.88 = 0.932; on NVIDIA parts it is the stack's own
    vllm = stacks()["vllm"]
    share = vllm.bandwidth["hbm"]
    assert dict(vllm.tuning(mi300x, "bf16").overrides)["bandwidth"] == pytest.approx(share * 0.875)
    assert dict(vllm.tuning(gcd, "bf16").overrides)["bandwidth"] == pytest.approx(share * 0.932)
    assert dict(vllm.tuning(h100, "bf16").overrides)["bandwidth"] == share


def test_cdna3_gemm_runs_at_amds_published_gemm_clock():
    # AMD's blog (ROCm/rocm-blogs measuring-max-achievable-flops-part2): hipBLASLt BF16 dense GEMM at a
    # median 1207 MHz on an MI300X (750 W), 1447 MHz on an MI325X (1000 W), of the 2100 MHz peak, at 94 % of
    # the peak at that clock: 1307.4 x 1207 / 2100 x 0.94 = 706.4 TFLOP/s (the blog: 708), MI325X 846.8 (843)
    for tid, mhz, tflops in (("mi300x", 1207, 706.36), ("mi325x", 1447, 846.81)):
        t = get_target(tid)
        clock, p = clock_for(t), efficiency.params_for(t)
        assert (clock.source, clock.ratio, p.gemm) == ("published", pytest.approx(mhz / 2100), 0.94)
        assert t.peak_flops("bf16") * clock.ratio * p.gemm / 1e12 == pytest.approx(tflops, abs=0.01)
    # CDNA 2: torch.mm's maximum achievable 147.0 of one MI250X die's 191.5 TFLOP/s = 0.77, no clock figure
    gcd = get_target("mi250x-gcd")
    assert (efficiency.params_for(gcd).gemm, clock_for(gcd).source) == (0.77, "rated")


# -------------------------------------------------------------------------------------- power limit


def test_a100_held_to_330_w_runs_its_tensor_cores_below_boost():
    # Ampere energy 400 W / 312 TFLOP/s = 1.2821 pJ/FLOP x the A100's 312 TFLOP/s = 400 W at boost; under a
    # 330 W limit clock x (330 / 400) ^ (1 / 2) = 0.90830, above the base / boost floor 1275 / 1410 = 0.90426
    a100 = get_target("a100-sxm4-80gb")
    limited = with_power_limit(a100, 330)
    assert limited.board_power_w == 330.0 and a100.board_power_w == 400
    clock = clock_for(limited)
    assert clock.source == "power model"
    assert clock.demand_w == pytest.approx(400.0)
    assert clock.ratio == pytest.approx(math.sqrt(330 / 400))
    assert clock.ratio == pytest.approx(0.90830, abs=1e-5)
    assert clock_for(a100).ratio == 1.0  # the stock 400 W board: its rated clock


def test_power_limit_above_the_board_or_absent_changes_nothing():
    a100 = get_target("a100-sxm4-80gb")
    assert with_power_limit(a100, None) is a100
    assert with_power_limit(a100, 450) is a100  # a limit above the board's 400 W does not raise it
    with pytest.raises(ValueError, match="positive number of watts"):
        with_power_limit(a100, 0)
