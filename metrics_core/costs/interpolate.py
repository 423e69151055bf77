"""Interpolation cost rules: ``upsample_*`` and ``grid_sampler_*``; MACs = 0.

Nearest-neighbour resampling is a gather (category ``data-movement``, 0 FLOPs). Linear-family modes
(category ``elementwise``) compute each output element as a weighted sum of ``T`` input taps:
FLOPs = ``2*T - 1`` per output element (T multiplies, T - 1 adds). Computing the source indices and
weights is not counted (it is per output position, shared by all channels).
"""

from __future__ import annotations

import math
from typing import Any

from metrics_core.costs._common import arg, out_numel
from metrics_core.costs.registry import CostFn, register

#: Input taps per output element of each linear-family upsampling op.
UPSAMPLE_TAPS: dict[str, int] = {
    "upsample_linear1d": 2,
    "upsample_bilinear2d": 4,
    "upsample_trilinear3d": 8,
    "upsample_bicubic2d": 16,
}

#: Taps of ``grid_sampler`` by ``interpolation_mode`` (0 bilinear, 1 nearest, 2 bicubic), 2-D then 3-D.
GRID_SAMPLER_TAPS_2D: dict[int, int] = {0: 4, 1: 1, 2: 16}
GRID_SAMPLER_TAPS_3D: dict[int, int] = {0: 8, 1: 1}


def weighted_sum_flops(taps: int) -> int:
    """FLOPs of one interpolated element from ``taps`` inputs: ``2*taps - 1``; 0 for a single tap (a copy)."""
    return 2 * taps - 1 if taps > 1 else 0


def _upsample_rule(op: str, taps: int) -> CostFn:
    per = weighted_sum_flops(taps)

    def rule(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
        return 0, per * out_numel(out)

    rule.__name__ = rule.__qualname__ = f"{op}_cost"
    rule.__doc__ = f"``{op}``: {taps} taps, FLOPs = 2*{taps} - 1 = {per} per output element; MACs = 0."
    return rule


for _op, _taps in UPSAMPLE_TAPS.items():
    register(_op, category="elementwise")(_upsample_rule(_op, _taps))


#: Kernel half-width (support) of the antialiased filters: triangle (bilinear) 1, cubic (bicubic) 2.
AA_SUPPORT: dict[str, int] = {"_upsample_bilinear2d_aa": 1, "_upsample_bicubic2d_aa": 2}


def _aa_rule(op: str, support: int) -> CostFn:
    def rule(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
        x = args[0]
        y = out if hasattr(out, "shape") else out[0]
        flops = 0
        for axis in (-2, -1):  # separable: a horizontal pass, then a vertical one
            scale = max(1.0, x.shape[axis] / y.shape[axis]) if y.shape[axis] else 1.0
            taps = 2 * support * math.ceil(scale)
            flops += weighted_sum_flops(taps)
        return 0, flops * out_numel(out)

    rule.__name__ = rule.__qualname__ = f"{op}_cost"
    rule.__doc__ = (
        f"``{op}`` (antialiased, separable): per output element and axis, ``T = 2*{support}*ceil(s)`` "
        "taps with s = max(1, input/output size) (the filter widens when downsampling), FLOPs = 2*T - 1; "
        "the two axes add; MACs = 0."
    )
    return rule


for _op, _support in AA_SUPPORT.items():
    register(_op, category="elementwise")(_aa_rule(_op, _support))


@register(
    "upsample_nearest1d",
    "upsample_nearest2d",
    "upsample_nearest3d",
    "_upsample_nearest_exact1d",
    "_upsample_nearest_exact2d",
    "_upsample_nearest_exact3d",
    category="data-movement",
)
def upsample_nearest_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Nearest-neighbour upsampling: a gather, (0, 0)."""
    return 0, 0


@register(
    "grid_sampler_2d",
    "cudnn_grid_sampler",
    "_grid_sampler_2d_cpu_fallback",
    "grid_sampler",
    category="elementwise",
)
def grid_sampler_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """``grid_sample`` (``interpolation_mode`` argument 2; ``cudnn_grid_sampler`` is bilinear): FLOPs =
    ``2*T - 1`` per output element with T = 4 bilinear, 16 bicubic (8 trilinear for a 5-D input),
    0 nearest; MACs = 0. Grid unnormalisation and padding handling are not counted."""
    mode = arg(args, kwargs, 2, "interpolation_mode", 0)
    taps = (GRID_SAMPLER_TAPS_3D if args[0].dim() == 5 else GRID_SAMPLER_TAPS_2D)[mode]
    return 0, weighted_sum_flops(taps) * out_numel(out)


@register("grid_sampler_3d", category="elementwise")
def grid_sampler_3d_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """3-D ``grid_sample``: FLOPs = 15 per output element trilinear (8 taps), 0 nearest; MACs = 0."""
    mode = arg(args, kwargs, 2, "interpolation_mode", 0)
    return 0, weighted_sum_flops(GRID_SAMPLER_TAPS_3D[mode]) * out_numel(out)
