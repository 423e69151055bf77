"""What a user reads at 80x24 and 200x50 (recorded reports, ``tui_fakes``): no number or header cut at
either edge of a table, a status bar whose batch and performance model are always whole, the seed's
metrics on the first screen, a default target that says so, the sort column always in sight, titles
that fit."""

from __future__ import annotations

import re

import tui_fakes as fakes
from tui_fakes import settle, sync

from tui.app.widgets.grid_table import GridTable

FOUR = ["resnet18", "mobilenet_v2", "efficientnet_b0", "squeezenet1_0"]


def line(table: GridTable, y: int) -> str:
    return table.render_line(y).text


def tokens(text: str) -> list[str]:
    """The cells of a rendered line: runs of text between two or more spaces or a bar."""
    return [t.strip() for t in re.split(r"\s{2,}|│", text) if t.strip()]


def assert_whole(table: GridTable) -> None:
    """Every header and every cell of the first row on screen is whole (or not on screen at all)."""
    headers = {table._header_label(c) for c in table.columns}
    assert set(tokens(line(table, 1))) <= headers, line(table, 1)
    row = table.rows[int(table.scroll_y)]
    assert set(tokens(line(table, 2))) <= {c.strip() for c in row.cells}, line(table, 2)


def status(app) -> tuple[str, str]:  # noqa: ANN001
    return (
        str(app.screen.query_one("#status-text").render()),
        str(app.screen.query_one("#status-options").render()),
    )


@sync
async def test_no_column_is_cut_at_the_left_edge():
    app, _ = fakes.make_app(["resnet18"])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # resnet18's ops
        table = app.screen.query_one(GridTable)
        for _ in range(12):  # one column at a time, past the end (the scroll stops between columns)
            await pilot.press("right")
            assert_whole(table)
        # at the end the last columns are whole: before, "Live" read "ve" and 3.81 MB read "MB"
        assert (
            line(table, 1)
            == " # ▲  Module                │ Output        Type               Category        "
        )
        assert (
            line(table, 2)
            == "   0  conv1                 │ 1x64x112x112  Conv2d             conv            "
        )
        await pilot.press("home")
        for _ in range(6):  # a group at a time, wrapping to the first
            await pilot.press("right_square_bracket")
            assert_whole(table)


@sync
async def test_first_screen_at_80x24_has_the_seed_metrics_and_says_the_target_is_a_default():
    app, _ = fakes.make_app(FOUR)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(GridTable)
        assert line(table, 0).startswith(" order: as selected │─────────── Seed metrics ───────────│")
        assert tokens(line(table, 1))[:5] == ["Model", "Params", "MACs", "Traffic", "Avg AI"]
        # resnet18: 11,689,512 params, 1,814,073,344 MACs, 116,950,592 B of traffic, avg AI 24.01
        assert tokens(line(table, 2))[:6] == ["resnet18", "✓", "11.69M", "1.81G", "116.95 MB", "24.01"]
        # the status bar: short target and precision, the options whole
        assert status(app) == (
            " compare  a100-pcie-40gb (default) · fp32",
            " │ batch 1 · native · eager/ideal ",
        )
        latency = next(c for c in table.columns if c.key == "est_latency_s")
        assert latency.group == "NVIDIA A100 PCIe 40GB (default) peak fp32 (est., eager, ideal efficiency)"
        app.set_target("t4")  # chosen (the hardware picker): no longer a default
        await pilot.pause()
        assert status(app) == (" compare  t4 · fp32", " │ batch 1 · native · eager/ideal ")


@sync
async def test_status_bar_at_200x50_in_full():
    app, _ = fakes.make_app(FOUR)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        # the fake session's ideal roofline is a physical estimate; the RTX 4090 calibrated (fp16: timm's
        # AMP files) is validated (a helper found the app's comparison never said either)
        assert status(app) == (
            " compare  NVIDIA A100 PCIe 40GB (default) · bytes fp32 · peak fp32",
            " │ batch 1 · native input · eager, ideal · physical est. ",
        )
        from types import SimpleNamespace

        from metrics_core.perf.hardware import get_target
        from tui.app.widgets.status_bar import checked

        def session(target: str, efficiency: str, path: str) -> SimpleNamespace:
            return SimpleNamespace(
                target=get_target(target), efficiency=efficiency, execution="eager", analysed=("x", path)
            )

        assert [checked(session(*s)) for s in (
            ("rtx-4090", "calibrated", "fp16"),  # timm's AMP files
            ("rtx-4090", "calibrated", "fp32"),  # fp32 was not measured
            ("rtx-4090", "ideal", "fp16"),  # the ideal roofline is not what was validated
        )] == ["validated", "physical", "physical"]  # fmt: skip


@sync
async def test_the_sort_column_stays_in_sight_in_the_module_view():
    app, _ = fakes.make_app(["resnet18"])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter", "m")  # per module, sorted by estimated time
        table = app.screen.query_one(GridTable)
        for _ in range(4):
            await pilot.press("right_square_bracket")
        # scrolled to the bytes: the time is still beside each module (pinned after the module name)
        assert tokens(line(table, 1))[:2] == ["Module", "Time ▼"]
        # layer1.0 (2 x 115.6M-MAC convolutions): 29.39 us on the A100 PCIe 40GB, the most of any module
        assert tokens(line(table, 2))[:2] == ["layer1.0", "29.39 us"]
        assert_whole(table)


@sync
async def test_roofline_title_fits_at_80_columns():
    app, _ = fakes.make_app(["resnet18", "mobilenet_v2"])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.session.efficiency = "calibrated"  # the launched app's default: the longest mode label
        await pilot.press("w")
        chart = app.screen.chart_text(80, 22)
        # the full title (79 characters) does not fit over the plot: the short one, whole
        assert "a100-pcie-40gb (default): peak fp32 roofline (est., eager/calibrated)" in chart
        assert "..." not in chart.splitlines()[0]
        wide = app.screen.chart_text(200, 40)
        assert (
            "NVIDIA A100 PCIe 40GB (default): peak fp32 roofline (est., eager, calibrated efficiency)" in wide
        )
