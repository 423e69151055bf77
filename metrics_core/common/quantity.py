"""Quantities typed by people: ``5ms``, ``1000/s``, ``4GB``, ``25M``, ``75%`` to plain SI numbers.

Used by ``modeltui pick``'s constraints. Conventions (the same as every table):

- time -> seconds: ``s``, ``ms`` (1e-3), ``us`` / ``µs`` (1e-6), ``ns`` (1e-9); a unit is required.
- rate -> per second: ``1000/s``, ``1.5K/s``, ``1000`` (a bare count is per second); count prefixes below.
- bytes -> bytes: ``B``; decimal ``KB`` ``MB`` ``GB`` ``TB`` (1e3 ...), binary ``KiB`` ``MiB`` ``GiB``
  ``TiB`` (2**10 ...); a unit is required.
- count -> a number: ``25M``, ``1.5G``, ``500K``, ``3e6``, ``25000000``; ``K`` 1e3, ``M`` 1e6, ``G`` or
  ``B`` (billion) 1e9, ``T`` 1e12 (decimal, like ``units.human_count``).
- percent -> 0-100: ``75`` or ``75%``.

Units are case-insensitive except ``B`` bytes vs ``b`` (not accepted, to avoid bits). Each parser raises
``UsageError`` with one line that names what it accepts. Standard library only.
"""

from __future__ import annotations

import math
import re

from metrics_core.common.errors import UsageError

#: time unit -> seconds
TIME_UNITS: dict[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
#: byte unit (lower case) -> bytes
BYTE_UNITS: dict[str, float] = {
    "b": 1.0,
    "kb": 1e3,
    "mb": 1e6,
    "gb": 1e9,
    "tb": 1e12,
    "kib": 2.0**10,
    "mib": 2.0**20,
    "gib": 2.0**30,
    "tib": 2.0**40,
}
#: count prefix (upper case) -> multiplier
COUNT_PREFIXES: dict[str, float] = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "B": 1e9, "T": 1e12}

_NUMBER = r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
_SPLIT = re.compile(rf"^\s*{_NUMBER}\s*([A-Za-zµ%/]*(?:/\s*s(?:ec)?)?)\s*$")

TIME_HINT = "a time such as 5ms, 500us or 0.2s"
RATE_HINT = "a rate such as 1000/s, 2.5K/s or 1000 (per second)"
BYTES_HINT = "a size such as 4GB, 512MB or 2GiB (MB/GB decimal, MiB/GiB binary)"
COUNT_HINT = "a count such as 25M, 1.5G, 500K or 3e6"
PERCENT_HINT = "a percentage such as 75 or 75%"


def _split(text: str, what: str, hint: str) -> tuple[float, str]:
    m = _SPLIT.match(str(text))
    if not m:
        raise UsageError(f"{what} {text!r}: expected {hint}")
    value = float(m.group(1))
    if not math.isfinite(value):
        raise UsageError(f"{what} {text!r}: expected {hint}")
    return value, m.group(2).replace(" ", "")


def parse_time(text: str, what: str = "time") -> float:
    """Seconds: ``'5ms' -> 0.005``, ``'500us' -> 0.0005``, ``'0.2 s' -> 0.2``. A unit is required."""
    value, unit = _split(text, what, TIME_HINT)
    factor = TIME_UNITS.get(unit.lower() if unit != "µs" else unit)
    if factor is None:
        raise UsageError(f"{what} {text!r}: expected {TIME_HINT}")
    return value * factor


def parse_rate(text: str, what: str = "rate") -> float:
    """Per second: ``'1000/s' -> 1000``, ``'2.5K/s' -> 2500``, ``'1000' -> 1000``."""
    value, unit = _split(text, what, RATE_HINT)
    unit = re.sub(r"/s(ec)?$", "", unit, flags=re.IGNORECASE)
    factor = COUNT_PREFIXES.get(unit.upper()) if unit.upper() != "B" else None
    if factor is None:
        raise UsageError(f"{what} {text!r}: expected {RATE_HINT}")
    return value * factor


def parse_bytes(text: str, what: str = "size") -> float:
    """Bytes: ``'4GB' -> 4e9``, ``'2GiB' -> 2147483648``, ``'512 MB' -> 5.12e8``. A unit is required;
    ``b`` (bits) is refused."""
    value, unit = _split(text, what, BYTES_HINT)
    if not unit or unit[-1] != "B":
        raise UsageError(f"{what} {text!r}: expected {BYTES_HINT}")
    factor = BYTE_UNITS.get(unit.lower())
    if factor is None:
        raise UsageError(f"{what} {text!r}: expected {BYTES_HINT}")
    return value * factor


def parse_count(text: str, what: str = "count") -> float:
    """A count: ``'25M' -> 25e6``, ``'1.5G' -> 1.5e9``, ``'500K' -> 5e5``, ``'3e6' -> 3e6``."""
    value, unit = _split(text, what, COUNT_HINT)
    factor = COUNT_PREFIXES.get(unit.upper())
    if factor is None:
        raise UsageError(f"{what} {text!r}: expected {COUNT_HINT}")
    return value * factor


def parse_percent(text: str, what: str = "percentage") -> float:
    """0-100: ``'75' -> 75.0``, ``'75%' -> 75.0``; outside 0-100 is refused."""
    value, unit = _split(text, what, PERCENT_HINT)
    if unit not in ("", "%") or not 0 <= value <= 100:
        raise UsageError(f"{what} {text!r}: expected {PERCENT_HINT}")
    return value
