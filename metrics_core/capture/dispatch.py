"""The ``TorchDispatchMode`` that records every aten op of a forward pass as an ``OpRecord`` and costs it.

Conventions (see also ``metrics_core.capture.trace``):
- ``F.scaled_dot_product_attention`` is recorded as ONE attention op (the fused kernel PyTorch runs on CPU
  and GPU), not as the math decomposition the meta device would otherwise show; its bytes are q, k, v,
  mask and output (the score matrix stays on chip, as in flash/efficient attention).
- Views and metadata ops (``costs.FREE_OPS``) are free and not recorded; ``storage.StorageTracker``
  follows them so that a view of a weight still counts as weight bytes.
- Each recorded op is costed by its rule in ``metrics_core.costs``; an op without a rule is recorded with
  category ``"uncovered"`` and zero MACs/FLOPs, and reported by name (never silently zero). Ops on
  complex tensors are scaled to real arithmetic (``metrics_core.costs.complex``).
- Ops whose output size or control flow depends on tensor values (``nonzero``, ``masked_select``,
  boolean indexing, ``unique``, ``.item()``) run on the values of the small integer/bool tensors that are
  known (``metrics_core.capture.values``); when a value is not known (it depends on weights or
  activations) the analysis stops with a ``DataDependentOpError`` naming the op, the module and what to do.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from metrics_core.capture.attribution import ModuleAttribution
from metrics_core.capture.layouts import CONV_KERNEL_OPS, conv_copies, conv_is_channels_last, device_layout
from metrics_core.capture.storage import StorageTracker, tensors_in
from metrics_core.capture.values import MAX_ELEMENTS, Shadows, shadowable
from metrics_core.common.dtypes import ElementBits
from metrics_core.common.errors import DataDependentOpError
from metrics_core.common.records import OpRecord
from metrics_core.costs.backward import SDPA_BACKWARD_OP
from metrics_core.costs.complex import complex_scale
from metrics_core.costs.eager_copies import hidden_copies
from metrics_core.costs.foreach import foreach_launches
from metrics_core.costs.registry import FREE_OPS, UserRule, lookup

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

#: In-place ops that write a source into part of their destination: op -> index of the source argument.
WRITE_INTO: dict[str, int] = {"index_copy_": 3, "index_put_": 2, "_index_put_impl_": 2, "slice_scatter_": 1}

#: Ops whose meta kernel accepts only reduced-precision floats (see ``OpCapture._run_op``).
REDUCED_PRECISION_ONLY: frozenset[str] = frozenset({"_grouped_mm"})

#: Gathers that read only the rows they select: op -> (table argument, index argument). An embedding
#: lookup of T tokens reads T rows of the table (at most every row), not the whole table.
GATHER_READS: dict[str, tuple[int, int]] = {"embedding": (0, 1), "embedding_bag": (0, 1)}

#: The Python-level SDPA functions (``F.scaled_dot_product_attention`` is ``torch._C._nn``'s): however it
#: is reached (``F.``, imported by name, ``torch._C._nn``, inside ``nn.MultiheadAttention``), a call is one
#: attention op, caught by ``SdpaAsOneOp`` before the meta device decomposes it.
SDPA_FUNCTIONS: tuple[Any, ...] = (
    torch._C._nn.scaled_dot_product_attention,
    torch.nn.functional.scaled_dot_product_attention,
)

#: Ops whose output size depends on tensor values. They run on the known values of their integer/bool
#: tensor arguments (floating-point ones stand in as zeros: their values do not change the size), except
#: the ops in ``VALUES_OF_FIRST``, whose size depends on the values of their first argument itself.
DATA_DEPENDENT_OPS: frozenset[str] = frozenset(
    {
        "nonzero",
        "argwhere",
        "masked_select",
        "unique",
        "_unique",
        "_unique2",
        "unique_dim",
        "unique_consecutive",
        "unique_dim_consecutive",
        "bincount",
        "repeat_interleave",
    }
)
VALUES_OF_FIRST: frozenset[str] = frozenset(
    {"nonzero", "argwhere", "unique", "_unique", "_unique2", "unique_dim", "unique_consecutive",
     "unique_dim_consecutive"}
)  # fmt: skip

#: Runtime assertions on tensor values (``torch._assert_async``): checked when the values are known,
#: skipped otherwise; never a layer.
ASSERT_OPS: frozenset[str] = frozenset({"_assert_async", "_assert_scalar", "_functional_assert_async"})

#: What a user can do about a data-dependent op.
DATA_DEPENDENT_HINT = (
    "for a mixture-of-experts model use the library's shape-static expert path (transformers: the default "
    "grouped_mm experts); otherwise feed real integer inputs with --inputs pkg.mod:fn, or write the op "
    "shape-static (a mask and torch.where instead of boolean indexing or nonzero)"
)

#: Free ops that return a NEW (uninitialised) tensor rather than a view: their output gets its own
#: storage, first counted where an op reads or fills it.
FRESH_FREE_OPS: frozenset[str] = frozenset({"empty_like", "new_empty", "new_empty_strided", "empty_strided"})


class OpCapture(TorchDispatchMode):
    """Records ops dispatched while active (``records``); module attribution and storage tracking are
    delegated to ``attribution`` (``ModuleAttribution``) and ``storage`` (``StorageTracker``)."""

    def __init__(
        self,
        model: torch.nn.Module,
        dtype: str,
        bits: ElementBits | None = None,
        kv_tensors: Iterable[torch.Tensor] = (),
        real: bool = False,
    ) -> None:
        super().__init__()
        self.records: list[OpRecord] = []
        self.dtype = dtype
        #: Real tensors (``metrics_core.record``): ops run as they are, values are real, nothing is
        #: shadowed and no op is refused as data-dependent.
        self.real = real
        self.attribution = ModuleAttribution(model)
        self.storage = StorageTracker(model, dtype, bits, kv_tensors, real=real)
        self.shadows = Shadows()
        #: Storage keys of the model inputs (set by ``trace.capture``).
        self.input_keys: tuple[int, ...] = ()
        #: Leave out ops whose tensors are all on the host (an optimizer's step counters: host-side
        #: arithmetic, no kernel on the device the model is analysed for).
        self.skip_host_ops = False
        #: ``Tensor.item()`` of a floating-point tensor whose value is unknown returns this instead of
        #: refusing (None: refuse). For code whose work does not depend on the value: an optimizer's step
        #: size from a parameter norm (Adafactor's relative step).
        self.float_scalar_stand_in: float | None = None
        self._suspended = 0
        self._sdpa_mode = SdpaAsOneOp(self)
        #: Errors of users' cost rules (``costs.registry.register_cost_rule``), by op name.
        self.rule_errors: dict[str, str] = {}

    def __enter__(self) -> OpCapture:
        self.attribution.install()
        entered = super().__enter__()
        self._sdpa_mode.__enter__()
        return entered

    def __exit__(self, *exc: Any) -> None:
        try:
            self._sdpa_mode.__exit__(*exc)
            return super().__exit__(*exc)
        finally:
            self.attribution.remove()

    def attention(self, func: Any, args: tuple, kwargs: dict) -> Any:
        """Run SDPA (``func``) with its inner ops hidden and record it as one attention op. Under autograd
        (a training capture) it runs as ``SdpaWithBackward``, whose backward is one fused attention
        backward op too (``costs.backward.SDPA_BACKWARD_OP``), as flash / memory-efficient attention runs
        it, instead of the math decomposition's matmuls over a saved score matrix."""
        qkv = args[:3]
        if (
            torch.is_grad_enabled()
            and len(qkv) == 3
            and all(isinstance(t, torch.Tensor) for t in qkv)
            and any(t.requires_grad for t in qkv)
        ):
            return SdpaWithBackward.apply(self, func, args[3:], kwargs, *qkv)
        return self._attention_forward(func, args, kwargs)

    def _attention_forward(self, func: Any, args: tuple, kwargs: dict) -> Any:
        self._suspended += 1
        try:
            out = func(*args, **kwargs)
        finally:
            self._suspended -= 1
        self._record(SDPA_OP, tuple(args), dict(kwargs), out)
        return out

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        if self.real:
            return self._real_op(func, name, args, kwargs)
        if name == "_local_scalar_dense":
            return self._scalar(args[0])
        if name == "_to_copy" and _to_host(args, kwargs):
            return self._host_copy(args[0], kwargs)
        if name in ASSERT_OPS:
            return None
        if (name in DATA_DEPENDENT_OPS and _needs_values(name, args)) or (
            name == "index" and _bool_index(args)
        ):
            out = self._data_dependent(func, name, args, kwargs)
        else:
            out = self._run_op(func, name, args, kwargs)
            if name in FREE_OPS:
                self._free(func, name, args, kwargs, out)
                return out
            if self._suspended:
                return out
            self.shadows.propagate(func, args, kwargs, out)
        if not self._suspended and not (self.skip_host_ops and _all_on_host(args, kwargs)):
            namespace = getattr(func, "namespace", "aten")
            self._record(name, args, kwargs, out, name if namespace == "aten" else f"{namespace}::{name}")
        return out

    def _real_op(self, func: Any, name: str, args: tuple, kwargs: dict) -> Any:
        """An op on real tensors: run it; views alias their source; other ops are recorded. Ops on meta
        tensors (an ``analyze`` run inside the recorded block) do no work and are not recorded."""
        out = func(*args, **kwargs)
        if name in ASSERT_OPS or name == "_local_scalar_dense" or self._suspended:
            return out
        if any(t.is_meta for t in tensors_in(args)) or any(t.is_meta for t in tensors_in(kwargs.values())):
            return out
        if name in FREE_OPS:
            src = next(tensors_in(args), None)
            if src is not None and name not in FRESH_FREE_OPS and name != "empty":
                self.storage.alias(src, tensors_in(out if isinstance(out, (list, tuple)) else (out,)))
            return out
        namespace = getattr(func, "namespace", "aten")
        self._record(name, args, kwargs, out, name if namespace == "aten" else f"{namespace}::{name}")
        return out

    def _run_op(self, func: Any, name: str, args: tuple, kwargs: dict) -> Any:
        """The op on meta; an op whose meta kernel accepts only some dtypes (``REDUCED_PRECISION_ONLY``:
        ``_grouped_mm`` wants bf16) runs on bf16 stand-ins when given fp32, its outputs back in fp32
        (shapes do not depend on the dtype; bytes follow the analysis dtype anyway)."""
        try:
            return device_layout(name, args, func(*args, **kwargs))
        except RuntimeError:
            if name not in REDUCED_PRECISION_ONLY:
                raise
            wide = next((t.dtype for t in tensors_in(args) if t.dtype == torch.float32), None)
            if wide is None:
                raise
            narrow = [
                a.to(torch.bfloat16) if isinstance(a, torch.Tensor) and a.dtype == wide else a for a in args
            ]
            out = func(*narrow, **kwargs)
            return out.to(wide) if isinstance(out, torch.Tensor) else out

    def _free(self, func: Any, name: str, args: tuple, kwargs: dict, out: Any) -> None:
        """Views follow their source's storage (and values); fresh tensors get zero values to be filled."""
        outs = list(tensors_in(out if isinstance(out, (list, tuple)) else (out,)))
        if name in FRESH_FREE_OPS or name == "empty":
            for t in outs:
                if t.is_meta and shadowable(t):
                    self.shadows.set(t, torch.zeros(t.shape, dtype=t.dtype))
            return
        src = next(tensors_in(args), None)
        if src is not None:
            self.storage.alias(src, outs)
            self.shadows.propagate(func, args, kwargs, out)

    def _gathered(self, name: str, args: tuple, weight_bytes: int, input_bytes: int) -> tuple[int, int]:
        """Charge a gather's table only for the rows it reads: ``min(rows, indices) x row bytes``."""
        table_at, index_at = GATHER_READS[name]
        table, index = args[table_at], args[index_at]
        if not isinstance(table, torch.Tensor) or not isinstance(index, torch.Tensor) or table.dim() < 1:
            return weight_bytes, input_bytes
        full = self.storage.nbytes(table)
        rows = table.shape[0]
        read = full * min(rows, index.numel()) // rows if rows else 0
        if self.storage.is_weight(table):
            return weight_bytes - full + read, input_bytes
        return weight_bytes, input_bytes - full + read

    def constructed(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        """Give ``out``, a meta tensor ``func`` (one of ``TENSOR_CONSTRUCTORS``) built from Python data,
        the values of the same call on the CPU: the data holds no tensors, or only tensors with values."""
        if not isinstance(out, torch.Tensor) or not out.is_meta or not shadowable(out):
            return
        try:
            real_kwargs = {**self.shadows.real_args(kwargs), "device": "cpu"}  # not the default device
            real = func(*self.shadows.real_args(args), **real_kwargs)
        except Exception:  # a tensor without values in the data, or data the CPU call refuses: none
            return
        if isinstance(real, torch.Tensor) and not real.is_meta and tuple(real.shape) == tuple(out.shape):
            self.shadows.set(out, real)

    def _host_copy(self, t: torch.Tensor, kwargs: dict) -> torch.Tensor:
        """A meta tensor copied to the host (``Tensor.tolist()``, ``.cpu()``): its known values, as
        ``_scalar`` reads one (not recorded: a few integers), else a refusal."""
        value = self.shadows.get(t)
        if value is None:
            op = "_to_copy (a copy to the host: Tensor.tolist(), .cpu())"
            raise self._refusal(op, "data-dependent control flow")
        return value.to(dtype=kwargs.get("dtype") or value.dtype, copy=True)

    def _scalar(self, t: torch.Tensor) -> Any:
        """``Tensor.item()`` (and ``bool``/``int`` of a tensor): its known value, else a refusal."""
        value = self.shadows.get(t)
        if value is None and self.float_scalar_stand_in is not None and t.is_floating_point():
            return self.float_scalar_stand_in
        if value is None:
            raise self._refusal("_local_scalar_dense (Tensor.item())", "data-dependent control flow")
        return value.item()

    def _data_dependent(self, func: Any, name: str, args: tuple, kwargs: dict) -> Any:
        """Run a data-dependent op on the known values of its inputs; its meta outputs get their sizes."""
        first = next(tensors_in(args), None)
        if name in VALUES_OF_FIRST and first is not None and self.shadows.get(first) is None:
            raise self._refusal(name, "data-dependent output size")
        try:
            real = func(
                *self.shadows.real_args(args, stand_in_floats=True),
                **self.shadows.real_args(kwargs, stand_in_floats=True),
            )
        except KeyError:
            raise self._refusal(name, "data-dependent output size") from None
        reals = real if isinstance(real, (list, tuple)) else (real,)
        metas = [torch.empty_strided(r.shape, r.stride(), dtype=r.dtype, device="meta") for r in reals]
        for m, r in zip(metas, reals, strict=True):
            if shadowable(m):
                self.shadows.set(m, r)
        return type(real)(metas) if isinstance(real, (list, tuple)) else metas[0]

    def _refusal(self, op: str, reason: str) -> DataDependentOpError:
        module, module_type = self.attribution.current
        where = f"module '{module}' ({module_type})" if module else f"the model's forward ({module_type})"
        if self.shadows.too_big:  # the values are unknown because the tensors are too big, not by nature
            return DataDependentOpError(
                f"aten.{op} in {where}: {reason} on an integer tensor of {self.shadows.too_big:,} elements, "
                f"above the {MAX_ELEMENTS:,} whose values the analysis computes: use a smaller batch or "
                "sequence"
            )
        return DataDependentOpError(
            f"aten.{op} in {where}: {reason}: it needs tensor values the meta-device analysis does not "
            f"have; {DATA_DEPENDENT_HINT}"
        )

    def _cost(self, rule: Any, name: str, args: tuple, kwargs: dict, out: Any) -> tuple[int, int] | None:
        """``(macs, flops)`` of a rule; a user's rule that raises or returns anything but two non-negative
        integers gives None (the op is uncovered) and its error is kept in ``rule_errors`` by op name."""
        if not isinstance(rule, UserRule):
            return rule.fn(args, kwargs, out)
        try:
            result = rule.fn(args, kwargs, out)
            macs, flops = result
            if any(
                isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0 for v in (macs, flops)
            ):
                raise ValueError(f"returned {result!r}, not two non-negative integers (macs, flops)")
        except Exception as exc:  # a user's rule: reported by name, never a crash
            self.rule_errors.setdefault(name, f"{type(exc).__name__}: {exc}".splitlines()[0][:200])
            return None
        return int(macs), int(flops)

    def _record(self, name: str, args: tuple, kwargs: dict, out: Any, qualified: str | None = None) -> None:
        ins = list(tensors_in(args))
        ins.extend(tensors_in(kwargs.values()))
        outs = list(tensors_in(out if isinstance(out, (list, tuple)) else (out,)))
        if name in PRIMARY_OUTPUT_ONLY:
            outs = outs[:1]
        launches = foreach_launches(name, args)
        if launches is not None and not outs and name.endswith("_") and args:
            outs = list(tensors_in((args[0],)))  # an in-place multi-tensor op writes its first list
        index = len(self.records)
        weight_bytes, input_bytes = self.storage.record_op(index, ins, outs)
        if name in GATHER_READS:
            weight_bytes, input_bytes = self._gathered(name, args, weight_bytes, input_bytes)
        output_bytes = sum(self.storage.nbytes(t) for t in outs)
        if name in WRITE_INTO and len(args) > WRITE_INTO[name] and isinstance(args[0], torch.Tensor):
            # writes its source into part of the destination: the destination is neither read nor
            # rewritten whole (a KV-cache update writes one token, not the cache)
            dest, source = args[0], args[WRITE_INTO[name]]
            input_bytes -= 0 if self.storage.is_weight(dest) else self.storage.nbytes(dest)
            output_bytes = self.storage.nbytes(source) if isinstance(source, torch.Tensor) else 0
        module, module_type = self.attribution.current
        rule = lookup(name, qualified)
        if qualified and qualified != name and (rule is None or isinstance(rule, UserRule)):
            name = qualified  # a custom op is reported as namespace::name, the key a user rule takes
        cost = None if rule is None else self._cost(rule, name, args, kwargs, out)
        if cost is None:
            macs = flops = 0
            category = "uncovered"
            covered = False
        else:
            macs, flops = cost
            category = rule.category
            covered = True
            if any(t.is_complex() for t in ins) or any(t.is_complex() for t in outs):
                macs, flops = complex_scale(name, category, macs, flops)
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
                kernels=launches if launches is not None and launches != 1 else None,
                hidden_copies=conv_copies(name, args, self.storage.nbytes)
                if name in CONV_KERNEL_OPS
                else hidden_copies(name, args, kwargs, self.storage.nbytes),
                channels_last=name in CONV_KERNEL_OPS and conv_is_channels_last(name, args),
            )
        )


def _to_host(args: tuple, kwargs: dict) -> bool:
    """Whether a ``_to_copy`` copies a meta tensor to the CPU."""
    device = kwargs.get("device")
    return (
        bool(args)
        and isinstance(args[0], torch.Tensor)
        and args[0].is_meta
        and device is not None
        and torch.device(device).type == "cpu"
    )


def _all_on_host(args: tuple, kwargs: dict) -> bool:
    """Whether an op has tensor arguments and all of them are CPU tensors."""
    ts = [*tensors_in(args), *tensors_in(kwargs.values())]
    return bool(ts) and all(t.device.type == "cpu" for t in ts)


def _dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def _needs_values(name: str, args: tuple) -> bool:
    """``repeat_interleave`` needs values only with tensor ``repeats``; the others always do."""
    if name != "repeat_interleave":
        return True
    return any(not (t.is_floating_point() or t.is_complex()) for t in tensors_in(args))


def _bool_index(args: tuple) -> bool:
    """``aten.index`` with a boolean mask among its indices (``x[mask]``): a data-dependent size."""
    indices = args[1] if len(args) > 1 else ()
    return any(isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) for i in indices or ())


class SdpaWithBackward(torch.autograd.Function):
    """Fused attention under autograd: the forward is the capture's one SDPA op; the backward is one
    ``_scaled_dot_product_flash_attention_backward`` op reading the output's gradient, q, k, v and the
    output and writing the gradients of q, k and v (flash / memory-efficient attention keeps the scores
    on chip: only the output and its log-sum-exp, O(rows), are saved; the log-sum-exp is not counted)."""

    @staticmethod
    def forward(
        ctx: Any, capture: OpCapture, func: Any, rest: tuple, kwargs: dict, *qkv: torch.Tensor
    ) -> Any:
        out = capture._attention_forward(func, (*qkv, *rest), kwargs)
        ctx.capture = capture
        ctx.save_for_backward(*qkv, out)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> Any:
        q, k, v, out = ctx.saved_tensors
        grads = tuple(torch.empty_like(t) for t in (q, k, v))
        ctx.capture._record(SDPA_BACKWARD_OP, (grad_out, q, k, v, out), {}, grads)
        return (None, None, None, None, *grads)


#: Constructors of a tensor from Python data (``torch.tensor([2], device="meta")``): on meta no aten op
#: sees the data (the mode gets none), so their integer results are given values here (``constructed``):
#: transformers' vision code builds its merge sizes this way and reads them back with ``.tolist()``.
TENSOR_CONSTRUCTORS: tuple[Any, ...] = (torch.tensor, torch.as_tensor)


class SdpaAsOneOp(TorchFunctionMode):
    """Catches every call of ``scaled_dot_product_attention`` at the Python API (see ``SDPA_FUNCTIONS``)
    and hands it to the capture as one attention op, and gives the integer tensors that
    ``TENSOR_CONSTRUCTORS`` build on meta from Python data their values."""

    def __init__(self, capture: OpCapture) -> None:
        super().__init__()
        self.capture = capture

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func in SDPA_FUNCTIONS:
            return self.capture.attention(func, args, kwargs)
        out = func(*args, **kwargs)
        if func in TENSOR_CONSTRUCTORS and not self.capture.real:
            self.capture.constructed(func, args, kwargs, out)
        return out
