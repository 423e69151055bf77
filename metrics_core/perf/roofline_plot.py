"""ASCII roofline chart (plotext), returned as a string for the CLI and the TUI.

Log-log axes are drawn by plotting log10 of the data on linear axes and labelling the ticks with the
decades (plotext 5's own log scales crash on a second build). Without colour (``NO_COLOR`` set, or
``color=False``) the output has no ANSI escapes and stays readable: lines are braille dots, points
are letters, and a key under the chart says what each letter is.

Two model points close together can land on the same character cell, where the later letter hides the
earlier one. ``hidden_markers`` finds them (plotext's own data-to-cell rule, on the plot frame measured
in the built chart) and the key says so: ``B (under C): mobilenet_v2 ...``.
"""

from __future__ import annotations

import math
import os
import textwrap
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from metrics_core.common import units
from metrics_core.perf.cache import l2_aware
from metrics_core.perf.hardware import HardwareTarget
from metrics_core.perf.roofline import ModelEstimate

#: Marker letters for model points, in order (``R`` is kept for the ridge point).
MODEL_MARKERS = "ABCDEFGHIJKLMNOPQSTUVWXYZ"
RIDGE_MARKER = "R"
OP_MARKERS = {"compute": "c", "memory": "m", "overhead": "o"}
MIN_CHART_HEIGHT = 10
MIN_CHART_WIDTH = 30

# plotext draws on one global figure: builds from several threads (TUI workers) must take turns.
_PLOT_LOCK = threading.Lock()


@dataclass(frozen=True)
class RooflinePoint:
    """One point on the chart: arithmetic intensity (FLOP/byte) and attained FLOP/s (estimated)."""

    label: str
    ai: float
    flops_per_s: float
    #: The overhead floor's ceiling: FLOPs / overhead time (FLOP/s), the rate the point could not exceed
    #: even with infinite compute and bandwidth; None when it has no overhead.
    overhead_ceiling: float | None = None
    #: The estimate's bound (compute / memory / overhead), None: by AI against the ridge point.
    bound: str | None = None


def model_point(estimate: ModelEstimate, label: str | None = None) -> RooflinePoint:
    """A model's aggregate point: (total FLOPs / total bytes, FLOPs / estimated latency), with its overhead
    ceiling (FLOPs / the summed overhead time of its kernels) when it has overhead."""
    ceiling = estimate.flops / estimate.overhead_s if estimate.overhead_s > 0 and estimate.flops else None
    return RooflinePoint(
        label or estimate.model,
        estimate.aggregate_ai,
        estimate.attained_flops_per_s or 0.0,
        ceiling,
        estimate.bound,
    )


def op_points(estimate: ModelEstimate) -> list[RooflinePoint]:
    """One point per op that has FLOPs and bytes (others cannot sit on log axes), with its bound."""
    return [
        RooflinePoint(f"{o.index} {o.op}", o.ai, o.attained_flops_per_s, bound=o.bound)
        for o in estimate.ops
        if o.flops > 0 and o.bytes > 0
    ]


def _op_bound(p: RooflinePoint, ridge: float) -> str:
    return p.bound or ("compute" if p.ai >= ridge else "memory")


def render_roofline(
    target: HardwareTarget,
    precision: str,
    points: Sequence[RooflinePoint],
    width: int = 80,
    height: int = 24,
    per_op: bool = False,
    title: str | None = None,
    color: bool | None = None,
) -> str:
    """The chart plus its key, at most ``width`` x ``height`` characters when the key fits.

    ``per_op`` marks points ``c`` (compute-bound) / ``m`` (memory-bound) instead of one letter per
    point with a key line each. ``color`` None follows ``NO_COLOR``. Points with AI or FLOP/s <= 0
    are left out (they have no place on log axes).
    """
    with _PLOT_LOCK:
        return _render(target, precision, points, width, height, per_op, title, color)


def _render(
    target: HardwareTarget,
    precision: str,
    points: Sequence[RooflinePoint],
    width: int,
    height: int,
    per_op: bool,
    title: str | None,
    color: bool | None,
) -> str:
    import plotext as plt

    if color is None:
        color = not os.environ.get("NO_COLOR")
    width, height = max(width, MIN_CHART_WIDTH), max(height, MIN_CHART_HEIGHT)
    peak = target.peak_flops(precision)
    bw = target.bandwidth
    ridge = peak / bw
    shown = [p for p in points if p.ai > 0 and p.flops_per_s > 0]

    lx_ridge, ly_peak = math.log10(ridge), math.log10(peak)
    xs = [math.log10(p.ai) for p in shown]
    ys = [math.log10(p.flops_per_s) for p in shown]
    x_lo = min([math.floor(lx_ridge) - 2, *(math.floor(x) for x in xs)])
    x_hi = max([math.ceil(lx_ridge) + 2, *(math.ceil(x) for x in xs)])
    y_hi = math.floor(ly_peak) + 1
    y_lo = min([math.floor(math.log10(bw) + x_lo), *(math.floor(y) for y in ys)])

    # The key's length sets the chart's height, which moves the points between cells: rebuild until
    # the "under" notes in the key match the chart they describe (one build when nothing overlaps).
    lims = (x_lo, x_hi, y_lo, y_hi)
    under: dict[int, int] = {}
    for _ in range(4):
        key = _wrap(_key_lines(target, precision, shown, per_op, ridge, under), width)
        chart_h = max(height - len(key), MIN_CHART_HEIGHT)
        chart = _build(plt, target, precision, shown, xs, ys, lims, width, chart_h, per_op, title, color)
        plain = plt.uncolorize(chart) if color else chart
        found = {} if per_op else hidden_markers(plain, xs, ys, (x_lo, x_hi), (y_lo, y_hi))
        if found == under:
            break
        under = found
    return "\n".join([*(line.rstrip() for line in chart.splitlines()), *key])


def _build(
    plt,  # noqa: ANN001 - the plotext module
    target: HardwareTarget,
    precision: str,
    shown: Sequence[RooflinePoint],
    xs: Sequence[float],
    ys: Sequence[float],
    lims: tuple[int, int, int, int],
    width: int,
    chart_h: int,
    per_op: bool,
    title: str | None,
    color: bool,
) -> str:
    """One plotext build of the chart (without the key) on log10 data, axes ``lims`` (decades)."""
    x_lo, x_hi, y_lo, y_hi = lims
    bw = target.bandwidth
    ridge = target.peak_flops(precision) / bw
    lx_ridge, ly_peak = math.log10(ridge), math.log10(target.peak_flops(precision))
    plt.clear_figure()
    plt.limit_size(False, False)
    plt.plotsize(width, chart_h)
    plt.theme("clear")  # terminal's own background; colour only on lines and points

    def paint(name: str) -> dict[str, str]:
        return {"color": name} if color else {}

    # memory slope: log y = log bw + log x, from the bottom-left corner to the ridge point
    slope_x = _span(max(x_lo, y_lo - math.log10(bw)), lx_ridge)
    roof_x = _span(lx_ridge, x_hi)
    plt.plot(slope_x, [math.log10(bw) + x for x in slope_x], marker="braille", **paint("blue"))
    if l2_aware(target):  # the cache-aware roofline's L2 roof: a second slope at the L2 bandwidth
        l2bw = target.l2_bandwidth_gbps * 1e9
        l2_x = _span(max(x_lo, y_lo - math.log10(l2bw)), ly_peak - math.log10(l2bw))
        plt.plot(l2_x, [math.log10(l2bw) + x for x in l2_x], marker="·", **paint("cyan"))
    plt.plot(roof_x, [ly_peak] * len(roof_x), marker="braille", **paint("red"))
    plt.scatter([lx_ridge], [ly_peak], marker=RIDGE_MARKER, **paint("red"))
    if per_op:
        for bound, marker in OP_MARKERS.items():
            sel = [(x, y) for x, y, p in zip(xs, ys, shown, strict=True) if _op_bound(p, ridge) == bound]
            if sel:
                hue = {"compute": "green", "memory": "yellow", "overhead": "magenta"}[bound]
                plt.scatter([x for x, _ in sel], [y for _, y in sel], marker=marker, **paint(hue))
    else:
        # the overhead floor: a point's FLOPs over its overhead time caps its rate whatever the roofs
        for p in shown:
            if p.overhead_ceiling and y_lo <= math.log10(p.overhead_ceiling) <= y_hi:
                floor_x = _span(x_lo, x_hi)
                plt.plot(
                    floor_x, [math.log10(p.overhead_ceiling)] * len(floor_x), marker="·", **paint("magenta")
                )
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            plt.scatter([x], [y], marker=MODEL_MARKERS[i % len(MODEL_MARKERS)], **paint("green"))
    plt.xlim(x_lo, x_hi)
    plt.ylim(y_lo, y_hi)
    plt.xticks(*_ticks(x_lo, x_hi, max(2, width // 8)))
    plt.yticks(*_ticks(y_lo, y_hi, max(2, chart_h // 3)))
    plt.xlabel("arithmetic intensity (FLOP/byte, log)")
    plt.ylabel(f"{_rate_unit(precision)} (log)")
    text = title or f"{target.name}: {precision} roofline (estimates)"
    plt.title(text)
    chart = plt.build()
    while text not in plt.uncolorize(chart) and len(text) > 8:  # plotext drops a title wider than the
        text = text[: len(text) - 5].rstrip() + "..."  # plot: shorten it until it shows
        plt.title(text)
        chart = plt.build()
    if not color:
        chart = plt.uncolorize(chart)
    return chart


def _cell(value: float, lim: tuple[float, float], bins: int) -> int:
    """plotext's data-to-cell rule (``_utility.get_matrix_data``): the cell of ``value`` among
    ``bins`` cells spanning ``lim``."""
    return math.floor(round(0.5 + (bins - 1) * (value - lim[0]) / (lim[1] - lim[0]), 8))


def hidden_markers(
    chart: str,
    xs: Sequence[float],
    ys: Sequence[float],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
) -> dict[int, int]:
    """Points drawn on the same character cell as a later point, which hides them: {hidden point's
    index: index of the point on top}. ``chart`` is the built chart without colour; its plot frame
    (``┌┐`` to ``└``) gives the canvas size in cells. Empty when the frame is not found."""
    lines = chart.splitlines()
    top = next((i for i, line in enumerate(lines) if "┌" in line and "┐" in line), None)
    bottom = next((i for i, line in enumerate(lines) if "└" in line), None)
    if top is None or bottom is None or bottom - top < 2:
        return {}
    width = lines[top].index("┐") - lines[top].index("┌") - 1
    height = bottom - top - 1
    on_top: dict[tuple[int, int], int] = {}
    under: dict[int, int] = {}
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        cell = (_cell(x, xlim, width), _cell(y, ylim, height))
        if cell in on_top:
            under[on_top[cell]] = i
        on_top[cell] = i
    # a point under one that is itself hidden is under the last (visible) one of that cell
    for i, j in list(under.items()):
        while j in under:
            j = under[j]
        under[i] = j
    return under


def _wrap(lines: list[str], width: int) -> list[str]:
    """Key lines folded to ``width`` columns (continuations indented)."""
    out: list[str] = []
    for line in lines:
        out.extend(textwrap.wrap(line, width=max(width, 20), subsequent_indent="   ") or [""])
    return out


def _rate_unit(precision: str) -> str:
    """int8 peaks count integer ops, the others floating-point ops."""
    return "OP/s" if precision == "int8" else "FLOP/s"


def _span(a: float, b: float, n: int = 64) -> list[float]:
    """``n`` evenly spaced values from ``a`` to ``b`` (a line drawn as dense points)."""
    if b <= a:
        return [a]
    return [a + (b - a) * i / (n - 1) for i in range(n)]


def _ticks(lo: int, hi: int, max_ticks: int) -> tuple[list[int], list[str]]:
    """Integer decades from ``lo`` to ``hi`` (every k-th so at most ``max_ticks``), with labels."""
    step = max(1, math.ceil((hi - lo + 1) / max_ticks))
    pos = list(range(lo, hi + 1, step))
    return pos, [units.decade_label(k) for k in pos]


def _key_lines(
    target: HardwareTarget,
    precision: str,
    shown: Sequence[RooflinePoint],
    per_op: bool,
    ridge: float,
    under: dict[int, int] | None = None,
) -> list[str]:
    peak = units.human_rate(target.peak_flops(precision), _rate_unit(precision))
    lines = [
        f"slope: {units.fixed(target.memory_bandwidth_gbps, 1)} GB/s  roof: {precision} {peak}  "
        f"{RIDGE_MARKER}: ridge {units.fixed(ridge, 2)} FLOP/byte"
    ]
    if l2_aware(target):
        lines.append(f"···/: L2 slope {units.fixed(target.l2_bandwidth_gbps, 0)} GB/s (cache-aware roofline)")
    if per_op:
        n = {b: sum(1 for p in shown if _op_bound(p, ridge) == b) for b in OP_MARKERS}
        lines.append(
            f"{OP_MARKERS['compute']}: compute-bound op ({n['compute']})  "
            f"{OP_MARKERS['memory']}: memory-bound op ({n['memory']})  "
            f"{OP_MARKERS['overhead']}: overhead-bound op ({n['overhead']})"
        )
        return lines
    under = under or {}
    for i, p in enumerate(shown):
        marker = MODEL_MARKERS[i % len(MODEL_MARKERS)]
        if i in under:
            marker += f" (under {MODEL_MARKERS[under[i] % len(MODEL_MARKERS)]})"
        bound = f", {p.bound}-bound" if p.bound else ""
        lines.append(
            f"{marker}: {p.label}  AI {units.fixed(p.ai, 2)} FLOP/byte, "
            f"{units.human_rate(p.flops_per_s, _rate_unit(precision))} (est.){bound}"
        )
    ceilings = [(MODEL_MARKERS[i % len(MODEL_MARKERS)], p) for i, p in enumerate(shown) if p.overhead_ceiling]
    if ceilings:
        floors = ", ".join(
            f"{m} {units.human_rate(p.overhead_ceiling, _rate_unit(precision))}" for m, p in ceilings
        )
        lines.append(f"···: overhead floor (FLOPs / launch and host overhead time): {floors}")
    return lines
