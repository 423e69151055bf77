"""Paged KV cache: a sequence's KV cache held in whole blocks of ``block`` tokens (vLLM's PagedAttention,
Kwon et al. 2023, "Efficient Memory Management for Large Language Model Serving with PagedAttention";
TensorRT-LLM's paged KV; ``Stack.kv_block_tokens`` in ``data/stacks.toml``).

Definitions (estimates):

- ``paged_tokens(t, block)`` = ``ceil(t / block) x block``: the token slots a sequence holding ``t`` tokens
  occupies (block 1: exactly ``t``, a contiguous per-token cache).
- KV bytes per sequence at context C, paged: per decoder layer l with ``b_l`` bytes per token and window
  ``W_l`` (None: full attention), ``b_l x paged_tokens(min(C, W_l), block)`` — a sliding-window layer frees
  the blocks that leave its window, so it holds the blocks of its last ``min(C, W_l)`` tokens. Constant
  per-sequence state (an encoder-decoder's cross-attention cache) is not paged here.
- The rounding (``paging_bytes``) is what the blocks hold beyond the tokens: at most ``block - 1`` token
  slots per layer and sequence; it counts in ``kv_cache_bytes``, in what fits and in the largest batch.

Pure functions, no torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from metrics_core.common.errors import UsageError

#: The largest block size accepted (tokens): above any engine's (vLLM 16/32, TensorRT-LLM 64/128).
MAX_BLOCK_TOKENS = 1 << 16


def check_block(block: int) -> int:
    """``block`` if it is a positive integer of at most ``MAX_BLOCK_TOKENS``, else ``UsageError``."""
    if isinstance(block, bool) or not isinstance(block, int) or not 1 <= block <= MAX_BLOCK_TOKENS:
        raise UsageError(
            f"--block-size must be an integer from 1 to {MAX_BLOCK_TOKENS:,} tokens, got {block!r}"
        )
    return block


def paged_tokens(tokens: int, block: int) -> int:
    """Token slots of the whole blocks that hold ``tokens`` tokens: ``ceil(tokens / block) x block``."""
    return math.ceil(tokens / block) * block


def paging_bytes(
    layer_token_bytes: Sequence[float], windows: Sequence[int | None], context: int, block: int
) -> float:
    """Bytes the blocks of ONE sequence at ``context`` hold beyond its tokens (module doc): per layer
    ``b_l x (paged_tokens(h_l, block) - h_l)`` with ``h_l = min(context, W_l)``. ``windows`` shorter than
    the layers: the rest full attention."""
    extra = 0.0
    for i, b in enumerate(layer_token_bytes):
        w = windows[i] if i < len(windows) else None
        held = context if w is None else min(context, w)
        extra += b * (paged_tokens(held, block) - held)
    return extra
