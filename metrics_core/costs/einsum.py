"""``einsum`` cost rule (category ``matmul``), from the equation and operand shapes.

Note: ``torch.einsum`` is a composite op: a dispatch-mode capture sees the ``bmm``/``mul``/``sum`` it is
lowered to, never ``einsum`` itself. The rule serves callers that see the un-lowered op.
"""

from __future__ import annotations

from math import prod
from typing import Any

from metrics_core.costs.registry import register


def einsum_index_sizes(equation: str, operands: list[Any]) -> tuple[dict[str, int], list[str]]:
    """Size of every distinct index of ``equation`` and the output's indices.

    Ellipsis dims become indices ``"...0"`` (last), ``"...1"``, ... (right-aligned, as einsum broadcasts
    them); a size-1 dim broadcast against a larger one takes the larger size. Implicit mode (no ``->``):
    the output is the ellipsis dims then the indices that occur exactly once, sorted.
    """
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    sizes: dict[str, int] = {}
    counts: dict[str, int] = {}
    ellipsis: list[str] = []
    for term, operand in zip(lhs.split(","), operands, strict=False):
        shape = tuple(operand.shape)
        if "..." in term:
            before, _, after = term.partition("...")
            n_ell = len(shape) - len(before) - len(after)
            labels = [*before, *(f"...{n_ell - 1 - j}" for j in range(n_ell)), *after]
            if n_ell > len(ellipsis):
                ellipsis = [f"...{n_ell - 1 - j}" for j in range(n_ell)]
        else:
            labels = list(term)
        for label, size in zip(labels, shape, strict=False):
            sizes[label] = max(sizes.get(label, 1), size)
            counts[label] = counts.get(label, 0) + 1
    if arrow:
        before, dots, after = rhs.partition("...")
        output = [*before, *(ellipsis if dots else ()), *after]
    else:
        output = ellipsis + sorted(k for k, c in counts.items() if c == 1 and not k.startswith("..."))
    return sizes, output


@register("einsum", category="matmul")
def einsum_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """``einsum(equation, operands)`` evaluated over the joint index space ``P = prod(index sizes)``.

    - At least one index contracted (in the inputs, not in the output), ``n >= 2`` operands:
      MACs = ``(n - 1) * P`` (for the usual two operands: MACs = P); FLOPs = 2 x MACs.
    - Contraction of a single operand (a sum, e.g. ``"ij->i"``): MACs = 0, FLOPs = P adds.
    - No contraction, ``n >= 2`` (element-wise or outer product): MACs = 0, FLOPs = ``(n - 1) * P``.
    - No contraction, one operand (transpose, diagonal): (0, 0).
    """
    equation = args[0] if len(args) > 0 else kwargs["equation"]
    operands = list(args[1] if len(args) > 1 else kwargs["tensors"])
    sizes, output = einsum_index_sizes(equation, operands)
    space = prod(sizes.values())
    contracted = len(sizes) > len(set(output))
    n = len(operands)
    if contracted:
        if n >= 2:
            macs = (n - 1) * space
            return macs, 2 * macs
        return 0, space
    return 0, (n - 1) * space
