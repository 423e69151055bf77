"""Custom ``module:factory`` models for the cache and pool tests (``test_cache*.py``, ``test_pool*.py``)."""

from __future__ import annotations

import os

from torch import nn


def tiny() -> nn.Module:
    """Input (N, 3, H, W): global average pool, flatten (a view), Linear(3, 4): 3 x 4 = 12 MACs at batch 1."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4))


def broken() -> nn.Module:
    """A factory that fails: its row must carry the error, the other models must not notice."""
    raise RuntimeError("factory failed on purpose")


def crash() -> nn.Module:
    """A factory that kills the process analysing it (as a segfault or the OOM killer would)."""
    os._exit(3)
