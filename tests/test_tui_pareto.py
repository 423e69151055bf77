"""Pilot tests of the Pareto screen (``f``) and the accuracy column, with recorded reports (``tui_fakes``).

Published top-1 (torchvision weights meta): efficientnet_b0 77.692, mobilenet_v2 72.154, resnet18
69.758, squeezenet1_0 58.092. Params: squeezenet1_0 1.25M < mobilenet_v2 3.50M < efficientnet_b0 5.29M
< resnet18 11.69M, so on params every model but resnet18 is on the frontier. Latencies are the session's
estimates (they follow the performance model's settings), so the latency frontier is recomputed here by
brute force and held against the screen's.
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


def brute_force_latency_frontier(app) -> list[str]:  # noqa: ANN001
    """Models no other beats on both (estimated latency lower/equal, acc1 higher/equal, one strictly),
    cheapest first."""
    s = app.session
    pts = {m: (s.estimate(m).latency_s, ACC1[m]) for m in FOUR}
    front = [
        m
        for m, (x, y) in pts.items()
        if not any(qx <= x and qy >= y and (qx < x or qy > y) for q, (qx, qy) in pts.items() if q != m)
    ]
    return sorted(front, key=lambda m: pts[m][0])


ACC1 = {"efficientnet_b0": 77.692, "mobilenet_v2": 72.154, "resnet18": 69.758, "squeezenet1_0": 58.092}


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
        assert frontier(screen) == brute_force_latency_frontier(app)
        points = {p.model: p for p in screen.result.points}
        assert {m: p.y for m, p in points.items()} == ACC1
        assert points["resnet18"].x == app.session.estimate("resnet18").latency_s
        table = screen.query_one(GridTable)
        chart = str(screen.query_one("#pareto-chart").render())
        assert "A" in chart and "frontier lettered" in chart
        # the target changes the estimates and so the points
        a100 = points["resnet18"].x
        app.set_target("t4")
        await pilot.pause()
        t4 = {p.model: p.x for p in screen.result.points}["resnet18"]
        assert t4 == app.session.estimate("resnet18").latency_s and t4 != a100
        assert frontier(screen) == brute_force_latency_frontier(app)
        # x cycles latency -> throughput -> macs -> params
        await pilot.press("x", "x", "x")
        assert screen.x == "params"
        assert frontier(screen) == ["squeezenet1_0", "mobilenet_v2", "efficientnet_b0"]
        # frontier points are lettered in the chart and in the F column, cheapest first
        assert table.row_keys == ["squeezenet1_0", "mobilenet_v2", "efficientnet_b0", "resnet18"]
        assert [r.cells[0] for r in table.rows] == ["A", "B", "C", ""]
        assert [r.cells[2] for r in table.rows] == ["1.25M", "3.50M", "5.29M", "11.69M"]
        await pilot.press("y")
        assert screen.y == "acc5" and screen.result.y.key == "acc5"
        # Enter opens the highlighted point's model (the first row: squeezenet1_0)
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
        # energy = 250 W x latency on the A100 PCIe 40GB: the same frontier as latency
        assert frontier(screen) == brute_force_latency_frontier(app)
        energy = {p.model: p.x for p in screen.result.points}
        assert energy["resnet18"] == 250 * app.session.estimate("resnet18").latency_s
        # a target without a published board power has no energy axis, and says why
        unpublished = "not published: no figure for this test"
        app.session.target = replace(app.session.target, board_power_w=None, board_power_source=unpublished)
        app.refresh_views()
        await pilot.pause()
        assert screen.result is None
        text = str(screen.query_one("#pareto-chart").render())
        assert "a100-pcie-40gb has no board power (not published" in text
