"""Coverage: which recorded ops had no cost rule (never silently counted as zero)."""

from __future__ import annotations

from metrics_core.common.records import Coverage


def coverage_of(records) -> Coverage:  # noqa: ANN001
    """Which recorded ops had no cost rule, by name and count."""
    uncovered: dict[str, int] = {}
    for r in records:
        if not r.covered:
            uncovered[r.op] = uncovered.get(r.op, 0) + 1
    total = len(records)
    return Coverage(uncovered=uncovered, covered_ops=total - sum(uncovered.values()), total_ops=total)
