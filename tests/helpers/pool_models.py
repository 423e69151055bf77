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


def dies_sending_its_result() -> nn.Module:
    """A worker killed while it sends a result back (the OOM killer, a SIGKILL at exit): the first bytes
    of a 1 MiB message reach the caller's result pipe, the rest never do. Reaches the pool's result queue
    through the frame of ``concurrent.futures.process._process_worker`` (CPython 3.10-3.13)."""
    import struct
    import sys

    frame = sys._getframe()
    while frame is not None and frame.f_code.co_name != "_process_worker":
        frame = frame.f_back
    if frame is None:  # not in a pool worker (in-process analysis): die all the same
        os._exit(3)
    writer = frame.f_locals["result_queue"]._writer
    os.write(writer.fileno(), struct.pack("!i", 1 << 20) + b"the first bytes of a result")
    os._exit(3)
