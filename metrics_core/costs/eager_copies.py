"""Copies an eager kernel makes inside itself, which no op trace shows.

Some ATen kernels first make an input contiguous (``Tensor::contiguous`` / ``expect_contiguous``: a copy
kernel that reads the strided tensor and writes a packed one) or run as several passes of themselves. The
capture runs on the meta device, where these kernels never execute, and a copy made inside a kernel is
below the op the dispatcher shows; so the op's record keeps its own traffic (what the op reads and writes,
the convention of every metric) and lists these copies apart (``OpRecord.hidden_copies``), for the eager
execution model only (``perf.fusion.eager_kernels``: each copy is one more launch that reads and writes
its bytes). Under ``torch.compile`` Inductor generates kernels that read strided inputs directly: no copy.

Rules (PyTorch sources, ``aten/src/ATen/native``):

- ``native_layer_norm`` (``cuda/layer_norm_kernel.cu`` ``layer_norm_cuda`` and ``layer_norm.cpp``
  ``layer_norm_cpu``: ``input.expect_contiguous()``) copies a non-contiguous input: a LayerNorm over the
  channels of a permuted NCHW tensor (ConvNeXt's blocks and ``LayerNorm2d``) pays one copy of it.
- ``native_layer_norm_backward`` (``layer_norm_backward_cuda``: ``input.expect_contiguous()``, and
  ``LayerNormBackwardKernelImpl``: ``dY.contiguous()``) copies a non-contiguous input and output gradient.
- ``_softmax`` / ``_log_softmax`` (``cuda/SoftMax.cu`` ``host_softmax``: ``input_.contiguous()``) copy a
  non-contiguous input.
- ``roll`` (``cuda/TensorTransformations.cu`` ``roll_cuda``; ``TensorTransformations.cpp``
  ``roll_common``): over several dims it rolls the first dim, then the rest, one full pass per dim (the
  record counts one); a one-dim roll of a non-contiguous input copies it first.

A tensor's bytes are the capture's (``StorageTracker.nbytes``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Ops that make these positional tensor arguments contiguous before their kernel runs (module doc).
CONTIGUOUS_ARGS: dict[str, tuple[int, ...]] = {
    "native_layer_norm": (0,),
    "native_layer_norm_backward": (0, 1),
    "_softmax": (0,),
    "_log_softmax": (0,),
}


def _is_tensor(x: Any) -> bool:
    return hasattr(x, "is_contiguous") and hasattr(x, "numel")


def _roll_copies(args: tuple, kwargs: dict, nbytes: Callable[[Any], int]) -> list[int]:
    x = args[0] if args else kwargs.get("self")
    if not _is_tensor(x) or x.numel() == 0:
        return []
    dims = args[2] if len(args) > 2 else kwargs.get("dims", ())
    dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
    size = nbytes(x)
    if len(dims) <= 1:
        # one dim: a non-contiguous input is copied first; no dims: the flattened roll (a copy when the
        # input is not contiguous, as ``flatten`` of a strided tensor)
        return [] if x.is_contiguous() else [size]
    # the first dim's roll (a copy first when strided), then one more full pass per further dim
    return ([] if x.is_contiguous() else [size]) + [size] * (len(dims) - 1)


def hidden_copies(name: str, args: tuple, kwargs: dict, nbytes: Callable[[Any], int]) -> list[int] | None:
    """Bytes of each copy the eager kernel of ``name`` makes inside itself for these arguments (each copy
    reads and writes that many bytes and is one kernel launch), in order; None when it makes none.

    ``args`` / ``kwargs``: the op's arguments (tensors with their real strides: meta tensors in the
    capture); ``nbytes``: a tensor's bytes. Rules and sources: module docstring."""
    if name == "roll":
        copies = _roll_copies(args, kwargs, nbytes)
    else:
        copies = [
            nbytes(args[i])
            for i in CONTIGUOUS_ARGS.get(name, ())
            if i < len(args) and _is_tensor(args[i]) and args[i].numel() and not args[i].is_contiguous()
        ]
    return copies or None
