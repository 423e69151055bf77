"""Example inputs for a model's forward pass, as meta tensors: positional and keyword arguments.

What is fed is a list of ``InputSpec`` (``metrics_core.common.input_spec``): the source's default for the
model (``metrics_core.sources.spec.default_inputs``: one image tensor for torchvision and timm, token ids
for Hugging Face text models ...), or the user's ``--input`` specs, or the tensors a user's ``--inputs``
function returns. ``float`` inputs take the dtype of the model's floating-point parameters. Integer and
bool inputs come with values (all ones, see ``metrics_core.capture.values``) for the code that reads them.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from metrics_core.capture.values import MAX_ELEMENTS
from metrics_core.common import units
from metrics_core.common.dtypes import TORCH_NAMES
from metrics_core.common.errors import UnsupportedModelError, UsageError
from metrics_core.common.input_spec import MODEL_FLOAT, InputSpec
from metrics_core.sources.custom import add_cwd_to_path, parse_factory
from metrics_core.sources.spec import ModelSpec, default_inputs


@dataclass
class Feed:
    """What one forward pass is fed: ``model(*args, **kwargs)``; ``values`` pairs each integer/bool input
    with its real values; ``described`` is ``[{"name", "dtype", "shape"}]`` with full (batched) shapes."""

    args: tuple[torch.Tensor, ...]
    kwargs: dict[str, Any]
    values: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)
    described: list[dict[str, Any]] = field(default_factory=list)


def model_float_dtype(model: torch.nn.Module | None) -> torch.dtype:
    """The dtype of the model's first floating-point parameter (or buffer); float32 when it has none."""
    if model is not None:
        for t in (*model.parameters(), *model.buffers()):
            if t.is_floating_point():
                return t.dtype
    return torch.float32


def torch_dtype(name: str, model_float: torch.dtype) -> torch.dtype:
    """The torch dtype of a canonical ``InputSpec`` dtype name (``"float"``: ``model_float``)."""
    return model_float if name == MODEL_FLOAT else getattr(torch, name)


def make_feed(
    specs: Sequence[InputSpec],
    batch_size: int,
    model: torch.nn.Module | None = None,
    device: str = "meta",
    analysis_dtype: str | None = None,
) -> Feed:
    """Tensors ``(batch_size, *spec.shape)`` for ``specs`` (unnamed: positional, named: keyword).

    Floating-point inputs are described in ``analysis_dtype`` (their bytes are counted in it), whatever
    dtype the model needs to run (its parameters')."""
    _check_batch(batch_size)
    float_dtype = model_float_dtype(model)
    feed = Feed((), {})
    args = []
    for spec in specs:
        dtype = torch_dtype(spec.dtype, float_dtype)
        shape = (batch_size, *spec.shape)
        t = torch.empty(shape, dtype=dtype, device=device)
        if not (t.is_floating_point() or t.is_complex()):
            if t.numel() > MAX_ELEMENTS:  # its masks and positions would be unknown: data-dependent
                raise UsageError(
                    f"the {spec.name or 'input'} {units.human_shape(shape)} has {t.numel():,} elements, "
                    f"above the {MAX_ELEMENTS:,} whose values the capture computes: use a smaller batch or "
                    "sequence"
                )
            feed.values.append((t, torch.ones(shape, dtype=dtype)))
        if spec.name is None:
            args.append(t)
        else:
            feed.kwargs[spec.name] = t
        label = str(dtype).removeprefix("torch.")
        if analysis_dtype is not None and t.is_floating_point():
            label = TORCH_NAMES[analysis_dtype]
        feed.described.append({"name": spec.name, "dtype": label, "shape": list(shape)})
    feed.args = tuple(args)
    return feed


def feed_from_function(path: str, batch_size: int) -> Feed:
    """Call the user's ``pkg.mod:fn(batch_size)`` returning ``(args, kwargs)`` of tensors (any device);
    the tensors are moved to meta, integer/bool ones keep their values. ``UsageError`` (one line) when
    the function cannot be imported, fails, or returns anything else."""
    _check_batch(batch_size)
    module, attr, fixed = parse_factory(path)
    add_cwd_to_path()
    try:
        fn: Any = importlib.import_module(module)
        for part in attr.split("."):
            fn = getattr(fn, part)
    except Exception as exc:
        raise UsageError(f"--inputs {path!r}: cannot import it: {type(exc).__name__}: {exc}") from None
    try:
        result = fn(batch_size, **fixed)
    except Exception as exc:
        raise UsageError(f"--inputs {path!r} failed: {type(exc).__name__}: {exc}") from None
    if (
        not isinstance(result, tuple)
        or len(result) != 2
        or not isinstance(result[0], (tuple, list))
        or not isinstance(result[1], dict)
    ):
        raise UsageError(
            f"--inputs {path!r} must return (args, kwargs): a tuple of tensors and a dict of name -> tensor, "
            f"got {type(result).__name__}"
        )
    feed = Feed((), {})
    args = [_to_meta(a, None, f"argument {i}", path, feed) for i, a in enumerate(result[0])]
    feed.kwargs = {k: _to_meta(v, str(k), repr(k), path, feed) for k, v in result[1].items()}
    feed.args = tuple(args)
    return feed


def _to_meta(value: Any, name: str | None, what: str, path: str, feed: Feed) -> Any:
    """A returned tensor on meta (integer/bool ones keep their values); plain Python scalars pass."""
    if not isinstance(value, torch.Tensor):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise UsageError(f"--inputs {path!r}: {what} is a {type(value).__name__}, not a tensor")
    meta = value.detach().to("meta")
    if not (value.is_floating_point() or value.is_complex()):
        feed.values.append((meta, value.detach().cpu()))
    feed.described.append(
        {"name": name, "dtype": str(value.dtype).removeprefix("torch."), "shape": list(value.shape)}
    )
    return meta


def example_inputs(
    spec: ModelSpec,
    batch_size: int = 1,
    input_shape: Sequence[int] | None = None,
    device: str = "meta",
    dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, ...]:
    """Positional arguments of ``spec``'s default inputs (no keyword inputs): ``(N, *input_shape)``
    tensors, uninitialised, on ``device``, floating ones in ``dtype`` (default float32).

    ``UsageError`` for a non-positive batch size or a shape of the wrong rank; ``UnsupportedModelError``
    for a refused model.
    """
    if not spec.supported:
        raise UnsupportedModelError(f"{spec.name}: {spec.reason}")
    _check_batch(batch_size)
    out = []
    for s in default_inputs(spec, input_shape):
        t = torch_dtype(s.dtype, dtype or torch.float32)
        out.append(torch.empty((batch_size, *s.shape), device=device, dtype=t))
    return tuple(out)


def _check_batch(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"batch size must be a positive integer, got {batch_size!r}")
