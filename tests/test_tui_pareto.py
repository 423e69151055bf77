"""Pilot tests of the Pareto screen (``f``) and the accuracy column, with recorded reports (``tui_fakes``).

Published top-1 (torchvision weights meta): efficientnet_b0 77.692, mobilenet_v2 72.154, resnet18
69.758, squeezenet1_0 58.092. Estimated latencies (fp32, see test_tui_features): A100 PCIe 40GB
mobilenet_v2 119.22 us < squeezenet1_0 129.37 us < efficientnet_b0 147.04 us < resnet18 220.62 us, so
the frontier is mobilenet_v2, efficientnet_b0; T4 squeezenet1_0 438.20 us < mobilenet_v2 542.67 us <
resnet18 625.46 us < efficientnet_b0 658.86 us: squeezenet1_0, mobilenet_v2, efficientnet_b0. Params:
squeezenet1_0 1.25M < mobilenet_v2 3.50M < efficientnet_b0 5.29M < resnet18 11.69M: all but resnet18.
"""

from __future__ import annotations

from dataclasses import replace

from tui_fakes import cell, make_app, rows, settle, sync

from tui.app.screens.help import HelpScreen
from tui.app.screens.layers import LayersScreen
from tui.app.screens.pareto import ParetoScreen
from tui.app.widgets.grid_table import GridTable

FOUR = ["resnet18", "mobilenet_v2", "efficientnet_b0", "squeezenet1_0"]


def frontier(screen: ParetoScreen) -> list[str]:
    return [p.model for p in screen.result.frontier]


@sync
async def test_pareto_screen_axes_target_and_enter():
    app, _ = make_app(FOUR)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert cell(app, "efficientnet_b0", "acc1") == "77.692"
        await pilot.press("f")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ParetoScreen)
        assert frontier(screen) == ["mobilenet_v2", "efficientnet_b0"]
        table = screen.query_one(GridTable)
        assert table.row_keys == ["mobilenet_v2", "squeezenet1_0", "efficientnet_b0", "resnet18"]
        # frontier points are lettered in the chart and in the F column, cheapest first
        assert [r.cells[0] for r in table.rows] == ["A", "", "B", ""]
        chart = str(screen.query_one("#pareto-chart").render())
        assert "A" in chart and "B" in chart and "frontier lettered" in chart
        # the target changes the estimates and so the frontier
        app.set_target("t4")
        await pilot.pause()
        assert frontier(screen) == ["squeezenet1_0", "mobilenet_v2", "efficientnet_b0"]
        # x cycles latency -> throughput -> macs -> params
        await pilot.press("x", "x", "x")
        assert screen.x == "params"
        assert frontier(screen) == ["squeezenet1_0", "mobilenet_v2", "efficientnet_b0"]
        await pilot.press("y")
        assert screen.y == "acc5" and screen.result.y.key == "acc5"
        # the cursor stays on its model (mobilenet_v2) while the rows change; the first row now is the
        # cheapest by params, squeezenet1_0; Enter opens the highlighted point's model
        assert table.cursor_key == "mobilenet_v2"
        await pilot.press("home", "enter")
        await settle(pilot)
        assert isinstance(app.screen, LayersScreen) and app.screen.model == "squeezenet1_0"
        await pilot.press("escape")
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        assert "Pareto (f)" in str(app.screen.render_help().columns[0]._cells)


@sync
async def test_pareto_energy_on_a_target_without_board_power_and_sort_by_accuracy():
    app, _ = make_app(FOUR)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        app.session.set_sort("acc1")
        app.refresh_views()
        assert rows(app) == ["efficientnet_b0", "mobilenet_v2", "resnet18", "squeezenet1_0"]
        await pilot.press("f")
        await settle(pilot)
        screen = app.screen
        for _ in range(6):  # latency -> ... -> energy
            await pilot.press("x")
        assert screen.x == "energy"
        assert frontier(screen) == ["mobilenet_v2", "efficientnet_b0"]  # A100: 250 W x latency
        # a target without a published board power has no energy axis, and says why
        unpublished = "not published: no figure for this test"
        app.session.target = replace(app.session.target, board_power_w=None, board_power_source=unpublished)
        app.refresh_views()
        await pilot.pause()
        assert screen.result is None
        text = str(screen.query_one("#pareto-chart").render())
        assert "a100-pcie-40gb has no board power (not published" in text
