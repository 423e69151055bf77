"""Per-layer breakdown of an LLM phase (prefill, a decode step): its ops' estimated times grouped by
decoder layer and by part — attention, MLP, norms, logits, embedding, other — each with its three regimes
(compute, memory, overhead) and its bound, plus the phase's per-step runtime overhead and all-reduces.

Parts are read from the op's module path (transformers' names): the last path component ``lm_head`` /
``embed_out`` / ``output`` is the logits; a component with ``embed`` (or ``wte`` / ``wpe``) the embedding;
a last component with ``norm`` or ``ln`` a norm; a component with ``attn`` / ``attention`` (rotary
embeddings included) attention; ``mlp`` / ``ffn`` / ``feed_forward`` / ``expert`` / ``moe`` the MLP;
anything else (residual adds, masks, positions) ``other``. The layer is the first numeric path component
(``model.layers.7.mlp`` -> 7); ops outside the decoder layers have none.

A part's times are the sums of its ops' (``perf.roofline.OpEstimate``: fused kernels share their time
among their ops); its bound is the regime with the largest share of its time (``dominant_bound`` over
the time of its ops by their bound). Estimates; no torch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from metrics_core.perf.roofline import dominant_bound

PARTS: tuple[str, ...] = ("embedding", "attention", "mlp", "norm", "logits", "other")
_LOGITS = frozenset({"lm_head", "embed_out", "output", "logits"})
_MLP = ("mlp", "ffn", "feed_forward", "expert", "moe")
_NUMBER = re.compile(r"^\d+$")


def part_of(module: str, category: str = "") -> str:
    """The part (module doc) an op of ``module`` belongs to."""
    names = [n for n in module.split(".") if n]
    last = names[-1].lower() if names else ""
    lower = [n.lower() for n in names]
    if last in _LOGITS:
        return "logits"
    if any("embed" in n and "rotary" not in n for n in lower) or last in ("wte", "wpe"):
        return "embedding"
    if "norm" in last or last.startswith("ln") or category == "norm":
        return "norm"
    if any("attn" in n or "attention" in n or "rotary" in n for n in lower):
        return "attention"
    if any(any(k in n for k in _MLP) for n in lower):
        return "mlp"
    return "other"


def layer_of(module: str) -> int | None:
    """The first numeric component of ``module``'s path (its decoder layer), or None."""
    for n in module.split("."):
        if _NUMBER.match(n):
            return int(n)
    return None


@dataclass(frozen=True)
class PartTime:
    """One part of one layer (``layer`` None: outside the decoder layers) of a phase."""

    layer: int | None
    part: str
    ops: int
    flops: int
    bytes: int
    compute_s: float
    memory_s: float
    overhead_s: float
    time_s: float
    bound: str

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "part": self.part, "ops": self.ops, "flops": self.flops,
                "bytes": self.bytes, "compute_s": self.compute_s, "memory_s": self.memory_s,
                "overhead_s": self.overhead_s, "time_s": self.time_s, "bound": self.bound,
                "estimate": True}  # fmt: skip


def breakdown(ops: Sequence[Any], runtime_s: float = 0.0, allreduce_s: float = 0.0) -> list[PartTime]:
    """Per (layer, part) sums over ``ops`` (``OpEstimate``s of one phase), in layer then ``PARTS`` order
    (ops outside the layers first for the embedding, last for norms, logits and the rest), plus a
    ``runtime`` part (the stack's per-step overhead: overhead-bound) and a ``communication`` part (the
    tensor-parallel all-reduces) when non-zero."""
    groups: dict[tuple[int | None, str], list[Any]] = {}
    for o in ops:
        groups.setdefault((layer_of(o.module), part_of(o.module, o.category)), []).append(o)

    def order(key: tuple[int | None, str]) -> tuple[int, int, int]:
        layer, part = key
        if layer is None:
            return (0 if part == "embedding" else 2, 0, PARTS.index(part))
        return (1, layer, PARTS.index(part))

    out = []
    for key in sorted(groups, key=order):
        members = groups[key]
        by_bound = {
            b: sum(o.time_s for o in members if o.bound == b) for b in ("compute", "memory", "overhead")
        }
        out.append(
            PartTime(
                layer=key[0],
                part=key[1],
                ops=len(members),
                flops=sum(o.flops for o in members),
                bytes=sum(o.bytes for o in members),
                compute_s=sum(o.compute_s for o in members),
                memory_s=sum(o.memory_s for o in members),
                overhead_s=sum(o.overhead_s for o in members),
                time_s=sum(o.time_s for o in members),
                bound=dominant_bound(by_bound),
            )
        )
    if runtime_s:
        out.append(PartTime(None, "runtime", 0, 0, 0, 0.0, 0.0, runtime_s, runtime_s, "overhead"))
    if allreduce_s:
        out.append(PartTime(None, "communication", 0, 0, 0, 0.0, 0.0, 0.0, allreduce_s, "communication"))
    return out


def by_part(rows: Sequence[PartTime]) -> list[PartTime]:
    """The rows summed over layers, one per part (``PARTS`` order, then runtime and communication)."""
    out = []
    for part in (*PARTS, "runtime", "communication"):
        members = [r for r in rows if r.part == part]
        if not members:
            continue
        by_bound: dict[str, float] = {}
        for r in members:
            by_bound[r.bound] = by_bound.get(r.bound, 0.0) + r.time_s
        out.append(
            PartTime(
                layer=None,
                part=part,
                ops=sum(r.ops for r in members),
                flops=sum(r.flops for r in members),
                bytes=sum(r.bytes for r in members),
                compute_s=sum(r.compute_s for r in members),
                memory_s=sum(r.memory_s for r in members),
                overhead_s=sum(r.overhead_s for r in members),
                time_s=sum(r.time_s for r in members),
                bound=dominant_bound(by_bound),
            )
        )
    return out


def collapse_layers(rows: Sequence[PartTime]) -> list[tuple[str, list[PartTime]]]:
    """Consecutive decoder layers whose parts have the same times (to 0.1 %) and bounds, as
    ``(label, rows of the first layer)``: ``("layers 0-31", ...)``; rows outside the layers as themselves."""
    layers: dict[int, list[PartTime]] = {}
    for r in rows:
        if r.layer is not None:
            layers.setdefault(r.layer, []).append(r)

    def same(a: list[PartTime], b: list[PartTime]) -> bool:
        return len(a) == len(b) and all(
            x.part == y.part
            and x.bound == y.bound
            and abs(x.time_s - y.time_s) <= 1e-3 * max(x.time_s, 1e-15)
            for x, y in zip(a, b, strict=True)
        )

    out: list[tuple[str, list[PartTime]]] = [
        ("model", [r]) for r in rows if r.layer is None and r.part == "embedding"
    ]
    run: list[int] = []
    for i in sorted(layers):
        if run and same(layers[run[0]], layers[i]):
            run.append(i)
            continue
        if run:
            out.append((_label(run), layers[run[0]]))
        run = [i]
    if run:
        out.append((_label(run), layers[run[0]]))
    out += [("model", [r]) for r in rows if r.layer is None and r.part != "embedding"]
    return out


def _label(run: list[int]) -> str:
    return f"layer {run[0]}" if len(run) == 1 else f"layers {run[0]}-{run[-1]} (each)"
