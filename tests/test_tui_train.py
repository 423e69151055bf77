"""The app's training view (T): real training-step captures of a small model, the same figures as the
``train`` verb's JSON for the same options, typed values, and text that fits the terminal."""

from __future__ import annotations

import argparse
import json

import pytest
import tui_fakes as fakes
from tui_fakes import settle, sync

from metrics_core.runtime.options import AnalysisOptions

MODEL = "train_models:two_blocks"


@pytest.fixture(autouse=True)
def in_process(monkeypatch):
    """The captures in this process (the fake backend does not start the pool's resource tracker)."""
    monkeypatch.setenv("MODELTUI_JOBS", "0")


def make_app(target: str = "h100-sxm5-80gb"):  # noqa: ANN201
    from tui.app.application import ModeltuiApp

    backend, _ = fakes.fake_backend()
    # two_blocks is fed (B, 16); the fake session is eager and ideal
    options = AnalysisOptions(input_shape=(16,))
    return ModeltuiApp(models=[MODEL], options=options, target_id=target, backend=backend)


def verb_json(capsys, *extra: str) -> dict:
    from tui.cli import main

    argv = ["train", MODEL, "--input-shape", "16", "--hardware", "h100-sxm5-80gb", "--execution", "eager",
            "--efficiency", "ideal", "--format", "json", *extra]  # fmt: skip
    capsys.readouterr()  # what the app wrote so far
    assert main(argv) == 0
    (row,) = json.loads(capsys.readouterr().out)
    return row


def same_figures(view: dict, verb: dict) -> None:
    """The view's result holds the verb's figures (the verb adds its run context)."""
    keys = ("step_time_s", "samples_per_s", "mfu", "hfu", "model_flops", "params", "optimizer", "precision",
            "batch_size", "accumulation", "recipe", "validation", "execution", "efficiency")  # fmt: skip
    for key in keys:
        assert view[key] == verb[key], key
    assert view["phases"] == verb["phases"]
    assert view["memory"] == verb["memory"]
    assert view.get("best_plan") == verb.get("best_plan")
    assert [p["name"] for p in view.get("plans", [])] == [p["name"] for p in verb.get("plans", [])]


@sync
async def test_training_view_shows_the_train_verbs_figures(capsys):
    from metrics_core.common.units import human_time
    from tui.app.screens.train import TrainScreen

    # the verb first: inside the app, stdout is the app's
    default = verb_json(capsys)
    verb = verb_json(capsys, "--batch-size", "4", "--optimizer", "sgd", "--precision", "fp32", "--gpus", "4")
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        await pilot.press("T")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TrainScreen)
        # the defaults: the session's batch (1), adamw, bf16-mixed, 1 GPU
        first = screen.results[MODEL]
        same_figures(first, default)
        # typed values: SGD in fp32 on 4 GPUs, micro-batch 4
        assert screen.apply_typed("batch 4 optimizer sgd precision fp32 gpus 4") is None
        await settle(pilot)
        view = screen.results[MODEL]
        same_figures(view, verb)
        # hand-derived: 2 blocks x 2 Linear(16, 16) (272 parameters each) + Linear(16, 4) (68) = 1,156
        # parameters; SGD in fp32: weights 4 B and momentum 4 B per parameter, no master copy
        assert view["params"] == 1_156
        assert (view["memory"]["weights"], view["memory"]["optimizer_state"]) == (4_624, 4_624)
        assert view["memory"]["master_weights"] == 0
        # forward MACs: batch 4 x (4 Linear(16, 16) x 256 + Linear(16, 4) 64 weights) = 4,352
        assert view["phases"]["forward"]["macs"] == 4 * (4 * 256 + 64) == 4_352
        text = screen.text
        assert "micro-batch 4 x 1 per step, sgd (foreach), fp32, loss mse, checkpointing off" in text
        assert human_time(verb["step_time_s"]) in text
        assert f"MFU {100 * verb['mfu']:.1f}%" in text
        best = verb["best_plan"]
        assert f"best: {best['name']} ({best['samples_per_s']:,.0f} samples/s" in text
        assert "estimate (roofline) on NVIDIA H100 SXM5 80GB; fp32: fp32 weights" in text
        assert "physical: datasheet peaks" in text and "not validated for training on this target" in text
        # keys: the optimizer cycles sgd -> adamw (train_choices.OPTIMIZERS' order); a capture per
        # settings, kept for a GPU change
        await pilot.press("O")
        await settle(pilot)
        assert screen.settings.optimizer == "adamw" and screen.results[MODEL]["optimizer"] == "adamw"
        captures = len(screen.captures)
        await pilot.press("G")  # 4 -> 8 GPUs: re-planned from the kept capture
        await settle(pilot)
        assert screen.settings.gpus == 8 and len(screen.captures) == captures
        assert screen.results[MODEL]["gpus"] == 8
        await pilot.press("escape")
        assert not isinstance(app.screen, TrainScreen)


@sync
async def test_training_view_typed_value_errors_and_refusals():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.action_train()
        await settle(pilot)
        screen = app.screen
        assert screen.apply_typed("batch zero") == "batch must be a positive whole number, got 'zero'"
        assert screen.apply_typed("precision fp8") == (
            "precision 'fp8': choose one of fp32, bf16, bf16-mixed, fp16-mixed, fp8-mixed"
        )
        assert screen.apply_typed("lr 3") == (
            "'lr' is not a setting: batch, optimizer, precision, gpus, accumulation or checkpointing"
        )
        assert screen.apply_typed("checkpointing maybe") == "checkpointing must be on or off, got 'maybe'"
        # batch and accumulation as the train verb caps them: runtime.options.MAX_BATCH_SIZE, 2**20
        assert screen.apply_typed("accumulation 99999999999") == (
            "accumulation 99,999,999,999 is above the largest taken, 1,048,576"
        )
        assert screen.apply_typed("batch 1048577") == "batch 1,048,577 is above the largest taken, 1,048,576"
        await pilot.press("i")
        field = screen.query_one("#train-input")
        assert field.has_class("editing")
        field.value = "accumulation 2 checkpointing on"
        await pilot.press("enter")
        await settle(pilot)
        d = screen.results[MODEL]
        assert (d["accumulation"], d["checkpointing"], d["blocks"]) == (2, True, 2)
        assert "checkpointing on (2 blocks)" in screen.text
        # the fake session's ideal roofline is not the model that was validated
        assert "physical estimate, not validated for training on this target" in " ".join(screen.text.split())
        # a new target recomputes: the A100 80GB's training estimates are validated (ResNet-50, README) with
        # calibrated efficiency
        app.session.set_modes("eager", "calibrated")
        app.set_target("a100-sxm4-80gb")
        await settle(pilot)
        d = screen.results[MODEL]
        assert d["hardware"] == "a100-sxm4-80gb" and d["accumulation"] == 2
        words = " ".join(screen.text.split())  # prose folds at the screen's width
        assert "validated on this target: ResNet-50 v1.5 SGD AMP channels-last batch 256" in words


@sync
async def test_training_view_keys_scroll_the_report_once_the_input_closes():
    """After typed values (Enter) or a closed input (Esc) the keys scroll the report again."""
    app = make_app()
    async with app.run_test(size=(100, 20)) as pilot:
        await settle(pilot)
        await pilot.press("T")
        await settle(pilot)
        screen = app.screen
        scroll, field = screen.query_one("#train-scroll"), screen.query_one("#train-input")
        for closing, gpus in (("enter", 2), ("escape", 2)):  # Esc closes without applying "gpus 4"
            await pilot.press("i")
            assert app.focused is field
            await pilot.press("g", "p", "u", "s", "space", "4" if closing == "escape" else "2")
            await pilot.press(closing)
            await settle(pilot)
            assert screen.settings.gpus == gpus and not field.has_class("editing")
            assert app.focused is scroll
            # the 2-GPU plans make the report taller than the 20-row screen: End reaches its bottom
            assert scroll.max_scroll_y > 0
            await pilot.press("end")
            await pilot.pause()
            assert scroll.scroll_y == scroll.max_scroll_y
            await pilot.press("home")
            await pilot.pause()
            assert scroll.scroll_y == 0


@sync
async def test_training_view_cycles_every_optimizer_the_verb_takes(monkeypatch):
    from tui.app.screens.train import TrainScreen
    from tui.cli import build_parser

    monkeypatch.setattr(TrainScreen, "compute", lambda self: None)  # the keys only: no captures
    parser, _ = build_parser("train")
    (verbs,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    train_verb = verbs.choices["train"]
    (optimizer,) = [a for a in train_verb._actions if a.dest == "optimizer"]
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("T")
        screen = app.screen
        seen = [screen.settings.optimizer]
        for _ in optimizer.choices:
            await pilot.press("O")
            seen.append(screen.settings.optimizer)
        # from the default adamw through the verb's six choices (8-bit Adam included) back to adamw
        assert seen == ["adamw", "adam", "adafactor", "adam8bit", "adamw8bit", "sgd", "adamw"]
        assert set(seen) == set(optimizer.choices) and len(optimizer.choices) == 6


@sync
async def test_training_view_refuses_a_precision_the_target_lacks(monkeypatch):
    from tui.app.screens.train import TrainScreen

    monkeypatch.setattr(TrainScreen, "compute", lambda self: None)  # the input only: no captures
    app = make_app("a100-sxm4-80gb")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("T")
        screen = app.screen
        field = screen.query_one("#train-input")
        await pilot.press("i")
        field.value = "precision fp8-mixed"
        await pilot.press("enter")
        await pilot.pause()
        # the A100 (Ampere) has no fp8 path: refused at the input, like "batch -5", naming what it takes
        said = [n.message for n in app._notifications if n.title == "Training"]
        assert said == [
            "precision fp8-mixed: NVIDIA A100 SXM4 80GB trains in fp32, bf16, bf16-mixed, fp16-mixed"
        ]
        assert screen.settings.precision == "bf16-mixed"
        assert field.has_class("editing") and app.focused is field and field.value == "precision fp8-mixed"
        # the same typed on the H100 (Hopper, fp8 tensor cores) is taken
        app.set_target("h100-sxm5-80gb")
        assert screen.apply_typed("precision fp8-mixed") is None
        assert screen.settings.precision == "fp8-mixed"


@sync
async def test_training_view_refuses_gpus_without_an_interconnect():
    app = make_app("raspberry-pi-5")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.action_train()
        await settle(pilot)
        screen = app.screen
        # the Pi computes in fp32 and fp16, not bf16: the view starts in fp16-mixed
        assert screen.settings.precision == "fp16-mixed"
        assert screen.apply_typed("gpus 2") == (
            "Raspberry Pi 5 (BCM2712 CPU) has no device interconnect figure (interconnect_gbps): gpus 1 only"
        )
        # more GPUs than one server holds: the train verb's reason (perf.comm.check_scale_up)
        app.set_target("h100-sxm5-80gb")
        assert screen.apply_typed("gpus 16") == (
            "gpus 16: h100-sxm5-80gb joins at most 8 GPUs over its nvswitch link (one server); GPUs on "
            "several nodes (InfiniBand / Ethernet) are not modelled: choose gpus 8 or fewer"
        )
        assert screen.settings.gpus == 1


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
@sync
async def test_training_view_fits_the_terminal(size):
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        app.action_train()
        await settle(pilot)
        screen = app.screen
        assert screen.apply_typed("gpus 8") is None
        await settle(pilot)
        lines = screen.text.splitlines()
        # every line (tables, numbers, prose) within the scroll area: nothing is cut at the right edge
        assert max(len(line) for line in lines) <= size[0] - 3
        assert any(line.startswith("best: ") for line in lines)
        status = [str(screen.query_one(f"#status-{part}").render()) for part in ("text", "options")]
        assert not any("…" in part for part in status)


@pytest.mark.parametrize(("width", "shown"), [(80, False), (120, True)])
@sync
async def test_training_key_in_the_footer_where_it_fits(width, shown, monkeypatch):
    from tui.app.screens.train import TrainScreen

    monkeypatch.setattr(TrainScreen, "compute", lambda self: None)  # the screen only: no captures
    app = make_app()
    async with app.run_test(size=(width, 30)) as pilot:
        await settle(pilot)
        # the comparison's footer holds ten keys at 80 columns: T joins them from 100; it works at any width
        assert app.screen.active_bindings["T"].binding.show is shown
        await pilot.press("T")
        assert isinstance(app.screen, TrainScreen)


@sync
async def test_training_view_names_a_refused_model_once():
    from tui.app.application import ModeltuiApp

    backend, _ = fakes.fake_backend()
    model = "fasterrcnn_resnet50_fpn"  # the catalog refuses detection models (data-dependent NMS)
    app = ModeltuiApp(models=[model], target_id="h100-sxm5-80gb", backend=backend)
    async with app.run_test(size=(200, 40)) as pilot:
        await settle(pilot)
        await pilot.press("T")
        await settle(pilot)
        text = " ".join(app.screen.text.split())
        assert text.startswith(f"{model}: detection models run data-dependent post-processing")
        assert text.count(model) == 1


@sync
async def test_training_view_says_why_it_shows_another_precision_and_keeps_its_settings(monkeypatch):
    from tui.app.screens.train import TrainScreen

    monkeypatch.setattr(TrainScreen, "compute", lambda self: None)  # the settings only: no captures
    app = make_app("h100-sxm5-80gb")
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("T")
        screen = app.screen
        assert screen.apply_typed("precision fp8-mixed batch 8 gpus 2") is None
        notice = screen.query_one("#train-notice")
        assert screen.notice == "" and not notice.has_class("shown")
        # the A100 (Ampere) has no fp8 path: the view shows bf16-mixed (the first of the view's order it
        # computes in) and says so in one line under the settings
        app.set_target("a100-sxm4-80gb")
        await pilot.pause()
        said = "fp8-mixed needs fp8 tensor cores: NVIDIA A100 SXM4 80GB has none; showing bf16-mixed"
        assert screen.settings.precision == "bf16-mixed" and screen.notice == said
        assert notice.has_class("shown") and str(notice.render()).strip() == said
        assert said in [n.message for n in app._notifications if n.title == "Training"]
        # other settings typed there do not forget the precision asked for
        assert screen.apply_typed("batch 16") is None
        assert screen.notice == said and screen.wanted_precision == "fp8-mixed"
        # back on a Hopper target the precision asked for returns, the notice goes
        app.set_target("h100-sxm5-80gb")
        await pilot.pause()
        assert screen.settings.precision == "fp8-mixed" and screen.notice == ""
        assert not notice.has_class("shown")
        # leaving the view and opening it again keeps the typed settings for the session
        await pilot.press("escape")
        assert not isinstance(app.screen, TrainScreen)
        await pilot.press("T")
        again = app.screen
        assert isinstance(again, TrainScreen) and again is not screen
        s = again.settings
        assert (s.batch, s.gpus, s.precision) == (16, 2, "fp8-mixed")
