"""Batch-size sweeps: batch-list parsing, hand-derived values for one Linear(1024, 1024), the largest
batch that fits a small target, and the CLI formats."""

from __future__ import annotations

import csv
import io
import json

import pytest

from metrics_core.common.errors import UsageError
from metrics_core.perf.hardware import HardwareTarget
from metrics_core.perf.sweep import parse_batch_sizes
from metrics_core.runtime.analyze import AnalysisOptions
from metrics_core.runtime.sweeps import sweep_models
from tui.cli import main

LINEAR = "perf_models:linear_1024"
OPTIONS = AnalysisOptions(input_shape=(1, 1024))
# A made-up accelerator: 1 TFLOP/s fp32, 100 GB/s (ridge 10 FLOP/byte), 5 GB = 5e6 bytes of memory.
TINY_GPU = HardwareTarget(
    id="tiny-gpu",
    name="Tiny GPU",
    vendor="test",
    kind="test",
    memory_bandwidth_gbps=100.0,
    memory_gb=0.005,
    peak_tflops={"fp32": 1.0},
    source="hand-made for tests",
)
TINY_GPU_TOML = (
    '[[target]]\nid = "tiny-gpu"\nname = "Tiny GPU"\nvendor = "test"\nkind = "test"\n'
    'memory_bandwidth_gbps = 100.0\nmemory_gb = 0.005\nsource = "tests"\npeak_tflops = { fp32 = 1.0 }\n'
)

# One mm per pass, x (B, 1024) @ W^T (1024 x 1024), fp32:
#   FLOPs = 2 * B * 1024 * 1024;  bytes = 4 * (B*1024 in + B*1024 out + 1024*1024 weights) = 8192 B + 4194304
#   AI = 2 B 2^20 / (8192 B + 2^22) = 256 B / (B + 512)
#   latency = max(FLOPs / 1e12, bytes / 1e11); throughput = B / latency
#   peak memory = x + out live together during the mm = 8192 B; weights 4 MiB = 4194304
# B = 1:  FLOPs 2097152,   bytes 4202496, AI 256/513 = 0.499025, max(2.097e-6, 4.202496e-5) -> memory-bound
# B = 8:  FLOPs 16777216,  bytes 4259840, AI 2048/520 = 3.938462, max(1.678e-5, 4.25984e-5) -> memory-bound
# B = 64: FLOPs 134217728, bytes 4718592, AI 16384/576 = 28.444444, max(1.342e-4, 4.7186e-5) -> compute-bound
# B = 128: peak total 8192*128 + 4194304 = 5242880 > 5e6: does not fit; 64 (4718592) is the largest that fits.
EXPECTED = {
    1: (2097152, 4202496, 256 / 513, 4.202496e-5, "memory", 8192, 4202496),
    8: (16777216, 4259840, 2048 / 520, 4.25984e-5, "memory", 65536, 4259840),
    64: (134217728, 4718592, 16384 / 576, 1.34217728e-4, "compute", 524288, 4718592),
    128: (268435456, 5242880, 32768 / 640, 2.68435456e-4, "compute", 1048576, 5242880),
}


def test_linear_sweep_values_by_hand():
    (sw,) = sweep_models([LINEAR], [1, 8, 64, 128], TINY_GPU, "fp32", OPTIONS)
    assert [p.batch_size for p in sw.points] == [1, 8, 64, 128]
    for p in sw.points:
        flops, nbytes, ai, latency, bound, act, total = EXPECTED[p.batch_size]
        assert (p.flops, p.bytes, p.bound, p.peak_activation_bytes, p.weight_bytes) == (
            flops,
            nbytes,
            bound,
            act,
            4194304,
        )
        assert p.aggregate_ai == pytest.approx(ai, rel=1e-12)
        assert p.latency_s == pytest.approx(latency, rel=1e-12)
        assert p.throughput_per_s == pytest.approx(p.batch_size / latency, rel=1e-12)
        assert p.attained_flops_per_s == pytest.approx(flops / latency, rel=1e-12)
        assert p.peak_total_bytes == total
        assert p.fits == (total <= 5e6)
    assert [p.fits for p in sw.points] == [True, True, True, False]
    assert sw.largest_fitting_batch == 64
    assert sw.memory_capacity_bytes == 5e6
    # extrapolation from batches 64 and 128: 8192 B per sample, 0 fixed -> floor((5e6 - 4194304) / 8192) = 98
    assert sw.extrapolated_max_batch == 98


def test_nothing_fits_gives_no_largest_batch():
    small = HardwareTarget(**{**TINY_GPU.__dict__, "memory_gb": 0.004})  # 4e6 < the 4 MiB of weights
    (sw,) = sweep_models([LINEAR], [1, 8], small, "fp32", OPTIONS)
    assert [p.fits for p in sw.points] == [False, False]
    assert sw.largest_fitting_batch is None
    assert sw.extrapolated_max_batch is None  # (4e6 - 4194304) / 8192 < 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,2,4,...,256", [1, 2, 4, 8, 16, 32, 64, 128, 256]),
        ("1,8,64", [1, 8, 64]),
        ("64, 1,8,8", [1, 8, 64]),
        ("8,16,24,...,48", [8, 16, 24, 32, 40, 48]),
        ("1,3,9,...,81,100", [1, 3, 9, 27, 81, 100]),
        ("32", [32]),
    ],
)
def test_parse_batch_sizes(text, expected):
    assert parse_batch_sizes(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "comma-separated positive integers"),
        ("1,,2", "comma-separated positive integers"),
        ("0,1", "positive integers, got '0'"),
        ("1,x", "positive integers, got 'x'"),
        ("1,2,...,8", "needs three numbers before it"),
        ("1,2,4,...", "needs three numbers before it"),
        ("1,2,4,...,100", "100 is not reached by 1,2,4"),
        ("1,2,5,...,20", "neither"),
        ("1,2,4,...,8,...,16", "may appear once"),
        ("1,2,3,...,100", "gives over 64 values; a sweep takes at most 64"),
    ],
)
def test_parse_batch_sizes_errors(text, message):
    with pytest.raises(UsageError, match=message):
        parse_batch_sizes(text)


def _cli(tmp_path, *extra):
    hw = tmp_path / "tiny.toml"
    hw.write_text(TINY_GPU_TOML)
    base = [
        "sweep",
        "--wide",
        LINEAR,
        "--input-shape",
        "1",
        "1024",
        "--hardware",
        "tiny-gpu",
        "--hardware-file",
        str(hw),
    ]
    return main([*base, "--batch-sizes", "1,8,64,128", *extra])


def test_cli_json(tmp_path, capsys):
    assert _cli(tmp_path, "--format", "json") == 0
    (d,) = json.loads(capsys.readouterr().out)
    assert (d["model"], d["target"], d["precision"], d["largest_fitting_batch"]) == (
        LINEAR,
        "tiny-gpu",
        "fp32",
        64,
    )
    assert [p["peak_total_bytes"] for p in d["points"]] == [4202496, 4259840, 4718592, 5242880]
    assert d["extrapolated_max_batch"] == 98
    assert d["estimate"] is True


def test_cli_csv(tmp_path, capsys):
    assert _cli(tmp_path, "--format", "csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["batch_size"], r["fits"], r["largest_fitting"]) for r in rows] == [
        ("1", "True", "False"),
        ("8", "True", "False"),
        ("64", "True", "True"),
        ("128", "False", "False"),
    ]
    assert rows[2]["flops"] == "134217728"


def test_cli_table_marks_largest_and_plots(tmp_path, capsys):
    assert _cli(tmp_path, "--width", "80") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    row64 = next(line for line in lines if line.lstrip().startswith("64 "))
    assert row64.split()[1] == "28.44" and row64.endswith("yes <- largest")
    row128 = next(line for line in lines if line.lstrip().startswith("128 "))
    assert row128.endswith("no")
    assert "perf_models:linear_1024: batch sweep on Tiny GPU, fp32 (estimates)" in out
    assert "arithmetic intensity (FLOP/byte, log)" in out
    assert "batch 64  AI 28.44 FLOP/byte" in out  # the chart key: one point per batch size
    assert "Fits = peak total <= target memory (5.00 MB)" in out
    fit = "Largest batch that fits 5.00 MB: 64 of those swept; about 98 by linear extrapolation"
    assert f"{fit} of peak memory (est.)" in lines


def test_cli_bad_batch_list_is_one_line_exit_2(tmp_path, capsys):
    hw = tmp_path / "tiny.toml"
    hw.write_text(TINY_GPU_TOML)
    argv = [
        "sweep",
        LINEAR,
        "--hardware",
        "tiny-gpu",
        "--hardware-file",
        str(hw),
        "--batch-sizes",
        "1,2,...,8",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("modeltui: error: batch sizes: '...' needs three numbers before it")
    assert err.count("\n") == 1


def test_the_footnote_says_what_the_title_assumes(tmp_path, capsys):
    # a calibrated sweep says sustained clocks, never "peak clocks"; an ideal one says rated boost clocks
    assert _cli(tmp_path, "--no-plot", "--efficiency", "calibrated") == 0
    out = capsys.readouterr().out
    # a user's own target (--hardware-file) was never held against measurements: the title says so
    assert "(eager, calibrated efficiency; physical estimate, not validated on this target) ==" in out
    assert "tensor clocks sustained under the board's power limit" in out and "peak clocks" not in out
    assert _cli(tmp_path, "--no-plot", "--efficiency", "ideal") == 0
    out = capsys.readouterr().out
    assert "datasheet peaks at rated boost clocks (ideal roofline)" in out and "sustained" not in out


def test_each_batch_carries_the_three_regimes(tmp_path, capsys):
    """A sweep point said only its bound; it now carries its compute, memory and overhead times. On the
    ideal roofline of TINY_GPU (module comment): compute = FLOPs / 1e12, memory = bytes / 1e11, no
    overhead (no launch_overhead_us) — B = 1: 2,097,152 / 1e12 and 4,202,496 / 1e11; B = 64: 134,217,728 /
    1e12 and 4,718,592 / 1e11."""
    (sw,) = sweep_models([LINEAR], [1, 64], TINY_GPU, "fp32", OPTIONS)
    got = [(p.compute_s, p.memory_s, p.overhead_s) for p in sw.points]
    assert got == [
        pytest.approx((2.097152e-6, 4.202496e-5, 0.0)),
        pytest.approx((1.34217728e-4, 4.718592e-5, 0.0)),
    ]
    assert _cli(tmp_path, "--no-plot", "--efficiency", "ideal", "--format", "json") == 0
    (sweep,) = json.loads(capsys.readouterr().out)
    assert [p["compute_s"] for p in sweep["points"]] == pytest.approx(
        [2.097152e-6, 1.6777216e-5, 1.34217728e-4, 2.68435456e-4]
    )
    assert _cli(tmp_path, "--no-plot") == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Compute / Memory / Overhead = the kernels' compute, memory and overhead" in out
