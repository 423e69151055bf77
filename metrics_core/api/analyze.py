"""``metrics_core.analyze``: one call for a catalog name or an ``nn.Module`` instance -> ``Report``.

- ``analyze("resnet50", hardware="a100-sxm4-80gb", batch_size=8, dtype="fp16")``: the catalog path (the
  model built on the meta device, in a worker process unless torch is already imported here), with the
  CLI's options as keywords (``AnalysisOptions`` fields: ``batch_size``, ``dtype``, ``input_shape``,
  ``inputs``, ``seq_len``, ``hf_class``, ``attention``, ``engine``, ``use_cache``, ``rules``,
  ``memory_format``) or an
  ``AnalysisOptions`` as the second argument (the older form).
- ``analyze(model, example, ..., hardware=..., **example_kwargs)``: the user's instance in this process,
  never changed and never copied (``metrics_core.api.instance``).

Estimates use the CLI's defaults: the target's precision path for the analysis dtype, eager execution,
calibrated efficiency.
"""

from __future__ import annotations

import difflib
from dataclasses import fields
from typing import Any

from metrics_core.api.instance import analyze_instance, is_module
from metrics_core.api.report import Report
from metrics_core.common.errors import UsageError
from metrics_core.common.input_spec import canonical_memory_format
from metrics_core.runtime.options import AnalysisOptions

#: Keywords ``analyze`` takes itself (not passed to a model's forward).
ESTIMATE_KEYWORDS: tuple[str, ...] = ("hardware", "precision", "execution", "efficiency")


def analyze(
    model: Any,  # noqa: ANN401 (a name, or an nn.Module)
    *example_args: Any,  # noqa: ANN401
    hardware: Any = None,  # noqa: ANN401 (a target id or HardwareTarget)
    precision: str | None = None,
    execution: str | None = None,
    efficiency: str | None = None,
    dtype: str | None = None,
    batch_size: int | None = None,
    name: str | None = None,
    forward_kwargs: dict[str, Any] | None = None,
    memory_format: str | None = None,
    **example_kwargs: Any,  # noqa: ANN401
) -> Report:
    """Analyse ``model`` and return its ``Report`` (see the module docstring for the two forms).

    Instance form: ``example_args`` / ``example_kwargs`` are ``forward``'s arguments (tensors on any
    device, full shapes like ``(1, 3, 224, 224)``, or specs like ``"int64:128"``; other values pass
    through); keywords that collide with this function's own, and strings that must not be read as specs,
    go in ``forward_kwargs``. ``dtype`` defaults to the model's own, ``name`` to
    its class name.

    Name form: a catalog name (``modeltui models``), ``timm:...``, ``hf:...`` or ``pkg.mod:factory``;
    ``dtype`` defaults, as on the command line, to the model's own float16/bfloat16 (a bf16 ``hf:`` model)
    else fp32 (``AnalysisOptions.dtype_from_model``), and ``batch_size`` to 1; a model that fails gives a
    ``Report`` whose ``error`` says why (``report.ok`` is False).

    ``memory_format``: ``"channels_last"`` (also ``"channels-last"`` or ``torch.channels_last``) captures
    the model with its 4-D / 5-D weights and inputs channels-last (NHWC), as ``--memory-format
    channels-last`` does: the same numbers as the CLI for a name; for an instance its meta stand-ins and
    inputs are converted, never the model itself. ``"contiguous"``: NCHW, the CLI's default; None: the
    name form's default (contiguous), or the instance and its tensors as they are laid out. It is in the
    report's ``context()`` and ``raw.extras["memory_format"]``.

    Raises ``UsageError`` (one line, with suggestions) for an unknown keyword, option, hardware id or input
    that does not fit (channels-last with no 4-D / 5-D floating-point input among them),
    ``UnknownModelError`` for an unknown name.
    """
    estimate = {
        "hardware": hardware,
        "precision": precision,
        "execution": execution,
        "efficiency": efficiency,
    }
    if is_module(model):
        raw = analyze_instance(
            model,
            example_args,
            example_kwargs,
            name=name,
            dtype=dtype,
            batch_size=batch_size,
            raw_kwargs=forward_kwargs,
            memory_format=memory_format,
        )
        return Report(raw, **estimate)
    if not isinstance(model, str):
        raise UsageError(
            f"analyze() takes an nn.Module or a model name (e.g. 'resnet50'), got a {type(model).__name__}"
        )
    if memory_format is not None:
        example_kwargs = {**example_kwargs, "memory_format": canonical_memory_format(memory_format)}
    options = _options(example_args, example_kwargs, dtype, batch_size, forward_kwargs)
    from metrics_core.runtime.analyze import analyze_many

    (raw,) = analyze_many([model], options)
    if name:
        raw.model = name
    return Report(raw, **estimate)


def _options(
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    dtype: str | None,
    batch_size: int | None,
    forward_kwargs: dict[str, Any] | None,
) -> AnalysisOptions:
    """The ``AnalysisOptions`` of the name form: the older positional ``AnalysisOptions``, or keywords."""
    known = [f.name for f in fields(AnalysisOptions)]
    if forward_kwargs:
        raise UsageError(
            "forward_kwargs apply to an nn.Module instance; a named model takes inputs=[...] specs"
        )
    if args:
        if (
            len(args) == 1
            and isinstance(args[0], AnalysisOptions)
            and not kwargs
            and dtype is None
            and not batch_size
        ):
            return args[0]
        raise UsageError(
            "a named model takes its options as keywords (batch_size=, dtype=, inputs=['int64:128'] ...), "
            "not positional example inputs"
        )
    for key in kwargs:
        if key not in known:
            close = difflib.get_close_matches(key, [*known, *ESTIMATE_KEYWORDS, "name"], n=2)
            hint = f"did you mean {' or '.join(close)}?" if close else f"options: {', '.join(known)}"
            raise UsageError(f"analyze(): unknown option {key!r}; {hint}")
    given = dict(kwargs)
    if dtype is not None:
        given["dtype"] = dtype
    if given.get("dtype") is None:  # as the CLI without --dtype: a fp16/bf16 model in its own dtype
        given.pop("dtype", None)
        given.setdefault("dtype_from_model", True)
    if batch_size is not None:
        given["batch_size"] = batch_size
    if isinstance(given.get("inputs"), (list, tuple)):
        from metrics_core.common.input_spec import InputSpec, parse_input_spec

        given["inputs"] = tuple(
            i if isinstance(i, InputSpec) else parse_input_spec(str(i)) for i in given["inputs"]
        )
    if given.get("input_shape") is not None:
        given["input_shape"] = tuple(given["input_shape"])
    return AnalysisOptions(**given)
