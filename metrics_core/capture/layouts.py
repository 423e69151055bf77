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

The backward, ``convolution_backward`` (grad_output, input, weight, ..., output_mask), runs in the same
format, chosen from input and weight alone (``aten/src/ATen/native/Convolution.cpp``
``convolution_backward``: ``determine_backend_memory_format(input, weight, backend)``; pytorch/pytorch
954cecd170713eed16a75b7dcea776a5abf0f134), and returns grad_input and grad_weight in it. PyTorch's meta
kernel does the same (``torch/_meta_registrations.py`` ``meta_convolution_backward``: "Both grad_input and
grad_weight use this same backend_memory_format"; torch 2.14.1, git 5c4886908584029761b579af026dcfb627c84070,
the version pinned), so the capture's backward ops see eager CUDA's strides with nothing changed here. What
the meta kernel cannot show are the copies inside cuDNN's backward (``cudnn/ConvShared.cpp``,
pytorch/pytorch 02f095500106364c5fa7da109f5dc0f35c320e41): ``input.contiguous(format)`` when the weight
gradient is asked for (``Convolution.cpp``; ``cudnn_convolution_backward_weight``), grad_output made the
input's format (``cudnn_convolution_backward``: ``grad_output_t.to(input.suggest_memory_format())``, then
``grad_output->contiguous(memory_format)``) and ``weight->contiguous(memory_format)`` when the input
gradient is asked for (``cudnn_convolution_backward_input``). A channels-last network whose last
convolution's output is flattened (``reshape`` copies a channels-last tensor to NCHW first) gets that
convolution's grad_output back NCHW: its backward copies it (``conv_copies``). The backward's record is
``channels_last`` where the forward's is (``conv_is_channels_last``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from metrics_core.common.errors import UsageError

#: The convolution ops of the dispatcher (one cost rule: ``costs.conv``).
CONV_OPS: frozenset[str] = frozenset({"convolution", "_convolution", "convolution_overrideable"})
#: The convolution's backward op (``costs.backward``): grad_output, input, weight, ..., output_mask (10).
CONV_BACKWARD = "convolution_backward"
#: Ops that run a convolution kernel in one memory format (``conv_copies``, ``conv_is_channels_last``).
CONV_KERNEL_OPS: frozenset[str] = CONV_OPS | {CONV_BACKWARD}


def channels_last_format(t: Any) -> torch.memory_format | None:
    """``torch.channels_last`` / ``channels_last_3d`` when ``t`` (4-D / 5-D) is laid out channels-last and
    not also contiguous (a tensor both are, such as one channel or 1x1 spatial, is NCHW: PyTorch's
    ``suggest_memory_format`` falls back to it); None otherwise."""
    if not isinstance(t, torch.Tensor) or t.dim() not in (4, 5) or t.is_contiguous():
        return None
    fmt = torch.channels_last if t.dim() == 4 else torch.channels_last_3d
    return fmt if t.is_contiguous(memory_format=fmt) else None


def _input_weight(name: str, args: tuple) -> tuple:
    """The input and weight of convolution op ``name`` called with ``args`` (what picks its format)."""
    return tuple(args[1:3]) if name == CONV_BACKWARD else tuple(args[:2])


def _kernel_operands(name: str, args: tuple) -> tuple:
    """The tensors the kernel of ``name`` reads in its format (module doc): a forward's input and weight; a
    backward's grad_output, its input when the weight gradient is asked for (``output_mask[1]``), its
    weight when the input gradient is (``output_mask[0]``)."""
    if name != CONV_BACKWARD:
        return tuple(args[:2])
    mask = args[10] if len(args) > 10 else (True, True, True)
    return tuple(args[i] for i, needed in ((0, True), (1, mask[1]), (2, mask[0])) if needed)


def conv_is_channels_last(name: str, args: tuple) -> bool:
    """Whether convolution op ``name`` (forward or ``convolution_backward``) called with ``args`` runs its
    channels-last kernel: its input or weight is channels-last."""
    return any(channels_last_format(a) is not None for a in _input_weight(name, args))


def device_layout(name: str, args: tuple, out: Any) -> Any:
    """``out`` of op ``name`` with the memory format the device kernel gives it (module doc): a meta
    convolution output made channels-last when its input or weight is; anything else unchanged (the meta
    ``convolution_backward`` already returns its gradients in the kernel's format)."""
    if name not in CONV_OPS or not isinstance(out, torch.Tensor) or not out.is_meta:
        return out
    fmt = next((f for f in map(channels_last_format, args[:2]) if f is not None), None)
    if fmt is None or out.dim() != args[0].dim() or out.is_contiguous(memory_format=fmt):
        return out
    return torch.empty(out.shape, dtype=out.dtype, device=out.device, memory_format=fmt)


def conv_copies(name: str, args: tuple, nbytes: Callable[[Any], int]) -> list[int] | None:
    """Bytes of each operand convolution op ``name`` called with ``args`` copies into its kernel's memory
    format first (module doc: channels-last when its input or weight is, else contiguous NCHW), in argument
    order: a forward's input and weight; a backward's grad_output, input (weight gradient asked for) and
    weight (input gradient asked for). None when all already are. ``nbytes``: a tensor's bytes (the
    capture's)."""
    fmt = next(
        (f for f in map(channels_last_format, _input_weight(name, args)) if f is not None),
        torch.contiguous_format,
    )
    copies = [
        nbytes(a)
        for a in _kernel_operands(name, args)
        if isinstance(a, torch.Tensor) and a.numel() and not a.is_contiguous(memory_format=fmt)
    ]
    return copies or None


#: The channels-last format of a tensor of each rank (``torch.channels_last`` requires 4-D, ``_3d`` 5-D).
CHANNELS_LAST_BY_RANK: dict[int, torch.memory_format] = {4: torch.channels_last, 5: torch.channels_last_3d}


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    fmt = CHANNELS_LAST_BY_RANK.get(t.dim())
    return t if fmt is None else t.contiguous(memory_format=fmt)


def to_memory_format(
    model: torch.nn.Module, args: tuple, kwargs: dict[str, Any], memory_format: str, what: str = "the model"
) -> tuple[tuple, dict[str, Any]]:
    """Lay ``model`` and its example inputs out in ``memory_format`` (``common.input_spec.MEMORY_FORMATS``)
    before a capture; returns the new ``(args, kwargs)``. ``contiguous``: everything unchanged (the layout
    PyTorch builds). ``channels_last``: every 4-D parameter and buffer of ``model`` becomes
    ``torch.channels_last`` and every 5-D one ``torch.channels_last_3d``, in place (what
    ``model.to(memory_format=...)`` does, ``nn.Module.to``: only 4-D / 5-D tensors are converted; pass a
    model you own: the Python API passes a meta copy or meta stand-ins), and so are the 4-D / 5-D
    floating-point tensors of ``args`` / ``kwargs`` (top level, or in a list / tuple): PyTorch's "Channels
    Last Memory Format" tutorial (``model.to(memory_format=torch.channels_last)`` and
    ``input.to(memory_format=torch.channels_last)``) and NVIDIA DeepLearningExamples' ConvNets
    ``--memory-format nhwc``. The conversion itself is not captured (a data loader's job, before the step).

    ``UsageError`` (one line) when channels-last is asked for and no input is a 4-D or 5-D floating-point
    tensor: it would change nothing the model is fed (``what`` names the model in the message)."""
    if memory_format == "contiguous":
        return args, kwargs
    found: list[torch.Tensor] = []

    def convert(v: Any) -> Any:  # noqa: ANN401
        if isinstance(v, torch.Tensor):
            if v.is_floating_point() and v.dim() in CHANNELS_LAST_BY_RANK:
                found.append(v)
                return _channels_last(v)
            return v
        if isinstance(v, (list, tuple)):
            return type(v)(convert(x) for x in v)
        return v

    new_args = tuple(convert(a) for a in args)
    new_kwargs = {k: convert(v) for k, v in kwargs.items()}
    if not found:
        raise UsageError(
            f"--memory-format channels-last: {what} is fed no 4-D or 5-D floating-point tensor (an image "
            "batch N, C, H, W or a video N, C, D, H, W): channels-last would change nothing; leave it "
            "contiguous, or feed such an input (--input / --input-shape)"
        )
    model._apply(_channels_last)  # nn.Module.to(memory_format=...)'s own path: parameters, buffers, grads
    return new_args, new_kwargs
