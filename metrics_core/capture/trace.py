"""Capture every aten op of one forward pass as an ``OpRecord``: ``capture(model, inputs, dtype) -> Trace``.

The parts: ``attribution`` (module stack), ``storage`` (weights vs activations, storage lifetimes),
``dispatch`` (the ``TorchDispatchMode`` that records and costs each op).

How the capture sees the model:
- It runs an inference forward pass (``torch.no_grad()``, the model in eval) with PyTorch's fused
  transformer fast path switched off (``torch.backends.mha.set_fastpath_enabled(False)``), so
  ``nn.MultiheadAttention`` / ``nn.TransformerEncoderLayer`` show the work they contain op by op instead of
  one opaque fused op. (Grad mode is not used for that: it adds autograd-only clones and saved tensors.)
- ``F.scaled_dot_product_attention`` is recorded as ONE attention op (the fused kernel PyTorch runs on CPU
  and GPU), not as the math decomposition the meta device would otherwise show; its bytes are q, k, v,
  mask and output (the score matrix stays on chip, as in flash/efficient attention).
- Module attribution comes from global forward pre/post hooks: each op belongs to the innermost module
  running when it was dispatched.
- Parameters and buffers (and views of them) count as weight bytes; every other tensor argument as input
  bytes; outputs as output bytes. Views and metadata ops (``costs.FREE_OPS``) are free and not recorded.
- Bytes follow the analysis dtype: a floating-point tensor of ``numel`` elements costs
  ``numel * bytes_per_element(dtype)``; integer and bool tensors keep their own element size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from metrics_core.capture.dispatch import OpCapture
from metrics_core.capture.storage import tensors_in
from metrics_core.common.dtypes import ElementBits
from metrics_core.common.records import OpRecord


@dataclass
class Trace:
    """One forward pass: its records, and the activation storage events behind them.

    ``events[i]`` is ``(reads, allocs)`` of record ``i``: storage keys of the activations it reads and
    of the storages it allocates; ``sizes`` maps a storage key to its bytes (analysis dtype);
    ``input_keys`` / ``output_keys`` are the storages of the model inputs / outputs; ``head_index`` is
    the record that wrote the model's first output (the classifier head, for max_width).
    """

    records: list[OpRecord]
    head_index: int | None
    events: list[tuple[tuple[int, ...], tuple[int, ...]]]
    sizes: dict[int, int]
    input_keys: tuple[int, ...]
    output_keys: tuple[int, ...]
    #: Errors of users' cost rules by op name (their ops are uncovered): ``OpCapture.rule_errors``.
    rule_errors: dict[str, str] = field(default_factory=dict)
    #: Per module of ``capture``'s ``spans_of``: the ``[start, end)`` record ranges of its calls.
    spans: list[list[tuple[int, int]]] = field(default_factory=list)
    #: A capture with identical decoder layers captured once (``capture.layer_replicas``): per decoder
    #: layer, the captured layer whose records it copies. None: every layer captured.
    layer_sources: list[int] | None = None


def capture(
    model: torch.nn.Module,
    inputs: tuple,
    dtype: str,
    kwargs: dict[str, Any] | None = None,
    input_values: Sequence[tuple[torch.Tensor, torch.Tensor]] = (),
    bits: ElementBits | None = None,
    kv_tensors: Sequence[torch.Tensor] = (),
    spans_of: Sequence[torch.nn.Module] = (),
) -> Trace:
    """Run ``model(*inputs, **kwargs)`` once under ``OpCapture`` and return its ``Trace``.

    The forward runs under ``torch.device("meta")``, so tensors the model creates without a device
    (RNN initial states, causal masks, ``torch.arange``) land on meta with the rest. ``input_values``
    pairs an input tensor with its real values (integer inputs: see ``metrics_core.capture.values``).
    Lazy modules (``nn.LazyLinear`` ...) are materialised by a first, unrecorded pass, so their
    parameter initialisation never shows as layers. ``bits`` prices floating-point tensors per class
    (weights, activations, ``kv_tensors``: the KV cache; default: all in ``dtype``). Raises whatever the
    model raises (a ``DataDependentOpError`` for an op that needs unknown values). ``spans_of``: modules
    whose calls' record ranges are wanted (``Trace.spans``).
    """
    kwargs = kwargs or {}
    if has_lazy_modules(model):
        _run(model, inputs, kwargs, dtype, input_values, bits, kv_tensors)
    spans: list[list[tuple[int, int]]] = [[] for _ in spans_of]
    cap, out = _run(model, inputs, kwargs, dtype, input_values, bits, kv_tensors, spans_of, spans)
    output_keys = tuple(dict.fromkeys(cap.storage.key_of(t) for t in _all_tensors(out)))
    first = output_keys[0] if output_keys else None
    st = cap.storage
    head = head_op(cap.records, st.events, st.writer, st.writer.get(first))
    return Trace(
        cap.records, head, st.events, st.sizes, cap.input_keys, output_keys, dict(cap.rule_errors), spans
    )


def head_op(
    records: Sequence[OpRecord],
    events: Sequence[tuple[tuple[int, ...], tuple[int, ...]]],
    writer: dict[int, int],
    start: int | None,
) -> int | None:
    """The classifier head: from the op that wrote the model's first output, back through ops without
    MACs (activations, pooling, flatten, softmax) along their first activation input, to the last conv or
    matmul (SqueezeNet's head is a 1x1 conv under ReLU and average pooling). ``start`` itself when no
    such op is found."""
    i, seen = start, set()
    while i is not None and records[i].macs == 0 and i not in seen:
        seen.add(i)
        reads = events[i][0]
        i = writer.get(reads[0]) if reads else None
    return i if i is not None and records[i].macs else start


def _run(
    model: torch.nn.Module,
    inputs: tuple,
    kwargs: dict[str, Any],
    dtype: str,
    input_values: Sequence[tuple[torch.Tensor, torch.Tensor]],
    bits: ElementBits | None = None,
    kv_tensors: Sequence[torch.Tensor] = (),
    spans_of: Sequence[torch.nn.Module] = (),
    spans: list[list[tuple[int, int]]] | None = None,
) -> tuple[OpCapture, Any]:
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    handles: list[Any] = []
    try:
        with torch.no_grad(), torch.device("meta"), OpCapture(model, dtype, bits, kv_tensors) as cap:
            for tensor, value in input_values:
                cap.shadows.set(tensor, value)
            for i, module in enumerate(spans_of):
                handles += _span_hooks(module, cap, spans[i] if spans is not None else [])
            feed = [*tensors_in(inputs), *tensors_in(kwargs.values())]
            cap.input_keys = tuple(cap.storage.key_of(t) for t in feed)
            out = model(*inputs, **kwargs)
    finally:
        for h in handles:
            h.remove()
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return cap, out


def _span_hooks(module: torch.nn.Module, cap: OpCapture, into: list[tuple[int, int]]) -> list[Any]:
    """Hooks that append each call of ``module`` to ``into`` as its ``[start, end)`` range of records."""
    starts: list[int] = []

    def pre(_m: Any, _args: Any) -> None:
        starts.append(len(cap.records))

    def post(_m: Any, _args: Any, _out: Any) -> None:
        into.append((starts.pop(), len(cap.records)))

    return [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]


def has_lazy_modules(model: torch.nn.Module) -> bool:
    """Whether any parameter is still uninitialised (a lazy module not yet run)."""
    from torch.nn.parameter import UninitializedParameter

    return any(isinstance(p, UninitializedParameter) for p in model.parameters())


def _all_tensors(out: Any) -> Iterator[torch.Tensor]:
    """Tensors of a model output, in order (tensor, tuple/list, dict, nested)."""
    if isinstance(out, torch.Tensor):
        yield out
        return
    values = out.values() if isinstance(out, dict) else out if isinstance(out, (list, tuple)) else ()
    for v in values:
        yield from _all_tensors(v)
