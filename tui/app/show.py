"""``tui.show(...)``: open the Textual app from a script or IPython on the models a user holds in memory.

::

    import tui
    tui.show(model, torch.randn(1, 3, 224, 224), name="my-resnet", compare=["resnet50", "convnext_tiny"],
             hardware="l4")

The user's instances are analysed in this process (the Python API's instance path: never changed, never
copied), in the app's background thread workers like every analysis; catalog names beside them go through
the usual analysis path. When the app's batch size or dtype changes, the instances are analysed again
with the example inputs' per-sample shapes at the new batch. Needs a terminal; returns when the app quits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from metrics_core.common.errors import UsageError
from metrics_core.common.records import ModelReport
from metrics_core.runtime.options import AnalysisOptions
from tui.app.backend import Backend


class InMemoryModel:
    """An instance with its example inputs; ``batch`` is the examples' batch (first dimension)."""

    def __init__(self, model: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> None:  # noqa: ANN401
        self.model, self.args, self.kwargs = model, tuple(args), dict(kwargs)
        self.batch = next((_batch(v) for v in (*self.args, *self.kwargs.values()) if _batch(v)), None)

    def inputs_for(self, batch_size: int) -> tuple[tuple[Any, ...], dict[str, Any], int | None]:
        """The examples at ``batch_size``: as given when it is their batch, else per-sample specs."""
        if self.batch is None or batch_size == self.batch:
            return self.args, self.kwargs, None
        return (
            tuple(_spec(v) for v in self.args),
            {k: _spec(v) for k, v in self.kwargs.items()},
            batch_size,
        )


def _batch(value: Any) -> int | None:  # noqa: ANN401
    shape = getattr(value, "shape", None)
    if (
        shape is None
        and isinstance(value, (tuple, list))
        and value
        and all(isinstance(d, int) for d in value)
    ):
        shape = value
    return int(shape[0]) if shape else None


def _spec(value: Any) -> Any:  # noqa: ANN401
    """A tensor or full shape as a per-sample ``--input`` spec (float ones in the model's dtype)."""
    shape = getattr(value, "shape", None)
    if (
        shape is None
        and isinstance(value, (tuple, list))
        and value
        and all(isinstance(d, int) for d in value)
    ):
        return "float:" + "x".join(map(str, value[1:]))
    if shape is None or len(shape) < 2:
        return value
    dtype = str(value.dtype).removeprefix("torch.")
    return f"{'float' if value.is_floating_point() else dtype}:{'x'.join(map(str, shape[1:]))}"


def in_memory_analyze(
    instances: dict[str, InMemoryModel],
    fallback: Callable[..., list[ModelReport]],
) -> Callable[[Sequence[str], AnalysisOptions, Callable[[ModelReport], None]], list[ModelReport]]:
    """A ``Backend.analyze`` that analyses ``instances`` (by their names) in this process and hands every
    other name to ``fallback`` (the app's usual analysis); an instance that fails is a row error."""

    def analyze(
        names: Sequence[str], options: AnalysisOptions, on_report: Callable[[ModelReport], None]
    ) -> list[ModelReport]:
        from metrics_core.api.instance import analyze_instance
        from metrics_core.common.errors import error_kind, one_line_error

        out: dict[str, ModelReport] = {}
        for name in [n for n in names if n in instances]:
            held = instances[name]
            args, kwargs, batch = held.inputs_for(options.batch_size)
            try:
                report = analyze_instance(
                    held.model, args, kwargs, name=name, dtype=chosen_dtype(options), batch_size=batch,
                    memory_format=chosen_memory_format(options),
                )  # fmt: skip
            except Exception as exc:  # a row error, as for catalog models
                report = ModelReport(
                    name, [], options.batch_size, options.dtype, task="custom", family="instance"
                )
                report.error, report.error_kind = one_line_error(exc), error_kind(exc)
            on_report(report)
            out[name] = report
        others = [n for n in names if n not in instances]
        if others:
            for r in fallback(others, options, on_report):
                out[r.model] = r
        return [out[n] for n in names if n in out]

    return analyze


def chosen_dtype(options: AnalysisOptions) -> str | None:
    """The dtype an instance is analysed in: the options' one, or None (``analyze_instance``: the model's
    own) when none was chosen (``dtype_from_model``), as a catalog model is."""
    return None if options.dtype_from_model else options.dtype


def chosen_memory_format(options: AnalysisOptions) -> str | None:
    """The memory format an instance is analysed in: channels-last when chosen (the settings,
    ``show(memory_format=...)``), else None (``analyze_instance``: as its tensors are laid out)."""
    return options.memory_format if options.memory_format != "contiguous" else None


def show(
    *models: Any,  # noqa: ANN401 (an nn.Module then its example inputs, or names)
    name: str | None = None,
    compare: Sequence[str] = (),
    hardware: str | None = None,
    dtype: str | None = None,
    batch_size: int | None = None,
    memory_format: str | None = None,
    **example_kwargs: Any,  # noqa: ANN401
) -> int:
    """Open the app on an in-memory model beside catalog models; returns the app's exit status.

    ``models``: either an ``nn.Module`` followed by its example inputs (as ``metrics_core.analyze``
    takes them; ``example_kwargs`` are its keyword inputs) or catalog names only. ``name``: the
    instance's row name (default: its class name); ``compare``: catalog names shown beside it;
    ``hardware``: the target id; ``dtype`` / ``batch_size``: the app's analysis options (dtype default: each
    model's own float16/bfloat16, else fp32, as the CLI without ``--dtype``; batch default: the examples'
    batch); ``memory_format``: ``channels_last`` lays every model and its 4-D / 5-D inputs out channels-last
    (``metrics_core.analyze``'s keyword; the app's settings change it). ``UsageError`` (one line) for a bad
    name, option or hardware id, or without a terminal.
    """
    import sys

    from metrics_core.api.instance import is_module
    from metrics_core.common.input_spec import canonical_memory_format
    from metrics_core.perf.hardware import get_target
    from metrics_core.perf.roofline import precision_for
    from metrics_core.sources.catalog import get_spec
    from tui.app.backend import _analyze

    instances: dict[str, InMemoryModel] = {}
    names: list[str] = []
    compare = [compare] if isinstance(compare, str) else list(compare)
    if models and is_module(models[0]):
        held = InMemoryModel(models[0], models[1:], example_kwargs)
        row = name or type(models[0]).__name__
        instances[row] = held
        names.append(row)
        batch_size = batch_size or held.batch or 1
    else:
        for m in models:
            if not isinstance(m, str):
                raise UsageError(
                    "show() takes an nn.Module then its example inputs, or model names; "
                    f"got a {type(m).__name__}"
                )
            names.append(m)
    for n in [*names, *compare]:
        if n not in instances:
            get_spec(n)
    names += [n for n in compare if n not in names]
    options = AnalysisOptions(
        batch_size=batch_size or 1, dtype=dtype or "fp32", dtype_from_model=dtype is None,
        memory_format=canonical_memory_format(memory_format),
    ).validated()  # fmt: skip
    target_id = precision = None
    if hardware:
        target = get_target(hardware)
        target_id, precision = target.id, precision_for(target, options.dtype)
    for row, held in instances.items():  # inputs that do not fit fail here, in one line, not in a row
        from metrics_core.api.instance import analyze_instance

        args, kwargs, batch = held.inputs_for(options.batch_size)
        analyze_instance(
            held.model, args, kwargs, name=row, dtype=chosen_dtype(options), batch_size=batch,
            memory_format=chosen_memory_format(options),
        )  # fmt: skip
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("show() needs a terminal (run it from a terminal Python or IPython, not a notebook)")
    from tui.app.application import ModeltuiApp

    backend = Backend(analyze=in_memory_analyze(instances, _analyze))
    app = ModeltuiApp(models=names, options=options, target_id=target_id, precision=precision,
                      backend=backend, modes=("eager", "calibrated"))  # fmt: skip
    app.run()
    return app.return_code or 0
