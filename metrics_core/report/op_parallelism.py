"""Op-level parallelism of a captured pass: how much of a model's work could run side by side.

From the data flow of a capture (``OpRecord.reads_from``: which op wrote each activation an op reads;
``capture.dataflow``) the ops form a directed acyclic graph (an edge from writer to reader; reads of
model inputs or weights have no edge). With a work figure per op (FLOPs, or estimated seconds):

- ``total_work``: the sum over every op;
- ``critical_path_work``: the heaviest chain of dependent ops (the longest path, weights summed): the
  time of the pass on unlimited parallel hardware;
- ``parallelism`` = total / critical path: the average number of ops' work that could overlap (1.0 for a
  plain chain; Brent's bound: any schedule on P units takes at least max(critical, total / P));
- ``max_width``: the most compute ops (ops with MACs: convolutions, matmuls, attention) that could run at
  the same time in the as-soon-as-possible schedule (each op at level 1 + the highest level among the
  ops it reads from; ops on one level share no dependency), ``width_level`` the first level that wide. A
  chain has width 1; an Inception block's four branch convolutions 4. ``max_width_all_ops`` counts every
  op that reads an activation: it includes small independent work (dropout masks drawn from fresh
  tensors, position ids), which says less about the model's structure. Ops that read no activation at
  all (a batch norm's update of its batch counter) are in neither.

Only true (read-after-write) dependencies through activations count: an executor may reorder the rest.
In-place ops are ordered after the op that wrote the storage they rewrite (``capture.dataflow``). No torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from metrics_core.common.records import OpRecord


@dataclass(frozen=True)
class OpParallelism:
    """Op-level parallelism of a list of records (definitions: module docstring); ``work`` names the
    weight (``flops`` or ``seconds``)."""

    ops: int
    work: str
    total_work: float
    critical_path_work: float
    critical_path_ops: int
    max_width: int
    width_level: int
    levels: int
    max_width_all_ops: int = 0

    @property
    def parallelism(self) -> float:
        """Total work / critical-path work (1.0 when there is no work)."""
        return self.total_work / self.critical_path_work if self.critical_path_work else 1.0

    @property
    def critical_share(self) -> float:
        """Critical-path work as a fraction of the total (0..1)."""
        return self.critical_path_work / self.total_work if self.total_work else 1.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(parallelism=self.parallelism, critical_share=self.critical_share)
        return d


def op_parallelism(
    records: Sequence[OpRecord], weights: Sequence[float] | None = None, work: str = "flops"
) -> OpParallelism:
    """The parallelism figures of ``records`` (numbered 0..n-1 with ``reads_from`` filled; reads from
    outside the list, -1, have no edge). ``weights``: per-op work (default: FLOPs). ``ValueError`` when a
    record has no data flow (``reads_from`` None) or reads from a later op."""
    n = len(records)
    w = [float(x) for x in weights] if weights is not None else [float(r.flops or 0) for r in records]
    if len(w) != n:
        raise ValueError(f"{len(w)} weights for {n} records")
    level = [0] * n
    dist = [0.0] * n
    length = [0] * n
    for i, r in enumerate(records):
        if r.reads_from is None:
            raise ValueError(f"record {i} ({r.op}) has no data flow (reads_from)")
        preds = [j for j in r.reads_from if j >= 0]
        if any(j >= i for j in preds):
            raise ValueError(f"record {i} ({r.op}) reads from a later op")
        if preds:
            level[i] = 1 + max(level[j] for j in preds)
            heaviest = max(preds, key=lambda j: dist[j])
            dist[i] = w[i] + dist[heaviest]
            length[i] = 1 + length[heaviest]
        else:
            dist[i], length[i] = w[i], 1
    counts: dict[int, int] = {}
    compute: dict[int, int] = {}
    for r, lv in zip(records, level, strict=True):
        if r.reads_from:  # ops that read no activation (buffer updates, constants) are not counted
            counts[lv] = counts.get(lv, 0) + 1
            if r.macs:
                compute[lv] = compute.get(lv, 0) + 1
    width, at = max(((c, -lv) for lv, c in compute.items()), default=(0, 0))
    end = max(range(n), key=lambda i: dist[i]) if n else None
    return OpParallelism(
        ops=n,
        work=work,
        total_work=sum(w),
        critical_path_work=dist[end] if end is not None else 0.0,
        critical_path_ops=length[end] if end is not None else 0,
        max_width=width,
        width_level=-at,
        levels=(max(level) + 1) if n else 0,
        max_width_all_ops=max(counts.values(), default=0),
    )
