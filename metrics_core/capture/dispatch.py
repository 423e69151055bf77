"""The ``TorchDispatchMode`` that records every aten op of a forward pass as an ``OpRecord`` and costs it.

Conventions (see also ``metrics_core.capture.trace``):
- ``F.scaled_dot_product_attention`` is recorded as ONE attention op (the fused kernel PyTorch runs on CPU
  and GPU), not as the math decomposition the meta device would otherwise show; its bytes are q, k, v,
  mask and output (the score matrix stays on chip, as in flash/efficient attention).
- Views and metadata ops (``costs.FREE_OPS``) are free and not recorded; ``storage.StorageTracker``
  follows them so that a view of a weight still counts as weight bytes.
- Each recorded op is costed by its rule in ``metrics_core.costs``; an op without a rule is recorded with
  category ``"uncovered"`` and zero MACs/FLOPs, and reported by name (never silently zero).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from metrics_core.capture.attribution import ModuleAttribution
from metrics_core.capture.storage import StorageTracker, tensors_in
from metrics_core.common.records import OpRecord
from metrics_core.costs.registry import FREE_OPS, lookup

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


class OpCapture(TorchDispatchMode):
    """Records ops dispatched while active (``records``); module attribution and storage tracking are
    delegated to ``attribution`` (``ModuleAttribution``) and ``storage`` (``StorageTracker``)."""

    def __init__(self, model: torch.nn.Module, dtype: str) -> None:
        super().__init__()
        self.records: list[OpRecord] = []
        self.dtype = dtype
        self.attribution = ModuleAttribution(model)
        self.storage = StorageTracker(model, dtype)
        self._suspended = 0
        self._sdpa_orig: Any = None

    def __enter__(self) -> OpCapture:
        self.attribution.install()
        self._sdpa_orig = torch.nn.functional.scaled_dot_product_attention
        torch.nn.functional.scaled_dot_product_attention = self._sdpa  # type: ignore[assignment]
        return super().__enter__()

    def __exit__(self, *exc: Any) -> None:
        try:
            return super().__exit__(*exc)
        finally:
            self.attribution.remove()
            torch.nn.functional.scaled_dot_product_attention = self._sdpa_orig  # type: ignore[assignment]

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
            src = next(tensors_in(args), None)
            if src is not None and name not in FRESH_FREE_OPS:
                self.storage.alias(src, tensors_in(out if isinstance(out, (list, tuple)) else (out,)))
            return out
        if not self._suspended:
            self._record(name, args, kwargs, out)
        return out

    def _record(self, name: str, args: tuple, kwargs: dict, out: Any) -> None:
        ins = list(tensors_in(args))
        ins.extend(tensors_in(kwargs.values()))
        outs = list(tensors_in(out if isinstance(out, (list, tuple)) else (out,)))
        if name in PRIMARY_OUTPUT_ONLY:
            outs = outs[:1]
        index = len(self.records)
        weight_bytes, input_bytes = self.storage.record_op(index, ins, outs)
        output_bytes = sum(self.storage.nbytes(t) for t in outs)
        module, module_type = self.attribution.current
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
