"""Memory of a training step's forward and backward by category, from the storage lifetimes of its
capture (``capture.train_step``): the same ideal-lifetime simulation as inference (``peak_memory``).

Every activation storage of the forward/backward capture (sizes at the compute precision) falls in one
category, by its lifetime (``peak_memory.live_intervals``: from the op that allocates it, model inputs
from the start, through its last reader):

- ``gradients``: the parameters' gradients (``param.grad``), live from the backward op that writes them
  to the end of the step (the optimizer reads them); with gradient accumulation they are live for the
  whole step (the previous micro-batches' sums are held through the forward).
- ``saved``: *activations saved for backward*: storages allocated in the forward phase (or model inputs)
  that a backward op reads, i.e. alive across the forward/backward boundary. Activation checkpointing
  shrinks this to the blocks' inputs.
- ``temporaries``: every other storage (forward intermediates freed within the forward, activation
  gradients and workspaces of the backward, the recomputation of checkpointed blocks).

Weights, master weights and optimizer state are resident for the whole step and added by the caller
(``metrics_core.perf.training``). The peak is the op with the most activation-side bytes (gradients +
saved + temporaries) live. No allocator rounding, caching or fragmentation; no cuDNN/cuBLAS workspaces.
No torch here.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from metrics_core.capture.peak_memory import live_intervals

if TYPE_CHECKING:  # pragma: no cover
    from metrics_core.capture.trace import Trace

CATEGORIES: tuple[str, ...] = ("gradients", "saved", "temporaries")


@dataclass(frozen=True)
class StepMemory:
    """Activation-side bytes of one forward + backward (definitions: module docstring).

    ``peak_index`` is the op with the most ``gradients + saved + temporaries`` live (None: no ops) and
    ``peak_phase`` its phase; the three byte figures are the categories live there. ``saved_at_forward_end``
    is the saved activations live when the forward (and loss) ends: what a step holds for backward.
    ``gradient_total`` is every parameter gradient's bytes. ``live_*``: each category's bytes at every op.
    """

    peak_index: int | None
    peak_phase: str
    gradients: int
    saved: int
    temporaries: int
    saved_at_forward_end: int
    gradient_total: int
    peak_op: str | None = None
    peak_module: str | None = None
    #: Bytes of each category live at each op of the forward/backward (one entry per record, in order):
    #: what a parallel plan re-weighs when it shards some categories (``perf.parallel_plans``).
    live_gradients: tuple[int, ...] = ()
    live_saved: tuple[int, ...] = ()
    live_temporaries: tuple[int, ...] = ()

    @property
    def peak_bytes(self) -> int:
        """Gradients + saved + temporaries at the peak."""
        return self.gradients + self.saved + self.temporaries

    def to_dict(self) -> dict[str, Any]:
        """The figures above (the per-op ``live_*`` curves left out), with ``peak_bytes``."""
        d = {k: v for k, v in asdict(self).items() if not k.startswith("live_")}
        d["peak_bytes"] = self.peak_bytes
        return d


def categorise(trace: Trace, forward_end: int, grad_keys: Collection[int]) -> dict[int, str]:
    """Storage key -> category (``CATEGORIES``) of every storage the step touches."""
    out = {}
    for key, (lo, hi) in live_intervals(trace).items():
        if key in grad_keys:
            out[key] = "gradients"
        elif lo < forward_end <= hi:
            out[key] = "saved"
        else:
            out[key] = "temporaries"
    return out


def step_memory(
    trace: Trace, forward_end: int, grad_keys: Collection[int], accumulating: bool = False
) -> StepMemory:
    """Per-category live bytes over the forward/backward ``trace``; ``forward_end`` is the first backward
    record's index; ``grad_keys`` the storages of the parameters' gradients (they must be among
    ``trace.output_keys``: live to the end); ``accumulating``: gradients live from the start."""
    n = len(trace.events)
    intervals = live_intervals(trace)
    kind = categorise(trace, forward_end, grad_keys)
    delta = {c: [0] * (n + 1) for c in CATEGORIES}
    for key, (lo, hi) in intervals.items():
        if hi < max(lo, 0):
            continue  # an input nobody reads: live at the start only
        c = kind[key]
        start = 0 if (c == "gradients" and accumulating) else max(lo, 0)
        delta[c][start] += trace.sizes[key]
        delta[c][hi + 1] -= trace.sizes[key]
    live = {c: [0] * n for c in CATEGORIES}
    for c in CATEGORIES:
        running = 0
        for i in range(n):
            running += delta[c][i]
            live[c][i] = running
    totals = [sum(live[c][i] for c in CATEGORIES) for i in range(n)]
    peak = max(range(n), key=lambda i: (totals[i], -i)) if n else None
    at = (lambda c: live[c][peak]) if peak is not None else (lambda c: 0)
    rec = trace.records[peak] if peak is not None else None
    end = forward_end - 1
    return StepMemory(
        peak_index=peak,
        peak_phase="forward" if peak is not None and peak < forward_end else "backward",
        gradients=at("gradients"),
        saved=at("saved"),
        temporaries=at("temporaries"),
        saved_at_forward_end=live["saved"][end] if 0 <= end < n else 0,
        gradient_total=sum(trace.sizes[k] for k in set(grad_keys)),
        peak_op=rec.op if rec is not None else None,
        peak_module=rec.module if rec is not None else None,
        live_gradients=tuple(live["gradients"]),
        live_saved=tuple(live["saved"]),
        live_temporaries=tuple(live["temporaries"]),
    )
