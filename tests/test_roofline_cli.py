"""``modeltui roofline`` on hand-built reports (analysis is replaced; the estimates are hand-computed).

Target A100 PCIe 40GB, fp32: peak 19.5e12 FLOP/s, 1555e9 bytes/s, ridge 12.54 FLOP/byte.
"""

from __future__ import annotations

import json

import pytest

from metrics_core.common.records import ModelMetrics, ModelReport, OpRecord
from metrics_core.report.metrics import compute_metrics
from tui.cli import main
from tui.cli.commands import roofline as verb


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELTUI_CONFIG_DIR", str(tmp_path / "config"))


def _rec(i: int, flops: int, nbytes: int) -> OpRecord:
    return OpRecord(
        i, f"layer{i}", "Linear", "aten.mm", "matmul", [[1]], [1], "fp32", flops // 2, flops, nbytes, 0, 0
    )


def _report(name: str, records: list[OpRecord], batch: int = 2) -> ModelReport:
    metrics = ModelMetrics(**compute_metrics(records, params=1000, trainable_params=1000, dtype="fp32"))
    return ModelReport(name, [3, 8, 8], batch, "fp32", metrics=metrics, records=records)


# memory-bound: 1.555e9 FLOPs over 1.555e9 bytes -> 1 ms; compute-bound: 19.5e9 FLOPs, 0.1e9 bytes -> 1 ms
MEMORY_MODEL = _report("memnet", [_rec(0, 1_555_000_000, 1_555_000_000)])
COMPUTE_MODEL = _report(
    "compnet", [_rec(0, 19_500_000_000, 100_000_000), _rec(1, 1_555_000_000, 1_555_000_000)]
)
FAILED = ModelReport("badnet", [3, 8, 8], 2, "fp32", error="build failed: boom")


@pytest.fixture
def analyzed(monkeypatch):
    calls = []

    def fake(names, options):
        calls.append((list(names), options))
        pool = {r.model: r for r in (MEMORY_MODEL, COMPUTE_MODEL, FAILED)}
        return [pool[n] for n in names]

    monkeypatch.setattr(verb, "analyze_with_progress", fake)
    return calls


def test_text_output_has_chart_and_estimate_table(analyzed, capsys):
    argv = [
        "roofline",
        "memnet",
        "compnet",
        "--hardware",
        "a100-pcie-40gb",
        "--width",
        "80",
        "--height",
        "24",
        "--efficiency",
        "ideal",  # the hand-computed figures are the pure roofline's
    ]
    assert main([*argv, "--batch-size", "2", "--wide"]) == 0  # full-width rows
    out = capsys.readouterr().out
    assert analyzed[0][0] == ["memnet", "compnet"] and analyzed[0][1].batch_size == 2
    assert "NVIDIA A100 PCIe 40GB: fp32 roofline (estimates)" in out
    assert "A: memnet  AI 1.00 FLOP/byte, 1.55 TFLOP/s (est.)" in out  # 1.555e9 FLOPs / 1 ms
    # compnet: 21.055e9 FLOPs / 2 ms = 10.53 TFLOP/s; AI = 21.055e9 / 1.655e9 = 12.72
    assert "B: compnet  AI 12.72 FLOP/byte, 10.53 TFLOP/s (est.)" in out
    rows = {
        line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("memnet ", "compnet "))
    }
    # latency, throughput (2 samples / latency), attained, % of peak, bound, compute time (1.555e9 /
    # 19.5e12 = 79.74 us), memory time, overhead time (none in the ideal roofline), memory-bound time, agg
    # AI, clock ratio, validated target
    assert rows["memnet"] == [
        "memnet",
        "1.00",
        "ms",
        "2.00K",
        "1.55",
        "TFLOP/s",
        "8.0%",
        "memory",
        "79.74",
        "us",
        "1.00",
        "ms",
        "0.0",
        "ns",
        "100.0%",
        "1.00",
        "x1.00",
        "no",
    ]
    assert rows["compnet"] == [
        "compnet",
        "2.00",
        "ms",
        "1.00K",
        "10.53",
        "TFLOP/s",
        "54.0%",
        "memory",
        "1.08",  # 79.74 us + 19.5e9 / 19.5e12
        "ms",
        "1.06",  # 1 ms + 0.1e9 / 1555e9
        "ms",
        "0.0",
        "ns",
        "50.0%",
        "12.72",
        "x1.00",
        "no",
    ]
    assert (
        "Latency (est.)" in out
        and "Bound on target" in out
        and "Estimates assume one kernel per op (eager, no fusion)" in out
    )
    assert "\x1b[" not in out  # not a terminal: no colour


def test_json_output_labels_every_estimate(analyzed, capsys):
    argv = ["roofline", "compnet", "badnet", "--hardware", "a100-pcie-40gb", "--format", "json"]
    assert main([*argv, "--efficiency", "ideal"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["estimate"] is True and rows[0]["model"] == "compnet"
    assert (rows[0]["execution"], rows[0]["efficiency"]) == ("eager", "ideal")
    assert rows[0]["latency_s"] == pytest.approx(2e-3) and rows[0]["throughput_per_s"] == pytest.approx(
        1000.0
    )
    assert rows[0]["memory_bound_time_pct"] == pytest.approx(50.0) and "ops" not in rows[0]
    assert {k: v for k, v in rows[1].items() if k != "context"} == {
        "model": "badnet",
        "error": "build failed: boom",
    }
    assert rows[1]["context"]["hardware"] == rows[0]["context"]["hardware"]


def test_per_op_charts_and_slowest_ops(analyzed, capsys):
    argv = [
        "roofline",
        "compnet",
        "--hardware",
        "a100-pcie-40gb",
        "--per-op",
        "--width",
        "80",
        "--height",
        "24",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "compnet on NVIDIA A100 PCIe 40GB: fp32 roofline, per op (estimates)" in out
    assert "c: compute-bound op (1)  m: memory-bound op (1)  o: overhead-bound op (0)" in out
    assert "== compnet: slowest ops (est.) ==" in out


def test_failed_model_is_reported_and_exit_status_is_1(analyzed, capsys):
    assert main(["roofline", "memnet", "badnet", "--hardware", "a100-pcie-40gb", "--width", "80"]) == 1
    out = capsys.readouterr().out
    assert "badnet: ERROR build failed: boom" in out


def test_bad_hardware_or_precision_fails_before_analysis(analyzed, capsys):
    assert main(["roofline", "memnet", "--hardware", "a100"]) == 2
    assert "unknown hardware 'a100'; did you mean a100-sxm4-80gb, a100-pcie-40gb" in capsys.readouterr().err
    assert main(["roofline", "memnet", "--hardware", "t4", "--dtype", "bf16"]) == 2
    err = capsys.readouterr().err
    assert err == "modeltui: error: hardware 't4' (NVIDIA T4) has no bf16 path; it has fp32, fp16, int8\n"
    assert analyzed == []
