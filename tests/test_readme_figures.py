"""README's quoted figures are regenerated from the commands they quote (``benchmarks/readme_figures.py``):
a figure that no longer matches its command's output fails here, with both texts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "readme_figures.py"


def _figures():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("readme_figures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FIGURES = _figures()


def test_every_marked_figure_has_a_generator():
    quoted = FIGURES.marked(FIGURES.README.read_text(encoding="utf-8"))
    assert (
        sorted(quoted)
        == sorted(FIGURES.FIGURES)
        == [
            "case-study",
            "clock-ratios",
            "conv1-overhead",
            "pareto-latency",
        ]
    )


@pytest.mark.parametrize("name", sorted(FIGURES.FIGURES))
def test_readme_figure_is_what_the_command_prints(name):
    stale = FIGURES.stale([name])
    assert not stale, (
        f"README figure {name!r} is stale:\n  README: {stale[name][0]!r}\n  now:    {stale[name][1]!r}"
    )
