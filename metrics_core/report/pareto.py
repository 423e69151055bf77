"""Pareto frontier of models on two axes (a cost and an accuracy), and its ASCII scatter chart.

A model **dominates** another when it is at least as good on both axes and strictly better on one
("good" is lower for costs such as latency, higher for accuracy and throughput). The **frontier** is the
set of models no other model dominates. Consequences, all intended: identical points do not dominate
each other (both are on the frontier); of two models with the same cost the less accurate one is
dominated; a single model is its own frontier; a model without a value on either axis is left out
(neither plotted nor on the frontier) and listed as such.

Rows are plain mappings (``metrics_core.perf.tradeoff.tradeoff_rows`` builds them from reports and a
target); the axes name their keys. Nothing here imports torch.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from metrics_core.common import units
from metrics_core.common.errors import UsageError


def _per_second(v: float | None) -> str:
    return "-" if v is None else f"{units.samples_per_s(v)}/s"


def joules(j: float | None) -> str:
    """Joules with an SI prefix (``units.human_energy``)."""
    return units.human_energy(j)


@dataclass(frozen=True)
class Axis:
    """One axis: the row key it reads, its label with units, whether higher is better, a formatter."""

    name: str
    key: str
    label: str
    higher_is_better: bool
    fmt: Callable[[Any], str]
    #: needs a hardware target (roofline estimates)
    needs_target: bool = False

    @property
    def short(self) -> str:
        """The label without its parenthesis, for running text: ``peak memory: weights + activations``,
        ``top-1 %``, ``latency``."""
        return self.label.split(" (", 1)[0]


#: Cost axes (``--x``): latency, energy and throughput are estimates on the target.
X_AXES: dict[str, Axis] = {
    "latency": Axis("latency", "latency_s", "latency (est.)", False, units.human_time, True),
    "throughput": Axis("throughput", "throughput_per_s", "samples/s (est.)", True, _per_second, True),
    "macs": Axis("macs", "macs", "MACs", False, units.human_count),
    "params": Axis("params", "params", "parameters", False, units.human_params),
    "memory": Axis("memory", "memory_bytes", "memory traffic (B)", False, units.human_bytes),
    "peak_memory": Axis(
        "peak_memory",
        "peak_memory_bytes",
        "peak memory: weights + activations (est.)",
        False,
        units.human_bytes,
    ),
    "energy": Axis(
        "energy",
        "energy_per_sample_j",
        "energy/sample (est., upper bound at board power)",
        False,
        joules,
        True,
    ),
}

#: Accuracy axes (``--y``): published ImageNet-1k top-1 / top-5, percent.
Y_AXES: dict[str, Axis] = {
    "acc1": Axis("acc1", "acc1", "top-1 % (ImageNet-1k)", True, partial(units.fixed, digits=3)),
    "acc5": Axis("acc5", "acc5", "top-5 % (ImageNet-1k)", True, partial(units.fixed, digits=3)),
}


def x_axis(name: str) -> Axis:
    """The ``--x`` axis by name; ``UsageError`` naming the accepted ones."""
    if name not in X_AXES:
        raise UsageError(f"unknown x axis {name!r}; choose one of {', '.join(X_AXES)}")
    return X_AXES[name]


def y_axis(name: str) -> Axis:
    """The ``--y`` axis by name; ``UsageError`` naming the accepted ones."""
    if name not in Y_AXES:
        raise UsageError(f"unknown y axis {name!r}; choose one of {', '.join(Y_AXES)}")
    return Y_AXES[name]


def frontier_flags(
    points: Sequence[tuple[float | None, float | None]],
    x_higher_better: bool = False,
    y_higher_better: bool = True,
) -> list[bool]:
    """For each (x, y): True when no other point dominates it (module doc); False when x or y is None.

    Sorted sweep, O(n log n): with both axes turned into "lower is better", a point is on the frontier
    iff its y is the best y among the points with the same x, and strictly better than the best y of
    every point with a strictly better x.
    """
    sx = -1.0 if x_higher_better else 1.0
    sy = -1.0 if y_higher_better else 1.0
    valid = [
        (sx * x, sy * y, i)
        for i, (x, y) in enumerate(points)
        if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)
    ]
    valid.sort()
    flags = [False] * len(points)
    best_before = math.inf  # best (lowest) y among strictly smaller x
    i = 0
    while i < len(valid):
        j = i
        while j < len(valid) and valid[j][0] == valid[i][0]:
            j += 1
        group_best = valid[i][1]  # sorted by y within the same x
        if group_best < best_before:
            for _, y, idx in valid[i:j]:
                if y == group_best:
                    flags[idx] = True
        best_before = min(best_before, group_best)
        i = j
    return flags


@dataclass(frozen=True)
class ParetoPoint:
    model: str
    x: float
    y: float
    on_frontier: bool


@dataclass(frozen=True)
class ParetoResult:
    """The plotted points (frontier flags set) and the models left out for want of a value."""

    x: Axis
    y: Axis
    points: tuple[ParetoPoint, ...]
    missing: tuple[tuple[str, str], ...]  # (model, why)

    @property
    def frontier(self) -> list[ParetoPoint]:
        """Frontier points from the cheapest (best x) to the dearest."""
        pts = [p for p in self.points if p.on_frontier]
        return sorted(pts, key=lambda p: (-p.x if self.x.higher_is_better else p.x, p.y))


def pareto(rows: Sequence[Mapping[str, Any]], x: Axis, y: Axis) -> ParetoResult:
    """The frontier of ``rows`` (each with ``model`` and the axes' keys) on ``x`` against ``y``."""
    pts, missing = [], []
    for row in rows:
        xv, yv = row.get(x.key), row.get(y.key)
        if xv is None or yv is None:
            what = [a.name for a, v in ((x, xv), (y, yv)) if v is None]
            missing.append((row["model"], f"no {' or '.join(what)}"))
            continue
        pts.append((row["model"], float(xv), float(yv)))
    flags = frontier_flags([(p[1], p[2]) for p in pts], x.higher_is_better, y.higher_is_better)
    points = tuple(ParetoPoint(m, xv, yv, f) for (m, xv, yv), f in zip(pts, flags, strict=True))
    return ParetoResult(x, y, points, tuple(missing))


# ---------------------------------------------------------------------------------------- the chart

#: Frontier points get letters (the key below the chart names them); dominated points a dot.
MARKERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
DOMINATED = "."
LINE = "-"
#: A positive x range wider than this factor is drawn on a log scale.
LOG_RANGE = 20.0


def markers(result: ParetoResult) -> dict[str, str]:
    """Model -> its letter on the chart: frontier points in frontier order, A, B, ... (``*`` past 52)."""
    return {p.model: MARKERS[i] if i < len(MARKERS) else "*" for i, p in enumerate(result.frontier)}


def use_log_x(xs: Sequence[float]) -> bool:
    """Log x when every value is > 0 and max / min exceeds ``LOG_RANGE``."""
    return bool(xs) and min(xs) > 0 and max(xs) / min(xs) > LOG_RANGE


def render_scatter(result: ParetoResult, width: int = 78, height: int = 20, key: bool = True) -> str:
    """An ASCII scatter of the points (plain ASCII: '.', letters, '-'): x across (log when the range is
    wide), y up; frontier points lettered and joined by a line in frontier order; a key below, which names
    the letter drawn over a frontier point that shares its cell (``B model (under C)``)."""
    pts = list(result.points)
    if not pts:
        return "(no point to plot)"
    xs = [p.x for p in pts]
    log = use_log_x(xs)
    tx = (lambda v: math.log10(v)) if log else (lambda v: v)
    ylabels_w = 8
    plot_w = max(10, width - ylabels_w - 1)
    plot_h = max(4, height - 3)
    x0, x1 = min(tx(v) for v in xs), max(tx(v) for v in xs)
    y0, y1 = min(p.y for p in pts), max(p.y for p in pts)
    if x1 == x0:  # one x value: a range around it on its own scale (half a decade, or +-50 %)
        spread = 0.5 if log else (abs(x0) * 0.5 or 1.0)
        x0, x1 = x0 - spread, x1 + spread
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1

    def col(v: float) -> int:
        return round((tx(v) - x0) / (x1 - x0) * (plot_w - 1))

    def row(v: float) -> int:
        return plot_h - 1 - round((v - y0) / (y1 - y0) * (plot_h - 1))

    grid = [[" "] * plot_w for _ in range(plot_h)]
    front = result.frontier
    for a, b in zip(front, front[1:], strict=False):  # the frontier line, under the points
        ca, ra, cb, rb = col(a.x), row(a.y), col(b.x), row(b.y)
        steps = max(abs(cb - ca), abs(rb - ra), 1)
        for s in range(steps + 1):
            c = round(ca + (cb - ca) * s / steps)
            r = round(ra + (rb - ra) * s / steps)
            grid[r][c] = LINE
    for p in pts:
        if not p.on_frontier:
            c, r = col(p.x), row(p.y)
            if grid[r][c] == " " or grid[r][c] == LINE:
                grid[r][c] = DOMINATED
    letters = markers(result)
    cells = {p.model: (row(p.y), col(p.x)) for p in front}
    for p in front:  # in frontier order: the last point of a cell is the one drawn
        grid[cells[p.model][0]][cells[p.model][1]] = letters[p.model]
    visible = {cell: model for model, cell in cells.items()}
    hidden = {m: letters[visible[c]] for m, c in cells.items() if visible[c] != m}  # m -> the letter over it
    lines = []
    for r in range(plot_h):
        yv = y1 - (y1 - y0) * r / (plot_h - 1)
        label = result.y.fmt(yv) if r in (0, plot_h // 2, plot_h - 1) else ""
        lines.append(f"{label[:ylabels_w]:>{ylabels_w}}|" + "".join(grid[r]))
    lines.append(" " * ylabels_w + "+" + "-" * plot_w)
    lines.append(" " * (ylabels_w + 1) + _x_ticks(x0, x1, plot_w, log, result.x.fmt))
    title = [f"y: {result.y.label}", f"x: {result.x.label}{' (log scale)' if log else ''}"]
    if len("   ".join(title)) <= width:
        title = ["   ".join(title)]
    out = [*title, *lines]
    if key:
        text = f"frontier ({len(front)} of {len(pts)}; '.' dominated): " + ", ".join(
            f"{letters[p.model]} {p.model}" + (f" (under {hidden[p.model]})" if p.model in hidden else "")
            for p in front
        )
        out.extend(textwrap.wrap(text, width, subsequent_indent="  "))
    return "\n".join(out)


def _x_ticks(x0: float, x1: float, width: int, log: bool, fmt: Callable[[Any], str]) -> str:
    """Tick labels at the left end, middle and right end of the x axis."""
    line = [" "] * width
    for frac in (0.0, 0.5, 1.0):
        t = x0 + (x1 - x0) * frac
        text = fmt(10**t if log else t)
        start = min(max(0, round(frac * (width - 1)) - (len(text) // 2 if frac else 0)), width - len(text))
        if frac == 1.0:
            start = width - len(text)
        if all(c == " " for c in line[max(0, start - 1) : start + len(text) + 1]):
            line[start : start + len(text)] = list(text)
    return "".join(line).rstrip()
