"""The app's Textual-free parts: session state, layer rows, exports, settings parsing."""

from __future__ import annotations

import csv
import io
import json

import pytest
from tui_fakes import load_reports

from metrics_core.common.errors import UsageError
from metrics_core.common.records import OpRecord
from metrics_core.perf.hardware import hardware_targets
from metrics_core.runtime.analyze import AnalysisOptions
from tui.app.exporting import comparison_table
from tui.app.layerdata import aggregate_by_module, filter_rows, module_depth, op_rows, sort_rows
from tui.app.screens.settings import parse_shape
from tui.app.session import Session, precision_choices

REPORTS = load_reports()


def _session(**kwargs) -> Session:  # noqa: ANN003
    targets = hardware_targets()
    target_id = kwargs.pop("target", "a100-pcie-40gb")
    target = next(t for t in targets if t.id == target_id)
    return Session(targets=targets, target=target, **kwargs)


def _op(index: int, module: str, flops: int, in_b: int, out_b: int, w_b: int) -> OpRecord:
    return OpRecord(
        index, module, "Conv2d", "convolution", "conv", [], [1], "fp32", flops // 2, flops, in_b, out_b, w_b
    )


def test_session_sorts_by_seed_keys_and_keeps_failures_last():
    s = _session()
    s.select(["resnet18", "mobilenet_v2", "efficientnet_b0", "squeezenet1_0", "broken"])
    for report in REPORTS.values():
        assert s.accept(report, s.generation)
    s.set_sort("memory")  # memory_bytes ascending: 102.5 MB, 117.0 MB, 173.1 MB, 209.4 MB
    assert s.sort_key == "memory_bytes"
    assert s.ordered() == ["squeezenet1_0", "resnet18", "mobilenet_v2", "efficientnet_b0", "broken"]
    s.reverse = True
    assert s.ordered() == ["efficientnet_b0", "mobilenet_v2", "resnet18", "squeezenet1_0", "broken"]
    assert s.progress == (4, 5)


def test_session_drops_reports_of_an_older_generation():
    s = _session()
    s.select(["resnet18"])
    old = s.generation
    assert s.set_options(AnalysisOptions(batch_size=8))
    assert not s.accept(REPORTS["resnet18"], old)
    assert s.missing() == ["resnet18"]
    assert not s.set_options(AnalysisOptions(batch_size=8))  # unchanged options: nothing to redo


def test_session_precision_follows_dtype_and_cycles_through_the_target_paths():
    s = _session()
    assert s.precision == "fp32"
    s.set_options(AnalysisOptions(dtype="fp16"))
    assert s.precision == "fp16"
    t4 = next(t for t in s.targets if t.id == "t4")
    s.set_target(t4)
    assert t4.precisions == ("fp32", "fp16", "int8")  # T4 datasheet: no TF32 or BF16 path
    # one precision: the key cycles (dtype, path) pairs, bytes and peak together
    steps = []
    for _ in range(3):
        dtype, path = s.next_precision()
        s.set_precision(dtype, path)
        steps.append((s.options.dtype, s.precision))
    assert steps == [("int8", "int8"), ("fp32", "fp32"), ("fp16", "fp16")]
    assert s.precision_label == "bytes fp16 · peak fp16 tensor"
    # the A100 has TF32 (fp32 bytes) and BF16; a target without the precision is refused, unchanged
    a100 = next(t for t in s.targets if t.id == "a100-pcie-40gb")
    s.set_target(a100)
    assert precision_choices(a100) == [
        ("fp32", "fp32"),
        ("fp32", "tf32"),
        ("fp16", "fp16"),
        ("bf16", "bf16"),
        ("int8", "int8"),
    ]
    s.set_precision("bf16", "bf16")
    with pytest.raises(UsageError, match="has no bf16 path"):
        s.set_target(t4)
    assert (s.target.id, s.options.dtype, s.precision) == ("a100-pcie-40gb", "bf16", "bf16")
    with pytest.raises(UsageError, match="has no bf16 path"):
        _session(target="t4").set_options(AnalysisOptions(dtype="bf16"))


def test_op_rows_join_estimates_and_shares():
    # conv1 of resnet18 on the A100 PCIe 40GB, fp32 (19.5 TFLOP/s, 1555 GB/s):
    # 236,027,904 FLOPs / 19.5e12 = 12.10 us > 3,851,008 bytes / 1555e9 = 2.48 us -> compute-bound
    # (the ideal roofline; the app's default is calibrated)
    s = _session()
    s.efficiency = "ideal"
    s.select(["resnet18"])
    s.accept(REPORTS["resnet18"], s.generation)
    rows = op_rows(REPORTS["resnet18"].records, s.estimate("resnet18"))
    first = rows[0]
    assert (first["module"], first["bytes"], first["bound"]) == ("conv1", 3_851_008, "compute")
    assert first["time_s"] == pytest.approx(236_027_904 / 19.5e12)
    assert sum(r["share"] for r in rows) == pytest.approx(100.0)


def test_aggregate_by_module_sums_and_reclassifies():
    # block.0: 2 ops, 300 FLOPs over 30 bytes -> AI 10; block.1: 1 op; depth 1 merges both blocks
    ops = [
        _op(0, "block.0", 100, 10, 0, 0),
        _op(1, "block.0", 200, 10, 10, 0),
        _op(2, "block.1", 50, 5, 5, 0),
    ]
    rows = op_rows(ops, None)
    by_module = aggregate_by_module(rows)
    assert [(r["module"], r["ops"], r["flops"], r["bytes"], r["ai"]) for r in by_module] == [
        ("block.0", 2, 300, 30, 10.0),
        ("block.1", 1, 50, 10, 5.0),
    ]
    assert [(r["module"], r["ops"], r["flops"]) for r in aggregate_by_module(rows, depth=1)] == [
        ("block", 3, 350)
    ]
    assert module_depth(rows) == 2


def test_aggregate_bound_is_where_most_time_goes():
    # times 3 us (memory) + 1 us (compute): memory-bound ops take 75% >= 50% -> memory
    rows = [
        {**op_rows([_op(0, "m", 1, 1, 0, 0)], None)[0], "time_s": 3e-6, "bound": "memory", "share": 75.0},
        {**op_rows([_op(1, "m", 1, 1, 0, 0)], None)[0], "time_s": 1e-6, "bound": "compute", "share": 25.0},
    ]
    (agg,) = aggregate_by_module(rows)
    assert (agg["bound"], agg["share"]) == ("memory", 100.0)
    assert agg["time_s"] == pytest.approx(4e-6)


def test_filter_and_sort_rows():
    rows = op_rows(REPORTS["resnet18"].records, None)
    convs = filter_rows(rows, "convolution", ("op",))
    assert len(convs) == 20  # resnet18: stem conv + 8 blocks x 2 convs + 3 downsample convs
    layer4 = filter_rows(rows, "layer4 conv", ("module", "op"))
    assert [r["module"] for r in layer4][:2] == ["layer4.0.conv1", "layer4.0.conv2"]
    by_flops = sort_rows(rows, "flops", descending=True)
    assert by_flops[0]["flops"] == 236_027_904  # conv1: 2 x 118,013,952 MACs, the largest op


def test_comparison_export_matches_the_cli_shape():
    s = _session()
    s.select(["resnet18", "mobilenet_v2"])
    for name in s.selected:
        s.accept(REPORTS[name], s.generation)
    table = comparison_table(s, ["mobilenet_v2", "resnet18"])
    rows = list(csv.DictReader(io.StringIO(table.text("csv"))))
    assert [(r["model"], r["params"]) for r in rows] == [
        ("mobilenet_v2", "3504872"),
        ("resnet18", "11689512"),
    ]
    assert rows[1]["est_bound"] == "compute"
    data = json.loads(table.text("json"))
    assert data[0]["roofline"]["target"] == "a100-pcie-40gb"
    assert data[0]["roofline"]["estimate"] is True


def test_parse_shape():
    assert parse_shape("3 224 224") == (3, 224, 224)
    assert parse_shape("3x160x160") == (3, 160, 160)
    assert parse_shape("  ") is None
    with pytest.raises(UsageError):
        parse_shape("3 two 2")


def test_rankings_cut_names_never_values():
    # at 60 columns the cells do not fit: the ellipsis falls on the model name, each value keeps its unit
    import io

    from rich.console import Console
    from tui_fakes import load_reports

    from tui.app.widgets.rankings import rankings_table

    reports = load_reports()
    table = rankings_table(list(reports.values()))
    out = io.StringIO()
    Console(file=out, width=60, color_system=None).print(table)
    lines = {line.split()[0]: line for line in out.getvalue().splitlines() if line.strip()}
    # Memory traffic (recorded memory_bytes): squeezenet1_0 102,508,224 B lowest, efficientnet_b0 highest
    assert "102.51 MB squeez" in lines["Memory"] and "209.42 MB effic" in lines["Memory"]
    # Params: squeezenet1_0 1.25M (1,248,424) lowest, resnet18 11.69M highest
    assert "1.25M squeez" in lines["Params"] and "11.69M res" in lines["Params"]
