"""One entry point from a model name to its ``ModelSpec``, whatever the source.

- ``timm:NAME``: any timm architecture (``timm_source``);
- ``hf:ID``: a Hugging Face transformers architecture from its config (``hf_source``);
- ``package.module:factory`` (optionally with literal keyword arguments): a user model (``custom``);
- anything else: a torchvision catalog name (``catalog``).

A known prefix wins over a module of the same name. Unknown names raise ``UnknownModelError`` (exit 2)
with suggestions; a source whose library is not installed raises ``UsageError`` saying how to install it.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from metrics_core.common.errors import UsageError
from metrics_core.sources import catalog
from metrics_core.sources.custom import custom_spec
from metrics_core.sources.prefixes import SOURCE_PREFIXES
from metrics_core.sources.spec import ModelSpec


def get_spec(name: str, input_shape: Sequence[int] | None = None) -> ModelSpec:
    """The spec of ``name`` (see module docstring). ``input_shape`` applies to custom models only."""
    if not isinstance(name, str) or not name.strip():
        raise UsageError("empty model name")
    name = name.strip()
    prefix, sep, rest = name.partition(":")
    if not sep:
        return catalog.get_spec(name)
    source = SOURCE_PREFIXES.get(prefix)
    if source is not None:
        if not rest.strip():
            raise UsageError(f"{prefix}: needs a model name after the colon, e.g. {_example(prefix)}")
        module = importlib.import_module(source[0])
        return module.get_spec(rest.strip())
    return custom_spec(name, input_shape)


def require(prefix: str) -> None:
    """``UsageError`` saying how to install the library behind ``prefix`` when it is missing (checked with
    package metadata and ``find_spec``: nothing is imported)."""
    import importlib.util

    _module, extra, library = SOURCE_PREFIXES[prefix]
    if importlib.util.find_spec(library) is None:
        raise UsageError(
            f"{prefix}: models need the {library} package; install it with: pip install 'modeltui[{extra}]'"
        )


def _example(prefix: str) -> str:
    return {"timm": "timm:resnet50", "hf": "hf:gpt2"}.get(prefix, f"{prefix}:NAME")
