"""Roofline estimates on hand-built op records, checked against hand-computed values.

Target for most tests: A100 PCIe 40GB at fp32: peak P = 19.5e12 FLOP/s, bandwidth B = 1555e9 bytes/s,
ridge point P / B = 12.540 FLOP/byte.
"""

from __future__ import annotations

import pytest

from metrics_core.common.errors import UsageError
from metrics_core.common.records import ModelReport, OpRecord
from metrics_core.perf.hardware import get_target, load_catalog
from metrics_core.perf.roofline import (
    attainable_flops,
    estimate_model,
    estimate_op,
    estimate_records,
    precision_for,
)


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELTUI_CONFIG_DIR", str(tmp_path / "config"))


A100 = "a100-pcie-40gb"


def op(index: int, flops: int, nbytes: int, op_name: str = "aten.mm", category: str = "matmul") -> OpRecord:
    """A record whose bytes are split input/output/weight = 1/2, 1/4, 1/4 (totals are what matter)."""
    return OpRecord(
        index=index,
        module=f"layer{index}",
        module_type="Linear",
        op=op_name,
        category=category,
        input_shapes=[[1]],
        output_shape=[1],
        dtype="fp32",
        macs=flops // 2,
        flops=flops,
        input_bytes=nbytes // 2,
        output_bytes=nbytes // 4,
        weight_bytes=nbytes - nbytes // 2 - nbytes // 4,
    )


# AI = 1 FLOP/byte (left of the ridge): time = max(1.555e9 / 19.5e12, 1.555e9 / 1555e9) = 1 ms, memory
MEM_OP = op(0, 1_555_000_000, 1_555_000_000)
# AI = 195 FLOP/byte (right of the ridge): time = max(19.5e9 / 19.5e12, 0.1e9 / 1555e9) = 1 ms, compute
COMPUTE_OP = op(1, 19_500_000_000, 100_000_000)
# no FLOPs, 3.11e9 bytes: time = 3.11e9 / 1555e9 = 2 ms, memory
COPY_OP = op(2, 0, 3_110_000_000, "aten.clone", "data-movement")


def test_precision_mapping():
    a100, t4 = get_target(A100), get_target("t4")
    assert [precision_for(a100, d) for d in ("fp32", "fp16", "bf16", "int8")] == [
        "fp32",
        "fp16",
        "bf16",
        "int8",
    ]
    assert precision_for(a100, "fp32", use_tf32=True) == "tf32"
    with pytest.raises(
        UsageError, match=r"hardware 't4' \(NVIDIA T4\) has no bf16 path; it has fp32, fp16, int8"
    ):
        precision_for(t4, "bf16")
    with pytest.raises(UsageError, match="'t4' .* has no tf32 path"):
        precision_for(t4, "fp32", use_tf32=True)
    with pytest.raises(UsageError, match="--tf32 applies to dtype fp32 only"):
        precision_for(a100, "fp16", use_tf32=True)
    with pytest.raises(UsageError, match="unknown dtype 'fp8'"):
        precision_for(a100, "fp8")


@pytest.mark.parametrize(
    ("tid", "precision", "ai", "expected"),
    [
        (A100, "fp32", 1.0, 1555e9),  # memory side: 1 x 1555e9
        (A100, "fp32", 10.0, 15.55e12),  # memory side, just left of the 12.54 ridge
        (A100, "fp32", 100.0, 19.5e12),  # compute side: the roof
        ("h100-sxm5-80gb", "bf16", 100.0, 335e12),  # 100 x 3350e9, ridge 295.3
        ("h100-sxm5-80gb", "bf16", 1000.0, 989.4e12),  # roof
        ("raspberry-pi-5", "fp32", 2.0, 34.2e9),  # 2 x 17.1e9, ridge 9.0
        ("raspberry-pi-5", "fp32", 50.0, 0.154e12),  # roof
    ],
)
def test_attainable_flops_on_both_sides_of_the_ridge(tid, precision, ai, expected):
    assert attainable_flops(ai, get_target(tid), precision) == pytest.approx(expected, rel=1e-9)


def test_op_estimates_left_and_right_of_the_ridge():
    t = get_target(A100)
    mem, comp, copy = (estimate_op(r, t, "fp32") for r in (MEM_OP, COMPUTE_OP, COPY_OP))
    assert (mem.ai, mem.bound, mem.time_s) == (1.0, "memory", pytest.approx(1e-3))
    assert mem.attainable_flops_per_s == pytest.approx(1555e9)
    assert (comp.ai, comp.bound, comp.time_s) == (195.0, "compute", pytest.approx(1e-3))
    assert comp.attainable_flops_per_s == pytest.approx(19.5e12)
    assert (copy.ai, copy.bound, copy.time_s, copy.attainable_flops_per_s) == (
        0.0,
        "memory",
        pytest.approx(2e-3),
        0,
    )
    assert mem.to_dict()["estimate"] is True and mem.to_dict()["bound"] == "memory"


def test_bound_flips_at_the_ridge_point():
    t = get_target(A100)
    # 19500 FLOPs over 1555 bytes: AI = 12.540 = the ridge exactly -> compute (AI >= ridge)
    assert estimate_op(op(0, 19_500, 1_555), t, "fp32").bound == "compute"
    assert estimate_op(op(0, 19_499, 1_555), t, "fp32").bound == "memory"
    # the same op is compute-bound on the Raspberry Pi 5 (ridge 9.0) and memory-bound on the
    # H100 at bf16 (ridge 295.3): AI = 50
    ai50 = op(0, 50_000_000, 1_000_000)
    assert estimate_op(ai50, get_target("raspberry-pi-5"), "fp32").bound == "compute"
    assert estimate_op(ai50, get_target("h100-sxm5-80gb"), "bf16").bound == "memory"


def test_model_estimate_sums_ops():
    est = estimate_records(
        [MEM_OP, COMPUTE_OP, COPY_OP], get_target(A100), "fp32", batch_size=8, model="toy", efficiency="ideal"
    )
    assert est.latency_s == pytest.approx(4e-3)  # 1 + 1 + 2 ms
    assert est.throughput_per_s == pytest.approx(2000.0)  # 8 samples / 4 ms
    assert est.memory_bound_time_pct == pytest.approx(75.0)  # (1 + 2) / 4 ms
    assert est.bound == "memory"
    assert est.flops == 21_055_000_000 and est.bytes == 4_765_000_000
    assert est.attained_flops_per_s == pytest.approx(5.26375e12)  # 21.055e9 / 4e-3
    assert est.aggregate_ai == pytest.approx(4.41868, rel=1e-5)  # 21.055e9 / 4.765e9
    assert est.pct_of_peak == pytest.approx(26.9936, rel=1e-5)  # 5.26375 / 19.5
    assert (est.op_count, est.memory_bound_ops, est.ridge_point) == (3, 2, pytest.approx(12.5402, rel=1e-4))
    d = est.to_dict()
    assert d["estimate"] is True and "ops" not in d
    assert d["target"] == A100 and d["precision"] == "fp32" and d["latency_s"] == pytest.approx(4e-3)
    assert [o["bound"] for o in est.to_dict(include_ops=True)["ops"]] == ["memory", "compute", "memory"]


def test_compute_heavy_model_is_compute_bound():
    # two compute ops (1 ms each) and one memory op (1 ms): memory share 33.3% -> compute
    est = estimate_records([COMPUTE_OP, COMPUTE_OP, MEM_OP], get_target(A100), "fp32", efficiency="ideal")
    assert est.memory_bound_time_pct == pytest.approx(100 / 3)
    assert est.bound == "compute"
    assert est.throughput_per_s == pytest.approx(1 / 3e-3)


def test_tf32_path_shortens_compute_bound_time():
    # tf32 peak 156e12: COMPUTE_OP takes max(19.5e9 / 156e12, 0.1e9 / 1555e9) = 0.125 ms
    est = estimate_op(COMPUTE_OP, get_target(A100), "tf32")
    assert est.time_s == pytest.approx(1.25e-4)


def test_launch_overhead_is_added_per_op(tmp_path):
    path = tmp_path / "slow.toml"
    path.write_text(
        '[[target]]\nid = "slow"\nname = "Slow"\nvendor = "Acme"\nkind = "CPU"\n'
        'memory_bandwidth_gbps = 1555\nmemory_gb = 1\nsource = "test"\nlaunch_overhead_us = 10\n'
        "[target.peak_tflops]\nfp32 = 19.5\n"
    )
    t = load_catalog([path]).get("slow")
    est = estimate_records([MEM_OP, COMPUTE_OP, COPY_OP], t, "fp32", efficiency="ideal")
    assert est.latency_s == pytest.approx(4e-3 + 3 * 10e-6)  # + 10 us per op
    assert est.overhead_s == pytest.approx(3 * 10e-6)
    assert [o.overhead_s for o in est.ops] == [pytest.approx(10e-6)] * 3


def test_estimate_model_uses_report_records_and_batch():
    report = ModelReport("toy", [3, 8, 8], batch_size=4, dtype="fp32", records=[MEM_OP, COMPUTE_OP])
    est = estimate_model(report, get_target(A100), "fp32", efficiency="ideal")
    assert (est.model, est.batch_size, est.latency_s) == ("toy", 4, pytest.approx(2e-3))
    assert est.throughput_per_s == pytest.approx(2000.0)  # 4 / 2 ms


def test_estimate_model_refuses_reports_without_records():
    failed = ModelReport("broken", [3, 8, 8], 1, "fp32", error="build failed: boom")
    with pytest.raises(ValueError, match="broken: cannot estimate a roofline: build failed: boom"):
        estimate_model(failed, get_target(A100), "fp32")
