"""Interpolation cost rules: ``upsample_*`` and ``grid_sampler_*``; MACs = 0.

Nearest-neighbour resampling is a gather (category ``data-movement``, 0 FLOPs). Linear-family modes
(category ``elementwise``) compute each output element as a weighted sum of ``T`` input taps:
FLOPs = ``2*T - 1`` per output element (T multiplies, T - 1 adds). Computing the source indices and
weights is not counted (it is per output position, shared by all channels).
"""

from __future__ import annotations

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


#: Filter size (``interp_size``) of the antialiased filters at scale 1: triangle (bilinear) 2 taps,
#: cubic (bicubic) 4 taps. When downsampling by ``s`` the filter widens to ``interp_size * s`` input pixels.
AA_INTERP_SIZE: dict[str, int] = {"_upsample_bilinear2d_aa": 2, "_upsample_bicubic2d_aa": 4}


def aa_taps(
    in_size: int, out_size: int, interp_size: int, scale: float | None = None, align_corners: bool = False
) -> list[int]:
    """Input taps of each output position of one antialiased pass along an axis, as PyTorch computes its
    windows (``HelperInterpBase::_compute_indices_min_size_weights_aa``, ``UpSampleKernel.cpp``):
    ``s`` = ``(in-1)/(out-1)`` with ``align_corners``, else ``1/scale`` when a scale factor was given,
    else ``in/out`` (``area_pixel_compute_scale``);
    ``support = interp_size/2 * max(s, 1)``; output ``i``'s window is centred at ``c = s*(i + 0.5)``,
    ``xmin = max(trunc(c - support + 0.5), 0)``, ``xsize = min(trunc(c + support + 0.5), in) - xmin``.
    Windows are clipped at the borders, so edge outputs have fewer taps. Every tap in the window is
    multiplied (a zero weight too)."""
    if align_corners:
        s = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    else:
        s = 1.0 / scale if scale else in_size / out_size
    support = interp_size / 2 * (s if s >= 1.0 else 1.0)
    taps = []
    for i in range(out_size):
        center = s * (i + 0.5)
        xmin = max(int(center - support + 0.5), 0)
        taps.append(min(int(center + support + 0.5), in_size) - xmin)
    return taps


def aa_flops_per_plane(
    in_hw: tuple[int, int],
    out_hw: tuple[int, int],
    interp_size: int,
    scales: tuple[float | None, float | None] = (None, None),
    align_corners: bool = False,
) -> int:
    """FLOPs of one antialiased 2-D resize of one ``H x W`` plane: PyTorch resamples separably, first
    the last axis (``H_in`` rows of ``W_out`` outputs), then the height (``W_out`` columns of ``H_out``
    outputs); an axis whose size does not change is skipped. An output of ``T`` taps costs ``2*T - 1``.

    16x16 -> 8x8 bilinear: taps per axis ``[3, 4, 4, 4, 4, 4, 4, 3]`` (30 taps, 8 outputs: 52 FLOPs per
    row), width pass 16 rows x 52 = 832, height pass 8 columns x 52 = 416: 1,248 per plane."""
    (h_in, w_in), (h_out, w_out) = in_hw, out_hw
    flops = 0
    rows = h_in  # the width pass runs on every input row
    for size_in, size_out, scale, lines in ((w_in, w_out, scales[1], None), (h_in, h_out, scales[0], w_out)):
        if size_in == size_out:
            continue
        taps = aa_taps(size_in, size_out, interp_size, scale, align_corners)
        per_line = sum(2 * t - 1 for t in taps)  # T multiplies (a 1-tap edge too), T - 1 adds
        flops += per_line * (rows if lines is None else lines)
    return flops


def _aa_rule(op: str, interp_size: int) -> CostFn:
    def rule(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
        x = args[0]
        y = out if hasattr(out, "shape") else out[0]
        scales = (arg(args, kwargs, 3, "scales_h", None), arg(args, kwargs, 4, "scales_w", None))
        planes = y.numel() // max(1, y.shape[-2] * y.shape[-1]) if y.numel() else 0
        corners = bool(arg(args, kwargs, 2, "align_corners", False))
        per_plane = aa_flops_per_plane(tuple(x.shape[-2:]), tuple(y.shape[-2:]), interp_size, scales, corners)
        return 0, planes * per_plane

    rule.__name__ = rule.__qualname__ = f"{op}_cost"
    rule.__doc__ = (
        f"``{op}`` (antialiased, separable, filter size {interp_size}): per plane, a width pass over "
        "``H_in`` rows then a height pass over ``W_out`` columns; each output costs ``2*T - 1`` with T its "
        "clipped window (``aa_taps``: ``support = interp_size/2 * max(in/out, 1)``); MACs = 0."
    )
    return rule


for _op, _interp in AA_INTERP_SIZE.items():
    register(_op, category="elementwise")(_aa_rule(_op, _interp))


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
