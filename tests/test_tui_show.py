"""``tui.show``: the app on a user's in-memory model beside catalog models (analysed by the API's instance
path in the app's thread workers). Hand values: TwoInputs at batch 2 is 384 MACs (see test_api_instance)."""

from __future__ import annotations

import pytest
import torch
import tui_fakes as fakes
from tui_fakes import settle, sync

from metrics_core.common.errors import ModeltuiError, UsageError
from tests.test_api_instance import TwoInputs
from tui.app.show import InMemoryModel, in_memory_analyze, show


def _analyze(batch: int) -> dict:
    from metrics_core.runtime.options import AnalysisOptions

    held = {"mine": InMemoryModel(TwoInputs(), (torch.randn(2, 8),), {"y": torch.randn(2, 4)})}
    seen = []
    out = in_memory_analyze(held, lambda names, options, cb: [])(
        ["mine"], AnalysisOptions(batch_size=batch), seen.append
    )
    return {"report": out[0], "seen": seen}


def test_instance_is_reanalysed_at_the_apps_batch() -> None:
    # batch 2 (the examples'): 384 MACs; batch 4 from the app's settings: 768 MACs
    assert _analyze(2)["report"].metrics.macs == 384
    at4 = _analyze(4)
    assert at4["report"].metrics.macs == 768 and at4["report"].batch_size == 4
    assert at4["seen"] == [at4["report"]]


@sync
async def test_app_shows_the_instance_beside_catalog_models() -> None:
    from dataclasses import replace

    from tui.app.application import ModeltuiApp

    backend, fake = fakes.fake_backend()
    held = {"mine": InMemoryModel(TwoInputs(), ((2, 8),), {"y": (2, 4)})}
    backend = replace(backend, analyze=in_memory_analyze(held, fake))
    app = ModeltuiApp(models=["mine", "resnet18"], backend=backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        # the app's batch is 1 (show() would start it at the examples' 2): 8*16 + 4*16 = 192 MACs
        assert app.session.reports["mine"].metrics.macs == 192
        assert app.session.reports["resnet18"].ok
        assert "mine" in fakes.rows(app)


def test_show_refuses_bad_input_in_one_line() -> None:
    with pytest.raises(ModeltuiError, match="unknown model .resnet5O.; did you mean resnet50"):
        show(TwoInputs(), (2, 8), y=(2, 4), compare=["resnet5O"])
    with pytest.raises(UsageError, match="show\\(\\) takes an nn.Module then its example inputs"):
        show(3)
    with pytest.raises(UsageError, match="needs a terminal"):
        show(TwoInputs(), (2, 8), y=(2, 4), compare=["resnet18"])


@sync
async def test_diff_screen_from_the_comparison() -> None:
    from tui.app.screens.diff import DiffScreen

    app, _ = fakes.make_app(["resnet18", "mobilenet_v2"])
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.screen.table.cursor_key == "resnet18"  # the first row
        await pilot.press("D")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DiffScreen)
        await settle(pilot)
        screen.refresh_view()
        d = screen.diff
        # resnet18 (11,689,512 params) against mobilenet_v2 (3,504,872): two architectures, by stage order
        assert (d.first.name, d.second.name, d.aligned_by) == ("mobilenet_v2", "resnet18", "stage order")
        assert {t["metric"]: t["delta"] for t in d.totals()}["params"] == 11_689_512 - 3_504_872
        await pilot.press("r")
        assert screen.diff.first.name == "resnet18"
        await pilot.press("plus")
        assert screen.depth == 2
