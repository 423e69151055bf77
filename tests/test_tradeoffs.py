"""Accuracy, energy, the Pareto frontier, constraint parsing and ``pick``: hand-derived values."""

from __future__ import annotations

import math

import pytest

from metrics_core.common import quantity
from metrics_core.common.errors import UsageError
from metrics_core.perf.energy import energy_from, estimate_energy, unavailable_reason
from metrics_core.perf.hardware import builtin_targets, get_target, parse_hardware_text
from metrics_core.report import accuracy
from metrics_core.report.pareto import X_AXES, Y_AXES, frontier_flags, pareto, render_scatter, x_axis, y_axis
from metrics_core.report.pick import parse_constraints, pick

# ------------------------------------------------------------------------------------------ accuracy


def test_torchvision_accuracy_from_weights_meta():
    r50 = accuracy.accuracy_of("resnet50")
    assert (r50.acc1, r50.acc5) == (80.858, 95.434)
    assert r50.weights == "ResNet50_Weights.IMAGENET1K_V2" and r50.resolution == 224
    small = accuracy.accuracy_of("mobilenet_v3_small")
    assert (small.acc1, small.acc5) == (67.668, 87.402)
    assert accuracy.accuracy_of("vit_h_14").resolution == 518  # measured at its own crop
    assert accuracy.accuracy_of("fcn_resnet50") is None  # segmentation: no ImageNet-1k figure
    assert accuracy.accuracy_of("hf:gpt2") is None
    assert accuracy.accuracy_of("build_test_models:tiny_cnn") is None


def test_timm_accuracy_from_bundled_data():
    # results-imagenet.csv: resnet50.a1_in1k,224,80.382,...,94.598 (and 81.240 / 95.112 at 288);
    # a1_in1k is the first of timm's resnet50 pretrained tags, so timm:resnet50 gets it
    acc = accuracy.accuracy_of("timm:resnet50")
    assert (acc.acc1, acc.acc5, acc.weights, acc.resolution) == (80.382, 94.598, "resnet50.a1_in1k", 224)
    at_288 = accuracy.accuracy_of("timm:resnet50", input_shape=[3, 288, 288])
    assert (at_288.acc1, at_288.resolution) == (81.24, 288)
    # a1h_in1k: 80.654 at 224 and 79.264 at 176, its own input size (listed first when no input is given)
    tagged = accuracy.accuracy_of("timm:resnet50.a1h_in1k")
    assert (tagged.weights, tagged.acc1, tagged.resolution) == ("resnet50.a1h_in1k", 79.264, 176)
    assert accuracy.accuracy_of("timm:resnet50.a1h_in1k", input_shape=[3, 224, 224]).acc1 == 80.654
    data = accuracy.timm_data()
    assert "results-imagenet.csv" in data["source"] and "aa4b5850c154" in data["source"]
    assert len(data["csv_sha256"]) == 64


def test_resolution_mismatch_is_said():
    acc = accuracy.accuracy_of("resnet50")
    assert accuracy.resolution_note(acc, [3, 224, 224]) is None
    assert accuracy.resolution_note(acc, [3, 160, 160]) == "acc measured at 224x224, analysed at 160x160"


# -------------------------------------------------------------------------------------------- energy


def _target(power: str) -> object:
    text = f"""
[[target]]
id = "hand-gpu"
name = "Hand GPU"
vendor = "Test"
kind = "GPU"
memory_bandwidth_gbps = 1000
memory_gb = 16
source = "test"
{power}
[target.peak_tflops]
fp32 = 10
"""
    return parse_hardware_text(text, "test", "test")[0]


def test_energy_arithmetic_by_hand():
    # 250 W x 2 ms = 0.5 J per inference of a batch of 4: 0.125 J per sample, 2 inferences/J, 8 samples/J
    assert energy_from(250, 0.002, 4) == pytest.approx((0.5, 0.125))
    e = estimate_energy(_target('board_power_w = 250\nboard_power_source = "by hand"'), 0.002, 4)
    assert e.energy_per_inference_j == pytest.approx(0.5)
    assert e.energy_per_sample_j == pytest.approx(0.125)
    assert e.inferences_per_j == pytest.approx(2.0)
    assert e.samples_per_j == pytest.approx(8.0)
    assert "upper bound" in e.label and e.to_dict()["upper_bound"] is True


def test_board_power_on_every_builtin_target():
    for t in builtin_targets():
        assert t.board_power_source, t.id
        if t.board_power_w is None:  # only where no figure is published, and it says so
            assert "not published" in t.board_power_source
    assert get_target("a100-pcie-40gb").board_power_w == 250
    assert get_target("h100-sxm5-80gb").board_power_w == 700
    assert estimate_energy(get_target("tpu-v5e"), 0.001) is None
    assert "tpu-v5e has no board power" in unavailable_reason(get_target("tpu-v5e"))


def test_board_power_needs_its_source():
    with pytest.raises(Exception, match="board_power_source"):
        _target("board_power_w = 100")


# ------------------------------------------------------------------------------------------ frontier


def test_frontier_ties_duplicates_and_one_model():
    pts = [(1, 70), (2, 75), (2, 74), (3, 75), (4, 80), (4, 80), (5, 79)]
    # (2,74): same cost, less accurate; (3,75): dearer, not better; the two (4,80) do not dominate each
    # other; (5,79) is beaten by (4,80)
    assert frontier_flags(pts) == [True, True, False, False, True, True, False]
    assert frontier_flags([(3.0, 50.0)]) == [True]
    assert frontier_flags([(1, None), (None, 2), (2, 60)]) == [False, False, True]
    # higher x better (throughput): 2000/s at 60 %, 1000/s at 70 %, 500/s at 75 % all stay
    assert frontier_flags([(1000, 70), (500, 75), (500, 72), (2000, 60)], x_higher_better=True) == [
        True,
        True,
        False,
        True,
    ]


def test_pareto_rows_and_chart():
    rows = [
        {"model": "a", "latency_s": 1e-3, "acc1": 70.0},
        {"model": "b", "latency_s": 2e-3, "acc1": 75.0},
        {"model": "c", "latency_s": 3e-3, "acc1": 72.0},
        {"model": "d", "latency_s": 1e-1, "acc1": 80.0},
        {"model": "e", "latency_s": 1e-3, "acc1": None},
    ]
    result = pareto(rows, x_axis("latency"), y_axis("acc1"))
    assert [p.model for p in result.frontier] == ["a", "b", "d"]
    assert result.missing == (("e", "no acc1"),)
    chart = render_scatter(result, width=60, height=12)
    assert "(log scale)" in chart  # 1 ms .. 100 ms: a range of 100
    assert "A a, B b, C d" in chart
    assert max(len(line) for line in chart.splitlines()[:-1]) <= 60
    assert chart.isascii()
    # two frontier points 1 % apart on x and 0.01 points on y share a cell at this size: the key says which
    # letter hides the other
    close = pareto(
        [*rows[:2], {"model": "b2", "latency_s": 2.02e-3, "acc1": 75.01}, rows[3]],
        x_axis("latency"),
        y_axis("acc1"),
    )
    assert [p.model for p in close.frontier] == ["a", "b", "b2", "d"]
    assert "A a, B b (under C), C b2, D d" in " ".join(render_scatter(close, width=60, height=12).split())
    with pytest.raises(UsageError, match="choose one of latency, throughput"):
        x_axis("speed")
    with pytest.raises(UsageError, match="acc1, acc5"):
        y_axis("acc2")
    assert set(X_AXES) == {"latency", "throughput", "macs", "params", "memory", "peak_memory", "energy"}
    assert set(Y_AXES) == {"acc1", "acc5"}


# ------------------------------------------------------------------------------------------- parsing


def test_quantity_parsing():
    assert quantity.parse_time("5ms") == pytest.approx(0.005)
    assert quantity.parse_time("500us") == pytest.approx(5e-4)
    assert quantity.parse_time("0.2 s") == pytest.approx(0.2)
    assert quantity.parse_rate("1000/s") == 1000
    assert quantity.parse_rate("2.5K/s") == 2500
    assert quantity.parse_rate("1000") == 1000
    assert quantity.parse_bytes("4GB") == 4e9
    assert quantity.parse_bytes("2GiB") == 2 * 2**30
    assert quantity.parse_bytes("512 MB") == 512e6
    assert quantity.parse_bytes("3MiB") == 3 * 2**20
    assert quantity.parse_count("25M") == 25e6
    assert quantity.parse_count("1.5G") == 1.5e9
    assert quantity.parse_count("500K") == 5e5
    assert quantity.parse_count("3e6") == 3e6
    assert quantity.parse_percent("75%") == 75
    for parse, text in [
        (quantity.parse_time, "fast"),
        (quantity.parse_time, "5"),
        (quantity.parse_bytes, "4Gb"),
        (quantity.parse_bytes, "4"),
        (quantity.parse_rate, "1000/h"),
        (quantity.parse_count, "5X"),
        (quantity.parse_percent, "175"),
    ]:
        with pytest.raises(UsageError, match="expected"):
            parse(text)


# ---------------------------------------------------------------------------------------------- pick

ROWS = [
    {"model": "a", "latency_s": 0.002, "throughput_per_s": 500.0, "peak_memory_bytes": 1e9, "params": 10e6,
     "acc1": 70.0, "energy_per_sample_j": 0.5},
    {"model": "b", "latency_s": 0.004, "throughput_per_s": 250.0, "peak_memory_bytes": 3e9, "params": 25e6,
     "acc1": 78.0, "energy_per_sample_j": 1.0},
    {"model": "c", "latency_s": 0.006, "throughput_per_s": 1000 / 6, "peak_memory_bytes": 5e9, "params": 60e6,
     "acc1": 82.0, "energy_per_sample_j": 1.5},
    {"model": "d", "latency_s": 0.001, "throughput_per_s": 1000.0, "peak_memory_bytes": 5e8, "params": 5e6,
     "acc1": None, "energy_per_sample_j": 0.25},
]  # fmt: skip


def _pick(by="acc1", **limits):
    result = pick(ROWS, parse_constraints(limits), by)
    return [r["model"] for r in result.chosen], [
        (m.row["model"], m.binding.kind.key, m.excess) for m in result.misses
    ]


def test_pick_each_constraint_by_hand():
    chosen, misses = _pick(max_latency="5ms")
    assert chosen == ["b", "a", "d"]  # by acc1, d (no accuracy) last
    assert misses == [("c", "latency_s", pytest.approx(0.2))]  # 6 ms / 5 ms - 1
    chosen, misses = _pick("latency", min_throughput="300/s")
    assert chosen == ["d", "a"]
    assert misses == [
        ("b", "throughput_per_s", pytest.approx(0.2)),
        ("c", "throughput_per_s", pytest.approx(0.8)),
    ]
    assert _pick(max_memory="4GB")[0] == ["b", "a", "d"]
    chosen, misses = _pick(max_memory="2GiB")  # 2147483648 B: b's 3 GB misses by 39.7 %
    assert chosen == ["a", "d"] and misses[0][:2] == ("b", "peak_memory_bytes")
    assert misses[0][2] == pytest.approx(3e9 / 2**31 - 1)
    assert _pick(max_params="25M")[0] == ["b", "a", "d"]  # the limit itself is allowed
    chosen, misses = _pick(min_acc1="75")
    assert chosen == ["c", "b"]
    assert misses == [("a", "acc1", pytest.approx(75 / 70 - 1)), ("d", "acc1", math.inf)]


def test_pick_combined_empty_and_objectives():
    chosen, misses = _pick(max_latency="5ms", min_acc1="75")
    assert chosen == ["b"]
    assert [m[0] for m in misses] == ["a", "c", "d"]  # +7.1 % acc1, +20 % latency, no acc1
    chosen, misses = _pick(max_latency="1.5ms", min_acc1="75")
    assert chosen == []
    assert misses[0] == ("a", "latency_s", pytest.approx(2 / 1.5 - 1))  # the binding one: latency, not acc1
    result = pick(ROWS, parse_constraints({"max_latency": "1.5ms", "min_acc1": "75"}))
    assert result.closest[0].text() == "a: latency 2.00 ms > 1.50 ms (+33%); acc1 70.000 < 75.000 (+7.1%)"
    assert _pick("energy")[0] == ["d", "a", "b", "c"]
    assert _pick("latency")[0] == ["d", "a", "b", "c"]
    with pytest.raises(UsageError, match="choose one of acc1, latency, energy"):
        _pick("speed")
    with pytest.raises(UsageError, match="--max-latency 'fast': expected a time"):
        parse_constraints({"max_latency": "fast"})


# --------------------------------------------------------------------------------------- trade-off rows


def test_tradeoff_row_of_a_recorded_report():
    from tui_fakes import load_reports

    from metrics_core.perf.roofline import estimate_model
    from metrics_core.perf.tradeoff import tradeoff_row

    report = load_reports()["resnet18"]
    target = get_target("a100-pcie-40gb")
    row = tradeoff_row(report, target, "fp32")
    latency = estimate_model(report, target, "fp32").latency_s
    assert row["latency_s"] == pytest.approx(latency)
    assert row["energy_j"] == pytest.approx(250 * latency)  # A100 PCIe 40GB: 250 W board power
    assert row["inferences_per_j"] == pytest.approx(1 / (250 * latency))
    assert (
        row["params"] == 11689512 and row["acc1"] == 69.758 and row["acc_weights"].endswith("IMAGENET1K_V1")
    )
    assert row["peak_memory_bytes"] == report.extras["memory"]["peak_total_bytes"]
    # without a target: sizes and accuracy only
    bare = tradeoff_row(report)
    assert bare["latency_s"] is None and bare["energy_j"] is None and bare["macs"] == 1814073344


def test_timm_source_lists_only_published_architectures():
    import argparse

    from tui.cli.commands.pareto import model_names

    args = argparse.Namespace(models=[], all=False, source="timm", filter="resnet1*")
    names = model_names(args)
    assert "timm:resnet18" in names and "timm:resnet101d" in names
    published = accuracy.timm_data()["defaults"]
    assert all(n.removeprefix("timm:") in published for n in names)


def test_a_single_point_gets_an_axis_around_it():
    result = pareto([{"model": "a", "latency_s": 2.44e-3, "acc1": 69.758}], x_axis("latency"), y_axis("acc1"))
    ticks = render_scatter(result, width=60, height=12).splitlines()
    # +-50 % around 2.44 ms: 1.22 ms .. 3.66 ms, never a negative time
    axis = next(line for line in ticks if "2.44 ms" in line and "1.22 ms" in line)
    assert axis.split() == ["1.22", "ms", "2.44", "ms", "3.66", "ms"]
