"""Launching the app: argument errors before the terminal is taken, and no torch before first paint."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

FIRST_PAINT = textwrap.dedent(
    """
    import asyncio, sys
    from tui.app.application import ModeltuiApp

    async def main():
        app = ModeltuiApp()  # the real backend; no models: the catalog opens
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()  # the catalog loads in a thread worker
            await pilot.pause()
            rows = app.screen.query_one("GridTable").rows
            models = [r.key for r in rows if not r.key.startswith("§")]
            sections = [r.key for r in rows if r.key.startswith("§")]
            tv = sum(":" not in k for k in models) + sum("/" not in k.split("/", 1)[1] for k in sections)
            timm = sum(k.startswith("timm:") for k in models)
            hf = sum(k.startswith("hf:") for k in models)
            loaded = "torch" in sys.modules, "torchvision" in sys.modules
            print(type(app.screen).__name__, tv, timm, hf, *loaded)

    asyncio.run(main())
    """
)


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_first_screen_paints_without_torch():
    # MODELTUI_IN_PROCESS=1: no worker processes are warmed up (nothing is analysed in this test)
    out = _run(["-c", FIRST_PAINT], MODELTUI_IN_PROCESS="1")
    assert out.returncode == 0, out.stderr
    screen, tv_rows, timm_rows, hf_rows, torch_loaded, torchvision_loaded = out.stdout.split()
    assert screen == "CatalogScreen"
    # 121 catalog models (80 classification, 12 detection, 12 quantized, 9 video, 6 segmentation,
    # 2 optical flow) under one section row per task and family: 40 in the shipped catalog
    assert int(tv_rows) == 121 + 40
    # then every timm architecture and the 35 bundled Hugging Face configs (CI installs both); the timm
    # names come from an index built in a subprocess: the app process still has no torch
    from metrics_core.sources import timm_source

    assert (int(timm_rows), int(hf_rows)) == (len(timm_source.list_names()), 35)
    assert (torch_loaded, torchvision_loaded) == ("False", "False")


def test_unknown_model_fails_before_the_app_starts():
    out = _run(["-m", "tui", "resnet19"])
    assert out.returncode == 2
    assert out.stderr == "modeltui: error: unknown model 'resnet19'; did you mean resnet18, resnet101?\n"


def test_unknown_hardware_and_bad_options_fail_with_one_line():
    out = _run(["-m", "tui", "resnet18", "--hardware", "a100"])
    assert out.returncode == 2
    assert out.stderr.startswith("modeltui: error: unknown hardware 'a100'; did you mean a100-sxm4-80gb,")
    out = _run(["-m", "tui", "resnet18", "--batch-size", "0"])
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "expected a positive integer, got '0'" in out.stderr
