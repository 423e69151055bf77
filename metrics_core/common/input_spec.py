"""What a model is fed: ``InputSpec`` (name, dtype, per-sample shape) and the ``--input`` syntax.

``--input SPEC`` with ``SPEC = [NAME=]DTYPE:DIMS``: DIMS is the per-sample shape joined by ``x`` (the batch
size is prepended when tensors are made), DTYPE a torch dtype name (``int64``, ``bool``, ``float16``,
``bfloat16``, ``float32``, ``complex64`` ...) or ``float``, meaning the floating-point dtype of the model's
parameters (so a model already cast to fp16/bf16 is fed fp16/bf16). Unnamed specs are positional
arguments in order, named ones keyword arguments. Examples: ``int64:128``, ``attention_mask=bool:128``,
``float:3x224x224``, ``float:20``.

Nothing here imports torch: the dtype names are checked against a table of torch's dtype attribute names.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from metrics_core.common.errors import UsageError

#: ``float``: the floating-point dtype of the model's parameters (float32 when it has none).
MODEL_FLOAT = "float"

#: Every accepted dtype name -> the canonical torch dtype attribute name (aliases as torch spells them).
DTYPE_NAMES: dict[str, str] = {
    MODEL_FLOAT: MODEL_FLOAT,
    "bool": "bool",
    "uint8": "uint8",
    "int8": "int8",
    "int16": "int16",
    "short": "int16",
    "int32": "int32",
    "int": "int32",
    "int64": "int64",
    "long": "int64",
    "float16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "float32": "float32",
    "float64": "float64",
    "double": "float64",
    "complex32": "complex32",
    "complex64": "complex64",
    "cfloat": "complex64",
    "complex128": "complex128",
    "cdouble": "complex128",
    "float8_e4m3fn": "float8_e4m3fn",
    "float8_e5m2": "float8_e5m2",
}


#: How a model's 4-D / 5-D tensors (image batches N, C, H, W and videos N, C, D, H, W; convolution weights)
#: are laid out in memory (``--memory-format``; ``AnalysisOptions.memory_format``): ``contiguous`` (NCHW,
#: as PyTorch builds them) or ``channels_last`` (NHWC / NDHWC: ``torch.channels_last`` for 4-D tensors,
#: ``torch.channels_last_3d`` for 5-D, as ``model.to(memory_format=...)`` and the input's
#: ``.to(memory_format=...)`` give them; PyTorch's "Channels Last Memory Format" tutorial recommends it for
#: mixed-precision convolutional networks on tensor cores).
MEMORY_FORMATS: tuple[str, ...] = ("contiguous", "channels_last")

#: Each memory format in words, for the assumptions of an output.
MEMORY_FORMAT_LABELS: dict[str, str] = {
    "contiguous": "NCHW (contiguous)",
    "channels_last": "channels-last (NHWC)",
}


def canonical_memory_format(value: Any) -> str:  # noqa: ANN401
    """``value`` as one of :data:`MEMORY_FORMATS`: ``"channels_last"``, ``"channels-last"`` (the CLI's
    spelling) and ``torch.channels_last`` / ``torch.channels_last_3d`` are ``channels_last``;
    ``"contiguous"``, ``torch.contiguous_format`` and None are ``contiguous``. ``UsageError`` (one line,
    with the choices) otherwise."""
    if value is None:
        return "contiguous"
    text = str(value).removeprefix("torch.").replace("-", "_").lower()
    text = {"channels_last_3d": "channels_last", "contiguous_format": "contiguous"}.get(text, text)
    if text not in MEMORY_FORMATS:
        raise UsageError(
            f"unknown memory format {value!r}; choose one of {', '.join(MEMORY_FORMATS)} "
            "(--memory-format contiguous / channels-last)"
        )
    return text


def is_layout_input(spec: InputSpec) -> bool:
    """Whether ``spec`` is fed as a tensor a memory format lays out: floating point, 3 or 4 dims per sample
    (4-D or 5-D with the batch)."""
    return (spec.dtype == MODEL_FLOAT or spec.dtype.startswith(("float", "bfloat"))) and len(spec.shape) in (
        3,
        4,
    )


#: The most elements one sample of one input may have (2**36, 68.7 G): with the largest batch
#: (``runtime.options.MAX_BATCH_SIZE``, 2**20) and the widest dtype (16 bytes) a tensor stays below 2**60
#: bytes, inside the int64 range torch's sizes, the cost rules and the byte counts are checked for.
MAX_SAMPLE_ELEMENTS = 1 << 36


def check_sample_size(shape: Sequence[int], where: str) -> None:
    """``UsageError`` when the per-sample ``shape`` has more than :data:`MAX_SAMPLE_ELEMENTS` elements,
    refused up front (torch would fail later with "Overflow when unpacking long long" or allocate)."""
    n = 1
    for d in shape:
        n *= int(d)
    if n > MAX_SAMPLE_ELEMENTS:
        raise UsageError(
            f"{where}: {n:,} elements per sample is above the largest analysed, {MAX_SAMPLE_ELEMENTS:,}"
        )


@dataclass(frozen=True)
class InputSpec:
    """One input tensor of a forward pass.

    ``name`` is None for a positional argument, else the keyword; ``dtype`` a canonical name from
    ``DTYPE_NAMES`` (or ``"float"``); ``shape`` the per-sample shape (the batch dimension is prepended).
    """

    name: str | None
    dtype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "dtype", "shape"}`` with the per-sample shape (JSON-compatible)."""
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputSpec:
        """Inverse of ``to_dict``."""
        return cls(d.get("name"), d["dtype"], tuple(int(x) for x in d["shape"]))

    def text(self) -> str:
        """``--input`` syntax of this spec: ``[NAME=]DTYPE:DIMS``."""
        dims = "x".join(str(d) for d in self.shape) if self.shape else "scalar"
        return f"{self.name + '=' if self.name else ''}{self.dtype}:{dims}"


def parse_input_spec(text: str) -> InputSpec:
    """``"attention_mask=bool:128"`` -> ``InputSpec("attention_mask", "bool", (128,))``.

    Raises ``UsageError`` (one line, with suggestions for a misspelt dtype) for an empty name, an unknown
    dtype, or dims that are not positive integers joined by ``x``.
    """
    raw = text.strip()
    name: str | None = None
    body = raw
    if "=" in raw:
        name, _, body = raw.partition("=")
        name = name.strip()
        if not name.isidentifier():
            raise UsageError(
                f"--input {text!r}: the name before '=' must be a Python identifier (an argument of forward)"
            )
    dtype, sep, dims = body.partition(":")
    dtype = dtype.strip()
    if not sep:
        raise UsageError(f"--input {text!r}: expected [NAME=]DTYPE:DIMS, e.g. int64:128 or float:3x224x224")
    canonical = DTYPE_NAMES.get(dtype)
    if canonical is None:
        close = difflib.get_close_matches(dtype, list(DTYPE_NAMES), n=2, cutoff=0.5)
        choices = ", ".join(sorted(DTYPE_NAMES))
        hint = f"did you mean {', '.join(close)}?" if close else f"choose one of {choices}"
        raise UsageError(f"--input {text!r}: unknown dtype {dtype!r}; {hint}")
    return InputSpec(name, canonical, parse_dims(dims, f"--input {text!r}"))


def parse_dims(text: str, where: str) -> tuple[int, ...]:
    """``"3x224x224"`` -> ``(3, 224, 224)``; ``"scalar"`` -> ``()``. ``UsageError`` unless every part is a
    positive integer and the product at most :data:`MAX_SAMPLE_ELEMENTS`."""
    text = text.strip()
    if text == "scalar":
        return ()
    parts = text.split("x")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if not values or any(v < 1 for v in values):
        raise UsageError(
            f"{where}: dims must be positive integers joined by 'x' (e.g. 3x224x224), got {text!r}"
        )
    check_sample_size(values, where)
    return values


def check_input_specs(specs: Sequence[InputSpec]) -> tuple[InputSpec, ...]:
    """``specs`` as a tuple, with positional ones first in given order; ``UsageError`` for a keyword named
    twice."""
    seen: set[str] = set()
    for s in specs:
        if s.name is not None:
            if s.name in seen:
                raise UsageError(f"--input: {s.name!r} given twice")
            seen.add(s.name)
    return tuple(s for s in specs if s.name is None) + tuple(s for s in specs if s.name is not None)


def describe_inputs(specs: Sequence[dict[str, Any]]) -> str:
    """``"int64[1x128], attention_mask=bool[1x128]"`` from report input dicts (full shapes)."""
    parts = []
    for d in specs:
        shape = "x".join(str(x) for x in d["shape"]) or "scalar"
        parts.append(f"{d['name'] + '=' if d.get('name') else ''}{d['dtype']}[{shape}]")
    return ", ".join(parts)
