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
    # 12 + the 21 of issue 21 (Llama-3.2/3.3/4, Qwen2.5/3, DeepSeek-V3, Gemma ...) + Qwen2-VL and Qwen2.5-VL
    assert len(rows) == 35
    assert rows["hf:openai-community/gpt2"]["aliases"] == ["hf:gpt2"]
    assert rows["hf:openai/whisper-large-v3"]["class"] == "AutoModelForSpeechSeq2Seq"
    assert rows["hf:llava-hf/llava-1.5-7b-hf"]["class"] == "AutoModelForImageTextToText"
    assert rows["hf:Qwen/Qwen2-VL-7B-Instruct"]["class"] == "AutoModelForImageTextToText"  # a flat config


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


def test_compare_json_carries_peak_memory(capsys):
    code, out, _ = run(["compare", "resnet18", "--format", "json"], capsys)
    assert code == 0
    (row,) = json.loads(out)
    assert set(row["memory"]) >= {"peak_activation_bytes", "weight_bytes", "peak_total_bytes"}
    assert (
        row["memory"]["peak_total_bytes"]
        == row["memory"]["peak_activation_bytes"] + row["memory"]["weight_bytes"]
    )


def test_a_user_moe_config_in_fp32_runs_the_grouped_experts(capsys, tmp_path):
    # 1 layer, 4 experts of 3 x 64 x 128, top-2, no torch_dtype: transformers' grouped-GEMM experts only
    # accept bf16 on meta; the capture runs them on bf16 stand-ins
    config = {
        "model_type": "mixtral", "architectures": ["MixtralForCausalLM"], "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2,
        "num_local_experts": 4, "num_experts_per_tok": 2, "vocab_size": 1000,
    }  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(config))
    code, out, err = run(["compare", f"hf:{tmp_path}", "--seq-len", "8", "--format", "json"], capsys)
    assert code == 0, err
    (row,) = json.loads(out)
    experts = 4 * 3 * 64 * 128
    assert row["active_params"] == row["params"] - experts // 2
    # per token: q, o 64x64; k, v 64x32; router 64x4; 2 experts x 3 x 64 x 128; head 64 x 1000
    per_token = 2 * 64 * 64 + 2 * 64 * 32 + 64 * 4 + 2 * 3 * 64 * 128 + 64 * 1000
    assert row["macs"] == 8 * per_token + 2 * 8 * 8 * 64
    assert row["max_width"] == 256  # the grouped gate/up projection: 2 x 128


def test_a_sequence_longer_than_the_model_takes_is_refused(capsys):
    code, out, err = run(["compare", "hf:gpt2", "--seq-len", "4096"], capsys)
    assert (code, out) == (2, "")
    assert (
        err
        == "modeltui: error: hf:gpt2 takes at most 1,024 tokens (n_positions); --seq-len 4,096 is longer\n"
    )


def test_unknown_hf_class_and_custom_names_exit_2(capsys):
    code, _, err = run(["compare", "hf:gpt2", "--hf-class", "NoSuchClass"], capsys)
    assert (code, err) == (2, "modeltui: error: transformers has no model class 'NoSuchClass' (--hf-class)\n")
    code, out, _ = run(["compare", "resnet18", "build_test_models:missing", "--format", "json"], capsys)
    rows = json.loads(out)
    assert code == 2 and "error" not in rows[0]  # resnet18 is still reported
    assert rows[1]["error_kind"] == "usage" and rows[1]["coverage"] is None
    assert rows[1]["error"] == "build_test_models:missing: module 'build_test_models' has no 'missing'"


def test_what_each_model_is_fed_is_checked_before_any_work(capsys):
    code, out, err = run(["compare", "resnet18", "--input-shape", "64", "64"], capsys)
    assert (code, out) == (2, "")
    assert err == "modeltui: error: resnet18 takes an input shape of 3 numbers (C H W), got [64, 64]\n"


def test_a_half_model_without_dtype_is_analysed_in_its_own_dtype(capsys, tmp_path, monkeypatch):
    (tmp_path / "halfnet_cli.py").write_text(
        textwrap.dedent(
            """
            import torch

            def net():
                return torch.nn.Linear(16, 4).half()
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["compare", "halfnet_cli:net", "--input-shape", "16", "--format", "json"], capsys)
    assert code == 0, err
    (row,) = json.loads(out)
    # no --dtype: the model's float16, in the inputs and in the bytes: weights (16*4 + 4) x 2 B = 136
    assert (row["dtype"], row["inputs"]) == ("fp16", [{"name": None, "dtype": "float16", "shape": [1, 16]}])
    assert row["weight_bytes"] == 136
    # an explicit --dtype still wins: fp32 bytes, (16*4 + 4) x 4 = 272
    code, out, err = run(
        ["compare", "halfnet_cli:net", "--input-shape", "16", "--format", "json", "--dtype", "fp32"], capsys
    )
    (row,) = json.loads(out)
    assert (row["dtype"], row["inputs"][0]["dtype"], row["weight_bytes"]) == ("fp32", "float32", 272)
