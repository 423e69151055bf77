"""Custom ``module:factory`` models for the catalog and build tests (``build_test_models:tiny_cnn``)."""

from __future__ import annotations

import torch
from torch import nn

NOT_CALLABLE = 3


def tiny_cnn() -> nn.Module:
    """Conv2d(3, 8, 3, padding=1), ReLU, global average pool, Linear(8, 10).

    Parameters: conv 8*3*3*3 + 8 = 224; linear 10*8 + 10 = 90; total 314.
    """
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)
    )


def real_math_at_init() -> nn.Module:
    """Computes its width with real tensor arithmetic (as RegNet does), so it cannot be built on meta.

    width = 2 * 3 = 6; Linear(6, 6) has 6*6 + 6 = 42 parameters.
    """
    width = int(torch.tensor([2.0, 3.0]).prod().item())
    return nn.Linear(width, width)


def raises() -> nn.Module:
    raise ValueError("bad configuration\nsecond line of detail")


def not_a_module() -> int:
    return 42
