"""The one place that turns numbers into human strings.

Conventions: counts use decimal prefixes (K = 1e3, M = 1e6, G = 1e9, T = 1e12, P = 1e15, E = 1e18);
parameter counts say B for billions (``human_params``: ``8.03B``, as model cards write them); bytes are
decimal (MB = 1e6 bytes, GB = 1e9) unless a function says MiB; MACs and FLOPs are never mixed: callers say
which. Samples per second have one format everywhere (``samples_per_s``).
"""

from __future__ import annotations

import math

_PREFIXES = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"))
_PARAM_PREFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))


def _scaled(n: float | None, digits: int, prefixes: tuple[tuple[float, str], ...]) -> str:
    if n is None:
        return "-"
    if isinstance(n, float) and not math.isfinite(n):
        return str(n)
    for scale, prefix in prefixes:
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f}{prefix}"
    return f"{n:.{digits}f}" if isinstance(n, float) and not float(n).is_integer() else f"{int(n)}"


def human_count(n: float | None, digits: int = 2) -> str:
    """MACs, FLOPs and other counts: ``11689512 -> '11.69M'``; ``8.12e15 -> '8.12P'``; ``999 -> '999'``;
    ``None -> '-'``."""
    return _scaled(n, digits, _PREFIXES)


def human_params(n: float | None, digits: int = 2) -> str:
    """A parameter count as model cards write it (B for billions): ``8030261248 -> '8.03B'``,
    ``11689512 -> '11.69M'``; ``None -> '-'``."""
    return _scaled(n, digits, _PARAM_PREFIXES)


def samples_per_s(v: float | None) -> str:
    """Samples (or tokens) per second, one format for every verb and the app: ``8486.9 -> '8.49K'``,
    ``12.345 -> '12.35'``, ``200.0 -> '200'``; ``None -> '-'``."""
    return human_count(v, 2)


def human_bytes(n: float | None, digits: int = 2) -> str:
    """Decimal bytes: ``46758048 -> '46.76 MB'``, ``3.34e18 -> '3.34 EB'``; ``None -> '-'``."""
    if n is None:
        return "-"
    for scale, unit in ((1e18, "EB"), (1e15, "PB"), (1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB")):
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f} {unit}"
    return f"{int(n)} B"


def mb(n_bytes: float) -> float:
    """Bytes to decimal megabytes (1 MB = 1e6 bytes)."""
    return n_bytes / 1e6


def human_mib(n: float | None, digits: int = 1) -> str:
    """Binary mebibytes, for operating-system memory readings: ``1048576 -> '1.0 MiB'``."""
    if n is None:
        return "-"
    return f"{n / 2**20:.{digits}f} MiB"


def fixed(x: float | None, digits: int = 2) -> str:
    """A plain number with fixed decimals; ``None -> '-'``."""
    if x is None:
        return "-"
    return f"{x:.{digits}f}"


def pct(x: float | None, digits: int = 1) -> str:
    """A percentage already scaled to 0-100: ``12.345 -> '12.3%'``."""
    if x is None:
        return "-"
    return f"{x:.{digits}f}%"


def human_time(seconds: float | None) -> str:
    """Seconds with a unit that reads: ``0.00123 -> '1.23 ms'``, ``4.5e-6 -> '4.50 us'``; from a minute
    up in minutes, hours and days (60 s, 3,600 s, 86,400 s): ``90 -> '1.50 min'``, ``7200 -> '2.00 h'``,
    ``102605373.57 -> '1,187.6 days'``."""
    if seconds is None:
        return "-"
    # a value a rounding error below a unit's boundary (a sum of 1e-6 that came to 9.999999e-7) takes
    # that unit: '1.00 us', never '1000.0 ns'
    at_least = seconds * (1 + 1e-9)
    if at_least >= 86_400:
        return f"{seconds / 86_400:,.1f} days"
    if at_least >= 3_600:
        return f"{seconds / 3_600:.2f} h"
    if at_least >= 60:
        return f"{seconds / 60:.2f} min"
    if at_least >= 1:
        return f"{seconds:.2f} s"
    if at_least >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    if at_least >= 1e-6:
        return f"{seconds * 1e6:.2f} us"
    return f"{seconds * 1e9:.1f} ns"


def human_energy(joules: float | None) -> str:
    """Joules with an SI prefix: ``0.0123 -> '12.30 mJ'``, ``2.5e-7 -> '250.00 nJ'``; None -> ``'-'``."""
    if joules is None:
        return "-"
    for scale, unit in ((1.0, "J"), (1e-3, "mJ"), (1e-6, "uJ")):
        if abs(joules) >= scale:
            return f"{joules / scale:.2f} {unit}"
    return f"{joules * 1e9:.2f} nJ"


def human_rate(flops_per_s: float | None, unit: str = "FLOP/s") -> str:
    """A rate with a decimal prefix: ``1.95e13 -> '19.50 TFLOP/s'``."""
    if flops_per_s is None:
        return "-"
    for scale, prefix in _PREFIXES:
        if abs(flops_per_s) >= scale:
            return f"{flops_per_s / scale:.2f} {prefix}{unit}"
    return f"{flops_per_s:.2f} {unit}"


def human_shape(shape: list[int] | tuple[int, ...] | None) -> str:
    """``[1, 64, 56, 56] -> '1x64x56x56'``; a scalar -> ``'()'``."""
    if shape is None:
        return "-"
    return "x".join(str(s) for s in shape) if len(shape) else "()"


_DECADE_PREFIXES = ((18, "E"), (15, "P"), (12, "T"), (9, "G"), (6, "M"), (3, "K"))


def decade_label(exponent: int) -> str:
    """Compact label of 10**exponent for log-axis ticks: ``-2 -> '0.01'``, ``2 -> '100'``, ``13 -> '10T'``."""
    if exponent < 0:
        return f"{10.0**exponent:.{-exponent}f}"
    for base, prefix in _DECADE_PREFIXES:
        if exponent >= base:
            return f"{10 ** (exponent - base)}{prefix}"
    return str(10**exponent)


def plain(x: float | None) -> str:
    """A figure as a data sheet writes it: up to 6 significant digits, no trailing zeros (``19.5``,
    ``0.154``, ``1978.9``); ``None -> '-'``."""
    if x is None:
        return "-"
    return f"{x:g}"


def times(x: float | None, digits: int = 2) -> str:
    """A ratio as a multiple: ``22.664 -> '22.66x'``; ``None -> '-'``."""
    if x is None:
        return "-"
    return f"{x:.{digits}f}x"
