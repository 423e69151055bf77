"""Cost rules of PyTorch's multi-tensor (``_foreach_*``) ops, what ``torch.optim``'s ``foreach``
implementation (the CUDA default of SGD, Adam, AdamW, Adafactor ...) runs: one op over a list of tensors.

FLOPs: the pointwise op's FLOPs per element (``FOREACH_FLOPS``, the same counts as the single-tensor rules
of ``costs.elementwise``: ``lerp`` / ``addcmul`` / ``addcdiv`` 3, ``add`` / ``sub`` 2 with ``alpha != 1``,
every other arithmetic op 1, ``copy`` / ``zero`` 0) summed over every tensor of the first (``self``) list;
MACs = 0; category ``elementwise``. Bytes are the dispatch capture's: every tensor of every list read, and
the written list (the output list, or ``self`` for an in-place op: read and written). An ``_foreach_`` op not
in the table has no rule: it stays uncovered, by name.

Kernels (``multi_tensor_launches``): the CUDA implementation (``aten/src/ATen/native/cuda/
MultiTensorApply.cuh``, ``multi_tensor_apply``) walks the tensors of the lists in order, skipping empty
ones, giving each ``kChunkSize`` = 65,536-element chunk one thread block, and launches a kernel whenever
the launch holds ``depth_to_max_tensors[depth - 1]`` tensors (their last chunk included) or
``depth_to_max_blocks[depth - 1]`` blocks, plus one for what is left. ``depth`` is the number of tensor
lists the kernel addresses: the op's tensor-list arguments, plus the output list of an out-of-place op.
Two limit tables exist (``DepthToMaxConfig``): the 4 KB kernel-argument one (``{110, 64, 48, 36, 30}``
tensors, 320 blocks; scalar-list ops ``{96, 64, 48, 36, 30}``) and, since CUDA 12.1 with a driver that
supports it on compute capability >= 7.0 (``supports_large_kernel_arg``), the 32 KB one (``{770, 448, 336,
252, 210}`` tensors, 2,240 blocks; scalar-list ops ``{672, 448, 336, 252, 210}``). The capture counts the
32 KB one (``LARGE_KERNEL_ARG``): every GPU target here is compute capability >= 7.0 and current PyTorch
wheels are built with CUDA 12.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from metrics_core.costs._common import arg
from metrics_core.costs.registry import register

#: FLOPs per element of each ``_foreach_<op>`` / ``_foreach_<op>_`` (module docstring).
FOREACH_FLOPS: dict[str, int] = {
    **dict.fromkeys(
        (
            "mul",
            "div",
            "sqrt",
            "rsqrt",
            "neg",
            "abs",
            "exp",
            "log",
            "reciprocal",
            "sign",
            "pow",
            "maximum",
            "minimum",
            "clamp_min",
            "clamp_max",
            "sigmoid",
            "tanh",
        ),
        1,
    ),  # fmt: skip
    "add": 1,  # 2 with alpha != 1 (``foreach_cost``)
    "sub": 1,
    "lerp": 3,  # a + w * (b - a)
    "addcmul": 3,  # x + v * t1 * t2
    "addcdiv": 3,  # x + v * t1 / t2
    "copy": 0,
    "zero": 0,
}

#: ``MultiTensorApply.cuh`` ``kChunkSize``: elements per thread block.
CHUNK_ELEMENTS = 65536

#: ``DepthToMaxConfig<large_kernel_arg>``: tensors per launch by depth 1..5 (tensor-list ops, scalar-list
#: ops) and blocks per launch, for the 4 KB (False) and 32 KB (True) kernel-argument limit.
MAX_TENSORS: dict[bool, tuple[int, ...]] = {False: (110, 64, 48, 36, 30), True: (770, 448, 336, 252, 210)}
MAX_TENSORS_SCALARLIST: dict[bool, tuple[int, ...]] = {
    False: (96, 64, 48, 36, 30),
    True: (672, 448, 336, 252, 210),
}
MAX_BLOCKS: dict[bool, int] = {False: 320, True: 2240}

#: The limits the capture counts launches with (module docstring).
LARGE_KERNEL_ARG = True


def multi_tensor_launches(
    numels: Sequence[int], depth: int, *, scalar_list: bool = False, large_kernel_arg: bool = LARGE_KERNEL_ARG
) -> int:
    """Kernel launches of one ``multi_tensor_apply`` over tensors of ``numels`` elements (the first
    list's, in order) at ``depth`` tensor lists (1-5), replaying its loop (module docstring). 0 when every
    tensor is empty. ``ValueError`` for a depth outside 1-5."""
    if not 1 <= depth <= 5:
        raise ValueError(f"multi_tensor_apply depth must be 1-5, got {depth}")
    table = MAX_TENSORS_SCALARLIST if scalar_list else MAX_TENSORS
    max_tensors, max_blocks = table[large_kernel_arg][depth - 1], MAX_BLOCKS[large_kernel_arg]
    launches = tensors = blocks = 0
    for n in numels:
        if n == 0:
            continue
        tensors += 1
        chunks = math.ceil(n / CHUNK_ELEMENTS)
        for chunk in range(chunks):
            blocks += 1
            last = chunk == chunks - 1
            if (tensors == max_tensors and last) or blocks == max_blocks:
                launches += 1
                blocks = 0
                tensors = 0 if last else 1  # a tensor cut by the block limit carries into the next launch
    return launches + (1 if blocks else 0)


def _tensor_lists(args: tuple[Any, ...]) -> list[list[Any]]:
    return [list(a) for a in args if isinstance(a, (list, tuple)) and a and hasattr(a[0], "numel")]


def foreach_launches(name: str, args: tuple[Any, ...]) -> int | None:
    """Kernel launches of the ``_foreach_*`` op ``name`` called with ``args`` (``multi_tensor_launches``:
    depth = its tensor lists, + 1 for an out-of-place op's output list; a list of Python numbers is a
    scalar list); None for an op that is not a multi-tensor op or whose depth is outside 1-5."""
    if not name.startswith("_foreach_") and name != "_amp_foreach_non_finite_check_and_unscale_":
        return None
    lists = _tensor_lists(args)
    if not lists:
        return None
    in_place = name.endswith("_")
    depth = len(lists) + (0 if in_place else 1)
    if depth > 5:
        return None
    scalar_list = any(
        isinstance(a, (list, tuple)) and a and all(isinstance(x, (int, float)) for x in a) for a in args
    )
    return multi_tensor_launches([t.numel() for t in lists[0]], depth, scalar_list=scalar_list)


def _rule(base: str) -> Any:
    """The cost rule of ``_foreach_<base>`` and ``_foreach_<base>_``: ``FOREACH_FLOPS[base]`` x the
    elements of every tensor of its first list (``add`` / ``sub`` with ``alpha != 1``: 2 per element);
    MACs = 0."""
    per = FOREACH_FLOPS[base]

    def rule(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
        elements = sum(t.numel() for t in args[0])
        flops = per
        if base in ("add", "sub") and arg(args, kwargs, 2, "alpha", 1) != 1:
            flops = 2
        return 0, flops * elements

    rule.__doc__ = f"``_foreach_{base}``: {per} FLOP(s) per element of its tensors (``FOREACH_FLOPS``)."
    return rule


for _base_op in FOREACH_FLOPS:
    register(f"_foreach_{_base_op}", f"_foreach_{_base_op}_", category="elementwise")(_rule(_base_op))
