"""FFT cost rules (category ``fft``); MACs = 0 (an FFT is no multiply-accumulate GEMM).

The standard convention (FFTW's benchmark "flops", and the usual radix-2 count): a complex transform of
``N`` points costs ``5 N log2 N`` real FLOPs; a real-input (``r2c``) or real-output (``c2r``) transform
half that, ``2.5 N log2 N``. A multi-dimensional transform over dims of sizes n1, n2, ... counts
``N = n1 * n2 * ...``. Each transform of the batch costs that; a normalisation (``norm`` other than
"backward" for a forward transform) adds one multiply per output element.
"""

from __future__ import annotations

import math
from typing import Any

from metrics_core.costs._common import arg, first_tensor
from metrics_core.costs.registry import register


def transform_flops(n: int, batches: int, real: bool) -> int:
    """``batches`` transforms of ``n`` points: ``5 n log2 n`` each (complex), half for a real side."""
    if n <= 1 or batches <= 0:
        return 0
    per = 5 * n * math.log2(n)
    return round(batches * (per / 2 if real else per))


def _points(t: Any, dims: Any) -> int:
    dims = [dims] if isinstance(dims, int) else list(dims)
    n = 1
    for d in dims:
        n *= t.shape[d]
    return n


def _normalised(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    return bool(arg(args, kwargs, 2, "normalization", 0))


@register("_fft_c2c", category="fft")
def fft_c2c_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Complex-to-complex FFT over ``dim``: FLOPs = ``5 N log2 N`` per transform (+ 1 per output
    element when normalised); MACs = 0."""
    x, dims = args[0], arg(args, kwargs, 1, "dim")
    n = _points(x, dims)
    flops = transform_flops(n, x.numel() // n if n else 0, real=False)
    return 0, flops + (first_tensor(out).numel() if _normalised(args, kwargs) else 0)


@register("_fft_r2c", category="fft")
def fft_r2c_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Real-to-complex FFT (``rfft``) over ``dim``: FLOPs = ``2.5 N log2 N`` per transform (N real
    input points), + 1 per output element when normalised; MACs = 0."""
    x, dims = args[0], arg(args, kwargs, 1, "dim")
    n = _points(x, dims)
    flops = transform_flops(n, x.numel() // n if n else 0, real=True)
    return 0, flops + (first_tensor(out).numel() if _normalised(args, kwargs) else 0)


@register("_fft_c2r", category="fft")
def fft_c2r_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Complex-to-real FFT (``irfft``) over ``dim``: FLOPs = ``2.5 N log2 N`` per transform (N real
    output points), + 1 per output element when normalised; MACs = 0."""
    y, dims = first_tensor(out), arg(args, kwargs, 1, "dim")
    n = _points(y, dims)
    flops = transform_flops(n, y.numel() // n if n else 0, real=True)
    return 0, flops + (y.numel() if _normalised(args, kwargs) else 0)
