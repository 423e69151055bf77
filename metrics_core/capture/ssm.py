"""Mamba-1 selective scans (Mamba, Jamba, Falcon-Mamba) captured as whole-sequence ops.

Without the CUDA kernels, transformers' ``mamba_selective_scan`` runs the recurrence
``h_t = exp(A dt_t) * h_{t-1} + dt_t B_t x_t``, ``y_t = h_t . C_t`` as a Python loop over the tokens:
a prefill of L tokens records ``~4 L`` ops per layer (minutes of capture at L = 1,024, and L kernel
launches where serving engines run one fused ``selective_scan`` kernel). ``vectorized_scans(model)``
swaps in ``vectorized_selective_scan`` for the capture: the same discretisation, then the recurrence as
one multiply-add over the ``(B, D, L, N)`` states and one batched matmul with C, so the FLOPs and MACs are
the loop's exactly (2 FLOPs per state element and token; ``D x N`` MACs per token) and the ops are
whole-sequence, as in the fused kernel. The values differ from the recurrence's (the analysis runs on
meta, where there are none). Imports torch and transformers; runs in the analysis workers.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

#: The module-level function of transformers' Mamba-1 modeling files that runs the scan.
SCAN_FUNCTION = "mamba_selective_scan"


def vectorized_selective_scan(
    hidden_states: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,  # noqa: N803 (the paper's names)
    B: torch.Tensor,  # noqa: N803
    C: torch.Tensor,  # noqa: N803
    D: torch.Tensor | None = None,  # noqa: N803
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
    **_kwargs: Any,
) -> Any:
    """transformers' ``mamba_selective_scan`` with the token loop as whole-sequence ops (module
    docstring). Shapes as there: ``hidden_states`` / ``dt`` / ``z`` ``(batch, channels, L)``, ``A``
    ``(channels, N)``, ``B`` / ``C`` ``(batch, N, L)``; returns ``(batch, channels, L)`` (and the last
    state ``(batch, channels, N)`` with ``return_last_state``)."""
    input_dtype = hidden_states.dtype
    if delta_bias is not None:
        dt = dt + delta_bias.to(dt.dtype)[..., None]
    if delta_softplus:
        dt = F.softplus(dt)
    B = B.transpose(1, 2)  # noqa: N806
    C = C.transpose(1, 2)  # noqa: N806
    discrete_a = torch.exp(A[None, :, None, :] * dt[:, :, :, None])
    delta_bu = dt[:, :, :, None] * B[:, None, :, :].float() * hidden_states[:, :, :, None].float()
    states = discrete_a * delta_bu + delta_bu  # the recurrence's multiply-add, every token at once
    out = torch.matmul(states.transpose(1, 2).to(input_dtype), C.unsqueeze(-1)).squeeze(-1).transpose(1, 2)
    if D is not None:
        out = out + hidden_states * D[None, :, None]
    if z is not None:
        out = out * F.silu(z)
    if return_last_state:
        return out, states[:, :, -1]
    return out


@contextlib.contextmanager
def vectorized_scans(model: Any) -> Iterator[None]:
    """Within the block, the transformers modeling modules of ``model``'s layers that define
    ``mamba_selective_scan`` use ``vectorized_selective_scan``; restored on exit."""
    modules = {}
    for m in model.modules():
        mod = sys.modules.get(type(m).__module__)
        if mod is not None and callable(getattr(mod, SCAN_FUNCTION, None)):
            modules[mod.__name__] = mod
    saved = {name: getattr(mod, SCAN_FUNCTION) for name, mod in modules.items()}
    try:
        for mod in modules.values():
            setattr(mod, SCAN_FUNCTION, vectorized_selective_scan)
        yield
    finally:
        for name, mod in modules.items():
            setattr(mod, SCAN_FUNCTION, saved[name])
