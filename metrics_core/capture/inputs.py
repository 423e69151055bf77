"""Example inputs for a model's forward pass: the positional arguments, as (meta) tensors.

One tensor ``(N, *input_shape)`` for images ``(N, C, H, W)``, video ``(N, C, T, H, W)`` and custom
models; two for ``image_pair`` (RAFT's ``forward(image1, image2)``). Models the meta device cannot run
(detection, quantized) are refused with their one-line reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from metrics_core.common.errors import UnsupportedModelError, UsageError
from metrics_core.sources.catalog import INPUT_COUNT, ModelSpec, resolve_input_shape


def example_inputs(
    spec: ModelSpec,
    batch_size: int = 1,
    input_shape: Sequence[int] | None = None,
    device: str = "meta",
    dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, ...]:
    """Positional arguments for ``model(*args)`` at ``batch_size`` and ``input_shape`` (per sample; the
    catalog's native shape when None), uninitialised, on ``device``, in ``dtype`` (default float32).

    ``UsageError`` for a non-positive batch size or a shape of the wrong rank; ``UnsupportedModelError``
    for a refused model.
    """
    if not spec.supported:
        raise UnsupportedModelError(f"{spec.name}: {spec.reason}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"batch size must be a positive integer, got {batch_size!r}")
    shape = (batch_size, *resolve_input_shape(spec, input_shape))
    dtype = torch.float32 if dtype is None else dtype
    return tuple(
        torch.empty(shape, device=device, dtype=dtype) for _ in range(INPUT_COUNT.get(spec.input_kind, 1))
    )
