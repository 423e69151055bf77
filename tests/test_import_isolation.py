"""Boundaries: metrics_core never imports textual; start-up paths never import torch."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_metrics_core_does_not_import_textual():
    mods = _modules_after(
        "import metrics_core, metrics_core.runtime.analyze, metrics_core.common.records, "
        "metrics_core.sources.catalog"
    )
    assert "textual" not in mods


def test_cli_startup_imports_no_torch():
    mods = _modules_after("import tui.cli; tui.cli.build_parser()")
    assert "torch" not in mods and "torchvision" not in mods and "textual" not in mods
