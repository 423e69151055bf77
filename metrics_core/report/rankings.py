"""The seed's efficiency rankings over a set of analysed models, plus the most accurate (published
ImageNet-1k top-1, ``metrics_core.report.accuracy``) among those that publish one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from metrics_core.common.records import ModelReport
from metrics_core.report.accuracy import accuracy_fields


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
    ("Most accurate", "acc1", True),
)


def _value(report: ModelReport, metric: str) -> float | None:
    """A metric of the report, or its published top-1 accuracy (``acc1``, percent)."""
    if metric == "acc1":
        return accuracy_fields(report)["acc1"]
    return getattr(report.metrics, metric)


def efficiency_rankings(reports: Sequence[ModelReport]) -> list[Ranking]:
    """The winner of each seed ranking among the successfully analysed reports (ties: first listed)."""
    out = []
    for title, metric, highest in RANKINGS:
        scored = [
            (v, r.model) for r in reports if r.metrics is not None and (v := _value(r, metric)) is not None
        ]
        if not scored:
            continue
        pick = max if highest else min
        value, model = pick(scored, key=lambda s: s[0])
        out.append(Ranking(title, metric, model, value))
    return out
