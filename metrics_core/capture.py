"""Capture every aten op of one forward pass as an ``OpRecord`` (a ``TorchDispatchMode``).

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

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from metrics_core.costs.registry import FREE_OPS, lookup
from metrics_core.dtypes import bytes_per_element
from metrics_core.records import OpRecord

#: Ops whose extra outputs are bookkeeping for backward (statistics, indices, logsumexp): only the first
#: output is counted as written.
PRIMARY_OUTPUT_ONLY: frozenset[str] = frozenset(
    {
        "native_layer_norm",
        "native_group_norm",
        "native_batch_norm",
        "_native_batch_norm_legit",
        "_native_batch_norm_legit_no_training",
        "_native_batch_norm_legit_functional",
        "max_pool2d_with_indices",
        "max_pool3d_with_indices",
        "adaptive_max_pool2d",
        "adaptive_max_pool3d",
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention",
        "_scaled_dot_product_fused_attention_overrideable",
        "_flash_attention_forward",
        "_efficient_attention_forward",
    }
)

#: Ops recategorised as attention when they run inside a module whose class name contains "Attention"
#: (explicit attention: q @ k^T, softmax, @ v written out as matmuls).
ATTENTION_PARTS: frozenset[str] = frozenset(
    {"bmm", "baddbmm", "mm", "matmul", "softmax", "_softmax", "_safe_softmax", "log_softmax"}
)

SDPA_OP = "scaled_dot_product_attention"

#: Free ops that return a NEW (uninitialised) tensor rather than a view: their output gets its own
#: storage, first counted where an op reads or fills it.
FRESH_FREE_OPS: frozenset[str] = frozenset({"empty_like", "new_empty", "new_empty_strided", "empty_strided"})


def _tensors(items: Any) -> Iterator[torch.Tensor]:
    """Tensors among op arguments (one level of list/tuple nesting, as aten schemas allow)."""
    for a in items:
        if isinstance(a, torch.Tensor):
            yield a
        elif isinstance(a, (list, tuple)):
            for b in a:
                if isinstance(b, torch.Tensor):
                    yield b


class OpCapture(TorchDispatchMode):
    """Records ops dispatched while active; see the module docstring for the conventions."""

    def __init__(self, model: torch.nn.Module, dtype: str) -> None:
        super().__init__()
        self.records: list[OpRecord] = []
        self.dtype = dtype
        self._float_bytes = bytes_per_element(dtype)
        self._weight_ids: set[int] = set()
        self._keepalive: list[torch.Tensor] = []  # weight views: keep ids from being reused
        for t in model.parameters():
            self._weight_ids.add(id(t))
        for t in model.buffers():
            self._weight_ids.add(id(t))
        self._names = {}
        for name, mod in model.named_modules():
            self._names.setdefault(id(mod), (name, type(mod).__name__))
        self._stack: list[tuple[str, str]] = [("", type(model).__name__)]
        self._suspended = 0
        # Activation storage tracking (for peak memory and the head op): every tensor maps to the key of
        # the storage it lives in; views share their base's key; in-place outputs keep the input's key.
        self._key: dict[int, int] = {}  # id(tensor) -> storage key
        self.sizes: dict[int, int] = {}  # storage key -> bytes
        self.writer: dict[int, int] = {}  # storage key -> index of the record that allocated it
        self.events: list[tuple[tuple[int, ...], tuple[int, ...]]] = []  # per record: (reads, allocs)
        self._handles: list[Any] = []
        self._sdpa_orig: Any = None

    # -- module attribution -------------------------------------------------------------------------
    def _pre_hook(self, module: torch.nn.Module, _args: Any) -> None:
        self._stack.append(self._names.get(id(module), ("?", type(module).__name__)))

    def _post_hook(self, _module: torch.nn.Module, _args: Any, _out: Any) -> None:
        if len(self._stack) > 1:
            self._stack.pop()

    def __enter__(self) -> OpCapture:
        from torch.nn.modules import module as nn_module

        self._handles = [
            nn_module.register_module_forward_pre_hook(self._pre_hook),
            nn_module.register_module_forward_hook(self._post_hook),
        ]
        self._sdpa_orig = torch.nn.functional.scaled_dot_product_attention
        torch.nn.functional.scaled_dot_product_attention = self._sdpa  # type: ignore[assignment]
        return super().__enter__()

    def __exit__(self, *exc: Any) -> None:
        try:
            return super().__exit__(*exc)
        finally:
            for h in self._handles:
                h.remove()
            self._handles = []
            torch.nn.functional.scaled_dot_product_attention = self._sdpa_orig  # type: ignore[assignment]

    # -- recording ----------------------------------------------------------------------------------
    def key_of(self, t: torch.Tensor) -> int:
        """Storage key of an activation tensor (a tensor never seen before gets a new storage)."""
        key = self._key.get(id(t))
        return key if key is not None else self._new_key(t)

    def _new_key(self, t: torch.Tensor) -> int:
        key = len(self.sizes)
        self._key[id(t)] = key
        self.sizes[key] = self._nbytes(t)
        self._keepalive.append(t)  # keep ids unique for the whole pass
        return key

    def _nbytes(self, t: torch.Tensor) -> int:
        n = t.numel()
        return n * (self._float_bytes if t.is_floating_point() else t.element_size())

    def _sdpa(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, *args: Any, **kwargs: Any):
        """Replacement for ``F.scaled_dot_product_attention``: one attention record, inner ops hidden."""
        self._suspended += 1
        try:
            out = self._sdpa_orig(query, key, value, *args, **kwargs)
        finally:
            self._suspended -= 1
        self._record(SDPA_OP, (query, key, value, *args), kwargs, out)
        return out

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func.overloadpacket.__name__
        if name in FREE_OPS:
            src = next(_tensors(args), None)
            if src is not None and name not in FRESH_FREE_OPS:
                outs = _tensors(out if isinstance(out, (list, tuple)) else (out,))
                if id(src) in self._weight_ids:
                    for t in outs:
                        self._weight_ids.add(id(t))
                        self._keepalive.append(t)
                else:
                    key = self.key_of(src)
                    for t in outs:
                        self._key[id(t)] = key
                        self._keepalive.append(t)  # ids stay unique: no stale key for a later tensor
            return out
        if not self._suspended:
            self._record(name, args, kwargs, out)
        return out

    def _record(self, name: str, args: tuple, kwargs: dict, out: Any) -> None:
        ins = list(_tensors(args))
        ins.extend(_tensors(kwargs.values()))
        weight_bytes = input_bytes = 0
        reads = []
        for t in ins:
            if id(t) in self._weight_ids:
                weight_bytes += self._nbytes(t)
            else:
                input_bytes += self._nbytes(t)
                reads.append(self.key_of(t))
        outs = list(_tensors(out if isinstance(out, (list, tuple)) else (out,)))
        if name in PRIMARY_OUTPUT_ONLY:
            outs = outs[:1]
        output_bytes = sum(self._nbytes(t) for t in outs)
        index = len(self.records)
        in_ids = {id(t) for t in ins}
        allocs = []
        for t in outs:
            if id(t) in in_ids:  # in place: same storage
                continue
            key = self._new_key(t)
            self.writer[key] = index
            allocs.append(key)
        self.events.append((tuple(reads), tuple(allocs)))
        module, module_type = self._stack[-1]
        rule = lookup(name)
        if rule is None:
            macs = flops = 0
            category = "uncovered"
            covered = False
        else:
            macs, flops = rule.fn(args, kwargs, out)
            category = rule.category
            covered = True
            if name in ATTENTION_PARTS and "Attention" in module_type:
                category = "attention"
        first = outs[0] if outs else None
        self.records.append(
            OpRecord(
                index=index,
                module=module,
                module_type=module_type,
                op=name,
                category=category,
                input_shapes=[list(t.shape) for t in ins],
                output_shape=list(first.shape) if first is not None else [],
                dtype=self.dtype if first is None or first.is_floating_point() else _dtype_name(first),
                macs=int(macs),
                flops=int(flops),
                input_bytes=input_bytes,
                output_bytes=output_bytes,
                weight_bytes=weight_bytes,
                covered=covered,
            )
        )


def _dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


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


def capture(model: torch.nn.Module, inputs: tuple, dtype: str) -> Trace:
    """Run ``model(*inputs)`` once under ``OpCapture`` and return its ``Trace``."""
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), OpCapture(model, dtype) as cap:
            input_keys = tuple(cap.key_of(t) for t in _tensors(inputs))
            out = model(*inputs)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    output_keys = tuple(dict.fromkeys(cap.key_of(t) for t in _all_tensors(out)))
    first = output_keys[0] if output_keys else None
    return Trace(cap.records, cap.writer.get(first), cap.events, cap.sizes, input_keys, output_keys)


def _all_tensors(out: Any) -> Iterator[torch.Tensor]:
    """Tensors of a model output, in order (tensor, tuple/list, dict, nested)."""
    if isinstance(out, torch.Tensor):
        yield out
        return
    values = out.values() if isinstance(out, dict) else out if isinstance(out, (list, tuple)) else ()
    for v in values:
        yield from _all_tensors(v)
