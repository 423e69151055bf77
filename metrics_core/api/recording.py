"""``metrics_core.record``: the ops of any block of code, as a ``Report``.

::

    with metrics_core.record(model, hardware="h100-sxm5-80gb") as rec:
        model.generate(ids, max_new_tokens=4)   # or: loss = model(x).sum(); loss.backward()
    print(rec.report)

The block runs for real, on the user's tensors and device (unlike ``analyze``, which runs on the meta
device): every aten op dispatched while it runs - in the forward passes, in autograd's backward, in an
optimizer step - is recorded and costed by the same rules, with module attribution for ops run inside
``model``'s modules (backward and optimizer ops belong to the model itself, ``(model)``). Parameters and
buffers of ``model`` count as weight bytes. The recorder keeps no tensor alive. Ops that have no cost rule
are reported as uncovered, by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from metrics_core.api.report import Report
from metrics_core.common.dtypes import DTYPES
from metrics_core.common.errors import UsageError
from metrics_core.common.records import ModelReport


@dataclass
class Recording:
    """What ``record`` yields; ``report`` is set when the block ends without an exception."""

    report: Report | None = None


@contextmanager
def record(
    model: Any = None,  # noqa: ANN401 (nn.Module or None)
    *,
    name: str | None = None,
    dtype: str | None = None,
    batch_size: int = 1,
    hardware: Any = None,  # noqa: ANN401
    precision: str | None = None,
    execution: str | None = None,
    efficiency: str | None = None,
) -> Iterator[Recording]:
    """Record the ops of the ``with`` block into ``Recording.report``.

    ``model``: the module whose parameters are weights and whose submodules name the ops (None: every op
    belongs to the block); ``dtype``: bytes per floating-point element (default: the model's own, else
    fp32); ``batch_size``: the samples the block processes (for per-sample figures); the estimate
    keywords as ``analyze``. ``UsageError`` for a ``model`` that is not an ``nn.Module``, an unknown dtype
    or a batch size that is not a positive integer. An exception in the block propagates (no report).
    """
    import torch

    from metrics_core.api.instance import _model_dtype
    from metrics_core.capture.dispatch import OpCapture
    from metrics_core.capture.trace import Trace
    from metrics_core.costs.registry import load_rule_modules
    from metrics_core.runtime.engines import fill_report

    if model is not None and not isinstance(model, torch.nn.Module):
        raise UsageError(f"record() takes an nn.Module (or None), got a {type(model).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"batch size must be a positive integer, got {batch_size!r}")
    root = model if model is not None else torch.nn.Module()
    dtype = dtype or _model_dtype(root)
    if dtype not in DTYPES:
        raise UsageError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    Report(ModelReport("x", [], 1, dtype), hardware, precision, execution, efficiency)  # check options first
    load_rule_modules()
    rec = Recording()
    cap = OpCapture(root, dtype, real=True)
    with cap:
        yield rec
    st = cap.storage
    trace = Trace(cap.records, None, st.events, st.sizes, (), (), dict(cap.rule_errors))
    raw = ModelReport(
        model=name or (type(model).__name__ if model is not None else "recorded block"),
        input_shape=[],
        batch_size=batch_size,
        dtype=dtype,
        task="custom",
        family="recorded",
    )
    fill_report(raw, root, trace, dtype)
    rec.report = Report(raw, hardware, precision, execution, efficiency)
