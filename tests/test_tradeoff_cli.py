"""``modeltui pareto`` / ``pick`` and the accuracy columns of ``compare``, end to end (small models)."""

from __future__ import annotations

import json

from tui import cli


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


MODELS = ["resnet18", "mobilenet_v2", "mobilenet_v3_small"]


def dominated(p, q):
    """q dominates p (lower latency, higher acc1 better), computed independently of the tool."""
    return q["x"] <= p["x"] and q["y"] >= p["y"] and (q["x"] < p["x"] or q["y"] > p["y"])


def test_pareto_json_frontier_recomputed(capsys):
    code, out, _ = run(["pareto", *MODELS, "--hardware", "a100-pcie-40gb", "--format", "json"], capsys)
    assert code == 0
    doc = json.loads(out)
    points = doc["points"]
    assert {p["model"] for p in points} == set(MODELS)
    for p in points:
        expected = not any(dominated(p, q) for q in points if q is not p)
        assert p["on_frontier"] is expected, p["model"]
    acc = {p["model"]: p["acc1"] for p in points}
    assert acc["mobilenet_v3_small"] == 67.668 and acc["resnet18"] == 69.758
    assert doc["x"]["axis"] == "latency" and doc["y"]["axis"] == "acc1"


def test_pareto_table_fits_80_columns(capsys):
    code, out, _ = run(["pareto", *MODELS, "--hardware", "a100-pcie-40gb", "--x", "energy"], capsys)
    assert code == 0
    assert "upper bound at board power" in out
    assert "frontier (" in out and "on the frontier" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_pick_chosen_and_empty(capsys):
    code, out, _ = run(["pick", *MODELS, "--hardware", "a100-pcie-40gb", "--min-acc1", "69"], capsys)
    assert code == 0
    table = out.split("meet all constraints:", 1)[1]
    assert table.index("mobilenet_v2") < table.index("resnet18")  # 72.154 before 69.758
    assert "mobilenet_v3_small: acc1 67.668 < 69.000" in out
    code, out, _ = run(["pick", *MODELS, "--hardware", "a100-pcie-40gb", "--min-acc1", "99"], capsys)
    assert code == 0
    assert "no model meets all constraints; closest: mobilenet_v2: acc1 72.154 < 99.000" in out
    code, out, _ = run(
        ["pick", *MODELS, "--hardware", "a100-pcie-40gb", "--max-params", "4M", "--format", "json"], capsys
    )
    doc = json.loads(out)
    assert [r["model"] for r in doc["chosen"]] == ["mobilenet_v2", "mobilenet_v3_small"]  # 3.50M, 2.54M
    assert doc["closest"][0]["binding"] == "--max-params"


def test_bad_input_is_one_line_exit_2(capsys):
    cases = [
        ["pick", "resnet18", "--hardware", "a100-pcie-40gb", "--max-latency", "fast"],
        ["pick", "resnet18", "--hardware", "a100-pcie-40gb", "--by", "speed"],
        ["pick", "resnet18", "--hardware", "a100-pcie-40gb", "--max-memory", "4"],
        ["pareto", "resnet18", "--hardware", "a100-pcie-40gb", "--x", "speed"],
        ["pareto", "resnet18", "--hardware", "a100-pcie-40gb", "--y", "acc2"],
        ["pareto", "build_test_models:tiny_cnn", "--hardware", "a100-pcie-40gb"],
        ["pareto", "resnet18", "--hardware", "tpu-v5e", "--dtype", "bf16", "--x", "energy"],
    ]
    for argv in cases:
        code, out, err = run(argv, capsys)
        assert code == 2, argv
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    _, _, err = run(cases[0], capsys)
    assert "expected a time such as 5ms" in err
    _, _, err = run(cases[5], capsys)
    assert "no model here has a published acc1" in err
    # a negative-looking value is the option's value, checked by the option (argparse alone would say
    # "expected one argument")
    _, _, err = run(["pick", "resnet18", "--hardware", "a100-pcie-40gb", "--max-latency", "-1ms"], capsys)
    assert err == "modeltui: error: --max-latency '-1ms': expected a time such as 5ms, 500us or 0.2s\n"
    _, _, err = run(["pick", "resnet18", "--hardware", "a100-pcie-40gb", "--max-memory", "0GB"], capsys)
    assert err == "modeltui: error: --max-memory '0GB': an upper bound must be above zero\n"
    _, _, err = run(["pick", "--hardware", "a100-pcie-40gb", "--all", "--filter", "zzz*"], capsys)
    assert err == "modeltui: error: no torchvision model matches --filter 'zzz*'\n"


def test_compare_accuracy_columns_and_sort(capsys):
    code, out, _ = run(["compare", *MODELS, "--sort-by", "acc1", "--format", "json"], capsys)
    assert code == 0
    rows = json.loads(out)
    assert [r["model"] for r in rows] == ["mobilenet_v2", "resnet18", "mobilenet_v3_small"]
    assert rows[2]["acc1"] == 67.668 and rows[2]["acc5"] == 87.402
    assert (
        rows[2]["acc_weights"] == "MobileNet_V3_Small_Weights.IMAGENET1K_V1"
        and rows[2]["acc_resolution"] == 224
    )
    code, out, _ = run(
        ["compare", "resnet18", "build_test_models:tiny_cnn", "--input-shape", "3", "64", "64"], capsys
    )
    assert "== Accuracy (ImageNet-1k val, published; - = none) ==" in out
    assert "resnet18: acc measured at 224x224, analysed at 64x64" in out
    assert "Most accurate            resnet18" in out


def test_pick_and_pareto_say_whether_the_target_was_validated(capsys):
    """``pick`` and ``pareto`` named the execution and efficiency of their estimates, not whether the target
    was ever held against measurements: the A100 PCIe 40GB has no [validated] entry (data/efficiency.toml),
    a physical estimate."""
    code, out, _ = run(["pick", *MODELS, "--hardware", "a100-pcie-40gb", "--min-acc1", "69"], capsys)
    assert code == 0
    assert (
        "estimates: eager, calibrated efficiency; physical estimate, not validated on this target"
        in " ".join(out.split())
    )
    code, out, _ = run(["pareto", *MODELS, "--hardware", "a100-pcie-40gb"], capsys)
    assert code == 0
    assert "calibrated efficiency; physical estimate, not validated on this target" in " ".join(out.split())
