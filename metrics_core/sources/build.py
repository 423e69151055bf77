"""Construct a catalog or custom model without allocating or initialising weights.

``build_model`` calls the spec's builder (``"module:callable"``) inside ``torch.device("meta")`` with
weight initialisation skipped (``skip_init``). Builders that compute with real tensors while constructing
(RegNet's ``BlockParams`` does tensor arithmetic and ``.tolist()``) fail on meta; for any such failure the
model is built again on the CPU, still with initialisation skipped (uninitialised ``torch.empty`` memory
costs no resident memory until touched), then moved to meta.

torch is imported here at module level, so import this module only where analysis happens; torchvision
(and custom model code) is imported only when a model is built.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from metrics_core.common.errors import (
    ModelCodeError,
    ModeltuiError,
    UnknownModelError,
    UnsupportedModelError,
    one_line_error,
)
from metrics_core.sources.custom import add_cwd_to_path
from metrics_core.sources.spec import ModelSpec, resolve_input_shape, shape_kwargs

#: ``torch.nn.init`` functions made no-ops by ``skip_init`` (each returns its tensor unchanged).
INIT_FUNCTIONS: tuple[str, ...] = (
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "dirac_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "sparse_",
)

#: Methods of ``torch.nn`` module classes made no-ops by ``skip_init`` (Linear, ConvNd, norms,
#: Embedding, MultiheadAttention, RNNs, Transformer ... call them from ``__init__``).
RESET_METHODS: tuple[str, ...] = ("reset_parameters", "_reset_parameters")

_state = threading.local()
_lock = threading.Lock()
_patch_depth = 0
_saved: list[tuple[object, str, object]] = []


def build_model(
    spec: ModelSpec,
    device: str = "meta",
    input_shape: Sequence[int] | None = None,
    skip_weight_init: bool = True,
    **overrides: Any,
) -> nn.Module:
    """The model of ``spec`` in eval mode on ``device`` (weights uninitialised when ``skip_weight_init``).

    ``input_shape`` (per sample, as in ``ModelSpec.input_shape``) rebuilds size-dependent architectures
    for that shape (e.g. ViT's ``image_size``). Raises ``UnsupportedModelError`` (one line) for a refused
    catalog model, a custom factory that cannot be imported, fails, or returns no ``nn.Module``.
    ``overrides`` are extra builder arguments chosen by the options (``hf:`` class, attention).
    """
    if not spec.supported:
        raise UnsupportedModelError(f"{spec.name}: {spec.reason}")
    shape = resolve_input_shape(spec, input_shape)
    kwargs = {**spec.builder_kwargs, **overrides}
    # torchvision builders need their size argument even at the native size (vit_h_14 at 518); timm's
    # default to their native size, and not every fixed-size timm model takes img_size
    if spec.source != "timm" or shape != tuple(spec.input_shape):
        kwargs.update(shape_kwargs(spec, shape))
    factory = _resolve(spec)
    on_meta = torch.device(device).type == "meta"
    with skip_init() if skip_weight_init else contextlib.nullcontext():
        try:
            with torch.device(device), InPlaceOnMetaIsFree() if on_meta else contextlib.nullcontext():
                model = factory(**kwargs)
        except ModeltuiError:  # our own builders' one-line errors (hf: an unknown class or model type)
            raise
        except Exception as exc:
            if torch.device(device).type != "meta":
                raise _failure(spec, "failed to build", exc, ModelCodeError) from exc
            try:
                with torch.device("cpu"):
                    model = factory(**kwargs)
            except Exception as cpu_exc:
                raise _failure(spec, "failed to build", cpu_exc, ModelCodeError) from cpu_exc
            if isinstance(model, nn.Module):
                model = model.to("meta")
    if not isinstance(model, nn.Module):
        raise UnsupportedModelError(
            f"{spec.name}: the factory returned {type(model).__name__}, not a torch.nn.Module"
        )
    return model.eval()


def _resolve(spec: ModelSpec) -> Callable[..., Any]:
    """Import ``spec.builder`` (``"module:attr.attr"``)."""
    module_name, _, attr_path = spec.builder.partition(":")
    if spec.is_custom:
        add_cwd_to_path()
    kind = UnknownModelError if spec.is_custom else UnsupportedModelError  # user's: exit 2; ours: unsupported
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise _failure(spec, f"cannot import module {module_name!r}", exc, kind) from exc
    for attr in attr_path.split("."):
        if not hasattr(obj, attr):
            raise kind(f"{spec.name}: module {module_name!r} has no {attr_path!r}")
        obj = getattr(obj, attr)
    if not callable(obj):
        raise UnsupportedModelError(f"{spec.name}: {spec.builder!r} is not callable")
    return obj


def _failure(spec: ModelSpec, what: str, exc: BaseException, cls: type[ModeltuiError]) -> ModeltuiError:
    return cls(f"{spec.name}: {what}: {one_line_error(exc)}")


#: In-place ops that change a tensor's metadata (shape, strides, storage): they must run even on meta.
METADATA_IN_PLACE: frozenset[str] = frozenset(
    {"resize_", "resize_as_", "set_", "as_strided_", "squeeze_", "unsqueeze_", "transpose_", "t_",
     "swapaxes_", "swapdims_", "detach_", "unsafe_split", "_coalesced_"}
)  # fmt: skip


class InPlaceOnMetaIsFree(TorchDispatchMode):
    """While a model is built on meta: an in-place op on a meta tensor (``uniform_``, ``erfinv_``,
    ``clamp_``, ``copy_`` ... the initialisers libraries write themselves, such as timm's
    ``trunc_normal_``) returns its tensor at once. On meta it computes nothing, but its meta kernel can be
    slow Python (``erfinv_``): a timm model's build spent ~90% there. Ops that change metadata in place
    (``METADATA_IN_PLACE``) still run."""

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        schema = func._schema
        if (
            args
            and isinstance(args[0], torch.Tensor)
            and args[0].is_meta
            and schema.is_mutable
            and len(schema.returns) == 1
            and schema.returns[0].alias_info is not None
            and schema.returns[0].alias_info.is_write
            and func.overloadpacket.__name__ not in METADATA_IN_PLACE
        ):
            return args[0]
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def skip_init() -> Iterator[None]:
    """Within the block, in this thread, ``torch.nn.init`` functions and ``torch.nn`` modules'
    ``reset_parameters`` do nothing: parameters keep whatever ``torch.empty`` gave them.

    The patches are installed while any thread is inside the block and act only for threads inside it,
    so a concurrent thread building a real model still initialises its weights.
    """
    global _patch_depth
    with _lock:
        if _patch_depth == 0:
            _install()
        _patch_depth += 1
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1
        with _lock:
            _patch_depth -= 1
            if _patch_depth == 0:
                _restore()


def _skipping() -> bool:
    return getattr(_state, "depth", 0) > 0


def _init_noop(orig: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(orig)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _skipping():
            return args[0] if args else kwargs.get("tensor")
        return orig(*args, **kwargs)

    return wrapper


def _method_noop(orig: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(orig)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _skipping():
            return None
        return orig(*args, **kwargs)

    return wrapper


def _torch_module_classes() -> Iterator[type]:
    """Every loaded ``nn.Module`` subclass defined by ``torch.nn`` itself."""
    seen: set[type] = set()
    stack = [nn.Module]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
    return (c for c in seen if c.__module__.startswith("torch.nn.modules."))


def _install() -> None:
    for name in INIT_FUNCTIONS:
        orig = getattr(nn.init, name)
        _saved.append((nn.init, name, orig))
        setattr(nn.init, name, _init_noop(orig))
    for cls in _torch_module_classes():
        for name in RESET_METHODS:
            orig = cls.__dict__.get(name)
            if callable(orig):
                _saved.append((cls, name, orig))
                setattr(cls, name, _method_noop(orig))


def _restore() -> None:
    while _saved:
        owner, name, orig = _saved.pop()
        setattr(owner, name, orig)
