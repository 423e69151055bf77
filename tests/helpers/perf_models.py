"""Tiny custom models (``perf_models:factory``) for the peak-memory, bench and sweep tests."""

from __future__ import annotations

from torch import nn


def tiny_mlp() -> nn.Module:
    """Input (N, 1, 16): flatten (a view), Linear(16, 32), ReLU, Linear(32, 8)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8))


def linear_1024() -> nn.Module:
    """Input (N, 1, 1024): flatten (a view), then one Linear(1024, 1024) without bias (4 MiB of fp32)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(1024, 1024, bias=False))
