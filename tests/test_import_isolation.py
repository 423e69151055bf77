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


def test_a_command_line_naming_a_verb_imports_that_verb_only():
    """``modeltui llm ...`` parses with the ``llm`` verb's parser alone: the other verbs' modules (and
    what they import) are not loaded, and ``--version`` reads no distribution metadata until asked."""
    mods = _modules_after("import tui.cli; tui.cli.build_parser('llm')")
    assert "tui.cli.commands.llm" in mods
    assert not {"tui.cli.commands.compare", "tui.cli.commands.train", "tui.cli.commands.pareto"} & mods
    assert "importlib.metadata" not in mods and "torch" not in mods
