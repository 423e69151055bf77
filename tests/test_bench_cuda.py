"""On a CUDA device: measured latency eager and under ``torch.compile`` against the calibrated estimates.

Skipped without a GPU. Loose bounds: the check is that both execution modes run, are estimated with their
own kernels, and land within a factor of the measurement (the published error is in benchmarks/RESULTS.md).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("execution", ["eager", "compiled"])
def test_resnet50_fp16_measured_against_calibrated_estimate(execution):
    from metrics_core.measure.bench import bench_model
    from metrics_core.runtime.options import AnalysisOptions

    r = bench_model(
        "resnet50",
        AnalysisOptions(batch_size=64, dtype="fp16"),
        "cuda",
        warmup=3,
        iters=10,
        execution=execution,
        efficiency="calibrated",
    )
    assert r.ok and r.execution == execution and r.target is not None, r.error or r.target_note
    assert 1 / 3 < r.latency_ratio < 3  # measured / estimated latency
    assert r.measured_peak_bytes and 0.3 < r.peak_memory_ratio < 3
