"""Memory layouts the meta device does not reproduce: a convolution's output format.

PyTorch's meta kernel of ``convolution`` always returns a contiguous (NCHW) output
(``torch/_meta_registrations.py`` ``meta_conv``: "Memory format is left as contiguous: meta tensors have no
device info"). The device kernels return a channels-last output when the input or the weight is
channels-last: cuDNN (``aten/src/ATen/native/ConvUtils.h`` ``cudnn_conv_suggest_memory_format``: 4-D / 5-D,
input or weight ``suggest_memory_format() == ChannelsLast``; a channels-last depthwise convolution always
takes cuDNN, ``ConvParams::use_cudnn_depthwise``) and oneDNN on the CPU
(``mkldnn_conv_use_channels_last``, the same test). The capture gives the output the layout the device
kernels give it, so every op after it sees the strides eager PyTorch sees: ConvNeXt's blocks, whose
``permute`` + LayerNorm + ``permute`` back leave a channels-last tensor, run channels-last from the stem on,
and their LayerNorms read contiguous rows (``costs.eager_copies``).

The device kernels run in that one format, so an operand not laid out in it is copied first, inside the
kernel: cuDNN's ``cudnn_convolution_forward_out`` (``aten/src/ATen/native/cudnn/ConvShared.cpp``:
``weight->contiguous(memory_format)``, ``input->contiguous(memory_format)``, the output's format) and
``_convolution``'s ``input.contiguous(backend_memory_format)`` (``Convolution.cpp``; oneDNN the same). A
channels-last input with an NCHW weight (a model left NCHW fed a channels-last tensor; ConvNeXt's
downsampling convolutions after its channels-last blocks) copies the weight, a channels-last weight with an
NCHW input copies the input, a strided input of an NCHW convolution is made contiguous
(``conv_copies``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

#: The convolution ops of the dispatcher (one cost rule: ``costs.conv``).
CONV_OPS: frozenset[str] = frozenset({"convolution", "_convolution", "convolution_overrideable"})


def channels_last_format(t: Any) -> torch.memory_format | None:
    """``torch.channels_last`` / ``channels_last_3d`` when ``t`` (4-D / 5-D) is laid out channels-last and
    not also contiguous (a tensor both are, such as one channel or 1x1 spatial, is NCHW: PyTorch's
    ``suggest_memory_format`` falls back to it); None otherwise."""
    if not isinstance(t, torch.Tensor) or t.dim() not in (4, 5) or t.is_contiguous():
        return None
    fmt = torch.channels_last if t.dim() == 4 else torch.channels_last_3d
    return fmt if t.is_contiguous(memory_format=fmt) else None


def conv_is_channels_last(args: tuple) -> bool:
    """Whether a convolution called with ``args`` (input, weight, ...) runs its channels-last kernel."""
    return any(channels_last_format(a) is not None for a in args[:2])


def device_layout(name: str, args: tuple, out: Any) -> Any:
    """``out`` of op ``name`` with the memory format the device kernel gives it (module doc): a meta
    convolution output made channels-last when its input or weight is; anything else unchanged."""
    if name not in CONV_OPS or not isinstance(out, torch.Tensor) or not out.is_meta:
        return out
    fmt = next((f for f in map(channels_last_format, args[:2]) if f is not None), None)
    if fmt is None or out.dim() != args[0].dim() or out.is_contiguous(memory_format=fmt):
        return out
    return torch.empty(out.shape, dtype=out.dtype, device=out.device, memory_format=fmt)


def conv_copies(args: tuple, nbytes: Callable[[Any], int]) -> list[int] | None:
    """Bytes of each operand (input, then weight) a convolution called with ``args`` copies into its
    kernel's memory format first (module doc: channels-last when its input or weight is, else contiguous
    NCHW); None when both already are. ``nbytes``: a tensor's bytes (the capture's)."""
    fmt = next((f for f in map(channels_last_format, args[:2]) if f is not None), torch.contiguous_format)
    copies = [
        nbytes(a)
        for a in args[:2]
        if isinstance(a, torch.Tensor) and a.numel() and not a.is_contiguous(memory_format=fmt)
    ]
    return copies or None
