"""How benchmarks/validate_llm.py maps published rows: llama.cpp builds to their stack, the cold-start setup
column, and the parameters a set of rows informs (a vendor's own GEMM scale, the cold-start cost)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def vl():
    spec = importlib.util.spec_from_file_location("validate_llm", ROOT / "benchmarks" / "validate_llm.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["validate_llm"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rows(vl):
    from metrics_core.perf.hardware import hardware_targets

    targets = {t.id: t for t in hardware_targets()}
    found, _skipped = vl.read_rows(vl.MEASURED / "llm_serving.csv", targets)
    return found, targets


def test_llama_cpp_builds_map_to_the_stack_they_ran(vl):
    # PR #8075 (2024-06-24, b3216) made int8 MMQ the default: older builds ran the dequantise-to-fp16 path
    assert vl.stack_of("llama.cpp", "Dec 2023 build (not stated)") == "llama-cpp-2024"
    assert vl.stack_of("llama.cpp", "May 2024 build (not stated)") == "llama-cpp-2024"
    assert vl.stack_of("llama.cpp", "build 32d9f7d9 (1786)") == "llama-cpp-2024"
    assert vl.stack_of("llama.cpp", "ggml-backend branch, Jan 2024") == "llama-cpp-2024"
    assert vl.stack_of("llama.cpp", "b4500 (Jan 2025)") == "llama-cpp"
    # vLLM's V0 engine (0.5-0.7; V1 the default from 0.8) is its own stack; its CI rows (no version): current
    assert vl.stack_of("vllm", "0.6.0") == "vllm-2024"
    assert vl.stack_of("vllm", "0.6.6 (ROCm dev docker, Jan 2025)") == "vllm-2024"
    assert vl.stack_of("vllm", "not stated (Oct 2024 blog; ROCm vLLM of that time)") == "vllm-2024"
    assert vl.stack_of("vllm", "0.19.1") == "vllm"
    assert vl.stack_of("vllm", "main at performance-benchmark build 9523 (version not printed)") == "vllm"


def test_the_cold_start_rows_are_the_dec_2023_main_prompt_rows(rows):
    found, _ = rows
    cold = sorted(r.id for r in found if r.cold_start)
    # ./main times one prompt per process: the four prompt rows of the Dec-2023 LLaMA 2 tables
    assert cold == [
        "llamacpp-dec2023-a100-sxm4-80gb-llama2-7b-f16-pp",
        "llamacpp-dec2023-a100-sxm4-80gb-llama2-7b-q4_0-pp",
        "llamacpp-dec2023-h100-pcie-80gb-llama2-7b-f16-pp",
        "llamacpp-dec2023-h100-pcie-80gb-llama2-7b-q4_0-pp",
    ]
    # every pre-June-2024 build is llama-cpp-2024; the Sep-2025 (b6413) and 2026 builds the current stack
    current = sorted({r.id.split("-")[1] for r in found if r.stack == "llama-cpp"})
    assert current == ["b6413", "pr24127"]
    assert all(
        r.stack == "llama-cpp-2024" for r in found if r.id.startswith("llamacpp-") and r.stack != "llama-cpp"
    )
    assert sum(r.stack == "llama-cpp" for r in found) == 20  # 16 RTX PRO 6000 rows, 4 RTX 3090 / 4090 rows


def test_fit_params_name_a_vendors_own_gemm_scale_and_the_cold_start_cost(vl, rows):
    found, targets = rows
    apple = [r for r in found if r.gpu == "apple-m3-max"]
    # M3 Max: 4 decode rows (lpddr bandwidth, step overhead) and 2 prompt rows (Metal's own fp16 GEMM
    # scale): at least one row each
    assert vl.fit_params(apple, targets, 1) == [
        "bandwidth.lpddr",
        "gemm_scale.fp16@Apple",
        "step_overhead_us",
    ]
    h100 = [r for r in found if r.gpu == "h100-pcie-80gb" and r.metric == "prefill_tok_s"]
    # two cold prompt rows fit the cold-start cost (its minimum is 2 rows), not the GEMM scale (3)
    assert vl.fit_params(h100, targets) == ["cold_start_overhead_us"]


def test_a_leave_one_out_fit_starts_from_the_unfitted_premise_inside_every_range(vl):
    # every fitted kind has a start that was never fitted (generic-gpu's bandwidth share 0.85, the
    # generation's GEMM fraction as it is, no overheads), inside the range the search may take it to
    assert set(vl.LOO_PRIOR) == set(vl.FIT_RANGES)
    assert vl.LOO_PRIOR == {
        "bandwidth": 0.85, "gemm_scale": 1.0, "step_overhead_us": 0.0, "request_overhead_us": 0.0,
        "cold_start_overhead_us": 0.0,
    }  # fmt: skip
    for kind, value in vl.LOO_PRIOR.items():
        lo, hi = vl.FIT_RANGES[kind]
        assert lo <= value <= hi


def test_rows_collected_as_held_out_checks_are_never_fitted(vl, rows):
    """``--fit`` leaves the held-out collections out (benchmarks/measured/README.md): the 16 llama.cpp b6413
    rows of the RTX PRO 6000 (pp512 + tg128 at 8 power limits) and the 37 vLLM rows (24 of AMD's MI300X
    dev-docker tables, 7 of the Oracle 405B blog: vLLM V0, stack vllm-2024; 6 of vLLM's CI on A100 / H200)."""
    found, _targets = rows
    held = [r for r in found if vl.HELD_OUT.match(r.id)]
    by_stack = {s: sum(r.stack == s for r in held) for s in {r.stack for r in held}}
    assert by_stack == {"llama-cpp": 16, "vllm": 6, "vllm-2024": 31}
    gpus = sorted({r.gpu for r in held if r.stack.startswith("vllm")})
    assert gpus == ["a100-sxm4-80gb", "h200-sxm-141gb", "mi300x"]


def test_split_leave_one_out_runs_combine_into_one_table(vl):
    # two --hold-out runs: each has every row's shipped estimate, and the leave-one-out estimate only of the
    # GPUs it held out; combined, every row keeps the one run's leave-one-out that held its GPU out
    a = [
        {"id": "h100-row", "estimate": 10.0, "estimate_leave_one_gpu_out": 12.0},
        {"id": "l40s-row", "estimate": 20.0, "estimate_leave_one_gpu_out": None},
    ]
    b = [
        {"id": "h100-row", "estimate": 10.5, "estimate_leave_one_gpu_out": None},
        {"id": "l40s-row", "estimate": 20.0, "estimate_leave_one_gpu_out": 18.0},
    ]
    merged = {d["id"]: (d["estimate"], d["estimate_leave_one_gpu_out"]) for d in vl.merge_runs([a, b])}
    assert merged == {"h100-row": (10.5, 12.0), "l40s-row": (20.0, 18.0)}


def test_hold_out_needs_the_leave_one_out_fit(vl, capsys):
    with pytest.raises(SystemExit) as info:
        vl.main(["--hold-out", "h100-sxm5-80gb"])
    assert info.value.code == 2
    assert "--hold-out needs --fit --leave-one-out" in capsys.readouterr().err


def test_the_ttft_rows_measured_at_a_request_rate_are_trtllm_serving_at_2_qps(rows):
    """A TTFT measured at a request rate includes the arrival's wait for the step in flight
    (``perf.serving.arrival_wait_s``, added by ``estimate_row``): the five Triton rows at QPS=2 of
    TensorRT-LLM's perf-overview table; its QPS=INF TTFT rows (queueing) are skipped, the rest are
    batch-1 or closed-loop rows."""
    found, _ = rows
    rate = sorted((r.id, r.qps) for r in found if r.metric == "ttft_ms" and r.qps)
    assert rate == [
        ("trtllm014-serve-h100-llama31-70b-tp4-467-256-q2-ttft", 2.0),
        ("trtllm014-serve-h100-llama31-8b-202-214-q2-ttft", 2.0),
        ("trtllm014-serve-h100-llama31-8b-467-256-q2-ttft", 2.0),
        ("trtllm014-serve-h200-llama31-70b-tp4-467-256-q2-ttft", 2.0),
        ("trtllm014-serve-h200-llama31-8b-467-256-q2-ttft", 2.0),
    ]
