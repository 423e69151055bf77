"""Models whose code misbehaves, for the isolation tests (``test_isolation.py``): each fault must become that
model's row error (or stay in its worker), never reach the CLI's output or end the run."""

from __future__ import annotations

import os
import sys
import time

from torch import nn


class ModelQuit(BaseException):
    """A ``BaseException`` subclass that is neither ``Exception`` nor ``SystemExit``."""


class _Forward(nn.Module):
    """Linear(4, 2) whose forward pass first does ``self.fault()``."""

    def __init__(self, fault) -> None:  # noqa: ANN001
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.fault = fault

    def forward(self, x):  # noqa: ANN001, ANN201
        self.fault()
        return self.fc(x)


def ok() -> nn.Module:
    """A well-behaved model: Linear(4, 2), 8 MACs per sample."""
    return nn.Linear(4, 2)


def exit_factory() -> nn.Module:
    sys.exit(3)


def exit_none_factory() -> nn.Module:
    sys.exit()


def os_exit_factory() -> nn.Module:
    os._exit(0)


def interrupt_factory() -> nn.Module:
    raise KeyboardInterrupt


def base_factory() -> nn.Module:
    raise ModelQuit("model gave up")


def print_factory() -> nn.Module:
    print("noise from the factory")
    print("noise on stderr", file=sys.stderr)
    return nn.Linear(4, 2)


def hang_factory() -> nn.Module:
    time.sleep(600)
    return nn.Linear(4, 2)


def _exit_now() -> None:
    sys.exit(4)


def _interrupt() -> None:
    raise KeyboardInterrupt


def _print() -> None:
    print("noise from forward")


def exit_forward() -> nn.Module:
    return _Forward(_exit_now)


def interrupt_forward() -> nn.Module:
    return _Forward(_interrupt)


def print_forward() -> nn.Module:
    return _Forward(_print)


def exit_causal_lm():  # noqa: ANN201
    """A causal-LM factory that calls ``sys.exit`` (for ``modeltui llm``)."""
    sys.exit(5)


def hang_causal_lm():  # noqa: ANN201
    time.sleep(600)
