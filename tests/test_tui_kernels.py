"""The drill-down in compiled execution: one row per kernel (K), a kernel's ops (Enter), back (Escape)."""

from __future__ import annotations

import tui_fakes as fakes
from tui_fakes import cell, rows, settle, sync

from tui.app.screens.layers import LayersScreen


@sync
async def test_kernels_view_in_compiled_execution():
    app, _ = fakes.make_app(["resnet18"])
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        app.session.set_modes("compiled", "calibrated")
        await pilot.press("enter")  # resnet18's layers
        layers = app.screen
        assert isinstance(layers, LayersScreen)
        summary = str(layers.query_one("#layers-summary").render())
        assert "(compiled, calibrated efficiency; physical estimate, not validated)" in summary  # fp32, A100
        await pilot.press("K")
        assert layers.by_kernel
        # the first column names kernels, cut at their end when long (kNN and the parent stay)
        module = next(c for c in layers.table.columns if c.key == "module")
        assert (module.header, module.truncate_left) == ("Kernel", False)
        est = app.session.estimate("resnet18")
        assert len(rows(app)) == est.kernel_count < est.op_count
        # stem: conv1 alone (cuDNN), then bn1 + relu + maxpool fused into one Triton kernel
        labels = {cell(app, k, "module") for k in rows(app)}
        assert "k1 bn1 › relu › maxpool" in labels and "k0 conv1" in labels
        # blocks keep their names apart: the first block's second conv, then its bn2 + residual add + relu
        # (the add runs in the block's own forward)
        assert {"k4 layer1.0.conv2", "k5 layer1.0: bn2 › add_ › relu"} <= labels
        await pilot.press("r")  # ascending time
        key = next(k for k in rows(app) if k.startswith("k1 "))
        while app.screen.table.cursor_key != key:
            await pilot.press("down")
        await pilot.press("enter")
        assert isinstance(app.screen, LayersScreen) and app.screen.kernel == 1
        assert rows(app) == ["1", "2", "3"]
        assert "ops, in kernel k1 (compiled) · fused kernel" in str(
            app.screen.query_one("#layers-summary").render()
        )
        await pilot.press("escape")
        assert app.screen is layers and layers.by_kernel


@sync
async def test_kernels_view_asks_for_compiled_execution():
    app, _ = fakes.make_app(["resnet18"])
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter", "K")
        # eager: one kernel per op, the op rows stay; a notification says where fused kernels are
        assert not app.screen.by_kernel
        (note,) = app._notifications
        assert "choose compiled execution in the settings (o)" in note.message
