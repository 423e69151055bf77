"""Collective-communication model (metrics_core/perf/comm.py): formulas, algorithm choice, validation."""

from __future__ import annotations

import dataclasses

import pytest

from metrics_core.perf.comm import (
    OPS,
    CollectiveTime,
    bus_factor,
    collective_time,
    known_kinds,
    link_for,
    validation_table,
)

MIB = 1024 * 1024


def bare_link(per_direction_gbps: float = 100.0, bus_efficiency: float = 0.5):
    """busbw 50 GB/s, no ramp, no launch or base latency, 1 us per ring step; LL and NVLS unusable."""
    return dataclasses.replace(
        link_for("default", 2 * per_direction_gbps),
        bus_efficiency=bus_efficiency,
        ramp_half_bytes=0.0,
        launch_us=0.0,
        ring_base_us=0.0,
        ring_step_us=1.0,
        ll_bus_fraction=1e-6,
        nvls=False,
        custom=False,
    )


def test_ring_all_reduce_is_the_textbook_formula():
    # 1 GB over 8 GPUs at busbw 50 GB/s: 2 * 7/8 * 1e9 / 50e9 = 0.035 s plus 2 * 7 steps of 1 us.
    got = collective_time("all_reduce", 1e9, 8, bare_link())
    assert got.algorithm == "ring"
    assert got.bandwidth_s == pytest.approx(0.035)
    assert got.latency_s == pytest.approx(14e-6)
    assert got.time_s == pytest.approx(0.035014)
    # busbw reported the nccl-tests way: 1.75 * 1e9 / 0.035014 s
    assert got.bus_bandwidth_gbps == pytest.approx(1.75 / 0.035014)


def test_all_gather_and_reduce_scatter_move_n_minus_1_over_n():
    # 7/8 * 1e9 / 50e9 = 0.0175 s plus 7 steps of 1 us.
    for op in ("all_gather", "reduce_scatter"):
        got = collective_time(op, 1e9, 8, bare_link())
        assert got.time_s == pytest.approx(0.0175 + 7e-6)
        assert got.bus_bandwidth_gbps == pytest.approx(0.875 / (0.0175 + 7e-6))


def test_ramp_adds_s_half_to_the_message():
    # busbw(S) = B S / (S + S_half): with S_half = S the 1 GB ring all-reduce takes twice the bandwidth term.
    link = dataclasses.replace(bare_link(), ramp_half_bytes=1e9)
    assert collective_time("all_reduce", 1e9, 8, link).bandwidth_s == pytest.approx(0.070)


def test_one_gpu_is_free():
    got = collective_time("all_reduce", 1e9, 1, link_for("nvswitch", 900))
    assert got == CollectiveTime(0.0, 0.0, 0.0, "none", 0.0)


def test_link_for_halves_the_bidirectional_figure():
    link = link_for("pcie", 64)
    assert link.per_direction_gbps == 32.0
    assert link.bus_gbps == pytest.approx(19.2)  # 32 GB/s x 0.60
    assert link_for("nvswitch", 900).nvls is True  # NVLink 4: 450 GB/s per direction
    assert link_for("nvswitch", 600).nvls is False  # A100 NVLink 3: no NVLink SHARP
    assert link_for("nvswitch", 600, nvls=True).nvls is True


def test_small_message_h100_takes_ll_with_nccl_latencies():
    # 16 KiB on 8 H100: ring-ll = launch 5 + base 6.6 + 14 x 0.6 = 20 us, + 1.75 x 16384 / (450 x 0.3 GB/s).
    got = collective_time("all_reduce", 16384, 8, link_for("nvswitch", 900))
    assert got.algorithm == "ring-ll"
    assert got.latency_s == pytest.approx(20e-6)
    assert got.time_s == pytest.approx(20e-6 + 1.75 * 16384 / 135e9)


def test_large_message_h100_takes_nvls_a100_takes_ring():
    # 1 GiB on 8 H100: nvls = 5 + 25 us + 1.75 x (1 GiB + 4 MiB) / (450 x 1.067 GB/s).
    h100 = collective_time("all_reduce", 1024 * MIB, 8, link_for("nvswitch", 900))
    assert h100.algorithm == "nvls"
    assert h100.time_s == pytest.approx(30e-6 + 1.75 * (1028 * MIB) / (450 * 1.067e9))
    # A100 (no NVLS): ring = 5 + 8.4 + 14 x 3.4 us + 1.75 x (1 GiB + 16 MiB) / (300 x 0.8 GB/s).
    a100 = collective_time("all_reduce", 1024 * MIB, 8, link_for("nvswitch", 600))
    assert a100.algorithm == "ring"
    assert a100.time_s == pytest.approx(61e-6 + 1.75 * (1040 * MIB) / 240e9)


def test_custom_allreduce_wins_small_messages_when_the_stack_has_it():
    link = link_for("nvswitch", 900)
    # one-shot below 256 KiB on 8 GPUs: 5 + 5 us + 7 x 16384 / 360 GB/s
    got = collective_time("all_reduce", 16384, 8, link, custom_allreduce=True)
    assert got.algorithm == "custom-1shot"
    assert got.time_s == pytest.approx(10e-6 + 7 * 16384 / 360e9)
    # two-shot from 256 KiB: 5 + 2 x 5 us + 1.75 x 1 MiB / 360 GB/s
    two = collective_time("all_reduce", MIB, 8, link, custom_allreduce=True)
    assert two.algorithm == "custom-2shot"
    assert two.time_s == pytest.approx(15e-6 + 1.75 * MIB / 360e9)
    # above vLLM's 8 MiB limit NCCL runs again
    assert collective_time("all_reduce", 64 * MIB, 8, link, custom_allreduce=True).algorithm == "nvls"
    # PCIe: no custom all-reduce
    pcie = collective_time("all_reduce", 16384, 8, link_for("pcie", 64), custom_allreduce=True)
    assert pcie.algorithm == "ring-ll"


def test_pcie_is_much_slower_than_nvswitch():
    # 256 MiB all-reduce on 8 GPUs, both ring:
    #   PCIe Gen4: 5 + 8.4 + 14 x 5.7 = 93.2 us + 1.75 x 260 MiB / 19.2 GB/s = 24 942.6 us
    #   A100 NVSwitch: 61 us + 1.75 x 272 MiB / 240 GB/s = 2 140.7 us       -> 11.65x
    pcie = collective_time("all_reduce", 256 * MIB, 8, link_for("pcie", 64))
    nvs = collective_time("all_reduce", 256 * MIB, 8, link_for("nvswitch", 600))
    assert pcie.time_s == pytest.approx(93.2e-6 + 1.75 * 260 * MIB / 19.2e9)
    assert nvs.time_s == pytest.approx(61e-6 + 1.75 * 272 * MIB / 240e9)
    assert pcie.time_s / nvs.time_s == pytest.approx(11.65, abs=0.01)


def test_nvlink_bridge_beyond_a_pair_runs_at_pcie():
    bridge = link_for("nvlink-bridge", 600)
    pair = collective_time("all_reduce", 64 * MIB, 2, bridge)
    assert pair.algorithm == "ring"
    # 2 GPUs: 5 + 8.4 + 2 x 3.4 us + 1 x (64 + 16) MiB / 240 GB/s
    assert pair.time_s == pytest.approx(20.2e-6 + 80 * MIB / 240e9)
    four = collective_time("all_reduce", 64 * MIB, 4, bridge)
    assert four.algorithm == "ring via pcie"
    assert four.time_s == collective_time("all_reduce", 64 * MIB, 4, link_for("pcie", 64)).time_s


def test_all_to_all_is_one_round_of_concurrent_sends():
    # 8 GPUs on PCIe Gen4: 5 + 8.4 + 5.7 = 19.1 us + 7/8 x (1 MiB + 4 MiB) / 19.2 GB/s
    got = collective_time("all_to_all", MIB, 8, link_for("pcie", 64))
    assert got.algorithm == "p2p"
    assert got.time_s == pytest.approx(19.1e-6 + 0.875 * 5 * MIB / 19.2e9)


def test_bus_factors():
    assert bus_factor("all_reduce", 8) == 1.75
    assert bus_factor("all_gather", 8) == 0.875
    assert bus_factor("all_to_all", 4) == 0.75
    assert OPS == ("all_reduce", "all_gather", "reduce_scatter", "all_to_all")


def test_unknown_kind_lists_the_known_ones():
    with pytest.raises(ValueError) as err:
        link_for("carrier-pigeon", 100)
    assert str(err.value) == (
        "unknown interconnect kind 'carrier-pigeon'; known kinds: "
        "nvswitch, nvlink-bridge, pcie, infinity-fabric, ici, roce, default"
    )
    assert known_kinds() == ("nvswitch", "nvlink-bridge", "pcie", "infinity-fabric", "ici", "roce", "default")


@pytest.mark.parametrize(
    ("op", "size", "n", "message"),
    [
        ("broadcast", 1.0, 8, "unknown collective 'broadcast'"),
        ("all_reduce", 1.0, 0, "n must be an integer >= 1"),
        ("all_reduce", 1.0, -2, "n must be an integer >= 1"),
        ("all_reduce", -1.0, 8, "message_bytes must be a finite number >= 0"),
        ("all_reduce", float("nan"), 8, "message_bytes must be a finite number >= 0"),
    ],
)
def test_bad_arguments(op, size, n, message):
    with pytest.raises(ValueError, match=message):
        collective_time(op, size, n, link_for("nvswitch", 900))


def test_bad_bandwidth():
    with pytest.raises(ValueError, match="interconnect_gbps must be a positive number"):
        link_for("pcie", 0)


def test_model_matches_published_measurements_within_25_percent():
    rows = validation_table()
    assert len(rows) == 9
    for r in rows:
        assert abs(r.error) <= 0.25, (r.source, r.size_bytes, r.measured_busbw_gbps, r.model_busbw_gbps)
    # today's worst points: H100 NVLS at 16 MiB (+17.7 %) and the single MI300X point at 8 MiB (-17 %)
    assert max(abs(r.error) for r in rows) < 0.18


def test_tensor_parallel_all_reduce_runs_in_the_16_bit_residual_dtype():
    """FP8 / INT8 / FP4 activations quantise GEMM inputs; the row-parallel GEMM's partial sums, which the
    all-reduce adds, stay in the model's 16-bit dtype (vLLM RowParallelLinear, TensorRT-LLM's plugin)."""
    from metrics_core.perf.hardware import get_target
    from metrics_core.perf.llm import Scenario, allreduce_s

    h100 = get_target("h100-sxm5-80gb")
    fp8 = Scenario(batch_size=64, tp=8, weights="fp8", activations="fp8", kv="fp8", stack="vllm")
    bf16 = Scenario(batch_size=64, tp=8, weights="bf16", activations="bf16", kv="bf16", stack="vllm")
    # 80 layers x 2 all-reduces of 64 x 1 x 8192 x 2 B = 1 MiB each: the custom two-shot kernel,
    # 5 + 2 x 5 us + 1.75 x 1 MiB / 360 GB/s = 20.097 us, x 160 = 3.2155 ms, the same with FP8 activations
    expected = 160 * (15e-6 + 1.75 * MIB / 360e9)
    assert allreduce_s(fp8, h100, 80, 8192, 1) == pytest.approx(expected)
    assert allreduce_s(bf16, h100, 80, 8192, 1) == pytest.approx(expected)
