"""Analyse an ``nn.Module`` instance the user already holds, in the user's own process, without changing it.

How the instance is seen, and why the numbers equal the catalog path's:

- For the one forward pass, every parameter and buffer of the model (and every plain tensor attribute of
  its modules) is swapped, in place, for a meta tensor of the same shape and dtype; tied weights stay tied
  (one meta tensor per original). The capture then runs exactly as for a model the catalog built on the
  meta device (``metrics_core.capture.trace.capture`` and ``runtime.engines.fill_report``), so an
  instance and its catalog name give identical records.
- Nothing is copied: the extra memory is that of the meta tensors' Python objects, independent of the
  parameter bytes. The model may live on CPU or CUDA, in fp32, bf16 or fp16; no device memory is used.
- The forward runs in eval mode (as the catalog's models do) under ``torch.no_grad()``.
- Afterwards everything is put back as it was: the same parameter and buffer objects, each module's
  ``training`` flag, module attributes that the forward (or a forward pre-hook, e.g.
  ``torch.nn.utils.prune``) added or replaced, and each module's hook dictionaries (a library that
  registers hooks on its first call, as transformers' output capture does, leaves none behind). The
  model's own hooks stay registered and run during the capture, on meta tensors: a hook that appends its
  output to a list of yours appends a meta tensor. The capture's attribution hooks are global and removed
  afterwards.

Example inputs (``args`` / ``kwargs`` values) may be real tensors (any device; integer and bool ones keep
their values for code that reads them), full shapes including the batch (``(1, 3, 224, 224)``, floating
point in the model's dtype, as torchinfo's ``input_size``), or ``--input`` style specs of one sample
(``"float:3x224x224"``, ``"int64:128"``; the batch is prepended).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from metrics_core.common.dtypes import DTYPES, TORCH_NAMES
from metrics_core.common.errors import DataDependentOpError, ModeltuiError, UsageError, one_line_error
from metrics_core.common.input_spec import canonical_memory_format, describe_inputs, parse_input_spec
from metrics_core.common.records import ModelReport

#: Analysis dtype of a model's floating-point parameters (``fp32`` when there are none).
_FROM_TORCH: dict[str, str] = {v: k for k, v in TORCH_NAMES.items() if k != "int8"}

#: The data-dependence hint for the Python API (the capture's own names command-line options).
API_HINT = (
    "for a mixture-of-experts model use the library's shape-static expert path (transformers: the default "
    "grouped_mm experts); otherwise pass real integer tensors as inputs (their values are used), count a "
    "real run with metrics_core.record, or write the op shape-static (a mask and torch.where)"
)

#: The keywords ``metrics_core.analyze`` takes itself: a close misspelling passed to a forward that does
#: not take it is refused with a suggestion.
OWN_KEYWORDS: tuple[str, ...] = (
    "hardware", "precision", "execution", "efficiency", "dtype", "batch_size", "name", "forward_kwargs",
    "memory_format",
)  # fmt: skip


def canonical_dtype(dtype: Any) -> str:  # noqa: ANN401
    """``dtype`` as an analysis dtype name: ``fp16``, ``"float16"`` and ``torch.float16`` are all ``fp16``.
    ``UsageError`` for anything else."""
    text = str(dtype).removeprefix("torch.")
    text = _FROM_TORCH.get(text, "fp16" if text == "half" else "fp32" if text == "float" else text)
    if text not in DTYPES:
        raise UsageError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    return text


def check_keywords(model: Any, kwargs: Mapping[str, Any]) -> None:  # noqa: ANN401
    """``UsageError`` for a keyword ``forward`` does not take (when it takes no ``**kwargs``), with the
    close names of ``forward``'s parameters and of ``analyze``'s own keywords."""
    import difflib
    import inspect

    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    for key in kwargs:
        if key not in params:
            close = difflib.get_close_matches(key, [*params, *OWN_KEYWORDS], n=2)
            hint = f"; did you mean {' or '.join(close)}?" if close else f"; it takes {', '.join(params)}"
            raise UsageError(f"{type(model).__name__}.forward() takes no argument {key!r}{hint}")


def is_module(obj: Any) -> bool:  # noqa: ANN401
    """Whether ``obj`` is a ``torch.nn.Module`` (without importing torch when it is not loaded)."""
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def analyze_instance(
    model: Any,  # noqa: ANN401 (nn.Module)
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    dtype: str | None = None,
    batch_size: int | None = None,
    raw_kwargs: Mapping[str, Any] | None = None,
    memory_format: str | None = None,
) -> ModelReport:
    """The ``ModelReport`` of ``model(*args, **kwargs, **raw_kwargs)`` (the module docstring has the input
    forms; in ``raw_kwargs`` strings are never read as specs, they reach ``forward`` as they are).

    ``dtype``: the analysis dtype (bytes per floating-point element; default: the model's own, e.g.
    ``bf16`` for a bf16 model); ``batch_size``: the batch prepended to ``--input`` style specs (default 1;
    tensors and shapes carry their own batch). ``name``: the report's model name (default: the class
    name). ``memory_format``: ``channels_last`` lays the meta stand-ins of the model's 4-D / 5-D
    parameters and buffers and the 4-D / 5-D floating-point inputs out channels-last before the capture
    (``capture.layouts.to_memory_format``; the model's own tensors are never touched); ``contiguous`` or
    None: as the instance and inputs are laid out. Raises ``UsageError`` (one line) for something that is
    not an ``nn.Module``, no inputs, an input of another kind, channels-last with no 4-D / 5-D input, an
    unknown dtype or a batch size that is not a positive integer, or when the forward pass fails on the
    inputs given (the message names what was fed); ``UnsupportedModelError`` for an op that needs tensor
    values the analysis does not have.
    """
    import torch

    from metrics_core.capture.dispatch import DATA_DEPENDENT_HINT
    from metrics_core.capture.layouts import channels_last_format, to_memory_format
    from metrics_core.capture.trace import capture, has_lazy_modules
    from metrics_core.costs.registry import load_rule_modules
    from metrics_core.runtime.engines import fill_report

    load_rule_modules()  # installed cost-rule plugins (users' own rules are registered in this process)
    if not isinstance(model, torch.nn.Module):
        raise UsageError(
            f"analyze() takes an nn.Module or a model name (e.g. 'resnet50'), got a {type(model).__name__}"
        )
    model = getattr(model, "_orig_mod", model)  # torch.compile's wrapper: the module it compiled
    if has_lazy_modules(model):
        raise UsageError(
            f"{type(model).__name__} has uninitialised lazy parameters (nn.LazyLinear ...): run it once "
            "on an example input first, then analyse it"
        )
    dtype = canonical_dtype(dtype) if dtype is not None else _model_dtype(model)
    memory_format = canonical_memory_format(memory_format)
    if name is not None and not isinstance(name, str):
        raise UsageError(f"name must be a string, got a {type(name).__name__}")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise UsageError(f"batch size must be a positive integer, got {batch_size!r}")
    kwargs = dict(kwargs or {})
    check_keywords(model, kwargs)
    raw = dict(raw_kwargs or {})
    if not args and not kwargs and not raw:
        raise UsageError(
            f"give {type(model).__name__}'s example inputs: tensors, full shapes such as (1, 3, 224, 224), "
            "or specs such as 'float:3x224x224' / 'int64:128'"
        )
    report = ModelReport(
        model=name or type(model).__name__,
        input_shape=[],
        batch_size=1,
        dtype=dtype,
        engine="meta",
        task="custom",
        family="instance",
    )
    with _LOCK, _meta_weights(model), _eval_mode(model):  # one at a time: the model is swapped in place
        feed_args, feed_kwargs, values, described = _feed(model, args, kwargs, batch_size or 1, dtype, raw)
        # the meta stand-ins are converted (in the swapped-in dictionaries, restored on exit), not the model's
        feed_args, feed_kwargs = to_memory_format(model, feed_args, feed_kwargs, memory_format, report.model)
        report.extras["memory_format"] = (
            "channels_last"
            if any(channels_last_format(t) is not None for t in (*feed_args, *feed_kwargs.values()))
            else "contiguous"
        )
        if batch_size is not None and not any(isinstance(v, str) for v in (*args, *kwargs.values())):
            given = described[0]["shape"][0] if described and described[0]["shape"] else None
            if given != batch_size:
                raise UsageError(
                    f"batch_size={batch_size} applies to spec inputs such as 'float:3x224x224'; the tensors "
                    f"or shapes given carry their own batch ({given}): change them, or drop batch_size"
                )
        report.inputs = described
        if described and described[0]["shape"]:
            report.batch_size = described[0]["shape"][0] if described[0]["shape"] else 1
            report.input_shape = list(described[0]["shape"][1:])
        try:
            with _meta_memo():
                trace = capture(model, feed_args, dtype, feed_kwargs, values)
        except KeyboardInterrupt:
            raise
        except DataDependentOpError as exc:
            raise DataDependentOpError(str(exc).replace(DATA_DEPENDENT_HINT, API_HINT)) from None
        except ModeltuiError:
            raise
        except Exception as exc:
            fed = describe_inputs(described) or "nothing"
            raise UsageError(
                f"{report.model}.forward failed on the inputs given ({fed}): {one_line_error(exc)}; "
                "pass inputs that fit its forward (if they do, the model reads real tensor values, e.g. "
                ".numpy() or .tolist(), which the meta-device analysis does not have: count a real run with "
                "metrics_core.record)"
            ) from None
        return fill_report(report, model, trace, dtype)


_MEMO: Any = None
#: Instance analyses run one at a time in a process (the app's thread workers may start two): each swaps
#: a model's tensors in place, and the memoised meta kernels are one dispatch mode.
_LOCK = threading.Lock()


def _meta_memo() -> Any:  # noqa: ANN401
    """The process's memoised meta kernels (``runtime.metamemo.MetaMemo``, as the analysis workers keep
    one: the same records, checked for the catalog); a no-op context with ``MODELTUI_MEMO=0``."""
    import contextlib
    import os

    global _MEMO
    if os.environ.get("MODELTUI_MEMO", "1") == "0":
        return contextlib.nullcontext()
    if _MEMO is None:
        from metrics_core.runtime.metamemo import MetaMemo

        _MEMO = MetaMemo()
    return _MEMO


def _looks_like_spec(text: str) -> bool:
    """Whether a string input is an ``--input`` spec (``DTYPE:DIMS``, e.g. ``"int64:128"``) rather than a
    string argument of ``forward``: it parses as one."""
    try:
        parse_input_spec(text)
    except UsageError:
        return False
    return True


def _model_dtype(model: Any) -> str:  # noqa: ANN401
    for t in (*model.parameters(), *model.buffers()):
        if t.is_floating_point():
            return _FROM_TORCH.get(str(t.dtype).removeprefix("torch."), "fp32")
    return "fp32"


@contextmanager
def _meta_weights(model: Any) -> Iterator[None]:  # noqa: ANN401
    """Swap every parameter, buffer and plain tensor attribute of ``model``'s modules for a meta tensor of
    the same shape and dtype (one per original object: tied weights stay tied); on exit restore every
    module's attribute dictionary and its private dictionaries (parameters, buffers, submodules, hooks) to
    their entries before, whatever the forward added or replaced."""
    import torch

    memo: dict[int, Any] = {}

    def meta_of(t: Any, where: str) -> Any:  # noqa: ANN401
        rep = memo.get(id(t))
        if rep is None:
            try:
                blank = torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device="meta")
            except Exception as exc:  # a tensor subclass without a meta form
                raise UsageError(
                    f"{where}: a {type(t).__name__} of dtype {t.dtype} has no meta-device form "
                    f"({one_line_error(exc)}); analyse the model before quantising it, or by name"
                ) from None
            rep = (
                torch.nn.Parameter(blank, requires_grad=t.requires_grad)
                if isinstance(t, torch.nn.Parameter)
                else blank
            )
            memo[id(t)] = rep
        return rep

    saved: list[tuple[dict[str, Any], dict[str, Any]]] = []
    try:
        for mod_name, mod in model.named_modules(remove_duplicate=True):
            state = vars(mod)
            stores = (state.get("_parameters", {}), state.get("_buffers", {}))
            # every private dictionary of the module (parameters, buffers, submodules, each kind of hook:
            # a library may register hooks on first call, e.g. transformers' output capture), then the
            # attribute dictionary itself
            saved.extend((d, dict(d)) for k, d in state.items() if k.startswith("_") and isinstance(d, dict))
            saved.append((state, dict(state)))
            for store in stores:
                for key, t in list(store.items()):
                    if t is not None:
                        store[key] = meta_of(t, f"{mod_name or type(model).__name__}.{key}")
            for key, t in list(state.items()):
                if isinstance(t, torch.Tensor) and not key.startswith("__"):
                    state[key] = meta_of(t, f"{mod_name or type(model).__name__}.{key}")
        yield
    finally:
        for store, before in reversed(saved):
            for key in [k for k in store if k not in before]:
                del store[key]
            for key, value in before.items():
                if store.get(key, _MISSING) is not value:
                    store[key] = value


_MISSING = object()


@contextmanager
def _eval_mode(model: Any) -> Iterator[None]:  # noqa: ANN401
    """Every module in eval mode for the capture (as the catalog builds them); each module's own
    ``training`` flag restored on exit."""
    modes = [(m, m.training) for m in model.modules()]
    try:
        for m, _ in modes:
            m.training = False
        yield
    finally:
        for m, training in modes:
            m.training = training


def _feed(
    model: Any,  # noqa: ANN401
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    batch_size: int,
    dtype: str,
    raw_kwargs: Mapping[str, Any] | None = None,
) -> tuple[tuple[Any, ...], dict[str, Any], list[tuple[Any, Any]], list[dict[str, Any]]]:
    """Meta tensors (plus known values of integer inputs and the ``described`` list) for the example
    inputs; plain Python values (None, numbers, bools, and strings that are not specs) pass through;
    numpy arrays are tensors. In ``raw_kwargs`` strings always pass through."""
    import torch

    from metrics_core.capture.inputs import make_feed, model_float_dtype

    values: list[tuple[Any, Any]] = []
    described: list[dict[str, Any]] = []
    float_dtype = model_float_dtype(model)

    def one(value: Any, key: str | None, where: str, raw: bool = False) -> Any:  # noqa: ANN401
        if type(value).__module__ == "numpy" and hasattr(value, "shape"):
            value = torch.as_tensor(value)
        if isinstance(value, torch.Tensor):
            meta = value.detach().to("meta")
            if not (value.is_floating_point() or value.is_complex()):
                from metrics_core.capture.values import MAX_ELEMENTS

                if value.numel() <= MAX_ELEMENTS:
                    values.append((meta, value.detach().cpu()))
            label = (
                TORCH_NAMES[dtype] if value.is_floating_point() else str(value.dtype).removeprefix("torch.")
            )
            described.append({"name": key, "dtype": label, "shape": list(value.shape)})
            return meta
        if isinstance(value, (tuple, list)) and value and all(isinstance(d, (int, float)) for d in value):
            ints = [isinstance(d, int) and not isinstance(d, bool) for d in value]
            if any(ints) and not all(ints):  # (2.0, 8), (True, 8): a shape with a stray element
                raise UsageError(f"{where}: shape {tuple(value)} must be positive integers")
        if isinstance(value, torch.Size) or (
            isinstance(value, (tuple, list))
            and value
            and all(isinstance(d, int) and not isinstance(d, bool) for d in value)
        ):
            shape = tuple(value)
            if any(d < 1 for d in shape):
                raise UsageError(f"{where}: shape {shape} must be positive integers")
            described.append({"name": key, "dtype": TORCH_NAMES[dtype], "shape": list(shape)})
            return torch.empty(shape, dtype=float_dtype, device="meta")
        if isinstance(value, str) and not raw and _looks_like_spec(value):
            spec = parse_input_spec(value)
            if spec.name is not None:
                raise UsageError(f"{where}: {value!r} names an argument; pass it as a keyword instead")
            feed = make_feed([spec], batch_size, model, analysis_dtype=dtype)
            values.extend(feed.values)
            described.append({**feed.described[0], "name": key})
            return feed.args[0]
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, (tuple, list)):
            return type(value)(one(v, key, where) for v in value)
        if isinstance(value, dict):
            return {k: one(v, str(k), f"{where}[{k!r}]") for k, v in value.items()}
        raise UsageError(
            f"{where} is a {type(value).__name__}: pass a tensor, a full shape such as (1, 3, 224, 224) "
            "or a spec such as 'float:3x224x224'"
        )

    out_args = tuple(one(v, None, f"input {i}") for i, v in enumerate(args))
    out_kwargs = {k: one(v, k, f"input {k!r}") for k, v in kwargs.items()}
    out_kwargs.update({k: one(v, k, f"input {k!r}", raw=True) for k, v in (raw_kwargs or {}).items()})
    return out_args, out_kwargs, values, described
