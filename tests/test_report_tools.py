"""Sorting, rankings, serialisation and exports over hand-built reports."""

from __future__ import annotations

import json
import os

import pytest

from metrics_core.common.errors import UsageError
from metrics_core.common.records import METRIC_NAMES, ModelMetrics, ModelReport, OpRecord
from metrics_core.report.columns import COMPARISON_COLUMNS
from metrics_core.report.export import format_for_path, render, write_atomic
from metrics_core.report.rankings import efficiency_rankings
from metrics_core.report.sorting import sort_reports


def report(name, params, flops, memory, avg_ai, error=None):
    metrics = None
    if error is None:
        metrics = ModelMetrics(
            params=params,
            trainable_params=params,
            size_mb=params * 4 / 1e6,
            size_mb_fp32=params * 4 / 1e6,
            size_mb_int8=params / 1e6,
            layers=10,
            max_width=64,
            macs=flops // 2,
            flops=flops,
            flops_per_param=flops / params,
            params_per_mac=params / (flops // 2),
            input_bytes=memory // 2,
            output_bytes=memory // 4,
            weight_bytes=memory // 4,
            memory_bytes=memory,
            bytes_per_flop=memory / flops,
            avg_ai=avg_ai,
            aggregate_ai=flops / memory,
            compute_bound_pct=0.0,
            memory_bound_pct=100.0,
            classification="memory-bound",
        )
    return ModelReport(
        model=name, input_shape=[3, 224, 224], batch_size=1, dtype="fp32", metrics=metrics, error=error
    )


A = report("a", params=100, flops=1000, memory=400, avg_ai=3.0)  # flops/param 10
B = report("b", params=50, flops=2000, memory=300, avg_ai=9.0)  # flops/param 40
C = report("c", params=200, flops=500, memory=800, avg_ai=1.0)  # flops/param 2.5
BAD = report("bad", 0, 0, 0, 0, error="RuntimeError: boom")


@pytest.mark.parametrize(
    ("key", "order"),
    [
        ("params", ["b", "a", "c", "bad"]),  # smallest first
        ("flops", ["c", "a", "b", "bad"]),
        ("macs", ["c", "a", "b", "bad"]),
        ("memory", ["b", "a", "c", "bad"]),
        ("efficiency", ["b", "a", "c", "bad"]),  # highest FLOPs/param first
        ("ai", ["b", "a", "c", "bad"]),  # highest avg AI first
        ("max_width", ["a", "b", "c", "bad"]),  # ties keep input order
    ],
)
def test_sort_keys(key, order):
    assert [r.model for r in sort_reports([A, B, C, BAD], key)] == order
    # reverse inverts the known rows; failed rows stay last
    assert [r.model for r in sort_reports([A, B, C, BAD], key, reverse=True)][-1] == "bad"


def test_reverse_params():
    assert [r.model for r in sort_reports([A, B, C], "params", reverse=True)] == ["c", "a", "b"]


def test_unknown_sort_key():
    with pytest.raises(UsageError, match="unknown sort key 'speed'"):
        sort_reports([A], "speed")


def test_rankings():
    ranks = {r.title: (r.model, r.value) for r in efficiency_rankings([A, B, C, BAD])}
    assert ranks["Smallest model"] == ("b", 50)
    assert ranks["Largest model"] == ("c", 200)
    assert ranks["Least FLOPs"] == ("c", 500)
    assert ranks["Most FLOPs"] == ("b", 2000)
    assert ranks["Least memory traffic"] == ("b", 300)
    assert ranks["Most memory traffic"] == ("c", 800)
    assert ranks["Most compute per param"] == ("b", 40.0)
    assert ranks["Highest avg AI"] == ("b", 9.0)
    assert ranks["Lowest avg AI"] == ("c", 1.0)


def test_report_roundtrip_is_lossless():
    r = report("a", 100, 1000, 400, 3.0)
    r.records = [
        OpRecord(
            0,
            "conv1",
            "Conv2d",
            "convolution",
            "conv",
            [[1, 3, 8, 8], [4, 3, 3, 3]],
            [1, 4, 6, 6],
            "fp32",
            432,
            864,
            768,
            576,
            432,
            True,
            1344,
        )
    ]
    again = ModelReport.from_dict(json.loads(json.dumps(r.to_dict())))
    assert again == r
    assert again.records[0].ai == pytest.approx(864 / (768 + 576 + 432))


def test_summary_dict_has_exactly_the_metric_keys():
    d = A.summary_dict()
    assert set(d) == {
        *METRIC_NAMES,
        "model",
        "input_shape",
        "batch_size",
        "dtype",
        "inputs",
        "coverage",
        "reference",
    }
    assert d["coverage"] == {"status": "full", "uncovered": {}, "covered_ops": 0, "total_ops": 0}


def test_exports(tmp_path):
    rows = [A.summary_dict(), B.summary_dict()]
    csv_text = render(rows, COMPARISON_COLUMNS, "csv")
    assert csv_text.splitlines()[0].startswith("model,params,trainable_params,active_params,size_mb")
    assert csv_text.splitlines()[1].startswith("a,100,100,,0.0004")
    md = render(rows, COMPARISON_COLUMNS, "markdown")
    assert md.splitlines()[2].startswith("| a | 100 | 100 | - | 0.00 |")
    path = write_atomic(tmp_path / "out" / "cmp.json", render(rows, COMPARISON_COLUMNS, "json"))
    assert json.loads(path.read_text())[1]["flops"] == 2000
    assert os.listdir(path.parent) == ["cmp.json"]  # no temp file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0o600


def test_export_format_and_errors(tmp_path):
    assert format_for_path("x.md") == "markdown"
    with pytest.raises(UsageError, match="cannot tell the export format"):
        format_for_path("x.txt")
    with pytest.raises(UsageError, match="is a directory"):
        write_atomic(tmp_path, "x")


def test_sort_by_roofline_estimate():
    class Est:
        def __init__(self, latency):
            self.latency_s = latency
            self.throughput_per_s = 1 / latency

    est = {"a": Est(3e-3), "b": Est(1e-3), "c": Est(2e-3)}
    assert [r.model for r in sort_reports([A, B, C, BAD], "latency_s", estimates=est)] == [
        "b",
        "c",
        "a",
        "bad",
    ]
    # throughput: highest first (1000/s, 500/s, 333/s)
    assert [r.model for r in sort_reports([A, B, C], "throughput_per_s", estimates=est)] == ["b", "c", "a"]
    # no estimates (no target chosen): every value undefined, input order kept
    assert [r.model for r in sort_reports([A, B, C], "latency_s")] == ["a", "b", "c"]
