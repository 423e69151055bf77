"""Shared by the cost-rule tests: see each non-free op exactly as the capture receives it, and cost it."""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from metrics_core.costs import FREE_OPS, lookup


class Capture(TorchDispatchMode):
    """Records (op name, args, kwargs, out) of every non-free op."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func.overloadpacket.__name__
        if name not in FREE_OPS:
            self.calls.append((name, args, kwargs, out))
        return out


def costs(fn, *inputs) -> list[tuple[str, int, int]]:
    """(op, macs, flops) of each non-free op dispatched by ``fn(*inputs)``."""
    with torch.no_grad(), Capture() as cap:
        fn(*inputs)
    return [(name, *lookup(name).fn(args, kwargs, out)) for name, args, kwargs, out in cap.calls]


def meta(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, device="meta")
