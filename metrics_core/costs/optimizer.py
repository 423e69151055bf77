"""Cost rules of the fused optimizer kernels a training step's 8-bit optimizers run (``capture.optim8bit``:
bitsandbytes' blockwise-quantised Adam / AdamW, Dettmers et al. 2021, "8-bit Optimizers via Block-wise
Quantization", arXiv:2110.02861).

The ops are modeltui's own (``torch.ops.modeltui``; named apart from bitsandbytes' own
``optimizer_update_*`` ops, whose arguments differ and which stay uncovered if a recorded program calls
them): one fused kernel per parameter tensor, as bitsandbytes launches them (its ``csrc/kernels.cu``).
FLOPs per parameter element, counted from the kernels' source (a comparison, ``fabs``, ``fmax`` or
``sqrt`` is one FLOP, as in the element-wise rules):

- ``adam_8bit_blockwise_step`` (``kOptimizerStatic8bit2StateBlockwise``, ADAM): the gradient's
  inf/NaN check 2, the gradient-norm scale 1; dequantise both states (code value x block absmax) 2; second
  moment ``s2 b2 + (1 - b2) g g`` 4, first moment ``s1 b1 + (1 - b1) g`` 3; the new block absmax of both
  states (``fabs``, ``fmax`` per thread 4, the block's ``fmax`` reduction 2) 6; the update
  ``p + step_size s1 / (sqrt(s2) + c2 eps)`` 5; requantise: normalise both states by their absmax 2 and
  quantise each (``quantize_2D``: 7 binary-search compares over the 256-value map, the last compare, the
  midpoint's add and multiply, its compare = 11) 22; state 1's sign check 1: **48**, + 1 with decoupled
  weight decay (``p (1 - lr wd)``, AdamW): **49**. (Launched with 256-element thread blocks, one per
  quantisation block: ``BLOCKSIZE_2STATE`` 256, one element per thread.)
- ``adam_32bit_step`` (tensors under bitsandbytes' ``min_8bit_size`` of 4,096 elements keep fp32
  state and take its fused 32-bit kernel): the same arithmetic without (de)quantisation: check 2, scale 1,
  the two moments 3 + 4, the update 5: **15**, + 1 with weight decay: **16**.

- ``fp8_cast_transpose`` (fp8 training, Transformer Engine's fused ``cast_transpose`` of a GEMM operand):
  per input element its ``fabs`` and ``fmax`` for the tensor's amax and the multiply by the scale before
  the conversion: **3** (the conversion itself and the transposed store are data movement).

Bytes are the dispatch capture's: each op reads the parameter, its gradient, both states and (8-bit) the
absmax of every 256-element block, and writes the parameter, the states and the absmax back (in place).
The two 256-value quantisation maps each block loads into shared memory are the same 2 KiB for every block
(served from L2): not counted as memory traffic.
"""

from __future__ import annotations

from typing import Any

from metrics_core.costs.registry import register

#: FLOPs per parameter element (module docstring), without / with decoupled weight decay.
BLOCKWISE_8BIT_FLOPS: tuple[int, int] = (48, 49)
ADAM_32BIT_FLOPS: tuple[int, int] = (15, 16)


def _per_element(table: tuple[int, int], args: tuple[Any, ...]) -> tuple[int, int]:
    decay = float(args[-1]) > 0.0
    return 0, table[decay] * args[0].numel()


@register("adam_8bit_blockwise_step", category="elementwise")
def blockwise_8bit_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """bitsandbytes' 8-bit blockwise Adam(W) step of one tensor: 48 FLOPs per element, 49 with weight
    decay (module docstring)."""
    return _per_element(BLOCKWISE_8BIT_FLOPS, args)


@register("adam_32bit_step", category="elementwise")
def adam_32bit_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """bitsandbytes' fused 32-bit Adam(W) step of one small tensor: 15 FLOPs per element, 16 with weight
    decay (module docstring)."""
    return _per_element(ADAM_32BIT_FLOPS, args)


@register("fp8_cast_transpose", category="elementwise")
def fp8_cast_transpose_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """fp8 cast-transpose of a GEMM operand: 3 FLOPs per element (amax, scale; module docstring)."""
    return 0, 3 * args[0].numel()
