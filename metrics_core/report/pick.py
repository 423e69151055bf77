"""Choose models by constraint: those that meet every limit, best first by an objective, and the
closest misses with the constraint that binds them.

Constraints (each optional; the text as typed is parsed by ``metrics_core.common.quantity``):

=================== ====================== =========================================================
option              row key                meaning
=================== ====================== =========================================================
``--max-latency``   ``latency_s``          estimated latency of one batch <= limit (``5ms``, ``500us``)
``--min-throughput````throughput_per_s``   estimated samples/s >= limit (``1000/s``, ``2K/s``)
``--max-memory``    ``peak_memory_bytes``  weights + peak activations <= limit (``4GB``, ``2GiB``)
``--max-params``    ``params``             parameter count <= limit (``25M``, ``1.5G``)
``--min-acc1``      ``acc1``               published ImageNet-1k top-1 % >= limit (``75``)
=================== ====================== =========================================================

A model whose value is unknown for a constraint (no published accuracy, no estimate) does not meet it.
A miss is measured by its relative excess over the limit: ``value / limit - 1`` for a maximum,
``limit / value - 1`` for a minimum (infinite when unknown); the **binding** constraint of a model is
the one it misses by most, and the closest misses are those whose binding excess is smallest.

Objectives (``--by``): ``acc1`` (highest first; the default), ``latency`` (lowest), ``energy`` (lowest
energy per sample, an upper bound at board power). Ties keep the catalog order. Rows come from
``metrics_core.perf.tradeoff``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from metrics_core.common import quantity, units
from metrics_core.common.errors import UsageError
from metrics_core.report.pareto import joules


def _per_second(v: float | None) -> str:
    return "-" if v is None else f"{units.samples_per_s(v)}/s"


@dataclass(frozen=True)
class ConstraintKind:
    option: str
    key: str
    is_max: bool
    parse: Callable[[str, str], float]
    fmt: Callable[[Any], str]
    label: str


#: The constraint kinds by option name (without dashes, as argparse stores them).
KINDS: dict[str, ConstraintKind] = {
    "max_latency": ConstraintKind(
        "--max-latency", "latency_s", True, quantity.parse_time, units.human_time, "latency"
    ),
    "min_throughput": ConstraintKind(
        "--min-throughput", "throughput_per_s", False, quantity.parse_rate, _per_second, "throughput"
    ),
    "max_memory": ConstraintKind(
        "--max-memory", "peak_memory_bytes", True, quantity.parse_bytes, units.human_bytes, "memory"
    ),
    "max_params": ConstraintKind(
        "--max-params", "params", True, quantity.parse_count, units.human_params, "params"
    ),
    "min_acc1": ConstraintKind(
        "--min-acc1", "acc1", False, quantity.parse_percent, lambda v: units.fixed(v, 3), "acc1"
    ),
}

#: ``--by``: objective -> (row key, highest first?)
OBJECTIVES: dict[str, tuple[str, bool]] = {
    "acc1": ("acc1", True),
    "latency": ("latency_s", False),
    "energy": ("energy_per_sample_j", False),
}
OBJECTIVE_FORMAT: dict[str, Callable[[Any], str]] = {
    "acc1": lambda v: units.fixed(v, 3),
    "latency": units.human_time,
    "energy": joules,
}

#: How many near misses ``pick`` reports.
NEAR_MISSES = 5


@dataclass(frozen=True)
class Constraint:
    kind: ConstraintKind
    limit: float
    text: str

    def excess(self, value: float | None) -> float:
        """Relative excess over the limit (<= 0: met); infinite when the value is unknown."""
        if value is None:
            return math.inf
        if self.kind.is_max:
            return value / self.limit - 1.0 if self.limit > 0 else (math.inf if value > 0 else 0.0)
        if value <= 0:
            return math.inf if self.limit > 0 else 0.0
        return self.limit / value - 1.0

    def describe(self) -> str:
        """``latency <= 5.00 ms``."""
        return f"{self.kind.label} {'<=' if self.kind.is_max else '>='} {self.kind.fmt(self.limit)}"

    def miss_text(self, value: float | None) -> str:
        """``latency 6.20 ms > 5.00 ms (+24%)`` or ``no acc1``."""
        if value is None:
            return f"no {self.kind.label}"
        sign = ">" if self.kind.is_max else "<"
        excess = self.excess(value)
        pct = 100 * excess
        how = (f" (+{pct:.1f}%)" if pct < 10 else f" (+{pct:.0f}%)") if math.isfinite(excess) else ""
        return f"{self.kind.label} {self.kind.fmt(value)} {sign} {self.kind.fmt(self.limit)}{how}"


def parse_constraints(values: Mapping[str, str | None]) -> list[Constraint]:
    """Constraints from ``{"max_latency": "5ms", ...}`` (None = not given); ``UsageError`` (one line,
    naming the accepted form) on a malformed value."""
    out = []
    for name, text in values.items():
        if text is None:
            continue
        if name not in KINDS:
            raise UsageError(f"unknown constraint {name!r}; choose one of {', '.join(KINDS)}")
        kind = KINDS[name]
        value = kind.parse(text, kind.option)
        if kind.is_max and value <= 0:  # no model has zero latency, memory or parameters
            raise UsageError(f"{kind.option} {text!r}: an upper bound must be above zero")
        out.append(Constraint(kind, value, str(text)))
    return out


def objective(name: str) -> tuple[str, bool]:
    """(row key, highest first?) of ``--by``; ``UsageError`` naming the accepted ones."""
    if name not in OBJECTIVES:
        raise UsageError(f"unknown objective {name!r} for --by; choose one of {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]


@dataclass(frozen=True)
class Miss:
    """A model that fails at least one constraint: the binding one first, with how far it misses."""

    row: Mapping[str, Any]
    failed: tuple[tuple[Constraint, float], ...]  # (constraint, excess), largest excess first

    @property
    def binding(self) -> Constraint:
        return self.failed[0][0]

    @property
    def excess(self) -> float:
        return self.failed[0][1]

    def text(self) -> str:
        """``resnet50: latency 6.20 ms > 5.00 ms (+24%)`` (the binding constraint; others after ``;``)."""
        return f"{self.row['model']}: " + "; ".join(
            c.miss_text(self.row.get(c.kind.key)) for c, _ in self.failed
        )


@dataclass(frozen=True)
class PickResult:
    constraints: tuple[Constraint, ...]
    by: str
    chosen: tuple[Mapping[str, Any], ...]
    misses: tuple[Miss, ...] = field(default=())

    @property
    def closest(self) -> tuple[Miss, ...]:
        return self.misses[:NEAR_MISSES]


def pick(
    rows: Sequence[Mapping[str, Any]], constraints: Sequence[Constraint], by: str = "acc1"
) -> PickResult:
    """Rows meeting every constraint, best first by ``by`` (unknown objective values last, in order);
    the others as misses, closest first (smallest binding excess; ties in row order)."""
    key, highest = objective(by)
    chosen, misses = [], []
    for i, row in enumerate(rows):
        failed = [(c, c.excess(row.get(c.kind.key))) for c in constraints]
        failed = [(c, e) for c, e in failed if e > 0]
        if not failed:
            chosen.append(row)
        else:
            failed.sort(key=lambda ce: -ce[1])
            misses.append((failed[0][1], i, Miss(row, tuple(failed))))
    known = [r for r in chosen if r.get(key) is not None]
    unknown = [r for r in chosen if r.get(key) is None]
    known.sort(key=lambda r: -r[key] if highest else r[key])
    misses.sort(key=lambda m: (m[0], m[1]))
    return PickResult(tuple(constraints), by, tuple(known + unknown), tuple(m[2] for m in misses))
