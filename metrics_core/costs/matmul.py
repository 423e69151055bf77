"""Matrix-multiply cost rules (category ``matmul``).

One MAC per (output element, contracted index): MACs = ``out.numel() * K`` where ``K`` is the contracted
size (last dim of the left operand). FLOPs = 2 x MACs exactly: bias adds and ``beta``/``alpha`` scaling
fused into ``addmm``/``baddbmm``/``addbmm``/``addmv`` and ``_addmm_activation``'s activation epilogue are
not counted. ``nn.Linear`` on an N-D input dispatches as a view to 2-D then ``addmm`` (or ``mm`` without
bias), so it is counted here with its full ``N * tokens`` rows.
"""

from __future__ import annotations

from typing import Any

from metrics_core.costs._common import out_numel
from metrics_core.costs.registry import register


@register("mm", "bmm", "matmul", "_int_mm", "_scaled_mm", category="matmul")
def mm_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """``A @ B`` (A is argument 0): MACs = ``out.numel() * A.shape[-1]``; FLOPs = 2 x MACs.

    For ``matmul`` this holds for every operand rank (1-D operands included) and broadcast batch dims.
    """
    macs = out_numel(out) * args[0].shape[-1]
    return macs, 2 * macs


@register("addmm", "addmm_", "baddbmm", "baddbmm_", "_addmm_activation", category="matmul")
def addmm_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """``beta * C + alpha * (A @ B)`` (A is argument 1): MACs = ``out.numel() * A.shape[-1]``;
    FLOPs = 2 x MACs (the add of C, the scaling and any fused activation are not counted)."""
    macs = out_numel(out) * args[1].shape[-1]
    return macs, 2 * macs


@register("addbmm", "addbmm_", category="matmul")
def addbmm_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """``C + sum_b A_b @ B_b`` with A ``(b, n, m)``, B ``(b, m, p)``: MACs = ``b * n * m * p``
    = ``A.numel() * p``; FLOPs = 2 x MACs."""
    macs = args[1].numel() * args[2].shape[-1]
    return macs, 2 * macs


@register("linear", "mkldnn_linear", category="matmul")
def linear_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """``x @ W^T + b``, x ``(..., in)``: MACs = ``out.numel() * in``; FLOPs = 2 x MACs (bias not counted)."""
    macs = out_numel(out) * args[0].shape[-1]
    return macs, 2 * macs


@register("mv", category="matmul")
def mv_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Matrix ``(n, m)`` times vector ``(m,)``: MACs = ``n * m``; FLOPs = 2 x MACs."""
    macs = args[0].numel()
    return macs, 2 * macs


@register("addmv", "addmv_", category="matmul")
def addmv_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """``beta * y + alpha * (M @ v)`` with M ``(n, m)``: MACs = ``n * m``; FLOPs = 2 x MACs."""
    macs = args[1].numel()
    return macs, 2 * macs


@register("dot", "vdot", category="matmul")
def dot_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Inner product of two ``n``-vectors: MACs = ``n``; FLOPs = 2 x MACs."""
    macs = args[0].numel()
    return macs, 2 * macs


@register("_grouped_mm", "_scaled_grouped_mm", category="matmul")
def grouped_mm_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """``torch._grouped_mm(A, B, offs)`` (mixture-of-experts GEMMs): each group multiplies its rows of A
    by its matrix of B. MACs = ``out.numel() * K`` with K = ``A.shape[-1]`` (2-D A ``(M, K)`` split into
    groups by ``offs`` against 3-D B ``(G, K, N)``: every row of A is multiplied once, ``M*K*N``; 3-D A
    and B: ``G*M*K*N``); for 2-D A and 2-D B with K split into groups (out ``(G, M, N)``): ``M*K*N``.
    FLOPs = 2 x MACs; a bias adds nothing (as for ``addmm``). The total does not depend on how the rows
    are routed, so it is exact on meta."""
    a, b = args[0], args[1]
    if a.dim() == 2 and b.dim() == 2:
        macs = a.shape[0] * a.shape[1] * b.shape[1]
    else:
        macs = out_numel(out) * a.shape[-1]
    return macs, 2 * macs


@register("_trilinear", category="matmul")
def trilinear_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """``_trilinear(i1, i2, i3, expand1, expand2, expand3, sumdim, unroll_dim)`` (``nn.Bilinear``,
    ``F.bilinear``), counted as ATen executes it (``aten/src/ATen/native/Linear.cpp``): each operand is
    unsqueezed at its ``expand`` dims into one index space; first ``i1 * i2`` summed over the summed dims
    where ``i3`` is expanded, then that times ``i3`` summed over the remaining summed dims. Each stage is a
    sum-product (one MAC per point of its operands' joint index space):

    - MACs = prod(size[d] for d not expanded in both i1 and i2)
      + prod(size[d] for d kept after stage 1 (not expanded in both i1 and i2, not summed there) or not
      expanded in i3); FLOPs = 2 x MACs (the add onto the zero-filled output not counted).

    ``nn.Bilinear(in1, in2, out)`` on ``N`` rows: stage 1 is ``x1 . W_k`` over (N, out, in1, in2), stage 2
    the dot with ``x2`` over (N, out, in2): MACs = ``N * out * in2 * (in1 + 1)`` (the usual
    ``out * in1 * in2`` per sample, plus the contraction with ``x2``)."""
    i1, i2, i3 = args[0], args[1], args[2]
    e1, e2, e3, summed = (set(args[k]) for k in (3, 4, 5, 6))
    unroll = args[7] if len(args) > 7 else kwargs.get("unroll_dim", 1)
    rank = i1.dim() + len(e1)
    sizes = []
    dims = {1: iter(i1.shape), 2: iter(i2.shape), 3: iter(i3.shape)}
    for d in range(rank):  # the size of dim d: that of any operand not expanded there
        size = 1
        for k, e in ((1, e1), (2, e2), (3, e3)):
            if d not in e:
                size = next(dims[k])
        sizes.append(size)
    pair = {d for d in range(rank) if not (d in e1 and d in e2)}
    # the unrolled dim is looped over (one slice per step), never summed inside a stage
    kept = {d for d in pair if not (d in summed and d in e3 and d != unroll)}
    stage1 = stage2 = 1
    for d in range(rank):
        stage1 *= sizes[d] if d in pair else 1
        stage2 *= sizes[d] if (d in kept or d not in e3) else 1
    macs = stage1 + stage2
    return macs, 2 * macs
