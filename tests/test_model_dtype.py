"""A model whose parameters are bfloat16, analysed with no dtype chosen (the CLI without ``--dtype``, the app,
``metrics_core.analyze`` by name): analysed in bf16 (``AnalysisOptions.dtype_from_model``), estimated on
the target's bf16 path (``perf.roofline.analysed_precision``), labelled bf16 everywhere, and cached apart
from an explicit ``--dtype fp32`` run.

The model is a two-layer Llama built from a config with ``"torch_dtype": "bfloat16"`` (as
``meta-llama/Llama-3.2-1B``'s). Its parameters, by hand:

- embedding 100 x 64 = 6,400; untied LM head 64 x 100 = 6,400; final RMSNorm 64;
- per layer: q, k, v, o projections 4 x 64 x 64 = 16,384; gate, up, down 3 x 64 x 128 = 24,576; two RMSNorms
  2 x 64 = 128: 41,088, x 2 layers = 82,176;
- total 95,040: 190,080 bytes in bf16 (Size MB 0.19008), 380,160 in fp32 (0.38016).

The H100 SXM5 peaks are the catalog's (NVIDIA H100 datasheet, dense): bf16 989.4 TFLOP/s, fp32 66.9.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import pytest

H100 = "h100-sxm5-80gb"
PARAMS = 95_040
BF16_MB, FP32_MB = 0.19008, 0.38016  # PARAMS x 2 and x 4 bytes, in MB (1e6 bytes)
BF16_PEAK, FP32_PEAK = 989.4e12, 66.9e12

TINY_LLAMA = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "vocab_size": 100,
    "max_position_embeddings": 128,
}


@pytest.fixture
def models(tmp_path, monkeypatch):
    """(bf16 model, fp32 model) as ``hf:`` config paths, analysed in a cache of their own."""
    monkeypatch.setenv("MODELTUI_CACHE_DIR", str(tmp_path / "cache"))
    bf16, fp32 = tmp_path / "bf16" / "config.json", tmp_path / "fp32" / "config.json"
    for path, extra in ((bf16, {"torch_dtype": "bfloat16"}), (fp32, {})):
        path.parent.mkdir()
        path.write_text(json.dumps({**TINY_LLAMA, **extra}))
    return f"hf:{bf16}", f"hf:{fp32}"


def cli(capsys, *argv: str) -> str:
    from tui import cli as entry

    code = entry.main([*argv, "--seq-len", "16"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_no_dtype_analyses_the_bf16_model_in_bf16_on_the_bf16_path_and_caches_it_apart(models, capsys):
    bf16, _ = models
    default = json.loads(cli(capsys, "compare", bf16, "--hardware", H100, "--format", "json"))[0]
    explicit = json.loads(
        cli(capsys, "compare", bf16, "--hardware", H100, "--format", "json", "--dtype", "fp32")
    )
    explicit = explicit[0]
    assert (default["params"], default["dtype"], default["size_mb"]) == (PARAMS, "bf16", BF16_MB)
    assert default["roofline"]["precision"] == "bf16"
    assert default["roofline"]["peak_flops_per_s"] == pytest.approx(BF16_PEAK, rel=1e-12)
    assert (default["context"]["dtype"], default["context"]["precision"]) == ("bf16", "bf16")
    # the explicit fp32 run after it is its own entry, not the bf16 one (the bug: the same cache key)
    assert (explicit["dtype"], explicit["size_mb"]) == ("fp32", FP32_MB)
    assert explicit["roofline"]["precision"] == "fp32"
    assert explicit["roofline"]["peak_flops_per_s"] == pytest.approx(FP32_PEAK, rel=1e-12)
    assert (explicit["context"]["dtype"], explicit["context"]["precision"]) == ("fp32", "fp32")
    # and again, from the cache, each its own
    again = json.loads(cli(capsys, "compare", bf16, "--hardware", H100, "--format", "json"))[0]
    assert (again["dtype"], again["size_mb"]) == ("bf16", BF16_MB)


def test_the_cache_key_says_whether_the_dtype_was_chosen():
    from metrics_core.runtime.cache import report_key
    from metrics_core.runtime.options import AnalysisOptions
    from metrics_core.sources.resolve import get_spec

    spec = get_spec("hf:meta-llama/Llama-3.2-1B")
    default = report_key(spec, AnalysisOptions(dtype_from_model=True))
    explicit = report_key(spec, AnalysisOptions(dtype="fp32"))
    assert default["dtype_from_model"] is True
    assert "dtype_from_model" not in explicit
    assert {k: v for k, v in default.items() if k != "dtype_from_model"} == explicit
    # torchvision builds float32 models: the default and an explicit fp32 share their entry
    resnet = get_spec("resnet18")
    assert report_key(resnet, AnalysisOptions(dtype_from_model=True)) == report_key(
        resnet, AnalysisOptions(dtype="fp32")
    )


def test_analysed_precision_is_the_path_of_the_dtype_analysed():
    from metrics_core.perf.hardware import get_target
    from metrics_core.perf.roofline import analysed_precision

    h100, t4 = get_target(H100), get_target("t4")
    assert analysed_precision(h100, "bf16", "fp32") == "bf16"  # a bf16 model with no --dtype
    assert analysed_precision(h100, "bf16", "tf32") == "bf16"  # --tf32 applies to fp32 bytes only
    assert analysed_precision(h100, "fp32", "tf32") == "tf32"
    assert analysed_precision(h100, "fp32", "fp32") == "fp32"
    assert analysed_precision(h100, "bf16") == "bf16"
    # the T4 has no bf16 path (its datasheet: fp32, fp16, int8): the run's own path, which the estimate names
    assert analysed_precision(t4, "bf16", "fp32") == "fp32"


def test_roofline_and_layers_label_the_bf16_path(models, capsys):
    bf16, _ = models
    roofline = cli(capsys, "roofline", bf16, "--hardware", H100, "--width", "100")
    assert "NVIDIA H100 SXM5 80GB: bf16 roofline (estimates)" in roofline
    assert "roof: bf16 989.40 TFLOP/s" in roofline
    assert "fp32" not in roofline
    layers = cli(capsys, "layers", bf16, "--hardware", H100, "--wide")
    assert "(batch 1, bf16); estimates on NVIDIA H100 SXM5 80GB bf16 (" in layers
    rows = json.loads(cli(capsys, "roofline", bf16, "--hardware", H100, "--format", "json"))
    assert (rows[0]["precision"], rows[0]["peak_flops_per_s"]) == (
        "bf16",
        pytest.approx(BF16_PEAK, rel=1e-12),
    )
    assert (rows[0]["context"]["dtype"], rows[0]["context"]["precision"]) == ("bf16", "bf16")


def test_a_mixed_compare_names_each_rows_dtype_and_path(models, capsys):
    bf16, fp32 = models
    text = cli(capsys, "compare", bf16, fp32, "--hardware", H100, "--wide")
    assert "batch 1, dtype per row (bf16, fp32); MB = 1e6 bytes" in text
    size = text.split("== Model size ==\n")[1].split("\n\n")[0].splitlines()
    assert size[0].split()[:8] == ["Model", "Dtype", "Params", "Trainable", "Size", "MB", "(own", "dtype)"]
    assert size[2].split()[1:3] == ["bf16", "95.04K"] and size[2].split()[4] == f"{BF16_MB:.2f}"
    assert size[3].split()[1:3] == ["fp32", "95.04K"] and size[3].split()[4] == f"{FP32_MB:.2f}"
    roof = text.split("== Roofline on NVIDIA H100 SXM5 80GB, precision per row")[1].split("\n\n")[0]
    assert [line.split()[1] for line in roof.splitlines()[3:5]] == ["bf16", "fp32"]
    rows = json.loads(cli(capsys, "compare", bf16, fp32, "--hardware", H100, "--format", "json"))
    assert [(r["dtype"], r["context"]["dtype"], r["context"]["precision"]) for r in rows] == [
        ("bf16", "bf16", "bf16"),
        ("fp32", "fp32", "fp32"),
    ]
    table = list(
        csv.DictReader(io.StringIO(cli(capsys, "compare", bf16, fp32, "--hardware", H100, "--format", "csv")))
    )
    assert [(r["dtype"], r["precision"], r["size_mb"]) for r in table] == [
        ("bf16", "bf16", str(BF16_MB)),
        ("fp32", "fp32", str(FP32_MB)),
    ]


def test_python_api_and_app_session_give_the_cli_numbers(models, capsys):
    from metrics_core import analyze
    from metrics_core.perf.hardware import hardware_targets
    from metrics_core.runtime.analyze import analyze_many
    from tui.app.session import Session
    from tui.cli.commands.options import options_from_args
    from tui.cli.launch import build_parser

    bf16, fp32 = models
    row = json.loads(cli(capsys, "compare", bf16, "--hardware", H100, "--format", "json"))[0]
    api = analyze(bf16, hardware=H100, seq_len=16)
    assert (api.raw.dtype, api.precision) == ("bf16", "bf16")
    assert api.estimate.latency_s == row["roofline"]["latency_s"]
    # the app starts from the launcher's options: no --dtype
    options = options_from_args(build_parser().parse_args([bf16, "--seq-len", "16"]))
    assert (options.dtype, options.dtype_from_model) == ("fp32", True)
    targets = hardware_targets()
    s = Session(targets=targets, target=next(t for t in targets if t.id == H100), options=options)
    s.select([bf16])
    (report,) = analyze_many([bf16], options)
    s.accept(report, s.generation)
    s.precompute(report)  # loads the cached records, as the app's worker does
    estimate = s.estimate(bf16)
    assert (estimate.precision, estimate.latency_s) == ("bf16", row["roofline"]["latency_s"])
    assert s.precision_label == "bytes bf16 · peak bf16 tensor"
    assert s.value(bf16, "size_mb") == BF16_MB
    # beside an fp32 model the labels say each row has its own
    s.select([fp32])
    (other,) = analyze_many([fp32], options)
    s.accept(other, s.generation)
    s.precompute(other)
    assert s.precision_label == "bytes per model · peak per model"
    assert s.estimate(fp32).precision == "fp32"
    # a dtype chosen in the app applies to every model, the bf16 one included
    assert s.set_precision("fp16", "fp16")
    assert s.options == replace(options, dtype="fp16", dtype_from_model=False)
