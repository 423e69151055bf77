"""The seed's efficiency rankings over a set of analysed models."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from metrics_core.common.records import ModelReport


@dataclass(frozen=True)
class Ranking:
    """One line of the rankings: ``title`` names the criterion, ``model`` the winner, ``value`` its metric."""

    title: str
    metric: str
    model: str
    value: float


#: (title, metric, pick the highest?) in the seed's order.
RANKINGS: tuple[tuple[str, str, bool], ...] = (
    ("Smallest model", "params", False),
    ("Largest model", "params", True),
    ("Least FLOPs", "flops", False),
    ("Most FLOPs", "flops", True),
    ("Least memory traffic", "memory_bytes", False),
    ("Most memory traffic", "memory_bytes", True),
    ("Most compute per param", "flops_per_param", True),
    ("Highest avg AI", "avg_ai", True),
    ("Lowest avg AI", "avg_ai", False),
)


def efficiency_rankings(reports: Sequence[ModelReport]) -> list[Ranking]:
    """The winner of each seed ranking among the successfully analysed reports (ties: first listed)."""
    out = []
    for title, metric, highest in RANKINGS:
        scored = [
            (getattr(r.metrics, metric), r.model)
            for r in reports
            if r.metrics is not None and getattr(r.metrics, metric) is not None
        ]
        if not scored:
            continue
        pick = max if highest else min
        value, model = pick(scored, key=lambda s: s[0])
        out.append(Ranking(title, metric, model, value))
    return out
