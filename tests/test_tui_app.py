"""Pilot tests of the app with recorded reports (``tui_fakes``): every interaction, no timing."""

from __future__ import annotations

import csv
import json
import threading

import pytest
import tui_fakes as fakes
from textual.widgets._footer import FooterKey
from tui_fakes import cell, load_reports, rows, settle, sync, type_text

from metrics_core.common.records import ModelReport
from tui.app.palette import ModelsAndTargets
from tui.app.screens.catalog import CatalogScreen
from tui.app.screens.comparison import ComparisonScreen
from tui.app.screens.export import ExportScreen
from tui.app.screens.hardware import HardwareScreen
from tui.app.screens.help import HelpScreen, sections
from tui.app.screens.layers import LayersScreen
from tui.app.screens.roofline import RooflineScreen
from tui.app.screens.settings import SettingsScreen
from tui.app.widgets.footer import AppFooter
from tui.app.widgets.grid_table import GridTable

FOUR = ["resnet18", "mobilenet_v2", "efficientnet_b0", "squeezenet1_0"]


def make_app(models=FOUR, **kwargs):  # noqa: ANN001, ANN003, ANN201
    return fakes.make_app(models, **kwargs)


# -- catalog -> comparison ---------------------------------------------------------------------------


@sync
async def test_catalog_filter_toggle_and_analyse():
    app, fake = make_app(models=())
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, CatalogScreen)
        await pilot.press("slash")
        await type_text(pilot, "squeeze")
        await pilot.press("enter")  # keep the filter, back to the list
        # squeezenet family: section row, then squeezenet1_0 and squeezenet1_1 (classification only)
        assert rows(app) == ["§classification/squeezenet", "squeezenet1_0", "squeezenet1_1"]
        assert app.screen.query_one(GridTable).cursor_key == "squeezenet1_0"
        await pilot.press("space", "down", "space")
        assert app.screen.final_selection() == ["squeezenet1_0", "squeezenet1_1"]
        assert cell(app, "squeezenet1_0", "mark") == "[x]"
        assert app.session.selected == []  # pending until Enter
        await pilot.press("space")  # toggles squeezenet1_1 off again
        assert app.screen.final_selection() == ["squeezenet1_0"]
        # Esc backs out: first the filter, then the catalog, and nothing is analysed
        await pilot.press("c")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ComparisonScreen)
        assert (app.session.selected, fake.calls) == ([], [])
        await pilot.press("c")
        assert app.screen.final_selection() == []  # the earlier picks were discarded
        await pilot.press("slash")
        await type_text(pilot, "squeeze")
        await pilot.press("enter", "space", "escape")  # the filter cleared, the pick kept
        assert isinstance(app.screen, CatalogScreen)
        await pilot.press("enter")  # compare
        await settle(pilot)
        assert isinstance(app.screen, ComparisonScreen)
        assert fake.calls[-1][0] == ["squeezenet1_0"]
        assert rows(app) == ["squeezenet1_0"]
        assert cell(app, "squeezenet1_0", "params") == "1.25M"  # 1,248,424 parameters


@sync
async def test_preset_replaces_selection_and_applies_its_sort():
    app, fake = make_app(models=())
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("1")  # the first preset: Mobile / edge, sorted by MACs
        await settle(pilot)
        assert isinstance(app.screen, ComparisonScreen)
        preset = app.session.presets["mobile"]
        assert app.session.selected == list(preset.models)
        assert app.session.sort_key == "macs"
        # recorded MACs: mobilenet_v2 300.8M < efficientnet_b0 385.8M < squeezenet1_0 818.9M; the two
        # models without a recording fail (fake backend) and stay last, in selection order
        assert rows(app) == [
            "mobilenet_v2",
            "efficientnet_b0",
            "squeezenet1_0",
            "mobilenet_v3_small",
            "mnasnet1_0",
        ]


@sync
async def test_custom_model_error_row():
    app, fake = make_app(models=["resnet18"])
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await type_text(pilot, "no_such_module:net")
        await pilot.press("enter")
        await settle(pilot)
        assert str(app.screen.query_one("#custom-error").render()).startswith(
            "cannot find module 'no_such_module' for 'no_such_module:net'"
        )
        app.screen.query_one("#custom-path").value = "tui_failing_model:broken_model"
        await pilot.press("enter")
        await settle(pilot)
        assert rows(app) == ["resnet18", "tui_failing_model:broken_model"]
        row = app.screen.query_one(GridTable).rows[1]
        assert row.kind == "error"
        assert row.span == "error: RuntimeError: no recorded report for tui_failing_model:broken_model"


# -- sorting -----------------------------------------------------------------------------------------

# Recorded values (tui_reports.json):
#   params        squeezenet 1.25M < mobilenet 3.50M < efficientnet 5.29M < resnet18 11.69M
#   flops, macs   mobilenet 640.8M < efficientnet 834.3M < squeezenet 1.65G < resnet18 3.64G
#   memory        squeezenet 102.5 MB < resnet18 117.0 MB < mobilenet 173.1 MB < efficientnet 209.4 MB
#   efficiency    FLOPs/param, highest first: squeezenet 1319 > resnet18 311.6 > mobilenet 182.8
#                 > efficientnet 157.8
#   ai            avg AI, highest first: resnet18 24.01 > squeezenet 19.85 > mobilenet 4.63
#                 > efficientnet 3.37
SEED_ORDERS = {
    "1": ("params", ["squeezenet1_0", "mobilenet_v2", "efficientnet_b0", "resnet18"]),
    "2": ("flops", ["mobilenet_v2", "efficientnet_b0", "squeezenet1_0", "resnet18"]),
    "3": ("macs", ["mobilenet_v2", "efficientnet_b0", "squeezenet1_0", "resnet18"]),
    "4": ("memory_bytes", ["squeezenet1_0", "resnet18", "mobilenet_v2", "efficientnet_b0"]),
    "5": ("flops_per_param", ["squeezenet1_0", "resnet18", "mobilenet_v2", "efficientnet_b0"]),
    "6": ("avg_ai", ["resnet18", "squeezenet1_0", "mobilenet_v2", "efficientnet_b0"]),
}


@pytest.mark.parametrize("key", sorted(SEED_ORDERS))
@sync
async def test_sort_by_each_seed_key_and_reverse(key: str):
    metric, order = SEED_ORDERS[key]
    app, _ = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        assert rows(app) == FOUR  # unsorted: selection order
        await pilot.press(key)
        assert app.session.sort_key == metric
        assert rows(app) == order
        table = app.screen.query_one(GridTable)
        assert table.sort_key == metric
        await pilot.press("r")
        assert rows(app) == order[::-1]


@sync
async def test_sort_keys_cycle_and_move():
    app, _ = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        assert app.session.sort_key == "params"
        await pilot.press("s", "s")
        assert app.session.sort_key == "macs"
        # the header marks the sort column: MACs ascending (cost-like metrics list the smallest first)
        table = app.screen.query_one(GridTable)
        assert table._header_label(next(c for c in table.columns if c.key == "macs")) == "MACs ▲"
        # the seed metrics lead the table: Params, MACs, Traffic, Avg AI
        await pilot.press("full_stop")  # next column to the right: Traffic (memory_bytes)
        assert app.session.sort_key == "memory_bytes"
        await pilot.press("comma", "comma")  # back past MACs to Params
        assert app.session.sort_key == "params"
        await pilot.press("5")  # efficiency: highest first
        assert (
            table._header_label(next(c for c in table.columns if c.key == "flops_per_param"))
            == "FLOPs/param ▼"
        )


# -- drill-down --------------------------------------------------------------------------------------


@sync
async def test_drill_down_sort_aggregate_and_back():
    app, _ = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # resnet18, the highlighted row
        assert isinstance(app.screen, LayersScreen)
        assert len(rows(app)) == 68  # resnet18: 68 recorded ops
        assert rows(app)[:2] == ["0", "1"]
        await pilot.press("s")  # by estimated time, slowest first: conv1 (12.10 us)
        assert app.screen.sort_key == "time_s"
        assert rows(app)[0] == "0"
        assert cell(app, "0", "time_s") == "12.10 us"
        await pilot.press("r")
        assert rows(app)[-1] == "0"
        await pilot.press(
            "m"
        )  # per module at depth 2: layer1.0 ... plus conv1, bn1, relu, maxpool, avgpool, fc
        assert len(rows(app)) == 14
        assert cell(app, "layer1.0", "ops") == "7"  # 2 x (conv, bn) + 2 relu + add
        await pilot.press("minus")  # depth 1: layer1..layer4 plus the 6 stem/head modules
        assert len(rows(app)) == 10
        await pilot.press("escape")
        assert isinstance(app.screen, ComparisonScreen)


@sync
async def test_layers_filter():
    app, _ = make_app(models=["resnet18"])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter", "slash")
        await type_text(pilot, "layer4 conv")
        await pilot.press("enter")
        # layer4: 2 blocks x 2 convs + the downsample conv (module layer4.0.downsample.0)
        assert [cell(app, k, "module") for k in rows(app)] == [
            "layer4.0.conv1",
            "layer4.0.conv2",
            "layer4.0.downsample.0",
            "layer4.1.conv1",
            "layer4.1.conv2",
        ]
        await pilot.press("escape")  # clears the filter first
        assert len(rows(app)) == 68
        await pilot.press("escape")
        assert isinstance(app.screen, ComparisonScreen)


@sync
async def test_large_op_table_opens():
    # efficientnet_b0's 238 recorded ops repeated 6 times: 1,428 ops, more than the largest catalog models
    reports = load_reports()
    big = reports["efficientnet_b0"]
    big.records = [r for _ in range(6) for r in big.records]
    app, fake = make_app(models=["efficientnet_b0"])
    fake.reports["efficientnet_b0"] = big
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        table = app.screen.query_one(GridTable)
        assert len(table.rows) == 1428
        await pilot.press("end")
        assert table.cursor_row == 1427
        assert table.scroll_y == 1428 + table.header_height - table.scrollable_content_region.height


# -- hardware, precision, roofline ---------------------------------------------------------------------


@sync
async def test_switching_hardware_updates_bounds_everywhere():
    # layer4.0.conv1 of resnet18: 115,605,504 FLOPs over 5,019,648 bytes, AI 23.03 FLOP/byte
    #   A100 PCIe 40GB fp32: ridge 19.5e12 / 1555e9 = 12.54 -> compute-bound, 115605504 / 19.5e12 = 5.93 us
    #   T4 fp32:             ridge 8.1e12 / 320e9 = 25.31  -> memory-bound, 5019648 / 320e9 = 15.69 us
    app, _ = make_app(models=["resnet18"])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        assert (cell(app, "50", "bound"), cell(app, "50", "time_s")) == ("compute", "5.93 us")
        await pilot.press("h")
        assert isinstance(app.screen, HardwareScreen)
        await type_text(pilot, "t4")
        await pilot.press("enter")
        assert app.session.target.id == "t4"
        assert isinstance(app.screen, LayersScreen)
        assert (cell(app, "50", "bound"), cell(app, "50", "time_s")) == ("memory", "15.69 us")
        await pilot.press("escape")
        # the comparison's estimate columns follow too
        table = app.screen.query_one(GridTable)
        latency = next(c for c in table.columns if c.key == "est_latency_s")
        # a chosen target is no longer "(default)"
        assert latency.group == "NVIDIA T4 peak fp32 (est., eager, ideal efficiency)"


@sync
async def test_precision_toggle_and_roofline():
    app, fake = make_app(models=["resnet18", "mobilenet_v2"])
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("w")
        assert isinstance(app.screen, RooflineScreen)
        chart = app.screen.chart_text(100, 36)
        assert "ridge 12.54 FLOP/byte" in chart  # 19.5e12 / 1555e9
        assert "A: resnet18" in chart and "B: mobilenet_v2" in chart
        await pilot.press("p")  # fp32 -> tf32 (A100 tensor cores: 156 TFLOP/s)
        assert app.session.precision == "tf32"
        assert "ridge 100.32 FLOP/byte" in app.screen.chart_text(100, 36)  # 156e12 / 1555e9
        assert app.session.options.dtype == "fp32"  # TF32 computes on fp32 tensors
        # one precision: fp16 changes the bytes too, so the models are analysed again in fp16
        await pilot.press("p")
        await settle(pilot)
        assert (app.session.options.dtype, app.session.precision) == ("fp16", "fp16")
        assert fake.calls[-1][1].dtype == "fp16"
        status = str(app.screen.query_one("#status-text").render())
        # 100 columns: the short form (the target's id, one precision word), the options complete
        assert "a100-pcie-40gb (default) · fp16 tensor" in status
        assert str(app.screen.query_one("#status-options").render()) == " │ batch 1 · native · eager/ideal "
        await pilot.press("escape")
        assert isinstance(app.screen, ComparisonScreen)


# -- settings, export, help, palette ----------------------------------------------------------------------


@sync
async def test_settings_reanalyse_in_background():
    gate = threading.Event()
    app, fake = make_app(models=["resnet18"])
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        fake.gate = gate
        await pilot.press("o")
        assert isinstance(app.screen, SettingsScreen)
        app.screen.query_one("#set-batch").value = "8"
        await pilot.press("enter")
        await pilot.pause()
        # while the model re-analyses the row waits and keys still work
        assert app.screen.query_one(GridTable).rows[0].kind == "pending"
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        gate.set()
        await settle(pilot)
        assert fake.calls[-1][1].batch_size == 8
        assert app.session.reports["resnet18"].batch_size == 8
        assert "batch 8" in str(app.screen.query_one("#status-options").render())


@sync
async def test_settings_choose_the_memory_format():
    app, fake = make_app(models=["resnet18"])
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("o")
        assert app.screen.query_one("#set-memory-format").value == "contiguous"
        app.screen.query_one("#set-memory-format").value = "channels_last"
        await pilot.press("enter")
        await settle(pilot)
        # the model re-analysed channels-last (model and input NHWC), and the status bar says so
        assert fake.calls[-1][1].memory_format == "channels_last"
        assert str(app.screen.query_one("#status-options").render()) == (
            " │ batch 1 · native · NHWC · eager/ideal "  # the test app estimates ideal
        )


@sync
async def test_settings_reject_bad_values():
    app, fake = make_app(models=["resnet18"])
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("o")
        app.screen.query_one("#set-batch").value = "0"
        await pilot.press("enter")
        assert isinstance(app.screen, SettingsScreen)
        assert "batch size must be a positive integer" in str(app.screen.query_one("#set-error").render())
        await pilot.press("escape")
        assert len(fake.calls) == 1


@sync
async def test_export_comparison_and_layers(tmp_path):
    app, _ = make_app(models=["resnet18", "mobilenet_v2"])
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("1")  # by params: mobilenet_v2 first
        await pilot.press("e")
        assert isinstance(app.screen, ExportScreen)
        # bad paths: the reason in the dialog, the app carries on
        for bad, why in (
            ("~nosuchuser_xyz/x.csv", "no user 'nosuchuser_xyz'"),
            (str(tmp_path / ("x" * 300 + ".csv")), "name too long"),
            (str(tmp_path), "it is a directory"),
        ):
            app.screen.query_one("#export-path").value = bad
            await pilot.press("enter")
            assert isinstance(app.screen, ExportScreen)
            assert why in str(app.screen.query_one("#export-error").render())
        app.screen.query_one("#export-path").value = str(tmp_path / "out" / "cmp.csv")
        await pilot.press("enter")
        assert isinstance(app.screen, ComparisonScreen)
        with open(tmp_path / "out" / "cmp.csv", encoding="utf-8") as fh:
            data = list(csv.DictReader(fh))
        assert [(r["model"], r["params"], r["macs"]) for r in data] == [
            ("mobilenet_v2", "3504872", "300774272"),
            ("resnet18", "11689512", "1814073344"),
        ]
        # with its context: the target, the precision and the bytes' dtype
        assert {(r["hardware"], r["precision"], r["dtype"], r["estimate"]) for r in data} == {
            ("a100-pcie-40gb", "fp32", "fp32", "true")
        }
        # and whether the estimates are validated, as compare --format csv says it (a helper found the
        # app's export without it): the fake session's ideal roofline is a physical estimate
        assert {(r["validated"], r.get("efficiency_source")) for r in data} == {("false", None)}
        await pilot.press("down", "enter", "m", "e")  # resnet18's layers per module
        app.screen.query_one("#export-path").value = str(tmp_path / "layers.json")
        await pilot.pause()
        assert str(app.screen.query_one("#export-format").value) == "json"
        await pilot.press("enter")
        modules = json.loads((tmp_path / "layers.json").read_text(encoding="utf-8"))
        assert [m["module"] for m in modules[:2]] == ["layer1.0", "layer1.1"]  # slowest first (29.39 us each)
        assert sum(m["ops"] for m in modules) == 68
        # the estimate under the CLI's name (layers --format csv: est_time_s), and the model in the context
        assert modules[0]["est_time_s"] == pytest.approx(29.39e-6, abs=0.01e-6) and "time_s" not in modules[0]
        assert modules[0]["context"]["model"] == "resnet18"


@sync
async def test_help_lists_every_screen_key():
    app, _ = make_app(models=["resnet18"])
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(f"{keys} {what}" for _, rows_ in sections(app) for keys, what in rows_)
        for entry in (
            "1-6 Sort by 1 params, 2 flops, 3 macs, 4 memory, 5 efficiency, 6 ai",
            ", Sort by the column left of the sort column",
            "m One row per op, or summed per module",
            "v Models/ops",
            "^p Command palette",
            "1-8 Compare a recommended set",  # eight presets ship: 9 is not a key
            "home g First",
            "end G Last",
            "] Next column group",
            "esc Back to the comparison, picks discarded",
            "Compare the picked models (analyses the new ones)",
            "n Tokens generated",
        ):
            assert entry in text
        await pilot.press("question_mark")
        assert isinstance(app.screen, ComparisonScreen)


@sync
async def test_palette_commands_cover_models_targets_presets_and_export():
    app, _ = make_app(models=["resnet18"])
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert {"Export table", "Preset: Mobile / edge", "Hardware target", "Settings"} <= set(commands)
        provider = ModelsAndTargets(app.screen)
        titles = {title: callback for title, _, callback in provider.commands()}
        assert {"Hardware: NVIDIA T4", "Add model: alexnet", "Remove model: resnet18"} <= set(titles)
        titles["Hardware: NVIDIA T4"]()
        assert app.session.target.id == "t4"
        titles["Add model: alexnet"]()
        await settle(pilot)
        assert rows(app) == ["resnet18", "alexnet"]
        # typed into the palette: ctrl+p, "t4", Enter picks the best match
        await pilot.press("ctrl+p")
        await type_text(pilot, "a100 pcie")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert app.session.target.id == "a100-pcie-40gb"


@sync
async def test_worker_error_becomes_a_message_not_a_crash():
    app, _ = make_app(models=["resnet18"], fail=RuntimeError("backend exploded"))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.is_running
        report: ModelReport = app.session.reports["resnet18"]
        assert report.error == "RuntimeError: backend exploded"
        assert app.screen.query_one(GridTable).rows[0].kind == "error"
        assert any("backend exploded" in n.message for n in app._notifications)


@sync
async def test_resize_to_80x24_keeps_everything_usable():
    app, _ = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        table = app.screen.query_one(GridTable)
        assert table.region.width == 80
        assert table.scrollable_content_region.height - table.header_height >= 4  # all four rows show
        await pilot.press("6")  # avg AI: the column is off-screen at 80 columns and scrolls into view
        ai = next(i for i, c in enumerate(table.columns) if c.key == "avg_ai")
        view = table.scrollable_content_region.width - table._fixed_width
        assert table.scroll_x <= table._starts[ai] < table.scroll_x + view
        await pilot.press("enter")
        assert isinstance(app.screen, LayersScreen)
        await pilot.press("q")
    assert app.return_code == 0


@sync
async def test_remove_group_jump_and_rankings_toggle():
    app, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(GridTable)
        await pilot.press("right_square_bracket")  # from the seed metrics to the estimates
        latency = next(i for i, c in enumerate(table.columns) if c.key == "est_latency_s")
        assert table.scroll_x == table._starts[latency]
        await pilot.press("right_square_bracket")  # then the published accuracy
        acc1 = next(i for i, c in enumerate(table.columns) if c.key == "acc1")
        assert table.scroll_x == table._starts[acc1]
        await pilot.press("left_square_bracket")
        await pilot.press("left_square_bracket")  # and back
        assert table.scroll_x == 0
        # g / G: top and bottom, as in vim and less
        await pilot.press("G")
        assert table.cursor_key == rows(app)[-1] == "squeezenet1_0"
        await pilot.press("g")
        assert table.cursor_key == rows(app)[0] == "resnet18"
        panel = app.screen.query_one("RankingsPanel")
        assert panel.display
        await pilot.press("t")
        assert not panel.display
        await pilot.press("down", "x")  # remove mobilenet_v2
        assert rows(app) == ["resnet18", "efficientnet_b0", "squeezenet1_0"]
        assert app.session.selected == ["resnet18", "efficientnet_b0", "squeezenet1_0"]


@sync
async def test_add_model_with_its_own_inputs():
    from metrics_core.common.input_spec import InputSpec

    app, fake = make_app(models=["resnet18"])
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        app.screen.query_one("#custom-path").value = "mobilenet_v2"
        app.screen.query_one("#custom-inputs").value = "float:3x64x64 bogus=int65:3"
        await pilot.press("enter")
        await settle(pilot)
        error = str(app.screen.query_one("#custom-error").render())
        assert error == "--input 'bogus=int65:3': unknown dtype 'int65'; did you mean int64, int16?"
        app.screen.query_one("#custom-inputs").value = "float:3x64x64"
        await pilot.press("enter")
        await settle(pilot)
        assert rows(app) == ["resnet18", "mobilenet_v2"]
        names, options = fake.calls[-1]
        assert names == ["mobilenet_v2"]
        assert (options.inputs, options.input_shape) == ((InputSpec(None, "float", (3, 64, 64)),), None)
        assert app.session.model_inputs == {"mobilenet_v2": (InputSpec(None, "float", (3, 64, 64)),)}


def test_deselect_forgets_the_model_estimates():
    from tui_fakes import load_reports

    from metrics_core.perf.hardware import get_target
    from tui.app.session import Session

    target = get_target("a100-pcie-40gb")
    session = Session(targets=[target], target=target)
    report = load_reports()["resnet18"]
    session.select(["resnet18"])
    session.reports["resnet18"] = report
    first = session.estimate("resnet18")
    assert first is not None and session.estimate("resnet18") is first  # cached
    session.deselect("resnet18")  # re-added with other inputs: estimated anew
    session.select(["resnet18"])
    session.reports["resnet18"] = report
    assert session.estimate("resnet18") is not first


@sync
async def test_a_broken_user_hardware_file_is_a_notification_naming_it(tmp_path, monkeypatch):
    """A file of the user hardware directory that cannot be used is skipped (the built-ins stand) and
    said so, naming the file: it was dropped silently."""
    monkeypatch.setenv("MODELTUI_CONFIG_DIR", str(tmp_path))
    (tmp_path / "hardware").mkdir()
    broken = tmp_path / "hardware" / "broken.toml"
    broken.write_text("this is [not toml\n")
    app, _ = make_app(models=["resnet18"])
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        notes = [(n.title, n.message) for n in app._notifications if n.title == "Hardware"]
        assert notes == [
            (
                "Hardware",
                f"hardware file {broken}: invalid TOML: Expected '=' after a key in a key/value pair "
                "(at line 1, column 6) (file skipped)",
            )
        ]


@sync
async def test_footer_shows_the_dialogs_keys_and_not_the_keys_its_search_box_types():
    # the hardware picker's search box has focus: q and ? type into it, so the footer does not offer
    # them; it shows the dialog's own key, and the comparison's keys again once the dialog is closed
    app, _ = make_app(models=["resnet18"])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        footer = app.screen.query_one(AppFooter)

        def shown() -> list[str]:
            return [k.description for k in footer.query(FooterKey)]

        assert {"Help", "Quit"} <= set(shown())
        await pilot.press("h")
        await pilot.pause()
        assert shown() == ["Cancel"]
        await pilot.press("escape")
        await pilot.pause()
        assert {"Help", "Quit"} <= set(shown())


@sync
async def test_footer_while_a_filter_line_has_focus_offers_its_keys():
    # in the catalog's filter line, q, ?, a, / and space are typed and Textual's Input takes escape and
    # enter: the footer was empty. It offers the line's own keys; enter (drawn as one character, ⏎) is no
    # key the line types; once the filter is kept, the catalog's keys are back
    app, _ = make_app(models=["resnet18"])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        footer = app.screen.query_one(AppFooter)

        def shown() -> list[tuple[str, str]]:
            return [(k.key, k.description) for k in footer.query(FooterKey)]

        catalog = [("escape", "Back"), ("space", "Toggle"), ("enter", "Compare"), ("slash", "Filter"),
                   ("1", "Preset"), ("a", "Custom"), ("question_mark", "Help"), ("q", "Quit")]  # fmt: skip
        assert shown() == catalog
        await pilot.press("slash")
        await pilot.pause()
        assert shown() == [("enter", "Keep filter"), ("escape", "Clear filter")]
        await pilot.press("r", "e", "s")
        await pilot.press("enter")
        await pilot.pause()
        assert shown() == catalog
        assert app.screen.query_one("FilterInput").value == "res"
