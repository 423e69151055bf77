"""The app with the real analysis backend (worker processes, torch) on two small models and a custom
model whose factory fails, and a real benchmark of the two."""

from __future__ import annotations

import asyncio

from tui.app.application import ModeltuiApp
from tui.app.screens.layers import LayersScreen
from tui.app.widgets.grid_table import GridTable

BROKEN = "tui_failing_model:broken_model"  # tests/helpers/tui_failing_model.py


def test_real_backend_rows_errors_and_layers():
    async def scenario() -> None:
        app = ModeltuiApp(models=["resnet18", "mobilenet_v2", BROKEN])
        async with app.run_test(size=(120, 30)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            table = app.screen.query_one(GridTable)
            assert table.row_keys == ["resnet18", "mobilenet_v2", BROKEN]
            keys = [c.key for c in table.columns]
            # published torchvision parameter counts: 11,689,512 and 3,504,872
            assert [r.cells[keys.index("params")] for r in table.rows[:2]] == ["11.69M", "3.50M"]
            # resnet18: 1.81 GMACs published (torchvision ResNet18_Weights "_ops" 1.814)
            assert table.rows[0].cells[keys.index("macs")] == "1.81G"
            broken = table.rows[2]
            assert broken.kind == "error"
            assert broken.span == (
                f"error: {BROKEN}: failed to build: RuntimeError: deliberately broken factory (modeltui test)"
            )
            await pilot.press("enter")
            assert isinstance(app.screen, LayersScreen)
            assert len(app.screen.query_one(GridTable).rows) == 68  # resnet18's recorded ops
            await pilot.press("escape")
            # a real benchmark (tui.app.benchrun: a child of the fork server) of the two analysed models
            await pilot.press("b")
            await app.workers.wait_for_complete()
            await pilot.pause()
            states = app.session.bench
            assert sorted(states) == ["mobilenet_v2", "resnet18"]
            for state in states.values():
                result = state.result
                assert state.status == "done" and result.ok, state.error
                assert (result.device, result.iters, len(result.times_s)) == ("cpu", 20, 20)
                assert result.p90_s >= result.median_s >= min(result.times_s)  # nearest-rank p90
                assert result.throughput_per_s == 1 / result.median_s  # batch 1
            await pilot.press("q")

    asyncio.run(scenario())
