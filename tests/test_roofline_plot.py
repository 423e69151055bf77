"""ASCII roofline renderer: sizes, labels, rebuilds, NO_COLOR."""

from __future__ import annotations

import re

import pytest

from metrics_core.common.records import OpRecord
from metrics_core.perf.hardware import get_target
from metrics_core.perf.roofline import estimate_records
from metrics_core.perf.roofline_plot import RooflinePoint, model_point, op_points, render_roofline

ANSI = re.compile(r"\x1b\[")

POINTS = [
    RooflinePoint("resnet50", 40.0, 6.0e12),  # right of the A100 fp32 ridge (12.54)
    RooflinePoint("mobilenet_v3_small", 2.0, 1.5e12),  # left of it
]


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELTUI_CONFIG_DIR", str(tmp_path / "config"))


@pytest.mark.parametrize(("width", "height"), [(80, 24), (200, 50)])
def test_chart_fits_and_is_labelled(width, height):
    target = get_target("a100-pcie-40gb")
    out = render_roofline(target, "fp32", POINTS, width, height, color=False)
    lines = out.splitlines()
    assert len(lines) == height  # chart + 4 key lines fill the requested height
    assert max(len(line) for line in lines) <= width
    assert "NVIDIA A100 PCIe 40GB: fp32 roofline (estimates)" in out
    assert "arithmetic intensity (FLOP/byte, log)" in out and "FLOP/s (log)" in out
    # x ticks are decades from 0.1 (ridge 12.5 -> 10^1, minus 2 decades) to 10K; y from 100G to 100T
    assert re.search(r"0\.1 +1 +10 +100 +1K +10K", out)
    assert "100T┤" in out and "1T┤" in out
    assert lines[-4] == "slope: 1555.0 GB/s  roof: fp32 19.50 TFLOP/s  R: ridge 12.54 FLOP/byte"
    # the A100 has L2 figures: the cache-aware roofline's L2 slope (GA100: 5,120 B/clk x 1.41 GHz)
    assert lines[-3] == "···/: L2 slope 7219 GB/s (cache-aware roofline)"
    assert lines[-2] == "A: resnet50  AI 40.00 FLOP/byte, 6.00 TFLOP/s (est.)"
    assert lines[-1] == "B: mobilenet_v3_small  AI 2.00 FLOP/byte, 1.50 TFLOP/s (est.)"
    body = "\n".join(lines[:-4])
    assert body.count("A") >= 1 and "R" in body  # the model letter and the ridge marker are drawn


def test_rebuilds_and_resizes_do_not_crash_and_are_deterministic():
    target = get_target("h100-sxm5-80gb")
    first = render_roofline(target, "bf16", POINTS, 80, 24, color=False)
    big = render_roofline(target, "bf16", POINTS, 200, 50, color=False)
    again = render_roofline(target, "bf16", POINTS, 80, 24, color=False)
    assert first == again
    assert len(big.splitlines()) == 50 and len(first.splitlines()) == 24


def test_no_color_env_gives_plain_text(monkeypatch):
    target = get_target("raspberry-pi-5")
    monkeypatch.setenv("NO_COLOR", "1")
    assert not ANSI.search(render_roofline(target, "fp32", POINTS, 80, 24))
    monkeypatch.delenv("NO_COLOR")
    assert ANSI.search(render_roofline(target, "fp32", POINTS, 80, 24))


def test_int8_axis_counts_ops_and_empty_points_still_draw_roofs():
    out = render_roofline(get_target("tpu-v5e"), "int8", [], 80, 24, color=False)
    assert "OP/s (log)" in out and "roof: int8 393.00 TOP/s" in out and "ridge 479.85 FLOP/byte" in out
    assert len(out.splitlines()) == 24


def _rec(i: int, flops: int, nbytes: int) -> OpRecord:
    return OpRecord(
        i, f"m{i}", "Conv2d", "aten.convolution", "conv", [[1]], [1], "fp32", flops // 2, flops, nbytes, 0, 0
    )


def test_per_op_points_and_markers():
    target = get_target("a100-pcie-40gb")
    recs = [_rec(0, 1000, 10), _rec(1, 10, 10), _rec(2, 0, 40)]
    est = estimate_records(recs, target, "fp32", model="toy", efficiency="ideal")
    pts = op_points(est)  # the zero-FLOP op has no place on log axes
    assert [(p.label, p.ai) for p in pts] == [("0 aten.convolution", 100.0), ("1 aten.convolution", 1.0)]
    out = render_roofline(target, "fp32", pts, 80, 24, per_op=True, title="toy per op", color=False)
    assert "toy per op" in out
    assert out.splitlines()[-1] == "c: compute-bound op (1)  m: memory-bound op (1)  o: overhead-bound op (0)"
    # calibrated: these tiny ops sit at the launch floor, marked o
    calibrated = op_points(estimate_records(recs, target, "fp32", model="toy"))
    out = render_roofline(target, "fp32", calibrated, 80, 24, per_op=True, title="toy per op", color=False)
    assert out.splitlines()[-1] == "c: compute-bound op (0)  m: memory-bound op (0)  o: overhead-bound op (2)"
    agg = model_point(est)
    # aggregate point: AI = 1010 / 60 bytes; attained = 1010 FLOPs / estimated latency
    assert agg.ai == pytest.approx(1010 / 60) and agg.flops_per_s == pytest.approx(1010 / est.latency_s)
