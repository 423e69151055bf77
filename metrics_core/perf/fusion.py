"""Kernels of an execution mode: which recorded ops run as one GPU kernel, and what each kernel moves.

``eager``: every recorded aten op is one kernel with the op's own traffic (what PyTorch eager launches), plus
the copies its kernel makes inside itself (``OpRecord.hidden_copies``, ``costs.eager_copies``).

``compiled``: what default ``torch.compile`` (Inductor, no freezing, no max-autotune) runs. Rules, from the
Inductor sources (``torch/_inductor/lowering.py``: ``make_fallback`` / ``ExternKernel`` lowerings;
``torch/_inductor/scheduler.py``: ``Scheduler.can_fuse`` / ``fuse_nodes``; ``torch/_inductor/config.py``):

1. **Library (extern) kernels stay alone**: convolution (cuDNN, ``extern_kernels.convolution``), matrix
   multiplies (cuBLAS ``mm``/``addmm``/``bmm``: Triton GEMM templates are only tried under
   ``max_autotune``), attention (flash / memory-efficient SDPA fallbacks), FFTs, and every op without a cost
   rule. A bias folded into ``addmm`` / the convolution stays in the library call; **no pointwise epilogue is
   fused into a cuBLAS/cuDNN kernel** — the pointwise ops after it form the next (Triton) kernel, which reads
   the library kernel's output once.
2. **Everything else is lowered to Triton and fused**: pointwise ops, activations, eval batch norm
   (decomposed into pointwise ops on the running statistics), layer/group/RMS norms and softmax (reductions
   with their pointwise producers and consumers), pooling, copies and concatenation. An op joins the kernel of
   a producer it reads (vertical fusion); a finished pointwise group whose outputs are read by one later
   group only is merged into that group (Inductor inlines/fuses it there; the extern kernels in between do not
   depend on it).
3. **Traffic of a fused kernel**: each external activation input is read once (a tensor read by several ops
   of the kernel counts once), weights/buffers are read once, and an op's output is written only when a
   kernel outside the group reads it, or nobody reads it (a model output). Intermediates stay in registers.

Not modelled: horizontal fusion of independent kernels, Inductor's layout optimisation (channels-last convs:
an efficiency parameter in ``efficiency.py``), CUDA graphs (``mode="reduce-overhead"``), recomputation
heuristics that keep a producer in memory because it is read many times.

Dataflow comes from ``OpRecord.reads_from`` (``metrics_core.capture.dataflow``); records without it (older
cache entries, hand-built records) assume each op reads the previous op's output when that op's output has
as many elements as one of its inputs, and nothing else from inside. No torch here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import prod

from metrics_core.common.records import OpRecord

EXECUTIONS: tuple[str, ...] = ("eager", "compiled")

#: Categories that run as library kernels (cuBLAS / cuDNN / flash attention / cuFFT) under Inductor.
EXTERN_CATEGORIES: frozenset[str] = frozenset({"conv", "matmul", "attention", "fft", "uncovered"})

#: Inductor fuses a concatenation into its consumer only up to this many inputs; a larger one is a
#: ``ConcatKernel`` whose output is written to memory (``torch/_inductor/config.py``
#: ``max_pointwise_cat_inputs = 8``).
MAX_POINTWISE_CAT_INPUTS = 8

#: Softmax ops that can sit between the two matmuls of a written-out attention.
SOFTMAX_OPS: frozenset[str] = frozenset({"softmax", "_softmax", "_safe_softmax", "_masked_softmax"})

#: Modules whose written-out attention eager PyTorch runs as one fused kernel in inference: the
#: ``nn.MultiheadAttention`` fast path (``torch._native_multi_head_attention`` -> SDPA).
FASTPATH_MODULES: frozenset[str] = frozenset({"MultiheadAttention", "TransformerEncoderLayer"})


@dataclass(frozen=True)
class Kernel:
    """One kernel: the record indices it runs (program order), its FLOPs and its memory traffic in bytes.

    ``kind``: ``"extern"`` (a library GEMM/conv/attention/FFT, or an op without a cost rule), ``"fused"``
    (a Triton kernel of one or more fusable ops), ``"attention"`` (a written-out attention run as one
    flash-style kernel: ``attention_spans``) or ``"op"`` (an eager op that is neither). ``main`` is the
    record whose shape decides the kernel's compute efficiency (the MAC op of an extern kernel; else the
    first op). ``launches``: the GPU kernels it is launched as (an eager multi-tensor ``_foreach_*`` op:
    ``OpRecord.kernels``, one host call); 1 otherwise.
    """

    ops: tuple[int, ...]
    kind: str
    flops: int
    read_bytes: int
    write_bytes: int
    main: int
    launches: int = 1

    @property
    def bytes(self) -> int:
        """Total traffic: bytes read + bytes written."""
        return self.read_bytes + self.write_bytes


def is_extern(record: OpRecord) -> bool:
    """Whether Inductor runs this op as a kernel of its own (rule 1 of the module doc; a concatenation of more
    than ``MAX_POINTWISE_CAT_INPUTS`` tensors is a copy kernel that writes its output)."""
    if record.op in ("cat", "concat", "concatenate") and len(record.input_shapes) > MAX_POINTWISE_CAT_INPUTS:
        return True
    if record.category == "attention":  # the capture files ops inside attention modules here too
        return bool(record.macs)
    return (not record.covered) or record.category in EXTERN_CATEGORIES


def _numel(shape: Sequence[int]) -> int:
    return prod(shape) if shape else 1


def producers(records: Sequence[OpRecord]) -> list[list[int]]:
    """Per record, the producer index of each activation read (-1: from outside the recorded ops).

    ``reads_from`` when captured; otherwise the previous record when its output has as many elements as one
    of this record's inputs (one internal read), else nothing."""
    out: list[list[int]] = []
    for i, r in enumerate(records):
        if r.reads_from is not None:
            out.append(list(r.reads_from))
        elif i and any(_numel(s) == _numel(records[i - 1].output_shape) for s in r.input_shapes):
            out.append([i - 1])
        else:
            out.append([])
    return out


def attention_spans(
    records: Sequence[OpRecord], prods: list[list[int]], fastpath_only: bool
) -> list[list[int]]:
    """Written-out attentions that run as one flash-style kernel: ``matmul A -> [pointwise] -> softmax ->
    matmul B`` where B reads the softmax (through pointwise ops: dropout, a mask) and A's scores reach
    it only through that chain, plus pointwise producers that feed A only (the scaling of q and k).

    Under Inductor any such chain is replaced by ``scaled_dot_product_attention`` (its pattern matcher,
    ``torch/_inductor/fx_passes/fuse_attention.py``); in eager only the ``nn.MultiheadAttention`` fast path
    does it (``fastpath_only``: spans whose matmuls run inside ``FASTPATH_MODULES``)."""
    n = len(records)
    consumers: list[set[int]] = [set() for _ in range(n)]
    for i, ps in enumerate(prods):
        for p in ps:
            if p >= 0:
                consumers[p].add(i)
    spans: list[list[int]] = []
    used: set[int] = set()
    for b, rb in enumerate(records):
        if not _is_matmul(rb) or b in used:
            continue
        if fastpath_only and rb.module_type not in FASTPATH_MODULES:
            continue
        for s in prods[b]:
            chain = []
            j = s
            while 0 <= j < n and records[j].op not in SOFTMAX_OPS and not records[j].macs and len(chain) < 4:
                chain.append(j)
                j = prods[j][0] if prods[j] else -1
            if not (0 <= j < n and records[j].op in SOFTMAX_OPS):
                continue
            soft = j
            chain.append(soft)
            j = prods[soft][0] if prods[soft] else -1
            while 0 <= j < n and not records[j].macs and len(chain) < 8:
                chain.append(j)  # pointwise on the scores before the softmax (scale, mask, bias)
                j = prods[j][0] if prods[j] else -1
            if not (0 <= j < n and _is_matmul(records[j])):
                continue
            a = j
            members = {a, b, *chain}
            members |= {p for p in prods[a] if p >= 0 and not records[p].macs and consumers[p] <= members}
            inner = members - {b}
            if any(not consumers[m] <= members for m in inner) or members & used:
                continue
            spans.append(sorted(members))
            used |= members
            break
    return spans


def _is_matmul(record: OpRecord) -> bool:
    return bool(record.macs) and record.category in ("matmul", "attention")


def eager_kernels(records: Sequence[OpRecord]) -> list[Kernel]:
    """Eager PyTorch: one kernel per record, with the record's own traffic; a written-out attention inside an
    ``nn.MultiheadAttention`` runs as one fused attention kernel (its inference fast path); a multi-tensor
    ``_foreach_*`` op is one such kernel whose ``launches`` are its ``OpRecord.kernels``; the copies an op's
    kernel makes inside itself (``OpRecord.hidden_copies``: a strided input made contiguous) are read and
    written by its kernel, one more launch each."""
    prods = producers(records)
    spans = attention_spans(records, prods, fastpath_only=True)
    in_span = {m: k for k, span in enumerate(spans) for m in span}
    kernels = []
    for i, r in enumerate(records):
        if i in in_span:
            span = spans[in_span[i]]
            if i == span[-1]:
                kernels.append(_span_kernel(records, span, prods))
            continue
        copies = r.hidden_copies or ()
        kernels.append(
            Kernel(
                ops=(i,),
                kind="extern" if is_extern(r) else "op",
                flops=r.flops or 0,
                read_bytes=r.input_bytes + r.weight_bytes + sum(copies),
                write_bytes=r.output_bytes + sum(copies),
                main=i,
                launches=(1 if r.kernels is None else r.kernels) + len(copies),
            )
        )
    return kernels


def _span_kernel(records: Sequence[OpRecord], span: list[int], prods: list[list[int]]) -> Kernel:
    """One attention span as a kernel: external reads once, only outputs read outside written."""
    consumers: dict[int, set[int]] = {m: set() for m in span}
    for i, ps in enumerate(prods):
        for p in ps:
            if p in consumers:
                consumers[p].add(i)
    group_of = {m: 0 for m in span}
    k = _fused_kernel(records, span, prods, consumers, group_of, 0)
    main = next(m for m in span if records[m].macs)
    return Kernel(k.ops, "attention", k.flops, k.read_bytes, k.write_bytes, main)


def compiled_kernels(records: Sequence[OpRecord]) -> list[Kernel]:
    """Inductor-style kernels (rules: module doc), in the order of their last op."""
    n = len(records)
    prods = producers(records)
    consumers: list[set[int]] = [set() for _ in range(n)]
    for i, ps in enumerate(prods):
        for p in ps:
            if p >= 0:
                consumers[p].add(i)

    group_of: list[int] = [-1] * n
    groups: dict[int, list[int]] = {}  # group id -> member indices
    extern: set[int] = set()
    spans = attention_spans(records, prods, fastpath_only=False)
    in_span = {m: k for k, span in enumerate(spans) for m in span}
    span_gid: dict[int, int] = {}
    attention: set[int] = set()
    next_id = 0
    current: int | None = None  # the open fused group
    for i, r in enumerate(records):
        if i in in_span:
            k = in_span[i]
            if k not in span_gid:
                span_gid[k] = next_id
                groups[next_id] = []
                extern.add(next_id)
                attention.add(next_id)
                next_id += 1
            group_of[i] = span_gid[k]
            groups[span_gid[k]].append(i)
            current = None
            continue
        if is_extern(r):
            group_of[i] = next_id
            groups[next_id] = [i]
            extern.add(next_id)
            next_id += 1
            current = None
            continue
        fused_producers = {group_of[p] for p in prods[i] if p >= 0 and group_of[p] not in extern}
        if current is not None and current in fused_producers:
            gid = current
        else:
            gid = next_id
            groups[gid] = []
            next_id += 1
        # rule 2: merge an earlier fused group whose outputs only this op (or its group) reads
        for h in sorted(fused_producers - {gid}):
            members = groups.get(h)
            if not members:
                continue
            outside = {c for m in members for c in consumers[m] if group_of[c] != h}
            if outside <= {i} | set(groups[gid]):
                for m in members:
                    group_of[m] = gid
                groups[gid] = sorted(groups[gid] + members)
                del groups[h]
        groups[gid].append(i)
        group_of[i] = gid
        current = gid

    kernels = []
    for gid, members in groups.items():
        members = sorted(members)
        if gid in attention:
            kernels.append(_span_kernel(records, members, prods))
            continue
        if gid in extern:
            (i,) = members
            r = records[i]
            kernels.append(
                Kernel((i,), "extern", r.flops or 0, r.input_bytes + r.weight_bytes, r.output_bytes, i)
            )
            continue
        kernels.append(_fused_kernel(records, members, prods, consumers, group_of, gid))
    kernels.sort(key=lambda k: k.ops[-1])
    return kernels


def _fused_kernel(
    records: Sequence[OpRecord],
    members: list[int],
    prods: list[list[int]],
    consumers: list[set[int]],
    group_of: list[int],
    gid: int,
) -> Kernel:
    """Traffic of one fused group (rule 3)."""
    inside = set(members)
    reads = writes = flops = 0
    seen_external: set[int] = set()  # producers already read by this kernel
    for i in members:
        r = records[i]
        flops += r.flops or 0
        reads += r.weight_bytes
        ps = prods[i]
        internal = dup = 0
        for p in ps:
            if p in inside:
                internal += records[p].output_bytes
            elif p >= 0:
                # a whole tensor read again (one read of exactly its size) comes from registers
                if p in seen_external and len(ps) == 1 and r.input_bytes == records[p].output_bytes:
                    dup += records[p].output_bytes
                seen_external.add(p)
        reads += max(0, r.input_bytes - internal - dup)
        if not consumers[i] or any(c not in inside for c in consumers[i]):
            writes += r.output_bytes
    return Kernel(tuple(members), "fused", flops, reads, writes, members[0])


def kernels_for(records: Sequence[OpRecord], execution: str) -> list[Kernel]:
    """The kernels of ``execution`` (``eager`` or ``compiled``); ``ValueError`` for another mode."""
    if execution == "eager":
        return eager_kernels(records)
    if execution == "compiled":
        return compiled_kernels(records)
    raise ValueError(f"unknown execution {execution!r}; choose one of {', '.join(EXECUTIONS)}")
