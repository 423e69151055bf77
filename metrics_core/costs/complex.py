"""Complex arithmetic in real operations: rules count one operation per element or per multiply-add;
on complex tensors each of those is several real ones.

- A complex multiply-accumulate (conv, matmul, einsum, attention) is 4 real MACs: (a+bi)(c+di) needs four
  real products, and its accumulation two real adds, so 8 real FLOPs = 2 x 4 MACs.
- A complex multiply is 6 real FLOPs (4 products, 2 adds); a complex division 11 (the multiply by the
  conjugate, 6; the denominator c^2 + d^2, 3; two real divisions, 2); an add or subtract 2.
- Any other elementwise or reduction op on complex values: 2 real FLOPs per counted FLOP (each element
  is two real numbers).

Sources: the usual operation counts of complex arithmetic (e.g. Knuth, TAOCP vol. 2, 4.6.4; the
4-real-multiplication product is what BLAS ``cgemm`` kernels run).
"""

from __future__ import annotations

#: Categories whose rules count multiply-accumulates.
MAC_CATEGORIES: frozenset[str] = frozenset({"conv", "matmul", "attention"})

#: Real FLOPs per counted FLOP of an elementwise op on complex operands.
COMPLEX_FLOPS: dict[str, int] = {
    "mul": 6,
    "mul_": 6,
    "div": 11,
    "div_": 11,
    "add": 2,
    "add_": 2,
    "sub": 2,
    "sub_": 2,
}

#: Real MACs per complex MAC.
COMPLEX_MAC = 4
#: Real FLOPs per counted FLOP of any other op on complex values.
COMPLEX_DEFAULT = 2


def complex_scale(op: str, category: str, macs: int, flops: int) -> tuple[int, int]:
    """``(macs, flops)`` of ``op`` (counted as if real) scaled to real arithmetic on complex operands.

    FFT rules already count real FLOPs and are returned unchanged."""
    if op.startswith("_fft_"):
        return macs, flops
    if macs:
        return macs * COMPLEX_MAC, flops * COMPLEX_MAC
    if category in MAC_CATEGORIES:
        return macs, flops * COMPLEX_MAC
    return macs, flops * COMPLEX_FLOPS.get(op, COMPLEX_DEFAULT)
