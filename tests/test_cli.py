"""The headless CLI: outputs, JSON keys and every error path (exit codes, one-line messages)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from importlib import metadata

import pytest

from metrics_core.common.records import METRIC_NAMES
from metrics_core.report.rows import LAYER_KEYS
from tui import cli


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_json_keys_and_values(capsys):
    code, out, err = run(["compare", "resnet18", "build_test_models:tiny_cnn", "--format", "json"], capsys)
    assert code == 0, err
    rows = json.loads(out)
    assert [r["model"] for r in rows] == ["resnet18", "build_test_models:tiny_cnn"]
    keys = {*METRIC_NAMES, "model", "input_shape", "batch_size", "dtype", "inputs", "coverage", "reference"}
    keys.add("memory")  # peak memory (est.), as in the table
    keys |= {"acc1", "acc5", "acc_weights", "acc_resolution", "acc_note"}  # published accuracy
    keys.add("context")  # what the numbers assume (metrics_core.report.context)
    assert set(rows[0]) == keys
    assert rows[0]["context"] == {
        "batch_size": 1,
        "dtype": "fp32",
        "memory_format": "contiguous",
        "estimate": False,
        "modeltui_version": "0.1.0",
        "torch_version": metadata.version("torch"),
    }
    assert rows[0]["acc1"] == 69.758 and rows[1]["acc1"] is None
    assert rows[0]["params"] == 11689512 and rows[0]["reference"]["num_params"] == 11689512
    # tiny_cnn: conv 3->8 3x3 pad 1 on 224x224: 224*224*8*27 = 10,838,016 MACs; linear 8*10 = 80
    assert rows[1]["macs"] == 10838016 + 80
    assert rows[1]["params"] == 314 and rows[1]["reference"] is None


def test_compare_sort_and_csv(capsys):
    code, out, _ = run(
        ["compare", "resnet18", "mobilenet_v2", "--sort-by", "params", "--format", "csv"], capsys
    )
    assert code == 0
    assert [line.split(",")[0] for line in out.splitlines()] == ["model", "mobilenet_v2", "resnet18"]
    code, out, _ = run(
        ["compare", "resnet18", "mobilenet_v2", "--sort-by", "ai", "--reverse", "--format", "csv"], capsys
    )
    assert [line.split(",")[0] for line in out.splitlines()[1:]] == ["mobilenet_v2", "resnet18"]


def test_compare_table_has_groups_and_rankings(capsys):
    code, out, _ = run(["compare", "resnet18", "mobilenet_v2"], capsys)
    assert code == 0
    for title in (
        "== Model size ==",
        "== Compute ==",
        "== Memory traffic ==",
        "== Arithmetic intensity ==",
        "== Efficiency rankings ==",
    ):
        assert title in out
    assert "Smallest model           mobilenet_v2           3.50M" in out


def test_compare_with_hardware_adds_estimates(capsys):
    code, out, _ = run(["compare", "resnet18", "--hardware", "a100-pcie-40gb", "--format", "json"], capsys)
    assert code == 0
    est = json.loads(out)[0]["roofline"]
    assert est["estimate"] is True and est["target"] == "a100-pcie-40gb" and est["precision"] == "fp32"
    assert est["ridge_point"] == pytest.approx(19.5e12 / 1555e9)


def test_layers_json_keys(capsys):
    code, out, _ = run(["layers", "build_test_models:tiny_cnn", "--format", "json"], capsys)
    assert code == 0
    rows = json.loads(out)
    assert list(rows[0]) == [*LAYER_KEYS, "context"]
    conv = rows[0]
    assert (conv["op"], conv["module"], conv["module_type"], conv["macs"]) == (
        "convolution",
        "0",
        "Conv2d",
        10838016,
    )
    assert conv["input_bytes"] == 3 * 224 * 224 * 4 and conv["weight_bytes"] == 224 * 4


def test_models_json(capsys):
    code, out, _ = run(["models", "--format", "json", "--task", "classification"], capsys)
    assert code == 0 and len(json.loads(out)) == 80


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["compare", "resnet19"],
            "modeltui: error: unknown model 'resnet19'; did you mean resnet18, resnet101?",
        ),
        (["compare", "resnet18", "--batch-size", "0"], "expected a positive integer, got '0'"),
        (["compare", "resnet18", "--batch-size", "two"], "expected a positive integer, got 'two'"),
        (["compare", "resnet18", "--dtype", "fp64"], "invalid choice: 'fp64'"),
        (["compare", "resnet18", "--input-shape", "3", "-1", "224"], "expected a positive integer"),
        (["compare", "resnet18", "--sort-by", "speed"], "unknown sort key 'speed'"),
        (["compare"], "name at least one model, or use --all"),
        (["compare", "resnet18", "--hardware", "a100"], "unknown hardware"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv, message, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_failing_model_is_reported_and_others_still_run(capsys):
    code, out, err = run(["compare", "resnet18", "build_test_models:raises", "--format", "json"], capsys)
    assert code == 1
    rows = json.loads(out)
    assert rows[0]["params"] == 11689512
    assert rows[1]["error"].endswith("bad configuration") and rows[1]["params"] is None


def test_ctrl_c_exits_130(monkeypatch, capsys):
    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr("metrics_core.runtime.analyze.analyze_many", interrupted)
    previous = signal.getsignal(signal.SIGINT)
    try:
        code, _, err = run(["compare", "resnet18"], capsys)
        assert code == 130 and "Traceback" not in err
        # exiting from here on: a second SIGINT (``timeout -s INT`` signals the process, then its group)
        # must not interrupt the worker pool's exit hook
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_console_script_bad_input_has_no_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "tui", "compare", "resnet19"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr == "modeltui: error: unknown model 'resnet19'; did you mean resnet18, resnet101?\n"


def test_output_errors_are_one_line():
    """A full disk is one line and exit 1 (no traceback); a closed pipe (`| head`) is quiet, exit 0."""
    exe = [sys.executable, "-m", "tui.cli"]
    with open("/dev/full", "w") as full:
        argv = [*exe, "compare", "resnet18", "--format", "json"]
        out = subprocess.run(argv, stdout=full, stderr=subprocess.PIPE, text=True)
    assert (out.returncode, out.stderr) == (
        1,
        "modeltui: error: cannot write the output: No space left on device\n",
    )
    head = subprocess.run(
        f"{sys.executable} -m tui.cli models | head -1", shell=True, capture_output=True, text=True
    )
    assert head.stderr == "" and head.stdout.startswith("Model")


def test_a_misspelt_verb_is_suggested(capsys):
    code, out, err = run(["comapre", "resnet18"], capsys)
    assert (code, out, err) == (2, "", "modeltui: error: unknown command 'comapre'; did you mean compare?\n")
    # a three-letter verb with one letter wrong is 2/3 alike to difflib, under its 0.75 cutoff: it was
    # "unknown model 'lmm'; run 'modeltui models'"
    for typo in ("lmm", "lml"):
        code, out, err = run([typo, "hf:gpt2", "--hardware", "l4"], capsys)
        assert (code, err) == (2, f"modeltui: error: unknown command '{typo}'; did you mean llm?\n")


def test_json_output_is_strict():
    from metrics_core.report.export import to_json

    assert json.loads(to_json([{"a": float("nan"), "b": [float("inf"), 1.5]}])) == [
        {"a": None, "b": [None, 1.5]}
    ]


def test_compare_sorts_by_an_estimate_and_says_so(capsys):
    code, out, err = run(["compare", "resnet18", "mobilenet_v2", "--sort-by", "latency_s"], capsys)
    assert (code, err) == (
        2,
        "modeltui: error: --sort-by latency_s is a roofline estimate: give --hardware ID too\n",
    )
    argv = ["compare", "resnet18", "mobilenet_v2", "--sort-by", "latency_s", "--hardware", "a100-sxm4-80gb"]
    code, out, _ = run([*argv, "--format", "json"], capsys)
    rows = json.loads(out)
    assert code == 0 and rows[0]["roofline"]["latency_s"] <= rows[1]["roofline"]["latency_s"]
    code, out, _ = run(argv, capsys)
    assert out.splitlines()[2] == "rows sorted by latency_s, smallest first"
    code, out, _ = run(["compare", "resnet18", "mobilenet_v2"], capsys)
    assert out.splitlines()[2] == "rows in the order given"


def test_an_ascii_terminal_gets_ascii_charts():
    env = {**__import__("os").environ, "PYTHONIOENCODING": "ascii"}
    argv = [
        sys.executable,
        "-m",
        "tui.cli",
        "roofline",
        "resnet18",
        "--hardware",
        "a100-sxm4-80gb",
        "--width",
        "60",
    ]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, encoding="ascii")
    assert out.returncode == 0, out.stderr
    assert "+------" in out.stdout and "A: resnet18" in out.stdout and out.stdout.isascii()


def test_batch_size_has_an_upper_bound_checked_before_any_work(capsys):
    code, out, err = run(["compare", "resnet18", "--batch-size", "1048577"], capsys)
    assert (code, out) == (2, "")
    assert err == "modeltui: error: --batch-size 1,048,577 is above the largest analysed, 1,048,576\n"
    # token inputs: B x L token ids beyond the 2**25 elements whose values the capture computes
    pytest.importorskip("transformers")
    code, out, err = run(["compare", "hf:gpt2", "--seq-len", "1024", "--batch-size", "65536"], capsys)
    assert (code, out) == (2, "")
    assert err == (
        "modeltui: error: the input_ids 65536x1024 has 67,108,864 elements, above the 33,554,432 whose "
        "values the capture computes: use a smaller batch or sequence\n"
    )


def test_help_to_a_full_disk_is_one_line_and_exit_1():
    out = subprocess.run(
        [sys.executable, "-m", "tui.cli", "compare", "--help"],
        stdout=open("/dev/full", "w"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.PIPE,
        text=True,
    )
    assert (out.returncode, out.stderr) == (
        1,
        "modeltui: error: cannot write the output: No space left on device\n",
    )


def test_estimate_options_without_hardware_are_refused(capsys):
    # --execution / --efficiency / --tf32 shape roofline estimates, which need a target: silently ignoring
    # them would print an analysis the user did not ask for
    code, out, err = run(["layers", "resnet18", "--execution", "compiled"], capsys)
    assert (code, out) == (2, "")
    assert err == "modeltui: error: --execution shape roofline estimates: give --hardware ID too\n"
    code, out, err = run(["compare", "resnet18", "--efficiency", "ideal", "--tf32"], capsys)
    assert err == "modeltui: error: --efficiency / --tf32 shape roofline estimates: give --hardware ID too\n"


REFUSED = (
    "modeltui: error: fcos_resnet50_fpn: detection models run data-dependent post-processing (NMS, top-k "
    "over scores) that cannot be traced on the meta device"
)


@pytest.mark.parametrize(
    "argv",
    [
        ["compare", "fcos_resnet50_fpn"],
        ["roofline", "fcos_resnet50_fpn", "--hardware", "a10"],
        ["sweep", "fcos_resnet50_fpn", "--hardware", "a10", "--batch-sizes", "1,2"],
    ],
)
def test_a_refused_model_is_one_line(argv, capsys):
    # no empty tables around one note: one line on stderr, nothing on stdout, exit 1
    code, out, err = run(argv, capsys)
    assert (code, out, err.splitlines()) == (1, "", [REFUSED])


def test_a_refused_model_beside_an_analysed_one_is_a_note(capsys):
    code, out, _ = run(["compare", "fcos_resnet50_fpn", "squeezenet1_0"], capsys)
    assert code == 1 and "== Notes ==" in out and "squeezenet1_0" in out


def test_compare_csv_carries_every_metric_of_its_json(capsys):
    # the CSV lacked size_mb_fp32, which the JSON has: every metric of METRIC_NAMES is a CSV column now
    import csv
    import io

    code, out, _ = run(["compare", "resnet18", "--dtype", "fp16", "--format", "csv"], capsys)
    assert code == 0
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert set(METRIC_NAMES) <= set(row)
    # resnet18's 11,689,512 parameters: 2 B each in fp16 = 23.379024 MB, 4 B = 46.758048 MB, 1 B = 11.689512
    sizes = (row["size_mb"], row["size_mb_fp32"], row["size_mb_int8"])
    assert sizes == ("23.379024", "46.758048", "11.689512")
    header = out.splitlines()[0].split(",")
    assert header.index("size_mb_fp32") == header.index("size_mb") + 1
    code, out, _ = run(["compare", "resnet18", "--format", "json"], capsys)
    assert json.loads(out)[0]["size_mb_fp32"] == pytest.approx(46.758048)
