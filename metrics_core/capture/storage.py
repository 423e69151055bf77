"""Activation storage tracking: which storage each tensor lives in, and what it costs in bytes.

- Parameters and buffers (and views of them) are *weights*; every other tensor is an activation.
- Every activation tensor maps to the key of the storage it lives in; views share their base's key; an
  op's output that is one of its inputs (in place) keeps the input's key; any other output allocates a
  new storage. Per recorded op the tracker keeps ``(reads, allocs)``: the storages it read and allocated
  (``metrics_core.capture.peak_memory`` turns these into lifetimes).
- Bytes follow the analysis dtype: a floating-point tensor of ``numel`` elements costs
  ``numel * bytes_per_element(dtype)``; integer and bool tensors keep their own element size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch

from metrics_core.common.dtypes import ElementBits


def tensors_in(items: Iterable[Any]) -> Iterator[torch.Tensor]:
    """Tensors among op arguments (one level of list/tuple nesting, as aten schemas allow)."""
    for a in items:
        if isinstance(a, torch.Tensor):
            yield a
        elif isinstance(a, (list, tuple)):
            for b in a:
                if isinstance(b, torch.Tensor):
                    yield b


def distinct_elements(t: torch.Tensor) -> int:
    """Elements of ``t``'s storage that it addresses: the product of the sizes of its dimensions with a
    non-zero stride (``expand``/broadcast dims repeat one element). Equals ``numel`` for ordinary
    tensors."""
    if t.layout != torch.strided or t.is_contiguous():
        return t.numel()
    n = 1
    for size, stride in zip(t.shape, t.stride(), strict=True):
        if stride != 0:
            n *= size
    return n if t.numel() else 0


class StorageTracker:
    """Weights vs activations, storage keys, sizes (bytes in the analysis dtype) and per-op events.

    Attributes read by later stages: ``sizes`` (storage key -> bytes), ``writer`` (storage key -> index
    of the record that allocated it), ``events`` (per record: ``(reads, allocs)`` storage keys).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        dtype: str,
        bits: ElementBits | None = None,
        kv_tensors: Iterable[torch.Tensor] = (),
        real: bool = False,
    ) -> None:
        self.bits = bits or ElementBits.uniform(dtype)
        #: Real tensors: tensors are not kept alive (their memory is the user's); a tensor's id is
        #: forgotten when it is freed, so a later tensor with the same id is a new storage.
        self.real = real
        self._kv_ids: set[int] = {id(t) for t in kv_tensors}
        self._weight_ids: set[int] = {id(t) for t in model.parameters()}
        self._weight_ids.update(id(t) for t in model.buffers())
        self._keepalive: list[torch.Tensor] = []  # tensors seen: keep their ids from being reused
        self._key: dict[int, int] = {}  # id(tensor) -> storage key
        self.sizes: dict[int, int] = {}
        self.writer: dict[int, int] = {}
        self.events: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    def is_weight(self, t: torch.Tensor) -> bool:
        """Whether ``t`` is a parameter or buffer of the model, or a view of one."""
        return id(t) in self._weight_ids

    def is_kv(self, t: torch.Tensor) -> bool:
        """Whether ``t`` is (a view of) a KV-cache tensor."""
        return id(t) in self._kv_ids

    def nbytes(self, t: torch.Tensor) -> int:
        """Bytes of ``t``: floating point at its class's bits (``ElementBits``: weight, KV cache or
        activation), integer, bool and complex at their own element size; of the distinct elements it
        addresses, so an expanded or broadcast view (zero strides) costs the storage actually read."""
        if not t.is_floating_point():
            return distinct_elements(t) * t.element_size()
        bits = (
            self.bits.weights
            if self.is_weight(t)
            else self.bits.kv
            if self.is_kv(t)
            else self.bits.activations
        )
        return distinct_elements(t) * bits // 8

    def key_of(self, t: torch.Tensor) -> int:
        """Storage key of an activation tensor (a tensor never seen before gets a new storage)."""
        key = self._key.get(id(t))
        return key if key is not None else self._new_key(t)

    def _new_key(self, t: torch.Tensor) -> int:
        key = len(self.sizes)
        self._key[id(t)] = key
        self.sizes[key] = self.nbytes(t)
        self._keep(t)
        return key

    def alias(self, src: torch.Tensor, views: Iterable[torch.Tensor]) -> None:
        """``views`` (outputs of a view op on ``src``) live in ``src``'s storage: weight or activation."""
        if self.is_weight(src):
            for t in views:
                self._weight_ids.add(id(t))
                self._keep(t)
            return
        if self.is_kv(src):
            views = list(views)
            self._kv_ids.update(id(t) for t in views)
        key = self.key_of(src)
        for t in views:
            self._key[id(t)] = key
            self._keep(t)  # ids stay unique: no stale key for a later tensor

    def _keep(self, t: torch.Tensor) -> None:
        """Meta tensors are kept alive (their ids stay unique); a real one's id is forgotten when it dies."""
        if not self.real:
            self._keepalive.append(t)
            return
        import weakref

        weakref.finalize(t, self._forget, id(t))

    def _forget(self, tid: int) -> None:
        self._key.pop(tid, None)
        self._weight_ids.discard(tid)
        self._kv_ids.discard(tid)

    def record_op(self, index: int, ins: list[torch.Tensor], outs: list[torch.Tensor]) -> tuple[int, int]:
        """Account one recorded op: reads of its activation inputs, allocations of its new outputs.

        Returns ``(weight_bytes, input_bytes)`` of ``ins``. Outputs that are inputs (in place) allocate
        nothing.
        """
        weight_bytes = input_bytes = 0
        reads = []
        for t in ins:
            if self.is_weight(t):
                weight_bytes += self.nbytes(t)
            else:
                input_bytes += self.nbytes(t)
                reads.append(self.key_of(t))
        in_ids = {id(t) for t in ins}
        allocs = []
        for t in outs:
            if id(t) in in_ids:
                continue
            key = self._new_key(t)
            self.writer[key] = index
            allocs.append(key)
        self.events.append((tuple(reads), tuple(allocs)))
        return weight_bytes, input_bytes
