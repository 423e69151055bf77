"""Analysis dtypes: names accepted by the CLI and API, and their element sizes in bytes."""

from __future__ import annotations

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
