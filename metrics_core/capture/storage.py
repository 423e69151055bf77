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

import weakref
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


def _weak(obj: Any) -> Any:
    """A weak reference to ``obj``, or a callable returning None when it takes none."""
    try:
        return weakref.ref(obj)
    except TypeError:
        return lambda: None


def _storage_address(t: torch.Tensor) -> tuple[int, Any] | None:
    """``(StorageImpl address, storage object)`` of a strided tensor; None for tensors without a storage
    (sparse, nested, tensor subclasses that refuse it)."""
    try:
        storage = t.untyped_storage()
    except (RuntimeError, NotImplementedError, TypeError, ValueError):  # ValueError: lazy parameters
        return None
    return storage._cdata, storage


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
        #: Real tensors (a recorded block of code, not a meta capture): their storages are held weakly too,
        #: so the capture never keeps the user's memory alive.
        self.real = real
        # Tensors are held by weak references (id -> weakref), checked on lookup, so that an id reused by
        # a later tensor is never taken for the dead one, and the capture adds no reference of its own:
        # autograd's AccumulateGrad steals a gradient only when nothing else holds it (else it clones).
        self._refs: dict[int, weakref.ref] = {}
        self._kv_ids: set[int] = set()
        self._weight_ids: set[int] = set()
        self._key: dict[int, int] = {}  # id(tensor) -> storage key
        # StorageImpl address -> (key, the storage object, held so that the address is never reused; real
        # tensors: a weak reference, checked on lookup): a tensor object seen for the first time that
        # shares a known storage (autograd unpacks a saved output as a new tensor object over the same
        # storage) reads that storage, not a new one.
        self._by_storage: dict[int, tuple[int, Any]] = {}
        self._weight_storages: set[int] = set()
        for t in kv_tensors:
            self._remember(t, self._kv_ids)
        for t in (*model.parameters(), *model.buffers()):
            self._remember(t, self._weight_ids)
            if (address := _storage_address(t)) is not None:
                self._weight_storages.add(address[0])
        self.sizes: dict[int, int] = {}
        self.writer: dict[int, int] = {}
        self.events: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    def _remember(self, t: torch.Tensor, ids: set[int] | None = None) -> None:
        """Hold ``t`` by a weak reference (``ids``: also add its id to that class)."""
        tid = id(t)
        if not self._seen(t):
            self._forget(tid)
        self._refs[tid] = weakref.ref(t)
        if ids is not None:
            ids.add(tid)

    def _seen(self, t: torch.Tensor) -> bool:
        """Whether ``t`` itself (not a dead tensor that had its id) was seen before."""
        ref = self._refs.get(id(t))
        return ref is not None and ref() is t

    def _forget(self, tid: int) -> None:
        """Drop what is known of a dead tensor whose id is being reused."""
        self._refs.pop(tid, None)
        self._key.pop(tid, None)
        self._weight_ids.discard(tid)
        self._kv_ids.discard(tid)

    def is_weight(self, t: torch.Tensor) -> bool:
        """Whether ``t`` is a parameter or buffer of the model, or a view of one."""
        if id(t) in self._weight_ids and self._seen(t):
            return True
        if self._seen(t) or not self._weight_storages:
            return False
        address = _storage_address(t)
        return address is not None and address[0] in self._weight_storages

    def is_kv(self, t: torch.Tensor) -> bool:
        """Whether ``t`` is (a view of) a KV-cache tensor."""
        return id(t) in self._kv_ids and self._seen(t)

    def mark_weight(self, t: torch.Tensor) -> None:
        """Count ``t`` (and views of it made from now on) as weight bytes: a gradient or optimizer state
        tensor the caller keeps outside the activations (``capture.train_step``)."""
        self._remember(t, self._weight_ids)

    def nbytes(self, t: torch.Tensor) -> int:
        """Bytes of ``t``: floating point at its class's bits (``ElementBits``: weight, KV cache or
        activation), integer, bool, complex and fp8 at their own element size; of the distinct elements it
        addresses, so an expanded or broadcast view (zero strides) costs the storage actually read."""
        if not t.is_floating_point() or t.element_size() == 1:  # fp8 copies are 1 byte whatever the class
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
        key = self._key.get(id(t)) if self._seen(t) else None
        if key is not None:
            return key
        address = _storage_address(t)
        known = self._by_storage.get(address[0]) if address is not None else None
        if known is not None and self.real and (address is None or known[1]() is not address[1]):
            known = None  # that storage died and its address was reused
        if known is not None:  # a new tensor object over a storage already seen
            self._remember(t)
            self._key[id(t)] = known[0]
            return known[0]
        return self._new_key(t)

    def _new_key(self, t: torch.Tensor) -> int:
        key = len(self.sizes)
        self._remember(t)
        self._key[id(t)] = key
        self.sizes[key] = self.nbytes(t)
        address = _storage_address(t)
        if address is not None:
            self._by_storage[address[0]] = (key, _weak(address[1]) if self.real else address[1])
        return key

    def alias(self, src: torch.Tensor, views: Iterable[torch.Tensor]) -> None:
        """``views`` (outputs of a view op on ``src``) live in ``src``'s storage: weight or activation."""
        if self.is_weight(src):
            for t in views:
                self._remember(t, self._weight_ids)
            return
        kv = self.is_kv(src)
        key = self.key_of(src)
        for t in views:
            self._remember(t, self._kv_ids if kv else None)
            self._key[id(t)] = key

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
