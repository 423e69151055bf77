"""Three regimes (compute, memory, overhead) and power-limited sustained clocks, with hand-derived values."""

from __future__ import annotations

import math

import pytest

from metrics_core.common.records import ModelReport, OpRecord
from metrics_core.perf import efficiency
from metrics_core.perf.efficiency import bound_of_times, clock_for
from metrics_core.perf.hardware import get_target
from metrics_core.perf.power import clock_model, with_power_limit
from metrics_core.perf.roofline import dominant_bound, estimate_model, estimate_records


def rec(i, op, cat, inb, outb, wb=0, flops=0, macs=0, shapes=None, out_shape=None):  # noqa: ANN001
    return OpRecord(
        index=i,
        module=f"m{i}",
        module_type="M",
        op=op,
        category=cat,
        input_shapes=shapes or [[1]],
        output_shape=out_shape or [1],
        dtype="fp16",
        macs=macs,
        flops=flops,
        input_bytes=inb,
        output_bytes=outb,
        weight_bytes=wb,
        reads_from=[-1],
    )


def test_bound_of_times():
    assert bound_of_times(1e-6, 2e-6, 3e-6) == "overhead"  # overhead longer than both
    assert bound_of_times(2e-6, 1e-6, 1.5e-6) == "compute"
    assert bound_of_times(1e-6, 2e-6, 2e-6) == "memory"  # a tie with the larger part is not overhead
    assert bound_of_times(0.0, 0.0, 0.0, has_flops=False) == "memory"
    assert dominant_bound({"compute": 1.0, "memory": 1.0, "overhead": 0.5}) == "memory"
    assert dominant_bound({"compute": 1.0, "memory": 0.5, "overhead": 3.0}) == "overhead"


def test_small_op_at_the_launch_floor_is_overhead_bound():
    # A100 SXM4 (Ampere parameters): a 1,024-element fp16 relu reads and writes 2,048 B each.
    # memory 4,096 / (2,039e9 x 0.88) = 2.283 ns; compute 512 / (19.5e12 x 0.25) = 0.105 ns;
    # device 2.283 ns + 2 us gap < 6 us of eager host issue time -> 6 us, of which 6 us - 2.283 ns overhead
    a100 = get_target("a100-sxm4-80gb")
    g = [rec(0, "relu", "activation", 2048, 2048, flops=512)]
    est = estimate_records(g, a100, "fp16", efficiency="calibrated")
    memory = 4096 / (2039e9 * 0.88)
    assert est.latency_s == pytest.approx(6e-6)
    assert est.memory_s == pytest.approx(memory)
    assert est.compute_s == pytest.approx(512 / (19.5e12 * 0.25))
    assert est.overhead_s == pytest.approx(6e-6 - memory)
    assert (est.bound, est.ops[0].bound, est.overhead_bound_time_pct) == ("overhead", "overhead", 100.0)
    k = est.to_dict(include_ops=True)
    assert (k["overhead_s"], k["ops"][0]["overhead_s"]) == (pytest.approx(6e-6 - memory),) * 2
    # ideal roofline with no target launch overhead: no overhead regime at all
    ideal = estimate_records(g, a100, "fp16", efficiency="ideal")
    assert (ideal.bound, ideal.overhead_s, ideal.latency_s) == ("memory", 0.0, pytest.approx(4096 / 2039e9))


def test_a_large_gemm_stays_compute_bound_with_its_gap_as_overhead():
    # 4096 x 4096 x 4096 fp16 GEMM on the A100 SXM4: 2 x 4096^3 FLOPs; tiles 128 x 128 -> 1,024 tiles on
    # 108 SMs = 9.48 waves -> 10: wave efficiency 1,024 / 1,080; K pads exactly; rate 312e12 x 0.92 x that.
    n = 4096
    flops = 2 * n**3
    g = [
        rec(
            0,
            "mm",
            "matmul",
            2 * 2 * n * n,
            2 * n * n,
            flops=flops,
            macs=n**3,
            shapes=[[n, n], [n, n]],
            out_shape=[n, n],
        )  # fmt: skip
    ]
    est = estimate_records(g, get_target("a100-sxm4-80gb"), "fp16", efficiency="calibrated")
    rate = 312e12 * 0.92 * (1024 / 1080)
    assert est.compute_s == pytest.approx(flops / rate)
    assert est.overhead_s == pytest.approx(2e-6)  # the kernel gap: device time far above the host's 6 us
    assert est.bound == "compute" and est.latency_s == pytest.approx(flops / rate + 2e-6)


def test_power_limited_parts_run_below_boost():
    # T4: Volta/Turing energy 300 W / 125 TFLOP/s = 2.40 pJ/FLOP x 65 TFLOP/s = 156 W at boost over its 70 W:
    # clock x sqrt(70 / 156) = 0.6699
    t4 = clock_for(get_target("t4"))
    assert (t4.source, t4.demand_w) == ("power model", pytest.approx(156.0))
    assert t4.ratio == pytest.approx(math.sqrt(70 / 156))
    # RTX PRO 6000 Max-Q (300 W): Blackwell-client 1.20 pJ/FLOP x 439 = 526.8 W -> x sqrt(300 / 526.8)
    maxq = clock_for(get_target("rtx-pro-6000-blackwell-max-q"))
    assert maxq.ratio == pytest.approx(math.sqrt(300 / 526.8))
    # the 600 W card defines its generation's energy: exactly at its limit, the rated clock
    assert clock_for(get_target("rtx-pro-6000-blackwell")).ratio == 1.0
    # RTX 4090: 1.3624 x 165.2 = 225.07 W within 450 W: rated clock (the fitted Ada parameters stay)
    r4090 = clock_for(get_target("rtx-4090"))
    assert (r4090.ratio, r4090.source, r4090.demand_w) == (1.0, "rated", pytest.approx(225.068, rel=1e-4))
    # H100 PCIe: Hopper 700 W / 989.4 = 0.7075 pJ/FLOP x 756 = 534.9 W over 350 W; the SXM5 at exactly 700 W
    assert clock_for(get_target("h100-pcie-80gb")).ratio == pytest.approx(math.sqrt(350 / (0.7075 * 756)))
    assert clock_for(get_target("h100-sxm5-80gb")).ratio == 1.0


def test_clock_model_floor_and_published_clock():
    t4 = get_target("t4")
    from dataclasses import replace

    # a base clock guarantees a floor: 1,500 of 1,590 MHz is above the power model's 0.67
    floored = clock_model(replace(t4, base_clock_mhz=1500.0, boost_clock_mhz=1590.0), 2.40, 2.0)
    assert floored.ratio == pytest.approx(1500 / 1590)
    # ... at its rated 70 W only: held to 35 W by nvidia-smi -pl the guarantee is gone, and the clock is
    # the power model's: demand 2.40 pJ/FLOP x 65 TFLOP/s = 156 W, (35 / 156)^(1/2) = 0.47366
    limited = with_power_limit(replace(t4, base_clock_mhz=1500.0, boost_clock_mhz=1590.0), 35)
    assert limited.tdp_w == 70 and limited.board_power_w == 35
    assert clock_model(limited, 2.40, 2.0).ratio == pytest.approx((35 / (2.40 * 65)) ** 0.5)
    assert clock_model(limited, 2.40, 2.0).ratio == pytest.approx(0.47366, abs=1e-5)
    published = replace(t4, sustained_clock_mhz=1100.0, sustained_clock_source="x", boost_clock_mhz=1590.0)
    assert clock_model(published, 2.40, 2.0).ratio == pytest.approx(1100 / 1590)
    assert clock_model(published, 2.40, 2.0).source == "published"
    with pytest.raises(ValueError, match="dvfs exponent must be positive"):
        clock_model(t4, 2.40, 0.0)


def test_power_limit_slows_tensor_kernels_only():
    # The same GEMM on the Max-Q is compute-bound at 0.7546 of the clock; a streaming copy is not slowed.
    n = 4096
    g = [
        rec(
            0,
            "mm",
            "matmul",
            4 * n * n,
            2 * n * n,
            flops=2 * n**3,
            macs=n**3,
            shapes=[[n, n], [n, n]],
            out_shape=[n, n],
        )  # fmt: skip
    ]
    maxq = get_target("rtx-pro-6000-blackwell-max-q")
    est = estimate_records(g, maxq, "fp16", efficiency="calibrated")
    p = efficiency.params_for(maxq)
    q = efficiency.quantisation(efficiency.gemm_shape(g[0]), p)
    ratio = math.sqrt(300 / 526.8)
    assert est.compute_s == pytest.approx(2 * n**3 / (439e12 * p.gemm * q * ratio))
    assert (est.clock_ratio, est.clock_source) == (pytest.approx(ratio), "power model")
    copy = [rec(0, "copy_", "movement", 1 << 26, 1 << 26)]
    assert estimate_records(copy, maxq, "fp16", efficiency="calibrated").memory_s == pytest.approx(
        (1 << 27) / (1792e9 * p.bandwidth)
    )


def test_python_api_defaults_are_the_cli_defaults():
    from tui.cli.commands import perfmode

    assert (perfmode.DEFAULT_EXECUTION, perfmode.DEFAULT_EFFICIENCY) == (
        efficiency.DEFAULT_EXECUTION,
        efficiency.DEFAULT_EFFICIENCY,
    )
    report = ModelReport("toy", [8], 1, "fp16", records=[rec(0, "relu", "activation", 2048, 2048, flops=512)])
    a100 = get_target("a100-sxm4-80gb")
    default = estimate_model(report, a100, "fp16")
    assert (default.execution, default.efficiency, default.latency_s) == (
        "eager",
        "calibrated",
        pytest.approx(6e-6),
    )
    assert (default.validated, default.validation) == (False, None)  # the A100: a physical estimate
    r4090 = estimate_model(report, get_target("rtx-4090"), "fp16")
    assert r4090.validated and r4090.validation.startswith("timm ImageNet")
    assert (default.to_dict()["validated"], r4090.to_dict()["validated"]) == (False, True)


def _chain(sizes):  # noqa: ANN001
    """relu ops in a chain: op i reads op i-1's output; sizes = output bytes of each."""
    out = []
    for i, n in enumerate(sizes):
        r = rec(i, "relu", "activation", sizes[i - 1] if i else n, n, flops=n // 2)
        out.append(OpRecord(**{**r.__dict__, "reads_from": [i - 1] if i else [-1]}))
    return out


def test_l2_residency_and_cache_aware_memory_time():
    from metrics_core.perf.cache import l2_read_bytes

    # L2 of 10 MB keeps 5 MB for re-use: op 1 reads op 0's 1 MB output right away -> from L2;
    # op 3 reads op 2's 4 MB output after nothing in between: 4 MB <= 5 MB -> L2; a 6 MB output is not.
    mb = 1_000_000
    g = _chain([mb, mb, 4 * mb, 4 * mb, 6 * mb, 6 * mb])
    assert l2_read_bytes(g, 10 * mb) == [0, mb, mb, 4 * mb, 4 * mb, 0]
    # an older producer: op 2 reading op 0 after op 1 moved 2 MB: 1 + 2 MB <= 5 MB -> hit
    far = OpRecord(**{**g[2].__dict__, "reads_from": [0], "input_bytes": mb})
    assert l2_read_bytes([g[0], g[1], far], 10 * mb) == [0, mb, mb]
    # A100 SXM4 (40 MB L2, 7,219 GB/s, Ampere bandwidth share 0.88), eager calibrated: the second of two
    # 8 MB relus reads its 8 MB input from L2: memory = 8e6 / (2039e9 x 0.88) + 8e6 / (7219e9 x 0.88)
    a100 = get_target("a100-sxm4-80gb")
    est = estimate_records(_chain([8 * mb, 8 * mb]), a100, "fp16", efficiency="calibrated")
    assert (est.l2_aware, est.l2_bytes, est.l2_hit_pct) == (True, 8 * mb, 50.0)
    second = est.ops[1]
    assert second.l2_bytes == 8 * mb
    assert second.memory_s == pytest.approx(8e6 / (2039e9 * 0.88) + 8e6 / (7219e9 * 0.88))
    # the ideal roofline and targets without L2 figures stay the DRAM roofline
    assert estimate_records(_chain([8 * mb, 8 * mb]), a100, "fp16", efficiency="ideal").l2_bytes == 0
    r4090 = estimate_records(_chain([8 * mb, 8 * mb]), get_target("rtx-4090"), "fp16")
    assert (r4090.l2_aware, r4090.l2_bytes) == (False, 0)


def test_l2_residency_of_compiled_kernels_counts_only_what_a_kernel_reads_from_other_kernels():
    from metrics_core.perf.cache import kernel_l2_read_bytes
    from metrics_core.perf.fusion import Kernel

    # L2 of 10 MB keeps 5 MB. K0 fuses ops 0 and 1 (op 1 reads op 0 inside the kernel: on chip, not an
    # L2 read) and writes op 1's 2 MB. K1 (op 2, a GEMM with 1 MB of weights) reads op 1's 2 MB right away:
    # from L2, capped at its 3 MB of reads less the 1 MB of weights = 2 MB. K2 (op 3) reads op 2's 4 MB
    # (nothing between: 4 <= 5 MB, a hit) and op 1's 2 MB (K1's 3 + 4 MB between: 9 > 5 MB, from DRAM)
    mb = 1_000_000
    records = [
        OpRecord(**{**rec(0, "relu", "activation", mb, mb).__dict__, "reads_from": [-1]}),
        OpRecord(**{**rec(1, "relu", "activation", mb, 2 * mb).__dict__, "reads_from": [0]}),
        OpRecord(**{**rec(2, "mm", "matmul", 2 * mb, 4 * mb, wb=mb).__dict__, "reads_from": [1]}),
        OpRecord(**{**rec(3, "add", "elementwise", 6 * mb, mb).__dict__, "reads_from": [2, 1]}),
    ]
    kernels = [
        Kernel((0, 1), "fused", 0, mb, 2 * mb, 0),
        Kernel((2,), "extern", 0, 3 * mb, 4 * mb, 2),
        Kernel((3,), "fused", 0, 6 * mb, mb, 3),
    ]
    assert kernel_l2_read_bytes(kernels, records, 10 * mb) == [0, 2 * mb, 4 * mb]
    # a 4 MB L2 (2 MB kept): only K1's read of op 1's 2 MB fits
    assert kernel_l2_read_bytes(kernels, records, 4 * mb) == [0, 2 * mb, 0]
