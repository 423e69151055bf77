"""Opening the per-layer drill-down of the largest op tables (efficientnet_b7, regnet_y_128gf).

In-process, with Textual's ``App.run_test()`` (headless, 120x40): the two models are analysed first
into a fresh ``MODELTUI_CACHE_DIR`` by ``modeltui compare`` (not timed); the app then starts with them
selected (their cached reports, records loaded off the UI thread as the app does) and, N times per
model, the cursor is put on the model's row and Enter pressed: timed from the key until the layers
screen's table holds every op row and the screen has been refreshed (``pilot.pause()``). Escape goes
back between presses.

Baseline, same run: a Textual ``DataTable`` on a screen of its own, filled in ``on_mount`` with the same
header and cell strings as the drill-down shows (the naive approach), timed the same way.

    python benchmarks/bench_tui_layers.py [--repeat 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import measure  # noqa: E402
from bench_cold_all import KNOBS, ROOT, modeltui  # noqa: E402

MODELS = ["efficientnet_b7", "regnet_y_128gf"]
TARGET_S = 0.5
SIZE = (120, 40)


async def _until(pilot, pred, timeout: float = 60.0) -> None:  # noqa: ANN001
    end = time.perf_counter() + timeout
    while not pred():
        if time.perf_counter() > end:
            raise TimeoutError("condition never met")
        await pilot.pause(0.001)


async def drill_down(
    repeat: int,
) -> tuple[dict[str, list[float]], dict[str, tuple[list[str], list[list[str]]]]]:
    from tui.app.application import ModeltuiApp
    from tui.app.screens.comparison import ComparisonScreen
    from tui.app.screens.layers import LayersScreen
    from tui.app.session import records_loaded
    from tui.app.widgets.grid_table import GridTable

    times: dict[str, list[float]] = {m: [] for m in MODELS}
    tables: dict[str, tuple[list[str], list[list[str]]]] = {}
    app = ModeltuiApp(models=MODELS)
    async with app.run_test(size=SIZE) as pilot:
        await _until(
            pilot,
            lambda: all(m in app.session.reports and records_loaded(app.session.reports[m]) for m in MODELS),
        )
        await app.workers.wait_for_complete()
        await pilot.pause()
        for _ in range(repeat):
            for model in MODELS:
                assert isinstance(app.screen, ComparisonScreen)
                app.screen.query_one(GridTable).move_to(model)
                await pilot.pause()
                n_ops = len(app.session.reports[model].records)
                t0 = time.perf_counter()
                await pilot.press("enter")
                await _until(
                    pilot,
                    lambda n=n_ops: (
                        isinstance(app.screen, LayersScreen)
                        and len(app.screen.query_one(GridTable).rows) == n
                    ),
                )
                await pilot.pause()
                times[model].append(time.perf_counter() - t0)
                grid = app.screen.query_one(GridTable)
                tables[model] = ([c.header for c in grid.columns], [list(r.cells) for r in grid.rows])
                await pilot.press("escape")
                await _until(pilot, lambda: isinstance(app.screen, ComparisonScreen))
        await pilot.press("q")
    return times, tables


async def naive(tables: dict[str, tuple[list[str], list[list[str]]]], repeat: int) -> dict[str, list[float]]:
    from textual.app import App
    from textual.screen import Screen
    from textual.widgets import DataTable

    class Rows(Screen[None]):
        def __init__(self, headers: list[str], rows: list[list[str]]) -> None:
            super().__init__()
            self.headers, self.cells = headers, rows
            self.filled = False

        def compose(self):  # noqa: ANN201
            yield DataTable()

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns(*self.headers)
            table.add_rows(self.cells)
            self.filled = True

    times: dict[str, list[float]] = {m: [] for m in tables}
    app = App()
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(repeat):
            for model, (headers, rows) in tables.items():
                t0 = time.perf_counter()
                screen, n = Rows(headers, rows), len(rows)
                app.push_screen(screen)
                await _until(pilot, lambda s=screen, n=n: s.filled and s.query_one(DataTable).row_count == n)
                await pilot.pause()
                times[model].append(time.perf_counter() - t0)
                app.pop_screen()
                await pilot.pause()
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = ap.parse_args()

    print(measure.machine(), flush=True)
    cache = tempfile.mkdtemp(prefix="modeltui-bench-layers-")
    for knob in KNOBS:
        os.environ.pop(knob, None)
    os.environ["MODELTUI_CACHE_DIR"] = cache
    try:
        t = time.perf_counter()
        subprocess.run(
            [*modeltui(), "compare", *MODELS, "--format", "json"],
            cwd=str(ROOT),
            capture_output=True,
            check=True,
        )
        pre_s = time.perf_counter() - t
        times, tables = asyncio.run(drill_down(args.repeat))
        base = asyncio.run(naive(tables, args.repeat))
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    headers = ["open the drill-down (Enter), run_test 120x40", "ops", "median s", "min s", "max s", "runs"]
    rows = []
    for label, data in (("modeltui layers screen", times), ("baseline: Textual DataTable, same cells", base)):
        for model in MODELS:
            v = data[model]
            n = str(len(tables[model][1]))
            rows.append(
                [
                    f"{label}: {model}",
                    n,
                    f"{statistics.median(v):.3f}",
                    f"{min(v):.3f}",
                    f"{max(v):.3f}",
                    str(len(v)),
                ]
            )
    print(measure.table(headers, rows))
    print(f"(reports cached by modeltui compare beforehand in {pre_s:.1f} s, not timed)")
    checks = [
        (
            f"{model} drill-down opens <= {TARGET_S:g} s (median of {len(times[model])})",
            statistics.median(times[model]) <= TARGET_S,
        )
        for model in MODELS
    ]
    print()
    for what, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {what}")
    if args.json:
        out = {
            "machine": measure.machine(),
            "ops": {m: len(tables[m][1]) for m in MODELS},
            "drill_down_s": times,
            "datatable_s": base,
            "checks": {what: ok for what, ok in checks},
        }
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
