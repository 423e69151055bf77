"""Analysis dtypes: names accepted by the CLI and API, and their element sizes in bytes."""

from __future__ import annotations

from dataclasses import dataclass

#: Bytes per element of each analysis dtype.
DTYPE_BYTES: dict[str, int] = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}

DTYPES: tuple[str, ...] = tuple(DTYPE_BYTES)


#: The torch dtype name of each analysis dtype (how float inputs are labelled: their bytes follow it).
TORCH_NAMES: dict[str, str] = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "int8": "int8"}


def bytes_per_element(dtype: str) -> int:
    """Element size of an analysis dtype; ``ValueError`` naming the valid choices otherwise."""
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}") from None


#: Bits per element of the precisions a tensor class can be stored in (LLM weights, activations, KV
#: cache): int4 weights are half a byte.
PRECISION_BITS: dict[str, int] = {
    "fp32": 32,
    "fp16": 16,
    "bf16": 16,
    "fp8": 8,
    "int8": 8,
    "int4": 4,
    "fp4": 4,
}


@dataclass(frozen=True)
class ElementBits:
    """Bits per floating-point element by tensor class: ``activations``, ``weights`` (parameters and
    buffers, and views of them) and ``kv`` (the KV cache). Integer and bool tensors keep their own size."""

    activations: int
    weights: int
    kv: int

    @classmethod
    def uniform(cls, dtype: str) -> ElementBits:
        """Every class in the analysis dtype ``dtype`` (``fp32``, ``fp16``, ``bf16``, ``int8``)."""
        bits = 8 * bytes_per_element(dtype)
        return cls(bits, bits, bits)
