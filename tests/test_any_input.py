"""Any model, any input: hand-derived figures for real-code features (models: helpers/any_input_models.py)."""

from __future__ import annotations

import pytest

from metrics_core.common.input_spec import InputSpec, parse_input_spec
from metrics_core.runtime.engines import analyze_spec
from metrics_core.runtime.options import AnalysisOptions
from metrics_core.sources.resolve import get_spec

P = parse_input_spec


def analyse(factory: str, **options):
    report = analyze_spec(get_spec(f"any_input_models:{factory}"), AnalysisOptions(**options).validated())
    return report


def ops(report) -> list[tuple]:
    return [(r.op, r.macs, r.flops, r.input_bytes, r.weight_bytes, r.output_bytes) for r in report.records]


def test_token_model_with_a_tied_head():
    r = analyse("TiedTokenModel", inputs=(P("int64:8"),))
    assert r.error is None
    assert r.metrics.params == 1872 and r.metrics.macs == 14848
    assert r.inputs == [{"name": None, "dtype": "int64", "shape": [1, 8]}]
    assert ops(r) == [
        ("embedding", 0, 0, 64, 512, 512),  # 8 int64 ids; 8 rows of 16 fp32 read, not the 6,400-byte table
        ("addmm", 2048, 4096, 512, 1088, 512),
        ("mm", 12800, 25600, 512, 6400, 3200),  # the tied head reads the whole table
    ]


def test_two_positional_inputs():
    r = analyse("TwoInputModel", inputs=(P("float:4"), P("float:5")), batch_size=2)
    assert r.metrics.macs == 2 * 27 and r.metrics.params == 33
    assert [i["shape"] for i in r.inputs] == [[2, 4], [2, 5]]


def test_a_keyword_mask_input():
    r = analyse("KeywordMaskModel", inputs=(P("float:6"), P("mask=bool:6")))
    assert r.error is None and r.metrics.macs == 12
    assert r.inputs[1] == {"name": "mask", "dtype": "bool", "shape": [1, 6]}
    assert ops(r)[:2] == [("bitwise_not", 0, 6, 6, 0, 6), ("masked_fill", 0, 0, 30, 0, 24)]


def test_one_d_mlp_with_batchnorm1d():
    r = analyse("mlp_bn", input_shape=(20,), batch_size=4)
    assert (r.metrics.params, r.metrics.macs) == (1066, 3840)


def test_lstm_whose_states_are_created_in_forward():
    r = analyse("LSTMStatesInForward", inputs=(P("float:5x8"),))
    assert r.error is None
    assert (r.metrics.params, r.metrics.macs) == (1664, 7680)


def test_causal_mask_built_in_forward():
    r = analyse("CausalMaskInForward", inputs=(P("float:6x8"),))
    assert r.error is None and r.metrics.macs == 1728
    assert [o[0] for o in ops(r)[:3]] == ["ones", "triu", "_to_copy"]


@pytest.mark.parametrize("factory", ["SdpaByName", "SdpaViaC"])
def test_sdpa_is_one_op_however_it_is_reached(factory):
    feed = (P("float:2x16x8"),) * 3
    expected = ops(analyse("SdpaViaF", inputs=feed))
    # 2 heads x 16 x 16 x (8 + 8) MACs; FLOPs 2 x MACs + 6 per score (softmax 5, scale 1) = 16,384 + 3,072;
    # bytes: q, k, v read (3 x 1,024), output written (1,024)
    assert expected == [("scaled_dot_product_attention", 8192, 19456, 3072, 0, 1024)]
    assert ops(analyse(factory, inputs=feed)) == expected


def test_an_expanded_parameter_costs_its_storage():
    r = analyse("ExpandedParameter", input_shape=(256, 64))
    assert ops(r) == [("add", 0, 16384, 65536, 256, 65536)]


def test_lazy_modules_are_materialised_before_the_capture():
    r = analyse("lazy_mlp", input_shape=(4,))
    assert r.metrics.params == 40
    assert [o[0] for o in ops(r)] == ["addmm", "relu"]


def test_complex_spectral_layer():
    r = analyse("SpectralLayer", input_shape=(4, 16, 16))
    assert ops(r) == [
        ("_fft_r2c", 0, 20480, 4096, 0, 4608),  # 4 x 2.5 x 256 x log2(256); complex64 out: 4x16x9x8 bytes
        ("bmm", 9216, 18432, 4608, 18432, 4608),  # 2,304 complex MACs = 9,216 real
        ("_fft_c2r", 0, 21504, 4608, 0, 4096),  # 20,480 + 1,024 (1/N scaling)
    ]


def test_a_model_already_in_fp16_is_fed_fp16():
    # it runs (an fp32 input would fail in the convolution); the label and the bytes follow --dtype
    r = analyse("half_cnn", input_shape=(3, 8, 8), dtype="fp16")
    assert r.error is None and r.metrics.macs == 3 * 4 * 64
    assert r.inputs == [{"name": None, "dtype": "float16", "shape": [1, 3, 8, 8]}]
    assert ops(r) == [("convolution", 768, 1536, 384, 32, 512)]
    fp32 = analyse("half_cnn", input_shape=(3, 8, 8))
    assert fp32.error is None and fp32.inputs[0]["dtype"] == "float32"


def test_values_known_from_shapes_are_used():
    r = analyse("PositionsFromArange", input_shape=(6, 4))
    assert r.error is None and r.metrics.macs == 24
    assert ("nonzero", 0, 0, 6, 0, 24) in ops(r)  # 3 int64 indices of 6 positions


def test_data_dependent_routing_is_refused_in_one_line():
    r = analyse("MaskedRouting", input_shape=(5, 4))
    assert r.error.startswith(
        "aten.nonzero in the model's forward (MaskedRouting): data-dependent output "
        "size: it needs tensor values the meta-device analysis does not have; for a mixture-of-experts model"
    )
    # the whole hint, not cut at the 400 characters a library's message is kept to
    assert r.error.endswith(
        "or write the op shape-static (a mask and torch.where instead of boolean indexing or nonzero)"
    )
    hint = "for a mixture-of-experts model use the library's shape-static expert path (transformers: the"
    prefix = "aten.nonzero in the model's forward (MaskedRouting): data-dependent output size: it needs "
    assert len(r.error) == len(prefix) + len("tensor values the meta-device analysis does not have; ") + 275
    assert hint in r.error  # the 275-character DATA_DEPENDENT_HINT, whole
    assert r.error_kind == "data-dependent"
    assert "\n" not in r.error


def test_sys_exit_in_forward_is_a_row_error():
    r = analyse("ExitsInForward", input_shape=(4,))
    assert (r.error, r.error_kind) == ("the model's code called sys.exit(3)", "model")


def test_inputs_function():
    r = analyse("TwoInputModel", inputs_fn="any_input_models:two_inputs_fn", batch_size=3)
    assert r.metrics.macs == 3 * 27
    bad = analyse("TwoInputModel", inputs_fn="any_input_models:bad_inputs_fn")
    assert bad.error == (
        "--inputs 'any_input_models:bad_inputs_fn' must return (args, kwargs): a tuple of "
        "tensors and a dict of name -> tensor, got list"
    )
    assert bad.error_kind == "usage"


def test_a_failing_forward_says_what_was_fed():
    r = analyse("TwoInputModel", inputs=(P("float:4"),))
    assert r.error == (
        "forward failed: TypeError: TwoInputModel.forward() missing 1 required positional argument: "
        "'b' (fed float32[1x4]; change it with --input, --input-shape or --inputs)"
    )
    assert r.error_kind == "model"


@pytest.mark.parametrize(
    "text, spec",
    [
        ("int64:128", InputSpec(None, "int64", (128,))),
        ("attention_mask=bool:128", InputSpec("attention_mask", "bool", (128,))),
        ("float:3x224x224", InputSpec(None, "float", (3, 224, 224))),
        ("long:20", InputSpec(None, "int64", (20,))),
        ("complex64:4x4", InputSpec(None, "complex64", (4, 4))),
    ],
)
def test_input_spec_syntax(text, spec):
    assert parse_input_spec(text) == spec


@pytest.mark.parametrize(
    "text, message",
    [
        ("int65:128", "--input 'int65:128': unknown dtype 'int65'; did you mean int64, int16?"),
        (
            "int64:0",
            "--input 'int64:0': dims must be positive integers joined by 'x' (e.g. 3x224x224), got '0'",
        ),
        (
            "int64:-3",
            "--input 'int64:-3': dims must be positive integers joined by 'x' (e.g. 3x224x224), got '-3'",
        ),
        (
            "=int64:3",
            "--input '=int64:3': the name before '=' must be a Python identifier (an argument of forward)",
        ),
        ("int64", "--input 'int64': expected [NAME=]DTYPE:DIMS, e.g. int64:128 or float:3x224x224"),
    ],
)
def test_bad_input_specs(text, message):
    from metrics_core.common.errors import UsageError

    with pytest.raises(UsageError) as err:
        parse_input_spec(text)
    assert str(err.value) == message


def test_a_positional_input_of_the_wrong_rank_is_refused_before_any_work(capsys):
    from tui.cli import main

    assert main(["compare", "resnet18", "--input", "float:3x224"]) == 2
    assert capsys.readouterr().err == (
        "modeltui: error: --input float:3x224: resnet18 takes an input shape of 3 numbers (C H W), "
        "got [3, 224]\n"
    )


def test_token_ids_longer_than_the_positions_are_refused_before_any_work(capsys):
    from tui.cli import main

    assert main(["compare", "hf:gpt2", "--input", "int64:2000"]) == 2
    assert capsys.readouterr().err == (
        "modeltui: error: --input int64:2000: hf:gpt2 takes at most 1,024 tokens (n_positions)\n"
    )
