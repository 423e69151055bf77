"""Answers in the app's LLM view: how long a change of settings takes to show an estimate.

In-process, with Textual's ``App.run_test()`` (headless, 120x40), a fresh ``MODELTUI_CACHE_DIR``: the
LLM view of ``--model`` is opened (the first captures: timed, for reference), then typed changes
(``LlmScreen.apply_typed``: prompt, generate, batch, users, TP, and a KV precision through its key) are
applied one after another; for each, the time until the view shows an estimate for the new settings
(priced at once from the step model, ``perf.serving.estimate_from_steps``) and until the captured
estimates replace it. Baseline, same run: the first opening (captures of every batch of the sweep).

    python benchmarks/bench_tui_llm.py [--model hf:ID] [--json out.json] [--readme]

``--readme`` writes the result line into README.md (``<!-- bench:tui-llm -->``). The sources' bytecode is
written first (as ``pip install`` does).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import measure  # noqa: E402
from bench_cold_all import KNOBS  # noqa: E402

SIZE = (120, 40)
TARGET_S = 1.0
CHANGES = ["prompt 4096", "batch 32", "generate 512", "users 32", "tp 2", "prompt 1024 batch 8"]


async def _until(pilot, pred, timeout: float = 900.0) -> None:  # noqa: ANN001
    end = time.perf_counter() + timeout
    while not pred():
        if time.perf_counter() > end:
            raise TimeoutError("condition never met")
        await pilot.pause(0.005)


async def run(model: str) -> tuple[float, list[tuple[str, float, float]]]:
    from tui.app.application import ModeltuiApp
    from tui.app.screens.llm import LlmScreen

    app = ModeltuiApp(models=[])
    rows = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        t0 = time.perf_counter()
        app.action_llm(model)
        await _until(pilot, lambda: isinstance(app.screen, LlmScreen) and bool(app.screen.results))
        screen = app.screen
        await _until(pilot, lambda: bool(screen.steps) and screen.shown_generation == screen.generation)
        first = time.perf_counter() - t0
        for change in CHANGES:
            gen = screen.generation
            t = time.perf_counter()
            error = screen.apply_typed(change)
            if error:
                raise SystemExit(f"{change!r}: {error}")
            await _until(
                pilot, lambda g=gen: screen.generation > g and (screen.fast or not screen.text.endswith("…"))
            )
            shown = time.perf_counter() - t
            await _until(pilot, lambda: not screen.fast and bool(screen.results) and not screen.workers)
            rows.append((change, shown, time.perf_counter() - t))
        await pilot.press("escape")
        await pilot.press("q")
    return first, rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="hf:meta-llama/Llama-3.1-8B")
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--readme", action="store_true", help="write the result line into README.md")
    args = ap.parse_args()
    measure.compile_sources()
    print(measure.machine(), flush=True)
    cache = tempfile.mkdtemp(prefix="modeltui-bench-tui-llm-")
    for knob in KNOBS:
        os.environ.pop(knob, None)
    os.environ["MODELTUI_CACHE_DIR"] = cache
    try:
        first, rows = asyncio.run(run(args.model))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    table = [["open the LLM view (first captures + step model)", f"{first:.2f}", "", ""]]
    table += [[f"type {c!r}", f"{s:.2f}", f"{d:.2f}", f"x{first / s:.0f}"] for c, s, d in rows]
    print(f"LLM view of {args.model} (run_test {SIZE[0]}x{SIZE[1]})")
    print(measure.table(["action", "estimate shown s", "captured s", "first/shown"], table))
    worst = max(s for _c, s, _d in rows)
    print(f"target: an estimate within {TARGET_S} s of a change: {'met' if worst <= TARGET_S else 'NOT met'} "
          f"(slowest {worst:.2f} s)")  # fmt: skip
    from tui.app.screens.llm import BATCHES

    shown = ", ".join(f"`{c}` {s:.2f}" for c, s, _d in rows)
    captured = ", ".join(f"{d:.1f}" for _c, _s, d in rows)
    line = (
        f"opening the LLM view of {args.model} (captures of {len(BATCHES)} batch sizes and the step "
        f"model) {first:.1f} s; a typed change then shows an estimate in {shown} s (slowest {worst:.2f} s; "
        f"target {TARGET_S:g} s: {'met' if worst <= TARGET_S else 'NOT met'}), the captured estimates "
        f"following in {captured} s ({measure.machine()})"
    )
    print(f"\n{line}")
    if args.readme and not measure.write_readme_figure("tui-llm", line):
        print("README.md has no <!-- bench:tui-llm --> marker: not written", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"model": args.model, "first_s": first, "changes": rows}, indent=1)
        )
    return 0 if worst <= TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
