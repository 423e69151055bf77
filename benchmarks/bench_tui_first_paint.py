"""``modeltui`` in a real terminal: launch to first paint, and torch not imported in the app by then.

Starts the app (no models: it opens on the catalog) in an 80x24 tmux pane, N times, and polls the
screen with ``tmux capture-pane`` from the moment ``tmux new-session`` is called:

- first paint: the first screen with the app's footer (``q Quit``) on it;
- catalog shown: the catalog's rows (``alexnet``) are on screen.

At first paint, and again once the catalog is shown, ``/proc/PID/maps`` of the app's process is read:
torch's shared libraries (libtorch, libc10, torch/_C) must not be mapped (the analysis workers, started
after the first paint, import torch in processes of their own). The first run uses an empty cache (no
catalog index yet), the others the index it wrote; each run's cache is the script's fresh
``MODELTUI_CACHE_DIR``. Baselines, same run: ``python -c "import torch"`` and
``python -c "import torchvision.models"`` (what an app that imports them at start-up pays first).

    python benchmarks/bench_tui_first_paint.py [--repeat 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import measure  # noqa: E402
from bench_cold_all import KNOBS, ROOT, modeltui  # noqa: E402
from tuiterm import Term, torch_mapped  # noqa: E402

TARGET_S = 1.0
PAINTED = "q Quit"
CATALOG = "alexnet"


def one_launch(term: Term, name: str, env: dict[str, str]) -> dict:
    t0 = time.perf_counter()
    pid = term.start(name, modeltui(), env)
    try:
        t_paint, _ = term.wait_for(name, lambda s: PAINTED in s)
        torch_at_paint = torch_mapped(pid)
        t_catalog, _ = term.wait_for(name, lambda s: CATALOG in s)
        torch_at_catalog = torch_mapped(pid)
    finally:
        term.stop(name, pid)
    return {
        "first_paint_s": t_paint - t0,
        "catalog_s": t_catalog - t0,
        "torch_at_paint": torch_at_paint,
        "torch_at_catalog": torch_at_catalog,
    }


def polling_floor(term: Term, n: int = 50) -> float:
    """Median seconds of one ``capture-pane`` of an idle pane (the resolution of every figure here)."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        term.screen("park")
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10, help="launches with the catalog index cached")
    ap.add_argument("--baseline-repeat", type=int, default=3)
    ap.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = ap.parse_args()

    print(measure.machine(), flush=True)
    cache = tempfile.mkdtemp(prefix="modeltui-bench-paint-")
    env = {k: v for k, v in os.environ.items() if k not in KNOBS}
    env["MODELTUI_CACHE_DIR"] = cache
    app_env = {"MODELTUI_CACHE_DIR": cache, **{k: v for k, v in env.items() if k == "PATH"}}
    term = Term(f"modeltui-bench-{os.getpid()}")
    try:
        floor = polling_floor(term)
        first = one_launch(term, "cold-index", app_env)
        runs = [one_launch(term, f"run{i}", app_env) for i in range(args.repeat)]
    finally:
        term.close()
        shutil.rmtree(cache, ignore_errors=True)
    base = {}
    for label, code in (
        ("import torch", "import torch"),
        ("import torchvision.models", "import torchvision.models"),
    ):
        walls = []
        for _ in range(args.baseline_repeat):
            m = measure.run([sys.executable, "-c", code], env=env, cwd=str(ROOT))
            if m.returncode != 0:
                raise SystemExit(f"{code} failed:\n{m.stderr[-2000:]}")
            walls.append(m.wall_s)
        base[label] = walls

    paint = [r["first_paint_s"] for r in runs]
    shown = [r["catalog_s"] for r in runs]
    med = statistics.median(paint)
    headers = ["launch (80x24 tmux pane)", "median s", "min s", "max s", "runs"]
    rows = [
        ["modeltui: first paint (index cached)", f"{med:.3f}", f"{min(paint):.3f}", f"{max(paint):.3f}"],
        [
            "modeltui: catalog rows shown (index cached)",
            f"{statistics.median(shown):.3f}",
            f"{min(shown):.3f}",
            f"{max(shown):.3f}",
        ],
        ["modeltui: first paint, empty cache (1st run)", f"{first['first_paint_s']:.3f}", "", ""],
        ["modeltui: catalog rows shown, empty cache (1st run)", f"{first['catalog_s']:.3f}", "", ""],
    ]
    for r in rows:
        r.append(str(len(runs)) if r[2] else "1")
    for label, walls in base.items():
        rows.append(
            [
                f'baseline: python -c "{label}"',
                f"{statistics.median(walls):.3f}",
                f"{min(walls):.3f}",
                f"{max(walls):.3f}",
                str(len(walls)),
            ]
        )
    print(measure.table(headers, rows))
    print(f"(each figure includes the tmux polling floor: one capture-pane takes {floor * 1e3:.1f} ms)")
    all_runs = [first, *runs]
    no_torch_paint = not any(r["torch_at_paint"] for r in all_runs)
    no_torch_catalog = not any(r["torch_at_catalog"] for r in all_runs)
    checks = [
        (f"first paint <= {TARGET_S:g} s (median of {len(runs)}, index cached)", med <= TARGET_S),
        (f"first paint <= {TARGET_S:g} s with an empty cache", first["first_paint_s"] <= TARGET_S),
        (f"torch not mapped in the app process at first paint ({len(all_runs)} launches)", no_torch_paint),
        ("torch not mapped in the app process once the catalog is shown", no_torch_catalog),
    ]
    print()
    for what, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {what}")
    if args.json:
        out = {
            "machine": measure.machine(),
            "polling_floor_s": floor,
            "empty_cache_run": first,
            "runs": runs,
            "baselines_s": base,
            "checks": {what: ok for what, ok in checks},
        }
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
