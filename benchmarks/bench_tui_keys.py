"""Key-press latency of ``modeltui`` in a real terminal while its workers analyse the catalog.

Launches the app in an 80x24 tmux pane with every supported classification model of the catalog
selected and ``--no-cache`` (so every launch analyses them all, cold, in the worker processes), and
while the status bar says "analysing", presses ``s`` (next sort key) again and again: latency is the
time from ``tmux send-keys`` until ``tmux capture-pane`` shows the new sort label (``sort: ...``) in
the table's corner. A report arriving changes rows, never that label, so only the key's repaint is
counted. A sample counts as "during analysis" when the status bar still says "analysing" on the
screen that shows the repaint. Launches repeat until enough samples are taken.

Baselines, same run: the same key on the same app once the analysis is over (the idle app: Textual's
own handling and repaint plus the tmux round trip), and the cost of one ``capture-pane`` and one
``send-keys`` (the polling floor: every figure includes about one of each, plus up to one poll
interval, 2 ms).

    python benchmarks/bench_tui_keys.py [--samples 100] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import measure  # noqa: E402
from bench_cold_all import KNOBS, ROOT, modeltui  # noqa: E402
from tuiterm import Term, torch_mapped  # noqa: E402

TARGET_P95_S = 0.1
KEY = "s"
CORNER = re.compile(r"(sort: \S+ [▲▼]|order: \S+)")
ANALYSING = "analysing"
READY = "q Quit"
#: pause between two captures while waiting for a repaint: keeps the harness off the 2 cores
POLL_S = 0.002


def corner(text: str) -> str | None:
    lines = text.splitlines()
    m = CORNER.search(lines[1]) if len(lines) > 1 else None
    return m.group(1) if m else None


def analysing(text: str) -> bool:
    lines = text.splitlines()
    return bool(lines) and ANALYSING in lines[0]


def press(term: Term, name: str) -> tuple[float, bool]:
    """Press ``KEY``; (seconds until the corner label changed, whether the app was still analysing)."""
    before = corner(term.screen(name))
    t0 = time.perf_counter()
    term.send(name, KEY)
    seen, text = term.wait_for(name, lambda s: corner(s) not in (None, before), timeout=10, interval=POLL_S)
    return seen - t0, analysing(text)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def catalog_models(env: dict[str, str]) -> list[str]:
    out = subprocess.run(
        [*modeltui(), "models", "--task", "classification", "--format", "json"],
        env=env,
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        check=True,
    )
    return [m["name"] for m in json.loads(out.stdout) if m.get("supported", True)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100, help="key presses during analysis, at least")
    ap.add_argument("--idle-samples", type=int, default=40)
    ap.add_argument("--max-launches", type=int, default=10)
    ap.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = ap.parse_args()

    print(measure.machine(), flush=True)
    cache = tempfile.mkdtemp(prefix="modeltui-bench-keys-")
    env = {k: v for k, v in os.environ.items() if k not in KNOBS}
    env["MODELTUI_CACHE_DIR"] = cache
    app_env = {"MODELTUI_CACHE_DIR": cache, "PATH": env.get("PATH", "")}
    models = catalog_models(env)
    term = Term(f"modeltui-bench-keys-{os.getpid()}")
    busy: list[float] = []
    idle: list[float] = []
    launches = 0
    torch_in_app = False
    rng = random.Random(5)
    try:
        floor_capture, floor_send = [], []
        for _ in range(50):
            t = time.perf_counter()
            term.screen("park")
            floor_capture.append(time.perf_counter() - t)
            t = time.perf_counter()
            term.send("park", "")
            floor_send.append(time.perf_counter() - t)
        while len(busy) < args.samples and launches < args.max_launches:
            name = f"run{launches}"
            launches += 1
            pid = term.start(name, [*modeltui(), *models, "--no-cache"], app_env)
            try:
                term.wait_for(name, lambda s: READY in s and corner(s) is not None)
                while True:
                    latency, during = press(term, name)
                    if not during:
                        break
                    busy.append(latency)
                    time.sleep(rng.uniform(0.0, 0.05))  # not in step with the app's refresh
                torch_in_app |= torch_mapped(pid)
                if launches == 1:
                    term.wait_for(name, lambda s: not analysing(s), timeout=120)
                    for _ in range(args.idle_samples):
                        idle.append(press(term, name)[0])
                        time.sleep(rng.uniform(0.0, 0.05))
            finally:
                term.stop(name, pid)
    finally:
        term.close()
        shutil.rmtree(cache, ignore_errors=True)

    headers = ["key s (next sort) -> repaint, 80x24 tmux", "p50 ms", "p95 ms", "max ms", "samples"]

    def row(label: str, values: list[float]) -> list[str]:
        return [
            label,
            f"{percentile(values, 50) * 1e3:.1f}",
            f"{percentile(values, 95) * 1e3:.1f}",
            f"{max(values) * 1e3:.1f}",
            str(len(values)),
        ]

    rows = [
        row(f"while the workers analyse {len(models)} models (--no-cache)", busy),
        row("baseline: idle app (analysis over)", idle),
        row("polling floor: one tmux capture-pane", floor_capture),
        row("polling floor: one tmux send-keys", floor_send),
    ]
    print(measure.table(headers, rows))
    print(f"({launches} launches of the app; each analyses the {len(models)} models from scratch)")
    p95 = percentile(busy, 95)
    checks = [
        (
            f"key-press latency p95 <= {TARGET_P95_S * 1e3:.0f} ms while analysing ({len(busy)} presses)",
            p95 <= TARGET_P95_S,
        ),
        (f"at least {args.samples} presses during analysis", len(busy) >= args.samples),
        ("torch not mapped in the app process (analysis in worker processes)", not torch_in_app),
    ]
    print()
    for what, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {what}")
    if args.json:
        out = {
            "machine": measure.machine(),
            "models": len(models),
            "launches": launches,
            "busy_s": busy,
            "idle_s": idle,
            "capture_s": floor_capture,
            "send_s": floor_send,
            "checks": {what: ok for what, ok in checks},
        }
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
