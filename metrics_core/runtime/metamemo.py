"""Memoised meta kernels: an op's outputs on the meta device depend only on its arguments' metadata.

Many meta kernels are Python (``torch._refs`` / ``torch._decomp``: batch norm alone is a dozen
elementwise reference ops), and a forward pass repeats the same op on the same shapes over and over
(identical blocks within a model, shared stems across a family). ``MetaMemo`` is a dispatch mode that,
for a functional op whose tensor arguments are all on meta, keys the call by (op, each argument's dtype,
shape, stride and storage offset, every non-tensor argument) and on a repeat returns fresh meta tensors
with the remembered output shapes, strides and dtypes instead of running the kernel again.

A miss runs the real kernel, except for the few ops in ``FAST_META`` whose output metadata is simple to
state and whose meta kernel is slow (batch norm): their rule gives it, once it has agreed with the real
kernel on the first calls in the process.

Ops are memoised only when their schema is functional (no mutated argument, no aliased return), every
argument is hashable, and every output is a meta tensor (or a tuple/list of them); anything else runs
normally. The result is the same tensor metadata the kernel gives, so an ``OpCapture`` above it records
the same ops, shapes and bytes (checked for the whole catalog by ``benchmarks/check_equivalence.py``
and, for a few models, by the pool tests). The analysis workers (``metrics_core.runtime.pool``) keep one
``MetaMemo`` for their lifetime; entries are a few hundred bytes each (~5,000 for the 80 classification
models).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

_Tensor = torch.Tensor
_META = torch.device("meta")


class _Unkeyable(Exception):
    """An argument that cannot be part of a key (a non-meta tensor, an unhashable object)."""


def _functional(func: Any) -> bool:
    schema = func._schema
    return not schema.is_mutable and all(r.alias_info is None for r in schema.returns)


def _key(a: Any) -> Any:
    if isinstance(a, _Tensor):
        if not a.is_meta:
            raise _Unkeyable
        return (a.dtype, a.shape, a.stride(), a.storage_offset())
    if isinstance(a, (list, tuple)):
        return (type(a), *map(_key, a))
    try:
        hash(a)
    except TypeError:
        raise _Unkeyable from None
    return (type(a), a)


def _spec(out: Any) -> Any:
    """The metadata needed to recreate ``out`` (None if it is not all meta tensors)."""
    if isinstance(out, _Tensor):
        return (out.shape, out.stride(), out.dtype) if out.is_meta else None
    if isinstance(out, (tuple, list)):
        parts = tuple(_spec(o) for o in out)
        return None if any(p is None for p in parts) else (type(out), parts)
    return None


def _make(spec: Any) -> Any:
    if len(spec) == 3:
        return torch.empty_strided(spec[0], spec[1], dtype=spec[2], device=_META)
    kind, parts = spec
    return kind(_make(p) for p in parts)


def _batch_norm_eval(args: tuple, kwargs: dict) -> Any:
    """``native_batch_norm(input, weight, bias, running_mean, running_var, training=False, momentum,
    eps)`` on a float32 input: the output has the input's shape, strides and dtype; ``save_mean`` and
    ``save_invstd`` are float32 vectors of the channel count. (Its meta kernel is a Python decomposition
    of ~15 reference ops: ~1 ms a call, the costliest miss by far.) None when another case."""
    if kwargs or len(args) != 8 or args[5] is not False:
        return None
    x, running_mean = args[0], args[3]
    if not isinstance(x, _Tensor) or x.dtype != torch.float32 or x.dim() < 2 or running_mean is None:
        return None
    vec = ((x.shape[1],), (1,), torch.float32)
    return (tuple, ((x.shape, x.stride(), x.dtype), vec, vec))


#: Ops whose output metadata is computed here on a miss instead of by their (slow, Python) meta kernel.
#: Each is checked against the real kernel on its first ``VERIFY`` misses in a process, and dropped for
#: the rest of the process at the first disagreement.
FAST_META = {"aten.native_batch_norm.default": _batch_norm_eval}
VERIFY = 3


class MetaMemo(TorchDispatchMode):
    """Dispatch mode memoising meta kernels (see the module docstring). ``hits``/``misses`` count calls.
    The table is emptied when it reaches ``max_entries`` (a long app session analysing many shapes)."""

    def __init__(self, max_entries: int = 200_000) -> None:
        super().__init__()
        self.max_entries = max_entries
        self.memo: dict[Any, Any] = {}
        self._functional: dict[Any, bool] = {}
        self._fast: dict[Any, Any] = {}  # func -> (rule or None, verified count)
        self.hits = 0
        self.misses = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        functional = self._functional.get(func)
        if functional is None:
            functional = self._functional[func] = _functional(func)
        if not functional:
            return func(*args, **kwargs)
        try:
            # the default dtype too: a factory op without a dtype argument (full, arange) follows it
            key = (
                func,
                tuple(map(_key, args)),
                tuple((k, _key(v)) for k, v in kwargs.items()),
                torch.get_default_dtype(),
            )
        except _Unkeyable:
            return func(*args, **kwargs)
        spec = self.memo.get(key)
        if spec is not None:
            self.hits += 1
            return _make(spec)
        self.misses += 1
        fast = self._fast.get(func)
        if fast is None:
            fast = self._fast[func] = [FAST_META.get(str(func)), 0]
        rule, verified = fast
        if rule is not None and verified >= VERIFY and (spec := rule(args, kwargs)) is not None:
            return self._remember(key, spec, _make(spec))
        out = func(*args, **kwargs)
        spec = _spec(out)
        if rule is not None and verified < VERIFY and (guess := rule(args, kwargs)) is not None:
            if guess == spec:
                fast[1] += 1
            else:
                fast[0] = None
        return self._remember(key, spec, out)

    def _remember(self, key: Any, spec: Any, out: Any) -> Any:
        if spec is not None:
            if len(self.memo) >= self.max_entries:
                self.memo.clear()
            self.memo[key] = spec
        return out
