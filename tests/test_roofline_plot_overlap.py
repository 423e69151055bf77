"""Roofline chart: model points on the same character cell are named in the key ("B (under C)")."""

from __future__ import annotations

import math

from metrics_core.perf.hardware import get_target
from metrics_core.perf.roofline_plot import MODEL_MARKERS, RooflinePoint, hidden_markers, render_roofline

# The four recorded models on a T4 at fp32 (8.1 TFLOP/s, 320 GB/s, ridge 25.31 FLOP/byte), as
# `modeltui roofline ... --hardware t4` places them (aggregate AI, estimated FLOP/s).
T4_POINTS = [
    RooflinePoint("resnet18", 31.15, 5.82e12),
    RooflinePoint("mobilenet_v2", 3.70, 1.18e12),
    RooflinePoint("efficientnet_b0", 3.98, 1.27e12),
    RooflinePoint("squeezenet1_0", 16.06, 3.76e12),
]


def frame(chart: str) -> tuple[list[str], int, int, int, int]:
    """(lines, top, bottom, left, width) of the plot frame of a colourless chart."""
    lines = chart.splitlines()
    top = next(i for i, line in enumerate(lines) if "┌" in line)
    bottom = next(i for i, line in enumerate(lines) if "└" in line)
    left = lines[top].index("┌")
    return lines, top, bottom, left, lines[top].index("┐") - left - 1


def test_two_models_on_one_cell_are_named_in_the_key():
    # At 80x24 the frame holds 74 x 14 cells; the axes span AI 10^-1..10^4 (ridge 10^1.40, two decades
    # either side) and 10^10..10^13 FLOP/s. plotext's cell of v in [lo, hi] over n cells is
    # floor(0.5 + (n - 1)(v - lo)/(hi - lo)):
    #   mobilenet_v2:    x 0.5 + 73 (log10 3.70 + 1)/5 = 23.39 -> 23; y 0.5 + 13 (12.072 - 10)/3 = 9.48 -> 9
    #   efficientnet_b0: x 0.5 + 73 (log10 3.98 + 1)/5 = 23.86 -> 23; y 0.5 + 13 (12.104 - 10)/3 = 9.62 -> 9
    # (12.072 = log10 1.18e12, 12.104 = log10 1.27e12)
    # so C (drawn later) hides B.
    out = render_roofline(get_target("t4"), "fp32", T4_POINTS, 80, 24, color=False)
    lines, top, bottom, _, width = frame(out)
    assert (width, bottom - top - 1) == (74, 14)
    assert lines[-4:] == [
        "A: resnet18  AI 31.15 FLOP/byte, 5.82 TFLOP/s (est.)",
        "B (under C): mobilenet_v2  AI 3.70 FLOP/byte, 1.18 TFLOP/s (est.)",
        "C: efficientnet_b0  AI 3.98 FLOP/byte, 1.27 TFLOP/s (est.)",
        "D: squeezenet1_0  AI 16.06 FLOP/byte, 3.76 TFLOP/s (est.)",
    ]
    body = "\n".join(lines[top:bottom])
    assert "B" not in body and "C" in body
    assert len(lines) == 24


def test_computed_cells_are_where_plotext_draws_the_markers():
    # well apart: every letter is visible, at the cell hidden_markers computes for it
    points = [
        RooflinePoint("a", 0.5, 5e11),
        RooflinePoint("b", 5.0, 4e12),
        RooflinePoint("c", 200.0, 1.5e13),
        RooflinePoint("d", 2000.0, 1.9e13),
    ]
    # A100 fp32, ridge 12.54: x from 10^-1 to 10^4; y from 10^11 (the slope at x = 0.1: 155.5 GFLOP/s)
    # to 10^14 (one decade above the 19.5 TFLOP/s roof)
    target = get_target("a100-pcie-40gb")
    for size in ((80, 24), (120, 40), (200, 50)):
        out = render_roofline(target, "fp32", points, *size, color=False)
        lines, top, bottom, left, width = frame(out)
        height = bottom - top - 1
        xs = [math.log10(p.ai) for p in points]
        ys = [math.log10(p.flops_per_s) for p in points]
        assert hidden_markers("\n".join(lines), xs, ys, (-1, 4), (11, 14)) == {}
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            col = math.floor(0.5 + (width - 1) * (x + 1) / 5)
            row = math.floor(0.5 + (height - 1) * (y - 11) / 3)
            assert lines[bottom - 1 - row][left + 1 + col] == MODEL_MARKERS[i], (size, i)
        assert "under" not in out


def test_three_points_on_one_cell_and_colour_output():
    same = [RooflinePoint(name, 4.0, 2e12) for name in ("x", "y", "z")]
    for color in (False, True):
        out = render_roofline(get_target("a100-pcie-40gb"), "fp32", same, 80, 24, color=color)
        key = out.splitlines()[-3:]
        assert [line.split(":")[0] for line in key] == ["A (under C)", "B (under C)", "C"]


def test_per_op_charts_are_not_annotated():
    ops = [RooflinePoint(f"{i} conv", 4.0, 2e12) for i in range(3)]
    out = render_roofline(get_target("a100-pcie-40gb"), "fp32", ops, 80, 24, per_op=True, color=False)
    assert "under" not in out
