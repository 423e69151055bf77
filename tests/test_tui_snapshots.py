"""Snapshots of the main screens (pytest-textual-snapshot; SVGs under tests/__snapshots__/).

Recorded reports (``tui_fakes``), so the pictures do not depend on torch or timing. Update them after
an intended change with ``pytest tests/test_tui_snapshots.py --snapshot-update`` and look at the report.
"""

from __future__ import annotations

from tui_fakes import make_app, settle

FOUR = ["resnet18", "mobilenet_v2", "efficientnet_b0", "squeezenet1_0"]


def _keys(*keys: str):  # noqa: ANN202
    async def run(pilot) -> None:  # noqa: ANN001
        await settle(pilot)
        await pilot.press(*keys)
        await settle(pilot)

    return run


def test_comparison_80x24(snap_compare):
    app, _ = make_app(FOUR)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_keys("1"))


def test_comparison_200x50(snap_compare):
    app, _ = make_app(FOUR)
    assert snap_compare(app, terminal_size=(200, 50), run_before=_keys("6"))


def test_catalog_80x24(snap_compare):
    app, _ = make_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=_keys())


def test_layers_80x24(snap_compare):
    app, _ = make_app(["resnet18"])
    assert snap_compare(app, terminal_size=(80, 24), run_before=_keys("enter", "s"))


def test_layers_by_module_120x30(snap_compare):
    app, _ = make_app(["efficientnet_b0"])
    assert snap_compare(app, terminal_size=(120, 30), run_before=_keys("enter", "m"))


def test_roofline_80x24(snap_compare):
    app, _ = make_app(FOUR)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_keys("w"))


def test_hardware_picker_80x24(snap_compare):
    app, _ = make_app(FOUR)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_keys("h", "n", "v"))


def test_help_80x24(snap_compare):
    app, _ = make_app(FOUR)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_keys("question_mark"))
