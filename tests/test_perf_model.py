"""Execution modes and achievable efficiency on hand-built graphs, with hand-derived kernels and bytes.

Records carry their dataflow (``reads_from``: producer index per activation read, -1 from outside).
"""

from __future__ import annotations

import math

import pytest

from metrics_core.common.records import OpRecord
from metrics_core.perf import efficiency
from metrics_core.perf.fusion import compiled_kernels, eager_kernels
from metrics_core.perf.hardware import HardwareTarget, get_target
from metrics_core.perf.roofline import estimate_ops, estimate_records
from metrics_core.perf.validation import map_rows, read_pairs, spearman, summarize, target_for_file, worst


def rec(i, op, cat, reads, inb, outb, wb=0, flops=0, macs=0, shapes=None, out_shape=None, mtype="M"):  # noqa: ANN001
    return OpRecord(
        index=i,
        module=f"m{i}",
        module_type=mtype,
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
        reads_from=reads,
    )


def conv(i, reads, inb=100, outb=200):  # noqa: ANN001
    return rec(i, "convolution", "conv", reads, inb, outb, wb=50, flops=1000, macs=500)


def kernels_of(ks):  # noqa: ANN001
    return [(k.ops, k.kind, k.read_bytes, k.write_bytes) for k in ks]


# ------------------------------------------------------------------------------------------ fusion


def test_conv_bn_relu():
    # conv (extern) -> bn -> relu_: Inductor runs cuDNN's conv, then ONE Triton kernel for bn + relu that
    # reads the conv output (200) and bn's weights (8) once and writes only relu's output (200).
    g = [
        conv(0, [-1]),
        rec(1, "native_batch_norm", "norm", [0], 200, 200, wb=8),
        rec(2, "relu_", "activation", [1], 200, 200),
    ]
    assert kernels_of(compiled_kernels(g)) == [((0,), "extern", 150, 200), ((1, 2), "fused", 208, 200)]
    eager = eager_kernels(g)
    assert len(eager) == 3 and sum(k.bytes for k in eager) == 350 + 408 + 400


def test_linear_gelu_is_not_an_epilogue():
    # addmm (cuBLAS) keeps its bias; the GELU after it is its own kernel: read 300, write 300
    g = [
        rec(0, "addmm", "matmul", [-1], 100, 300, wb=40, flops=600, macs=300),
        rec(1, "gelu", "activation", [0], 300, 300),
    ]
    assert kernels_of(compiled_kernels(g)) == [((0,), "extern", 140, 300), ((1,), "fused", 300, 300)]


def test_residual_add_relu():
    # conv -> bn -> add(identity from outside) -> relu: one fused kernel reads the conv output (200), bn's
    # weights (8) and the identity (200), writes relu's output (200)
    g = [
        conv(0, [-1]),
        rec(1, "native_batch_norm", "norm", [0], 200, 200, wb=8),
        rec(2, "add_", "elementwise", [1, -1], 400, 200),
        rec(3, "relu_", "activation", [2], 200, 200),
    ]
    assert kernels_of(compiled_kernels(g)) == [((0,), "extern", 150, 200), ((1, 2, 3), "fused", 408, 200)]


def test_softmax_and_scale_chain():
    # mul (scale) -> softmax: one kernel, input read once (400), output written once (400)
    g = [rec(0, "mul", "elementwise", [-1], 400, 400), rec(1, "_softmax", "activation", [0], 400, 400)]
    assert kernels_of(compiled_kernels(g)) == [((0, 1), "fused", 400, 400)]
    assert sum(k.bytes for k in eager_kernels(g)) == 1600


def test_layernorm_then_linear():
    # layer norm is one reduction kernel (x 300 + weight/bias 16 read, 300 written) before the GEMM
    g = [
        rec(0, "native_layer_norm", "norm", [-1], 300, 300, wb=16),
        rec(1, "mm", "matmul", [0], 300, 100, wb=64),
    ]
    assert kernels_of(compiled_kernels(g)) == [((0,), "fused", 316, 300), ((1,), "extern", 364, 100)]


def test_intermediate_read_outside_is_written():
    # squeeze-excite: bn -> silu -> mean | conv(mean) | mul(silu, conv): silu's output is read by the later
    # mul, so the first kernel writes it (400) besides the mean (10)
    g = [
        rec(0, "native_batch_norm", "norm", [-1], 400, 400, wb=8),
        rec(1, "silu_", "activation", [0], 400, 400),
        rec(2, "mean", "reduction", [1], 400, 10),
        conv(3, [2], inb=10, outb=10),
        rec(4, "mul", "elementwise", [1, 3], 410, 400),
    ]
    ks = kernels_of(compiled_kernels(g))
    assert ks == [((0, 1, 2), "fused", 408, 410), ((3,), "extern", 60, 10), ((4,), "fused", 410, 400)]


def test_attention_chain_is_one_kernel_when_compiled():
    # q@k^T -> softmax -> @v: Inductor's SDPA pattern: one kernel reading q, k (200) and v (100), writing
    # the output (100); the score matrix (1000) never reaches memory. Eager outside nn.MultiheadAttention:
    # three kernels.
    g = [
        rec(0, "bmm", "matmul", [-1, -1], 200, 1000, flops=2000, macs=1000, out_shape=[2, 10, 50]),
        rec(1, "_softmax", "activation", [0], 1000, 1000),
        rec(2, "bmm", "matmul", [1, -1], 1100, 100, flops=2000, macs=1000, out_shape=[2, 10, 5]),
    ]
    assert kernels_of(compiled_kernels(g)) == [((0, 1, 2), "attention", 300, 100)]
    assert len(eager_kernels(g)) == 3
    mha = [OpRecord(**{**r.__dict__, "module_type": "MultiheadAttention"}) for r in g]
    assert kernels_of(eager_kernels(mha)) == [((0, 1, 2), "attention", 300, 100)]


def test_records_without_dataflow_chain_by_shape():
    g = [conv(0, None), rec(1, "relu_", "activation", None, 200, 200, shapes=[[2, 5]], out_shape=[2, 5])]
    g[0].output_shape = [2, 5]
    assert kernels_of(compiled_kernels(g)) == [((0,), "extern", 150, 200), ((1,), "fused", 200, 200)]


# ------------------------------------------------------------------------------------------ efficiency

DATA = {
    "kind": {"gpu": {"generation": "test"}, "cpu": {"generation": "test"}},
    "generation": {
        "test": {
            "units": 128,
            "gemm": 0.8,
            "conv_eager": 0.5,
            "conv_compiled": 0.6,
            "nchw_passes": 0.0,
            "depthwise_eager": 1.0,
            "depthwise_compiled": 1.0,
            "attention": 0.7,
            "vector": 0.5,
            "bandwidth": 0.8,
            "kernel_gap_us": 2.0,
            "eager_op_us": 6.0,
            "compiled_kernel_us": 4.0,
            "tiles": [[128, 128, 1.0], [64, 64, 0.5]],
            "tile_k": 32,
        }
    },
}

GPU = HardwareTarget(
    id="test-gpu",
    name="Test GPU",
    vendor="x",
    kind="GPU",
    memory_bandwidth_gbps=1000,
    memory_gb=10,
    peak_tflops={"fp32": 50, "fp16": 100},
    source="hand example",
)


@pytest.fixture
def test_params(monkeypatch):
    monkeypatch.setattr(efficiency, "_data", lambda: DATA)


def test_gemm_quantisation_and_time(test_params):
    # mm 1280 x 1280 x 1024: 128x128 tiles -> 100 tiles on 128 SMs = 1 wave, wave efficiency 100/128;
    # 64x64 tiles -> 400 tiles, 4 waves (512 slots): 400/512 x 0.5. Best: q = 0.78125, K = 1024 pads nothing.
    flops = 2 * 1280 * 1280 * 1024
    g = [
        rec(
            0,
            "mm",
            "matmul",
            [-1],
            2_621_440,
            3_276_800,
            wb=2_621_440,
            flops=flops,
            macs=flops // 2,
            out_shape=[1280, 1280],
        )
    ]
    p = efficiency.params_for(GPU)
    assert efficiency.gemm_shape(g[0]) == (1, 1280, 1280, 1024)
    assert efficiency.quantisation((1, 1280, 1280, 1024), p) == pytest.approx(0.78125)
    # compute: flops / (100e12 x 0.8 x 0.78125) = 53.687 us; memory: 8,519,680 B / (1e12 x 0.8) = 10.65 us;
    # + 2 us gap = 55.687 us > 6 us of host time: compute-bound
    est = estimate_records(g, GPU, "fp16", efficiency="calibrated")
    assert est.latency_s == pytest.approx(flops / 62.5e12 + 2e-6)
    assert est.ops[0].bound == "compute" and est.overhead_s == pytest.approx(2e-6)
    assert est.compute_s == pytest.approx(flops / 62.5e12) and est.memory_s == pytest.approx(10.6496e-6)
    assert (est.execution, est.efficiency, est.kernel_count) == ("eager", "calibrated", 1)


def test_small_kernels_are_host_bound(test_params):
    # a 2 KB relu: memory 2048 / 0.8e12 = 2.56 ns, + 2 us gap < 6 us eager issue time -> 6 us; compiled 4 us
    g = [rec(0, "relu", "activation", [-1], 1024, 1024, flops=512)]
    assert estimate_records(g, GPU, "fp16", efficiency="calibrated").latency_s == pytest.approx(6e-6)
    compiled = estimate_records(g, GPU, "fp16", execution="compiled", efficiency="calibrated")
    assert compiled.latency_s == pytest.approx(4e-6)


def test_k_padding_and_depthwise(test_params):
    p = efficiency.params_for(GPU)
    # K = 147 (3 x 7 x 7) pads to 160: 147/160 on top of the tile efficiency
    assert efficiency.quantisation((1, 128 * 128, 128, 147), p) == pytest.approx(147 / 160)
    dw = rec(
        0,
        "convolution",
        "conv",
        [-1],
        100,
        100,
        wb=18,
        flops=14400,
        macs=7200,
        shapes=[[1, 8, 10, 10], [8, 1, 3, 3]],
        out_shape=[1, 8, 10, 10],
    )
    assert efficiency.op_class(dw, "eager") == "depthwise"  # one channel per group: no tensor-core GEMM
    assert efficiency.gemm_shape(dw) == (8, 100, 1, 9)


def test_ideal_is_todays_roofline():
    # explicit ideal/eager gives exactly the per-op roofline sum
    a100 = get_target("a100-pcie-40gb")
    g = [conv(0, [-1]), rec(1, "relu_", "activation", [0], 200, 200, flops=100)]
    est = estimate_records(g, a100, "fp32", efficiency="ideal")
    assert est.latency_s == sum(o.time_s for o in estimate_ops(g, a100, "fp32"))
    assert est.latency_s == pytest.approx(max(1000 / 19.5e12, 350 / 1555e9) + 400 / 1555e9)
    assert (est.execution, est.efficiency) == ("eager", "ideal")
    # compiled + ideal: the fused relu reads the conv output once and writes its own: the same here
    comp = estimate_records(g, a100, "fp32", execution="compiled", efficiency="ideal")
    assert comp.kernel_count == 2 and comp.latency_s == pytest.approx(est.latency_s)
    d = comp.to_dict(include_ops=True)
    assert d["kernels"][1]["ops"] == [1] and d["estimate"] is True


def test_calibrated_parameters_exist_for_every_builtin_gpu():
    from metrics_core.perf.hardware import builtin_targets

    for t in builtin_targets():
        p = efficiency.params_for(t)
        assert 0 < p.gemm <= 1 and 0 < p.bandwidth <= 1 and p.units >= 1


# ------------------------------------------------------------------------------------------ validation


def test_validation_mapping_and_metrics(tmp_path):
    (tmp_path / "pairs.csv").write_text("torchvision,timm\nresnet18,resnet18\nmobilenet_v2,mobilenetv2_100\n")
    (tmp_path / "m.csv").write_text(
        "model,infer_img_size,infer_samples_per_sec,infer_step_time,infer_batch_size\n"
        "resnet18,224,1000.0,1,1024\n"
        "resnet18,160,2000.0,1,512\n"
        "mobilenetv2_100.ra_in1k,224,3000,1,256\n"
        "vit_tiny,224,5,1,1\n"
    )
    rows = map_rows(tmp_path / "m.csv", read_pairs(tmp_path / "pairs.csv"))
    assert [(r.model, r.image_size, r.batch_size, r.samples_per_s) for r in rows] == [
        ("resnet18", 224, 1024, 1000.0),
        ("resnet18", 160, 512, 2000.0),
        ("mobilenet_v2", 224, 256, 3000.0),
    ]
    # ratios 1.5, 1.0, 1.1: geomean 1.65^(1/3), median |error| 0.1, 2 of 3 within 25 %, ranks agree
    s = summarize([1500.0, 2000.0, 3300.0], [1000.0, 2000.0, 3000.0])
    assert s["n"] == 3 and s["geomean_ratio"] == pytest.approx(1.65 ** (1 / 3))
    assert s["median_abs_error"] == pytest.approx(0.1) and s["within"] == pytest.approx(2 / 3)
    assert s["spearman"] == pytest.approx(1.0)
    assert worst(rows, [1500.0, 2000.0, 3300.0], [1000.0, 2000.0, 3000.0], 1)[0][0].image_size == 224
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(math.sqrt(3) / 2)
    assert summarize([], [])["n"] == 0


def test_measurement_file_names_map_to_targets():
    ids = ["rtx-4090", "rtx-3090", "rtx-pro-6000-blackwell", "h100-sxm5-80gb", "l4", "core-i9-10940x"]
    kinds = {"core-i9-10940x": "CPU"}
    stem = "timm-benchmark-infer-amp-nchw-pt291-cu128"
    assert target_for_file(f"{stem}-4090.csv", ids, kinds) == ("rtx-4090", "eager", "fp16")
    assert target_for_file(f"{stem}-4090-dynamo.csv", ids, kinds) == ("rtx-4090", "compiled", "fp16")
    assert target_for_file("timm-benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv", ids) == (
        "rtx-3090",
        "eager",
        "fp16",
    )
    assert target_for_file(f"{stem}-rtxpro6000.csv", ids)[0] == "rtx-pro-6000-blackwell"
    assert target_for_file(f"{stem}-h100.csv", ids)[0] == "h100-sxm5-80gb"
    assert target_for_file(f"{stem}-l4.csv", ids)[0] == "l4"
    # CPU autocast is bfloat16; an explicit fp32 file is fp32
    assert target_for_file("timm-benchmark-infer-amp-nchw-cpu-10940x.csv", ids, kinds) == (
        "core-i9-10940x",
        "eager",
        "bf16",
    )
    assert target_for_file("timm-benchmark-infer-fp32-nchw-10940x.csv", ids, kinds)[2] == "fp32"
    assert target_for_file(f"{stem}-mi300x.csv", ids) is None
