"""User models: ``package.module:factory`` or ``package.module:factory(key=literal, ...)``.

The factory is any callable returning an ``nn.Module``; literal keyword arguments (numbers, strings,
booleans, None, tuples/lists/dicts of them) are passed to it: ``mynets:resnet(depth=18, width=2.0)``.
The current directory is on the import path (as with ``python -m``), so ``mynet:net`` finds ``mynet.py``
where the command runs. Only the syntax and whether the top-level module exists are checked here (no user
code runs in the caller's process: ``importlib.util.find_spec`` of a top-level name does not execute it);
importing and calling the factory happens in ``build.build_model``, in a worker process.
"""

from __future__ import annotations

import ast
import importlib.util
import keyword
import os
import sys
from collections.abc import Sequence
from typing import Any

from metrics_core.common.errors import UnknownModelError, UsageError
from metrics_core.sources.spec import DEFAULT_CUSTOM_SHAPE, ModelSpec, validate_shape

EXAMPLE = "package.module:factory or package.module:factory(depth=18)"


def parse_factory(path: str) -> tuple[str, str, dict[str, Any]]:
    """``"m.n:make(depth=18)"`` -> ``("m.n", "make", {"depth": 18})``.

    ``UsageError`` (one line) for a malformed path, positional or non-literal arguments.
    """
    module, sep, rest = path.partition(":")
    module = module.strip()
    rest = rest.strip()
    if not sep or not _dotted_identifier(module):
        raise UsageError(f"invalid model path {path!r}; expected {EXAMPLE}")
    attr, paren, args = rest.partition("(")
    attr = attr.strip()
    if not _dotted_identifier(attr):
        raise UsageError(f"invalid model path {path!r}; expected {EXAMPLE}")
    kwargs: dict[str, Any] = {}
    if paren:
        try:
            call = ast.parse(f"f({args}", mode="eval").body
        except SyntaxError:
            raise UsageError(f"invalid factory arguments in {path!r}; expected {EXAMPLE}") from None
        assert isinstance(call, ast.Call)
        if call.args:
            raise UsageError(f"factory arguments in {path!r} must be keywords (name=value)")
        for kw in call.keywords:
            if kw.arg is None:
                raise UsageError(f"factory arguments in {path!r} must be keywords (name=value)")
            try:
                kwargs[kw.arg] = ast.literal_eval(kw.value)
            except ValueError:
                raise UsageError(
                    f"factory argument {kw.arg!r} in {path!r} must be a literal (number, string, True/False, "
                    "None, or a tuple/list/dict of them)"
                ) from None
    return module, attr, kwargs


def custom_spec(path: str, input_shape: Sequence[int] | None = None) -> ModelSpec:
    """Spec of a user model (see module docstring). The input is one tensor ``(N, *input_shape)``
    (default ``DEFAULT_CUSTOM_SHAPE``) unless ``--input`` says otherwise.

    ``UsageError`` for a malformed path; ``UnknownModelError`` (exit 2) when no
    top-level module of that name can be found, with the known source prefixes suggested.
    """
    module, attr, kwargs = parse_factory(path)
    shape = validate_shape(DEFAULT_CUSTOM_SHAPE if input_shape is None else input_shape)
    if not module_exists(module):
        raise UnknownModelError(_unknown_module_message(path, module))
    return ModelSpec(
        name=path,
        family="custom",
        task="custom",
        input_shape=shape,
        input_kind="tensor",
        builder=f"{module}:{attr}",
        builder_kwargs=kwargs,
        source="custom",
    )


def add_cwd_to_path() -> None:
    """Put the current directory on ``sys.path`` (first, as ``python -m`` does), once."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def module_exists(module: str) -> bool:
    """Whether the top-level package of ``module`` can be imported (from the current directory too),
    without running any of its code."""
    add_cwd_to_path()
    top = module.split(".")[0]
    try:
        return top in sys.modules or importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def _unknown_module_message(path: str, module: str) -> str:
    import difflib

    from metrics_core.sources.prefixes import SOURCE_PREFIXES

    prefix = path.partition(":")[0]
    close = difflib.get_close_matches(prefix, list(SOURCE_PREFIXES), n=1, cutoff=0.5)
    rest = path.partition(":")[2]
    if close:
        return f"unknown model source {prefix!r} in {path!r}; did you mean {close[0]}:{rest}?"
    return (
        f"cannot find module {module.split('.')[0]!r} for {path!r} (looked in the current directory and on "
        "the Python path); a model is a torchvision name, timm:NAME, hf:ID or package.module:factory"
    )


def _dotted_identifier(text: str) -> bool:
    parts = text.split(".")
    return all(p.isidentifier() and not keyword.iskeyword(p) for p in parts)
