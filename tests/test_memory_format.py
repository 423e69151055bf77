"""``--memory-format`` / ``memory_format=``: a model and its 4-D / 5-D inputs captured channels-last
(``capture.layouts.to_memory_format``) from the CLI, the Python API and the training step; the cache key;
what the outputs say. Values are derived by hand in the comments."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import metrics_core as mc
from metrics_core.common.errors import UsageError
from metrics_core.common.input_spec import canonical_memory_format
from tui.cli import main


def conv_net() -> nn.Module:
    """Conv2d(3 -> 8, kernel 3, no padding): fed (1, 3, 8, 8), its output (1, 8, 6, 6)."""
    return nn.Sequential(nn.Conv2d(3, 8, 3))


def conv3d_net() -> nn.Module:
    """Conv3d(3 -> 4, kernel 3): fed (1, 3, 4, 6, 6), a 5-D video batch."""
    return nn.Sequential(nn.Conv3d(3, 4, 3))


def convs(report) -> list:  # noqa: ANN001
    return [r for r in report.raw.records if r.op == "convolution"]


def strides(model: nn.Module) -> list[tuple[int, ...]]:
    return [p.stride() for p in model.parameters()]


def test_the_spellings_of_a_memory_format():
    assert [
        canonical_memory_format(v)
        for v in ("channels_last", "channels-last", torch.channels_last, torch.channels_last_3d)
    ] == ["channels_last"] * 4
    assert [canonical_memory_format(v) for v in (None, "contiguous", torch.contiguous_format)] == [
        "contiguous"
    ] * 3
    with pytest.raises(
        UsageError, match="unknown memory format 'nhwc'; choose one of contiguous, channels_last"
    ):
        canonical_memory_format("nhwc")


def test_a_channels_last_capture_copies_nothing_around_its_convolution():
    model = conv_net().eval()
    before = strides(model)
    nchw = mc.analyze(model, (1, 3, 8, 8))
    nhwc = mc.analyze(model, (1, 3, 8, 8), memory_format="channels_last")
    # NCHW: PyTorch's layout, no copies; channels-last: weight and input both NHWC, cuDNN's NHWC kernel reads
    # them as they are, no copies either
    assert [(r.channels_last, r.hidden_copies) for r in convs(nchw)] == [(False, None)]
    assert [(r.channels_last, r.hidden_copies) for r in convs(nhwc)] == [(True, None)]
    # a channels-last input fed to the model left NCHW: the kernel runs NHWC (its input is) and first copies
    # the (8, 3, 3, 3) fp32 weight to NHWC, 8 x 3 x 3 x 3 x 4 = 864 bytes
    mixed = mc.analyze(model, torch.empty(1, 3, 8, 8).to(memory_format=torch.channels_last))
    assert [(r.channels_last, r.hidden_copies) for r in convs(mixed)] == [(True, [864])]
    # the same FLOPs either way: 8 x 6 x 6 outputs x 27 MACs = 7,776 MACs
    assert [r.macs for r in convs(nchw) + convs(nhwc)] == [7_776, 7_776]
    # the user's model is left NCHW: its weight's strides (27, 9, 3, 1), the bias (1,)
    assert strides(model) == before == [(27, 9, 3, 1), (1,)]
    assert model[0].weight.is_contiguous() and not model[0].weight.is_contiguous(
        memory_format=torch.channels_last
    )
    # the report says what it assumed
    assert (nchw.context()["memory_format"], nhwc.context()["memory_format"]) == (
        "contiguous",
        "channels_last",
    )
    assert mixed.raw.extras["memory_format"] == "channels_last"


def test_a_5d_input_is_laid_out_channels_last_3d():
    model = conv3d_net().eval()
    report = mc.analyze(model, (1, 3, 4, 6, 6), memory_format="channels-last")
    assert [(r.channels_last, r.hidden_copies) for r in convs(report)] == [(True, None)]
    # Conv3d weight (4, 3, 3, 3, 3): NCDHW strides (81, 27, 9, 3, 1) kept on the user's model
    assert strides(model)[0] == (81, 27, 9, 3, 1)


def test_channels_last_without_an_image_input_is_refused():
    mlp = nn.Sequential(nn.Linear(8, 4))
    with pytest.raises(UsageError) as err:
        mc.analyze(mlp, (2, 8), memory_format="channels_last")
    assert str(err.value) == (
        "--memory-format channels-last: Sequential is fed no 4-D or 5-D floating-point tensor (an image "
        "batch N, C, H, W or a video N, C, D, H, W): channels-last would change nothing; leave it "
        "contiguous, or feed such an input (--input / --input-shape)"
    )
    with pytest.raises(UsageError, match="memory_format=|--memory-format"):
        mc.train_step(mlp, (torch.randn(2, 8),), loss="mse", memory_format="channels_last")


def test_the_cache_key_holds_the_memory_format():
    from metrics_core.runtime.cache import entry_path, report_key
    from metrics_core.runtime.options import AnalysisOptions
    from metrics_core.sources.resolve import get_spec

    spec = get_spec("resnet18")
    nchw = report_key(spec, AnalysisOptions())
    nhwc = report_key(spec, AnalysisOptions(memory_format="channels_last").validated())
    assert (nchw["memory_format"], nhwc["memory_format"]) == ("contiguous", "channels_last")
    assert {k: v for k, v in nchw.items() if k != "memory_format"} == {
        k: v for k, v in nhwc.items() if k != "memory_format"
    }
    assert entry_path(nchw) != entry_path(nhwc)


def test_options_refuse_fvcore_and_unknown_formats():
    from metrics_core.runtime.options import AnalysisOptions

    with pytest.raises(UsageError, match="applies to the meta capture: --engine fvcore counts FLOPs"):
        AnalysisOptions(engine="fvcore", memory_format="channels_last").validated()
    with pytest.raises(UsageError, match="unknown memory format 'NHWC'"):
        AnalysisOptions(memory_format="NHWC").validated()
    assert AnalysisOptions(memory_format="channels-last").validated().memory_format == "channels_last"


def test_resnet18_captured_channels_last_runs_every_convolution_nhwc_from_the_cli_and_the_api(capsys):
    # resnet18 has 20 convolutions (the stem, 16 in the 8 basic blocks, 3 downsampling 1x1s); channels-last,
    # every one runs the NHWC kernel with its input and weight NHWC already: no copies
    api = mc.analyze("resnet18", memory_format="channels_last", hardware="a100-sxm4-80gb", dtype="fp16")
    nchw = mc.analyze("resnet18", hardware="a100-sxm4-80gb", dtype="fp16")
    assert [(r.channels_last, r.hidden_copies) for r in convs(api)] == [(True, None)] * 20
    assert [(r.channels_last, r.hidden_copies) for r in convs(nchw)] == [(False, None)] * 20
    argv = ["roofline", "resnet18", "--hardware", "a100-sxm4-80gb", "--dtype", "fp16", "--format", "json"]
    assert main([*argv, "--memory-format", "channels-last"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    # the CLI's numbers are the API's
    assert row["latency_s"] == api.estimate.latency_s != nchw.estimate.latency_s
    assert row["context"]["memory_format"] == "channels_last"
    assert main(argv) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["latency_s"], row["context"]["memory_format"]) == (nchw.estimate.latency_s, "contiguous")


def test_the_cli_refuses_channels_last_for_a_model_fed_no_image(capsys):
    argv = [
        "compare",
        "any_input_models:TiedTokenModel",
        "--input",
        "int64:16",
        "--memory-format",
        "channels-last",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "modeltui: error: --memory-format channels-last: any_input_models:TiedTokenModel is fed no"
    )
    assert "(int64:16 per sample;" in err and err.count("\n") == 1


def test_training_step_channels_last_leaves_the_model_and_says_so():
    from metrics_core.perf.hardware import get_target
    from metrics_core.perf.training_report import training_result
    from metrics_core.runtime.train_capture import TrainRun

    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1))
    before = strides(model)
    x = torch.randn(2, 3, 8, 8)
    step = mc.train_step(
        model, (x,), loss="mse", optimizer="sgd", precision="fp32", memory_format="channels_last"
    )
    fwd = [r for r in step.phase("forward") if r.op == "convolution"]
    bwd = [r for r in step.phase("backward") if r.op == "convolution_backward"]
    # both forward convolutions and both backward ones run NHWC with nothing copied: the loss (mse against
    # zeros of the output's layout) hands each backward a channels-last grad_output
    assert [(r.channels_last, r.hidden_copies) for r in fwd + bwd] == [(True, None)] * 4
    assert strides(model) == before and x.is_contiguous()
    target = get_target("a100-sxm4-80gb")
    run = TrainRun("convs", "custom", step, [{"name": None, "dtype": "float32", "shape": [2, 3, 8, 8]}], None,
                   "channels_last")  # fmt: skip
    d = training_result(run, target, 1, 1, {"execution": "eager", "efficiency": "calibrated"})
    assert d["memory_format"] == "channels_last"
    from metrics_core.perf.training_report import assumptions_text

    assert "; model and inputs channels-last (NHWC); " in assumptions_text(d, target)


def test_bench_runs_the_real_model_in_the_memory_format_it_analysed(monkeypatch):
    from metrics_core.capture import layouts
    from metrics_core.measure.bench import bench_model, saved_record
    from metrics_core.runtime.options import AnalysisOptions

    seen = []
    real = layouts.to_memory_format

    def spy(model, args, kwargs, memory_format, what="the model"):  # noqa: ANN001, ANN202
        out = real(model, args, kwargs, memory_format, what)
        weight = next(model.parameters())
        seen.append((weight.device.type, weight.stride(), out[0][0].stride()))
        return out

    monkeypatch.setattr(layouts, "to_memory_format", spy)
    options = AnalysisOptions(batch_size=2, input_shape=(3, 8, 8), memory_format="channels_last").validated()
    r = bench_model("build_test_models:tiny_cnn", options, "cpu", warmup=0, iters=1)
    assert r.ok, r.error
    # tiny_cnn's conv weight (8, 3, 3, 3) NHWC, strides (27, 1, 9, 3), and its input (2, 3, 8, 8) NHWC,
    # (192, 1, 24, 3): in the analysis (meta) and in the measured run (cpu), the same layout
    assert seen == [("meta", (27, 1, 9, 3), (192, 1, 24, 3)), ("cpu", (27, 1, 9, 3), (192, 1, 24, 3))]
    assert saved_record(r, options)["analysis"]["memory_format"] == "channels_last"


def test_the_apps_instance_rows_follow_the_memory_format_setting():
    from metrics_core.runtime.options import AnalysisOptions
    from tui.app.show import InMemoryModel, in_memory_analyze

    model = conv_net().eval()
    held = {"mine": InMemoryModel(model, ((1, 3, 8, 8),), {})}
    analyze = in_memory_analyze(held, lambda names, options, cb: [])
    (nchw,) = analyze(["mine"], AnalysisOptions(), lambda r: None)
    (nhwc,) = analyze(["mine"], AnalysisOptions(memory_format="channels_last"), lambda r: None)
    # the settings' channels-last reaches the instance: its convolution runs NHWC, nothing copied
    convs_of = lambda r: [(o.channels_last, o.hidden_copies) for o in r.records if o.op == "convolution"]  # noqa: E731
    assert (convs_of(nchw), convs_of(nhwc)) == ([(False, None)], [(True, None)])
    assert (nchw.extras["memory_format"], nhwc.extras["memory_format"]) == ("contiguous", "channels_last")
    assert strides(model) == [(27, 9, 3, 1), (1,)]


def test_the_apps_channels_last_setting_leaves_token_models_as_they_are(tmp_path, monkeypatch):
    """The app's memory-format setting applies to every selected model it can: a token model in the same
    selection is analysed contiguous (channels-last would change nothing for it), not refused with the
    image rows."""
    from dataclasses import replace

    from metrics_core.runtime.options import AnalysisOptions
    from tui.app.backend import _analyze

    monkeypatch.setenv("MODELTUI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MODELTUI_JOBS", "0")
    options = replace(AnalysisOptions(), memory_format="channels_last").validated()
    seen: list[str] = []
    reports = _analyze(
        ["resnet18", "hf:google-bert/bert-base-uncased"], options, lambda r: seen.append(r.model)
    )
    assert [r.model for r in reports] == ["resnet18", "hf:google-bert/bert-base-uncased"]
    assert [r.error for r in reports] == [None, None] and sorted(seen) == sorted(r.model for r in reports)
    assert [r.extras["memory_format"] for r in reports] == ["channels_last", "contiguous"]
    convs = [x for x in reports[0].records if x.op == "convolution"]
    assert len(convs) == 20 and all(x.channels_last for x in convs)


def test_the_apps_training_view_takes_a_token_model_as_it_is():
    """The app's training capture with the channels-last setting: a token model gets contiguous options
    (``backend._laid_out``), an image model keeps channels-last."""
    from dataclasses import replace

    from metrics_core.runtime.options import AnalysisOptions
    from tui.app.backend import _laid_out

    options = replace(AnalysisOptions(), memory_format="channels_last").validated()
    assert _laid_out("hf:google-bert/bert-base-uncased", options).memory_format == "contiguous"
    assert _laid_out("resnet18", options).memory_format == "channels_last"
    plain = AnalysisOptions().validated()
    assert _laid_out("resnet18", plain) is plain
