"""Small models for the training-step tests (tests/test_training.py): hand-derivable shapes."""

from __future__ import annotations

import torch
from torch import nn


def mlp() -> nn.Module:
    """Linear(8, 16) -> ReLU -> Linear(16, 4): fed (B, 8)."""
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


def convnet() -> nn.Module:
    """Conv2d(3, 8, 3, padding 1) -> ReLU -> Conv2d(8, 4, 3, padding 1): fed (B, 3, 8, 8)."""
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1))


def no_bias() -> nn.Module:
    """Linear(64, 32) -> Linear(32, 10), no biases: 2,048 + 320 = 2,368 parameters, no buffers."""
    return nn.Sequential(nn.Linear(64, 32, bias=False), nn.Linear(32, 10, bias=False))


class Block(nn.Module):
    """Linear(16, 16) -> ReLU -> Linear(16, 16)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin1 = nn.Linear(16, 16)
        self.act = nn.ReLU()
        self.lin2 = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(self.act(self.lin1(x)))


class TwoBlocks(nn.Module):
    """Two ``Block``s in a Sequential (the checkpointing units), then Linear(16, 4): fed (B, 16)."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(Block(), Block())
        self.head = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(x))


def two_blocks() -> nn.Module:
    return TwoBlocks()


class Branches(nn.Module):
    """Three Linear(8, 8) branches of one input, concatenated (an Inception-style module)."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.a(x), self.b(x), self.c(x)], dim=1)


def branches() -> nn.Module:
    return Branches()


def chain() -> nn.Module:
    """Three Linear(8, 8) one after another."""
    return nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8))
