"""The CLI with timm:, hf: and custom models and explicit inputs: outputs and one-line errors (exit 2)."""

from __future__ import annotations

import json
import textwrap

import pytest

from tui import cli

pytest.importorskip("transformers")


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_hf_json_says_what_was_fed(capsys):
    code, out, err = run(["compare", "hf:gpt2", "--seq-len", "16", "--format", "json"], capsys)
    assert code == 0, err
    (row,) = json.loads(out)
    assert row["inputs"] == [{"name": "input_ids", "dtype": "int64", "shape": [1, 16]}]
    assert row["input_shape"] == [16]
    # 16 tokens x 123,532,032 matmul weights + 12 layers x 2 x 16^2 x 768 attention MACs
    assert row["macs"] == 16 * 123_532_032 + 12 * 2 * 16 * 16 * 768


def test_compare_table_lists_inputs_and_active_params(capsys):
    code, out, _ = run(["compare", "hf:gpt2", "resnet18", "--seq-len", "16"], capsys)
    assert code == 0
    inputs = out[out.index("== Inputs") :].splitlines()
    assert inputs[3].split() == ["hf:gpt2", "input_ids=int64[1x16]"]
    assert inputs[4].split() == ["resnet18", "float32[1x3x224x224]"]
    assert "Active/token" not in out  # no mixture-of-experts model compared


def test_custom_factory_in_the_current_directory_with_arguments(capsys, tmp_path, monkeypatch):
    (tmp_path / "mynet_cli.py").write_text(
        textwrap.dedent(
            """
            import torch

            def net(width=8):
                return torch.nn.Linear(width, 2)
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = run(
        ["compare", "mynet_cli:net(width=16)", "--input-shape", "16", "--format", "json", "--no-cache"],
        capsys,
    )
    assert code == 0, err
    (row,) = json.loads(out)
    assert (row["params"], row["macs"]) == (16 * 2 + 2, 32)


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["compare", "tim:resnet50"],
            "unknown model source 'tim' in 'tim:resnet50'; did you mean timm:resnet50?",
        ),
        (["compare", "hf:"], "hf: needs a model name after the colon, e.g. hf:gpt2"),
        (
            ["compare", "resnet18", "--input", "int65:128"],
            "argument --input: unknown dtype 'int65'; did you mean int64, int16? (see --help)",
        ),
        (
            ["compare", "resnet18", "--input", "x=int64:0"],
            "argument --input: dims must be positive integers "
            "joined by 'x' (e.g. 3x224x224), got '0' (see --help)",
        ),
        (
            ["compare", "resnet18", "--inputs", "nomod"],
            "--inputs 'nomod': expected pkg.mod:fn (fn(batch_size) -> (args, kwargs))",
        ),
        (
            ["compare", "resnet18", "--input-shape", "3", "8", "8", "--input", "float:3"],
            "give one of --input-shape, --input: each one says what the model is fed",
        ),
        (
            ["compare", "hf:gpt2", "--seq-len", "0"],
            "argument --seq-len: expected a positive integer, got '0' (see --help)",
        ),
        (
            ["models", "--task", "bogus"],
            "unknown task 'bogus'; choose one of classification, segmentation, "
            "detection, video, optical_flow, quantized",
        ),
    ],
)
def test_bad_specs_are_one_line_with_exit_2(argv, message, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2
    assert out == ""
    assert err.strip().splitlines() == [
        f"modeltui{' compare' if 'argument' in message else ''}: error: {message}"
    ]


def test_unknown_hf_id_says_where_it_looked(capsys):
    code, _, err = run(["compare", "hf:gtp2"], capsys)
    assert code == 2
    assert err.startswith("modeltui: error: unknown Hugging Face model 'gtp2': not a path to a config.json")
    assert err.rstrip().endswith("did you mean hf:gpt2?") and err.count("\n") == 1


def test_models_lists_the_bundled_hf_configs(capsys):
    code, out, _ = run(["models", "--source", "hf", "--format", "json"], capsys)
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert len(rows) == 12
    assert rows["hf:openai-community/gpt2"]["aliases"] == ["hf:gpt2"]
    assert rows["hf:openai/whisper-large-v3"]["class"] == "AutoModelForSpeechSeq2Seq"


def test_a_bad_inputs_function_is_a_usage_error(capsys):
    code, out, err = run(["compare", "resnet18", "--inputs", "any_input_models:bad_inputs_fn"], capsys)
    assert code == 2 and out == ""
    assert err == (
        "modeltui: error: --inputs 'any_input_models:bad_inputs_fn' must return (args, kwargs): a tuple of "
        "tensors and a dict of name -> tensor, got list\n"
    )
    code, out, err = run(["compare", "resnet18", "--inputs", "any_input_models:no_such_fn"], capsys)
    assert code == 2
    assert err.startswith(
        "modeltui: error: --inputs 'any_input_models:no_such_fn': cannot import it: AttributeError"
    )
