"""Measured benchmark: the CPU code path on a tiny model (structure and relations, never absolute
times), device/dtype refusals, and device-name matching against the hardware catalog."""

from __future__ import annotations

import json
import statistics

import pytest
import torch

from metrics_core.common.errors import UsageError
from metrics_core.measure.bench import BenchResult, bench_model, match_device_name, nearest_rank
from metrics_core.perf.hardware import HardwareTarget, builtin_targets
from metrics_core.runtime.analyze import AnalysisOptions
from tui.cli import main

TINY = "perf_models:tiny_mlp"
TINY_OPTIONS = AnalysisOptions(batch_size=4, input_shape=(1, 16))
# tiny_mlp at batch 4 (fp32): addmm 16->32 (MACs 4*16*32 = 2048, FLOPs 4096), relu (128 elements, 128 FLOPs),
# addmm 32->8 (MACs 1024, FLOPs 2048): 6272 FLOPs.
TINY_FLOPS = 6272
# bytes per op: addmm1 in 4*16*4 = 256, weights (512 + 32)*4 = 2176, out 4*32*4 = 512 -> 2944;
# relu 512 + 512 = 1024; addmm2 in 512, weights (256 + 8)*4 = 1056, out 4*8*4 = 128 -> 1696.
# On a 10 GB/s, 0.1 TFLOP/s target (ridge 10 FLOP/byte) every op is memory-bound (AI <= 4096/2944 = 1.39):
# latency = (2944 + 1024 + 1696) B / 1e10 B/s = 5.664e-7 s.
SLOW_TARGET = HardwareTarget(
    id="slow-test",
    name="Slow test target",
    vendor="test",
    kind="CPU",
    memory_bandwidth_gbps=10.0,
    memory_gb=1.0,
    peak_tflops={"fp32": 0.1},
    source="hand-made for tests",
)
TINY_EST_LATENCY = 5.664e-7
# peak memory: x 256 B, h1 512, relu out 512, y 128 -> live (768, 1024, 640): peak 1024;
# weights 808 floats = 3232 B; total 4256 B.
TINY_PEAK_TOTAL = 4256


def test_cpu_bench_structure_and_relations():
    steps = []
    r = bench_model(
        TINY, TINY_OPTIONS, "cpu", warmup=2, iters=5, target=SLOW_TARGET, progress=lambda *a: steps.append(a)
    )
    assert r.ok and r.error is None
    assert (r.model, r.device, r.dtype, r.batch_size, r.input_shape) == (TINY, "cpu", "fp32", 4, [1, 16])
    assert (r.warmup, r.iters, len(r.times_s), r.threads) == (2, 5, 5, torch.get_num_threads())
    ordered = sorted(r.times_s)
    assert r.median_s == ordered[2]  # 5 samples: the 3rd smallest
    assert r.p90_s == ordered[4]  # nearest rank: ceil(0.9 * 5) = 5th smallest
    assert r.p90_s >= r.median_s >= r.min_s == ordered[0]
    assert r.throughput_per_s == 4 / r.median_s
    assert r.flops == TINY_FLOPS
    assert r.achieved_flops_per_s == TINY_FLOPS / r.median_s
    assert (r.target, r.precision) == ("slow-test", "fp32")
    assert r.estimated_latency_s == pytest.approx(TINY_EST_LATENCY, rel=1e-12)
    assert r.latency_ratio == r.median_s / r.estimated_latency_s
    assert r.estimated_peak_bytes == TINY_PEAK_TOTAL
    assert (r.measured_peak_bytes, r.peak_memory_ratio) == (None, None)  # CUDA only
    phases = [(phase, done, total) for _, phase, done, total in steps]
    assert phases == [
        ("build", 0, 1),
        ("build", 1, 1),
        ("warmup", 1, 2),
        ("warmup", 2, 2),
        *(("measure", i, 5) for i in range(1, 6)),
    ]


def test_to_dict_round_trips_through_json():
    r = bench_model(TINY, TINY_OPTIONS, "cpu", warmup=0, iters=2, target=SLOW_TARGET)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["median_s"] == statistics.median(d["times_s"])
    assert d["throughput_per_s"] == 4 / d["median_s"]
    assert d["latency_ratio"] == d["median_s"] / d["estimated_latency_s"]
    assert set(d) >= {"p90_s", "achieved_flops_per_s", "peak_memory_ratio", "target_note", "device_name"}


def test_cpu_without_target_estimates_on_this_machine(monkeypatch):
    monkeypatch.setenv("MODELTUI_NO_MEASURE", "1")  # the default bandwidth instead of a measured copy
    r = bench_model(TINY, TINY_OPTIONS, "cpu", warmup=0, iters=1)
    assert r.target == "this-machine" and r.estimated_latency_s > 0 and r.latency_ratio > 0
    assert "estimates on this-machine" in r.target_note


def test_fp16_runs_on_cpu():
    # documented decision: half precision on CPU is allowed (and measured as it is, however slow)
    r = bench_model(TINY, AnalysisOptions(batch_size=4, input_shape=(1, 16), dtype="fp16"), "cpu", 0, 1)
    assert (r.ok, r.dtype, len(r.times_s), r.estimated_peak_bytes) == (True, "fp16", 1, TINY_PEAK_TOTAL // 2)


def test_nearest_rank_percentile():
    assert nearest_rank([5.0, 1.0, 4.0, 2.0, 3.0], 90) == 5.0  # ceil(4.5) = 5th
    assert nearest_rank([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 90) == 9.0  # 9th
    assert nearest_rank([7.0], 90) == 7.0


def test_result_without_times_has_no_statistics():
    r = BenchResult("m", "cpu", "x", "fp32", 1, [3, 8, 8], 0, 1, error="boom")
    assert (r.ok, r.median_s, r.p90_s, r.throughput_per_s, r.latency_ratio) == (False, None, None, None, None)


def test_int8_is_refused():
    with pytest.raises(UsageError, match="int8 cannot be benchmarked"):
        bench_model(TINY, AnalysisOptions(input_shape=(1, 16), dtype="int8"), "cpu", 0, 1)


def test_cli_json(capsys, monkeypatch):
    monkeypatch.setenv("MODELTUI_NO_MEASURE", "1")
    argv = ["bench", TINY, "--input-shape", "1", "16", "--batch-size", "4", "--warmup", "2", "--iters", "5"]
    assert main([*argv, "--format", "json"]) == 0
    (d,) = json.loads(capsys.readouterr().out)
    assert (d["model"], d["iters"], len(d["times_s"]), d["flops"], d["target"]) == (
        TINY,
        5,
        5,
        TINY_FLOPS,
        "this-machine",
    )
    assert d["p90_s"] >= d["median_s"]


def test_cli_table_with_user_hardware_file(capsys, tmp_path):
    hw = tmp_path / "slow.toml"
    hw.write_text(
        '[[target]]\nid = "slow-test"\nname = "Slow test target"\nvendor = "test"\nkind = "CPU"\n'
        'memory_bandwidth_gbps = 10.0\nmemory_gb = 1.0\nsource = "tests"\npeak_tflops = { fp32 = 0.1 }\n'
    )
    argv = ["bench", TINY, "--input-shape", "1", "16", "--batch-size", "4", "--warmup", "1", "--iters", "3"]
    argv += ["--wide"]  # full-width rows
    assert main([*argv, "--hardware", "slow-test", "--hardware-file", str(hw), "--efficiency", "ideal"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1] == "rows in the order given"
    assert out.splitlines()[2].split() == [
        "Model", "Median", "p90", "Samples/s", "Achieved", "FLOP/s", "Latency", "(est.)", "Measured/est."
    ]  # fmt: skip
    row = next(line for line in out.splitlines() if line.startswith(TINY))
    assert "566.4 ns" in row  # the estimated latency, 5.664e-7 s
    assert "Estimates on slow-test, fp32 (eager, ideal efficiency)" in out


def test_target_on_device_by_device_and_kind():
    from metrics_core.measure.bench import target_on_device

    targets = {t.id: t for t in builtin_targets()}
    h100, a100, tpu, epyc = (targets[i] for i in ("h100-sxm5-80gb", "a100-sxm4-80gb", "tpu-v4", "epyc-9654"))
    this = HardwareTarget(
        id="this-machine", name="this machine", vendor="x", kind="CPU", memory_bandwidth_gbps=10.0,
        memory_gb=1.0, peak_tflops={"fp32": 0.1}, source="tests",
    )  # fmt: skip
    # CPU: this-machine is the device; a GPU is not; a catalog CPU socket may or may not be this CPU
    assert target_on_device("cpu", this) == (True, "this-machine")
    assert target_on_device("cpu", h100) == (False, "this-machine")
    assert target_on_device("cpu", epyc) == (None, "this-machine")
    # CUDA: against the target detected from the device name
    assert target_on_device("cuda", h100, h100) == (True, "h100-sxm5-80gb")
    assert target_on_device("cuda", a100, h100) == (False, "h100-sxm5-80gb")
    assert target_on_device("cuda", tpu, h100) == (False, "h100-sxm5-80gb")
    assert target_on_device("cuda", a100, None) == (None, None)
    assert target_on_device("cuda", epyc, None) == (False, None)


def test_a_gpu_estimate_of_a_cpu_run_says_so_and_is_saved_as_this_machine(capsys, monkeypatch, tmp_path):
    # bench --hardware t4 on the CPU compared a CPU measurement with a T4 estimate without a word, and filed
    # it under t4, where `calibrate --hardware t4 --from-bench` would have fitted the T4 to a CPU
    from metrics_core.measure.bench import device_name, load_saved

    monkeypatch.setenv("MODELTUI_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("MODELTUI_NO_MEASURE", "1")  # this-machine's default bandwidth, no measured copy
    argv = ["bench", TINY, "--input-shape", "1", "16", "--batch-size", "4", "--warmup", "0", "--iters", "2"]
    argv += ["--hardware", "t4"]
    assert main([*argv, "--format", "json"]) == 0
    (d,) = json.loads(capsys.readouterr().out)
    note = (
        f"measured on cpu ({device_name('cpu')}) but estimated for t4 (NVIDIA T4, datacenter GPU): two "
        "different devices, so Measured/est. is no check of the estimate; drop --hardware to estimate the "
        "device measured"
    )
    assert (d["target"], d["target_on_device"], d["device_target"], d["device_note"]) == (
        "t4", False, "this-machine", note
    )  # fmt: skip
    (saved,), bad = load_saved()
    assert bad == 0 and (saved["target"], saved["precision"], saved["device"]) == (
        "this-machine",
        None,
        "cpu",
    )
    assert main([*argv, "--no-save", "--wide"]) == 0
    assert f"Note: {note}." in capsys.readouterr().out.splitlines()
    # the CPU's own target: no note, filed under it as before
    assert main([*argv[:-2], "--no-save", "--format", "json"]) == 0
    (d,) = json.loads(capsys.readouterr().out)
    assert (d["target"], d["target_on_device"], d["device_note"]) == ("this-machine", True, None)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA refusal")
def test_cli_cuda_without_cuda_is_one_line_exit_2(capsys):
    assert main(["bench", "resnet18", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("modeltui: error: --device cuda: CUDA is not available (")
    assert err.count("\n") == 1


def test_cli_int8_is_one_line_exit_2(capsys):
    assert main(["bench", TINY, "--dtype", "int8"]) == 2
    assert capsys.readouterr().err == (
        "modeltui: error: int8 cannot be benchmarked: the models are floating-point and int8 needs a "
        "quantised model (use fp32, fp16 or bf16)\n"
    )


@pytest.mark.parametrize(
    ("name", "memory_gb", "expected"),
    [
        ("NVIDIA H200", 150.0, "h200-sxm-141gb"),
        ("NVIDIA A100-SXM4-80GB", 85.0, "a100-sxm4-80gb"),
        ("NVIDIA A100-PCIE-40GB", 42.0, "a100-pcie-40gb"),
        ("NVIDIA H100 PCIe", 85.0, "h100-pcie-80gb"),
        ("NVIDIA H100 80GB HBM3", 85.0, "h100-sxm5-80gb"),
        ("NVIDIA GeForce RTX 4090", 25.0, "rtx-4090"),
        ("Tesla T4", 15.8, "t4"),
        ("Tesla V100-SXM2-32GB", 34.0, "v100-sxm2-32gb"),
        ("NVIDIA L4", 23.0, "l4"),
        ("NVIDIA A10", 23.0, "a10"),
        ("AMD Instinct MI300X", 206.0, "mi300x"),
    ],
)
def test_device_names_match_catalog_targets(name, memory_gb, expected):
    target, note = match_device_name(name, builtin_targets(), memory_gb)
    assert target is not None and target.id == expected, note


def test_unknown_and_ambiguous_device_names():
    target, note = match_device_name("NVIDIA RTX A4000", builtin_targets(), 16.0)
    assert target is None
    assert note == "no hardware target matches 'NVIDIA RTX A4000'; choose one with --hardware"
    target, _ = match_device_name("NVIDIA RTX 6000 Ada Generation", builtin_targets(), 51.0)
    assert target is not None and target.id == "rtx-6000-ada"
    # Orin Nano and Orin Nano Super share every word and 8 GB: ambiguous
    target, note = match_device_name("Orin Nano", builtin_targets(), 7.6)
    assert target is None
    assert note == (
        "'Orin Nano' matches several targets (jetson-orin-nano-8gb, jetson-orin-nano-8gb-super); "
        "choose one with --hardware"
    )


def test_bench_feeds_token_ids_and_keyword_masks_as_the_analysis_does(capsys):
    """A token model gets int64 ids (an embedding cannot take floats), a keyword mask its bool values:
    the same feed as the analysis (``real_feed``)."""
    argv = ["bench", "any_input_models:TiedTokenModel", "--input", "int64:8", "--warmup", "0", "--iters", "2"]
    assert main([*argv, "--format", "json"]) == 0
    (d,) = json.loads(capsys.readouterr().out)
    assert (d["error"], len(d["times_s"]), d["input_shape"]) == (None, 2, [8])
    argv = ["bench", "any_input_models:KeywordMaskModel", "--input", "float:6", "--input", "mask=bool:6"]
    assert main([*argv, "--warmup", "0", "--iters", "2", "--format", "json"]) == 0
    (d,) = json.loads(capsys.readouterr().out)
    assert (d["error"], len(d["times_s"])) == (None, 2)


def test_a_model_that_cannot_fit_is_refused_before_it_is_allocated(monkeypatch):
    """The analysis' own peak (TINY_PEAK_TOTAL = 4256 B, derived above) against the memory free now."""
    from metrics_core.measure import bench

    measured = []
    monkeypatch.setattr(bench, "_measure", lambda *a, **k: measured.append(1))
    monkeypatch.setattr(bench, "available_memory", lambda device: (4255, "available (MemAvailable)"))
    r = bench_model(TINY, TINY_OPTIONS, "cpu", warmup=0, iters=1, target=SLOW_TARGET)
    assert (r.ok, r.times_s, measured) == (False, [], [])
    assert r.error == (
        "not run: its analysed peak memory, 4.26 KB, is more than the 4.25 KB available (MemAvailable) on "
        "cpu; use a smaller --batch-size or input"
    )
    monkeypatch.setattr(bench, "available_memory", lambda device: (4256, "available (MemAvailable)"))
    r = bench_model(TINY, TINY_OPTIONS, "cpu", warmup=0, iters=1, target=SLOW_TARGET)
    assert (r.error, measured) == (None, [1])  # exactly enough: measured


def test_cpu_available_memory_is_memavailable():
    from pathlib import Path

    from metrics_core.measure.bench import available_memory

    kib = int(
        next(
            ln.split()[1]
            for ln in Path("/proc/meminfo").read_text().splitlines()
            if ln.startswith("MemAvailable:")
        )
    )
    free, where = available_memory("cpu")
    assert where == "available (MemAvailable)" and abs(free - kib * 1024) < 1 << 30  # the figure moves
