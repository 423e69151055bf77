"""Every ``--format`` output carries its context (``metrics_core.report.context``): JSON keys on every
object, CSV columns, a Markdown caption; the shapes scripts depend on stay."""

from __future__ import annotations

import csv
import io
import json
from importlib import metadata

import pytest

from metrics_core.report.context import caption, run_context, with_context
from tui.cli import main

VERSIONS = {"modeltui_version": metadata.version("modeltui"), "torch_version": metadata.version("torch")}
H100_BF16 = {
    "batch_size": 4,
    "dtype": "bf16",
    # the layout of the model and its image input (--memory-format; PyTorch's NCHW unless asked)
    "memory_format": "contiguous",
    "hardware": "h100-sxm5-80gb",
    "precision": "bf16",
    "execution": "eager",
    "efficiency": "calibrated",
    "estimate": True,
    **VERSIONS,
    # what the estimate rests on: the H100's vision estimates were never held against measurements
    # (data/efficiency.toml has no [validated] entry for it), the built-in parameters
    "validated": False,
    "efficiency_source": "built-in",
}


def test_context_on_json_csv_and_markdown(capsys):
    argv = ["compare", "resnet18", "--batch-size", "4", "--dtype", "bf16", "--hardware", "h100-sxm5-80gb"]
    assert main([*argv, "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["context"] == H100_BF16 and row["model"] == "resnet18"
    assert main([*argv, "--format", "csv"]) == 0
    (row,) = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert {k: row[k] for k in H100_BF16} == {
        k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in H100_BF16.items()
    }
    assert main([*argv, "--format", "markdown"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == (
        f"_modeltui {VERSIONS['modeltui_version']} · torch {VERSIONS['torch_version']} · batch 4 · "
        "bytes bf16 · NCHW (contiguous) layout · on h100-sxm5-80gb, peak bf16 · "
        "eager kernels, calibrated efficiency · physical estimate, not validated · "
        "roofline figures are estimates_"
    )


def test_tf32_is_the_precision_of_fp32_bytes():
    ctx = run_context(batch_size=1, dtype="fp32", hardware="a100-sxm4-80gb", precision="tf32")
    assert caption(ctx).split(" · ")[2:4] == ["batch 1", "bytes fp32"]
    assert "on a100-sxm4-80gb, peak tf32" in caption(ctx)


def test_with_context_keeps_shapes_and_leaves_other_text_alone():
    ctx = {"batch_size": 2, "estimate": False}
    assert json.loads(with_context('[{"a": 1}, {"a": 2}]', "json", ctx)) == [
        {"a": 1, "context": ctx},
        {"a": 2, "context": ctx},
    ]
    assert json.loads(with_context('{"a": 1}', "json", ctx)) == {"a": 1, "context": ctx}
    assert with_context("[1, 2]", "json", ctx) == "[1, 2]"  # not objects: unchanged
    # csv: a column per field not already present, the same value on every row
    assert with_context("model,batch_size\nm,2\n", "csv", ctx) == "model,batch_size,estimate\nm,2,false\n"
    assert with_context("a,b\n1\n", "csv", ctx) == "a,b\n1\n"  # not rectangular: unchanged
    assert with_context("table text", "table", ctx) == "table text"


def test_app_and_cli_export_the_comparison_with_the_same_columns(capsys):
    from metrics_core.perf.hardware import hardware_targets
    from metrics_core.runtime.analyze import analyze_many
    from tui.app.exporting import comparison_table
    from tui.app.session import Session

    assert main(["compare", "resnet18", "--hardware", "a100-pcie-40gb", "--format", "csv"]) == 0
    cli_header = capsys.readouterr().out.splitlines()[0].split(",")
    targets = hardware_targets()
    session = Session(targets=targets, target=next(t for t in targets if t.id == "a100-pcie-40gb"))
    session.select(["resnet18"])
    (report,) = analyze_many(["resnet18"])
    session.accept(report, session.generation)
    session.precompute(report)  # records loaded and estimated, as the app's worker does
    app_header = comparison_table(session, ["resnet18"]).text("csv").splitlines()[0].split(",")
    assert cli_header[: cli_header.index("batch_size")] == app_header[: app_header.index("batch_size")]
    # units in the names: estimates and peak memory are prefixed and say their unit
    assert {"est_latency_s", "est_memory_bound_time_pct", "mem_peak_total_bytes", "acc1"} <= set(app_header)


def test_any_export_column_is_a_sort_key_and_the_table_says_so(capsys):
    argv = ["compare", "resnet18", "mobilenet_v2", "squeezenet1_0", "--hardware", "a100-pcie-40gb"]
    # peak total memory (est.): squeezenet1_0 10.97 MB < mobilenet_v2 < resnet18 53.22 MB
    assert main([*argv, "--sort-by", "mem_peak_total_bytes", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in rows] == ["squeezenet1_0", "mobilenet_v2", "resnet18"]
    assert [r["memory"]["peak_total_bytes"] for r in rows] == sorted(
        r["memory"]["peak_total_bytes"] for r in rows
    )
    assert main([*argv, "--sort-by", "est_latency_s"]) == 0
    assert "rows sorted by latency_s, smallest first" in capsys.readouterr().out
    assert main([*argv, "--sort-by", "latncy_s"]) == 2
    assert "did you mean latency_s?" in capsys.readouterr().err


def test_energy_columns_in_exports_and_as_sort_keys(capsys):
    from metrics_core.perf.hardware import get_target

    argv = ["compare", "resnet18", "mobilenet_v2", "vit_b_16", "--hardware", "h100-sxm5-80gb"]
    assert main([*argv, "--sort-by", "est_energy_per_sample_j", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    power = get_target("h100-sxm5-80gb").board_power_w  # 700 W (H100 SXM5 datasheet, max TDP)
    assert power == 700
    for r in rows:  # energy = board power x estimated latency (batch 1: per sample = per inference)
        latency = float(r["est_latency_s"])
        assert float(r["est_energy_per_inference_j"]) == pytest.approx(power * latency, rel=1e-12)
        assert float(r["est_inferences_per_j"]) == pytest.approx(1 / (power * latency), rel=1e-12)
    energies = [float(r["est_energy_per_sample_j"]) for r in rows]
    assert energies == sorted(energies) and len(rows) == 3


def test_a_bad_jobs_setting_is_one_line(capsys, monkeypatch):
    monkeypatch.setenv("MODELTUI_JOBS", "-1")
    assert main(["hardware"]) == 2
    assert capsys.readouterr().err == (
        "modeltui: error: MODELTUI_JOBS='-1': expected a whole number of worker processes >= 0\n"
    )
