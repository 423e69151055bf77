"""Peak memory of an inference forward pass: a lifetime simulation over a capture ``Trace``.

Conventions (what the number means):

- Inference only: no autograd, nothing saved for backward, ops run one after another in trace order.
- An activation is a *storage*: views (``view``, ``transpose``, ``split`` ...) share their base's
  storage and keep all of it alive; an in-place op (``relu_``, ``add_``) writes into the storage it
  reads and allocates nothing. Sizes are in the analysis dtype (integer tensors keep their element size),
  as everywhere else in the analysis.
- Lifetimes are ideal (what an executor that frees each tensor after its last use needs): a storage is
  live from the op that allocates it (model inputs: from the start) through the last op that reads it;
  model outputs stay live to the end; a storage written but never read dies right after its op; a model
  input nobody reads is live at the start only. Eager PyTorch usually holds tensors longer (Python
  variables, the caller's input), so an allocator's measured peak is at least this.
- No allocator caching, rounding or fragmentation; no workspaces (cuDNN/cuBLAS scratch); fused
  ``scaled_dot_product_attention`` keeps its score matrix on chip (only q, k, v, mask and output count),
  as in flash / memory-efficient attention.
- Weights (parameters and buffers, each tensor once) are resident for the whole pass; they are counted
  separately (``resident_weight_bytes``) and added for ``peak_total_bytes``.

This module's ``peak_memory`` is a pure function of the trace; only ``resident_weight_bytes`` reads a
model (on any device, meta included).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from metrics_core.capture.trace import Trace


@dataclass(frozen=True)
class PeakMemory:
    """Peak memory of one forward pass (bytes; definitions in the module docstring).

    ``live_bytes[i]`` is the activation bytes live *during* op ``i``: every storage allocated at or
    before op ``i`` (model inputs count as allocated before op 0) whose last reader is op ``i`` or later
    (model outputs: the end). It includes op ``i``'s new outputs and the inputs it reads for the last time
    (they are freed only after it), so it is the footprint right after op ``i``'s outputs are allocated
    and before its dead inputs are freed. ``input_bytes`` (every model input) is the footprint before
    op 0; ``output_bytes`` is what stays live at the end.

    ``peak_activation_bytes`` is the maximum of ``input_bytes`` and every ``live_bytes[i]``;
    ``peak_index`` is the first op that reaches it (None when the start is the peak, e.g. no ops).
    """

    peak_activation_bytes: int
    peak_index: int | None
    live_bytes: tuple[int, ...]
    input_bytes: int
    output_bytes: int
    weight_bytes: int = 0
    peak_op: str | None = None
    peak_module: str | None = None

    @property
    def peak_total_bytes(self) -> int:
        """Peak activation bytes + resident weight bytes."""
        return self.peak_activation_bytes + self.weight_bytes

    def to_dict(self, include_live: bool = False) -> dict[str, Any]:
        """JSON-compatible scalars (the per-op ``live_bytes`` list only with ``include_live``)."""
        d: dict[str, Any] = {
            "peak_activation_bytes": self.peak_activation_bytes,
            "weight_bytes": self.weight_bytes,
            "peak_total_bytes": self.peak_total_bytes,
            "peak_index": self.peak_index,
            "peak_op": self.peak_op,
            "peak_module": self.peak_module,
            "input_bytes": self.input_bytes,
            "output_bytes": self.output_bytes,
        }
        if include_live:
            d["live_bytes"] = list(self.live_bytes)
        return d


def live_intervals(trace: Trace) -> dict[int, tuple[int, int]]:
    """Storage key -> (first op, last op) during which it is live; -1 as first op means "from the start".

    Only storages the pass touches are listed (model inputs, op outputs, storages read). A storage read
    without having been allocated by a recorded op (a tensor made by a free factory op such as ``empty``)
    counts as allocated by its first reader. A storage with last op < first op (an input nobody reads)
    is live at the start only.
    """
    n = len(trace.events)
    first: dict[int, int] = {k: -1 for k in trace.input_keys}
    last: dict[int, int] = {k: -1 for k in trace.input_keys}
    for i, (reads, allocs) in enumerate(trace.events):
        for k in (*reads, *allocs):
            first.setdefault(k, i)
            last[k] = i
    for k in trace.output_keys:
        if k in first:  # an output nobody allocated (e.g. a weight returned as is) is not an activation
            last[k] = n - 1
    return {k: (first[k], last[k]) for k in first}


def peak_memory(trace: Trace, weight_bytes: int = 0) -> PeakMemory:
    """Simulate activation lifetimes over ``trace`` (see ``PeakMemory`` for the definitions).

    ``weight_bytes`` (from ``resident_weight_bytes``) is carried into the result for
    ``peak_total_bytes``; it does not change the activation figures.
    """
    n = len(trace.events)
    sizes = trace.sizes
    # difference array: +size at the first op of a storage, -size after its last op
    delta = [0] * (n + 1)
    start = sum(sizes[k] for k in dict.fromkeys(trace.input_keys))
    intervals = live_intervals(trace)
    for k, (lo, hi) in intervals.items():
        if hi < max(lo, 0):
            continue  # input never read: live at the start only
        delta[max(lo, 0)] += sizes[k]
        delta[hi + 1] -= sizes[k]
    live: list[int] = []
    running = 0
    for i in range(n):
        running += delta[i]
        live.append(running)
    peak, index = start, None
    for i, b in enumerate(live):
        if b > peak:
            peak, index = b, i
    rec = trace.records[index] if index is not None else None
    return PeakMemory(
        peak_activation_bytes=peak,
        peak_index=index,
        live_bytes=tuple(live),
        input_bytes=start,
        output_bytes=sum(sizes[k] for k in dict.fromkeys(trace.output_keys) if k in intervals),
        weight_bytes=weight_bytes,
        peak_op=rec.op if rec is not None else None,
        peak_module=rec.module if rec is not None else None,
    )


def resident_weight_bytes(model: torch.nn.Module, dtype: str) -> int:
    """Bytes of every parameter and buffer of ``model``, each tensor once (tied weights count once).

    Floating-point tensors cost ``numel x bytes_per_element(dtype)``; integer and bool buffers (e.g.
    batch-norm's ``num_batches_tracked``, index tables) keep their own element size.
    """
    from metrics_core.common.dtypes import bytes_per_element

    per = bytes_per_element(dtype)
    seen: set[int] = set()
    total = 0
    for t in _weights(model):
        if id(t) in seen:
            continue
        seen.add(id(t))
        total += t.numel() * (per if t.is_floating_point() else t.element_size())
    return total


def _weights(model: torch.nn.Module) -> Sequence[torch.Tensor]:
    return [*model.parameters(), *model.buffers()]


def batch_lines(trace: Trace, following: Trace, batch: int) -> list[tuple[float, float]]:
    """The peak activations of a forward pass at any batch size, from its traces at ``batch`` and
    ``batch + 1`` (the same ops, so the same storages in the same order): each storage's bytes are
    ``shared + B x per_sequence`` (its growth from one trace to the other), so the live bytes before every
    op are a line in B, and the peak at batch B is ``max(shared + B x per_sequence)`` over the returned
    ``(shared, per_sequence)`` lines (those not below another for every B >= 1). Empty when the traces
    differ in their ops or a storage does not grow linearly (then no line is exact)."""
    from dataclasses import replace

    if (
        len(trace.events) != len(following.events)
        or trace.sizes.keys() != following.sizes.keys()
        or trace.input_keys != following.input_keys
    ):
        return []
    grow = {k: following.sizes[k] - trace.sizes[k] for k in trace.sizes}
    shared = {k: trace.sizes[k] - batch * grow[k] for k in trace.sizes}
    if any(v < 0 for v in grow.values()) or any(v < 0 for v in shared.values()):
        return []
    lines = []
    for sizes in (shared, grow):
        part = replace(trace, sizes=sizes)
        start = sum(sizes[k] for k in dict.fromkeys(part.input_keys))
        lines.append([start, *peak_memory(part).live_bytes])
    best: dict[float, float] = {}  # per-sequence slope -> the largest shared bytes with it
    for a, g in zip(*lines, strict=True):
        best[g] = max(a, best.get(g, a))
    kept = sorted(best.items(), key=lambda x: -x[0])  # steepest first
    out: list[tuple[float, float]] = []
    for g, a in kept:  # a line below a steeper one's shared bytes is below it for every B >= 0
        if all(a > a2 for _, a2 in out):
            out.append((a, g))
    return out
