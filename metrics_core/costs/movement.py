"""Data-movement cost rules (category ``data-movement``): copies, concatenation, padding, indexing,
gathers/scatters, tensor factories. They do no arithmetic: (0 MACs, 0 FLOPs). They are registered so
they count as covered; their memory traffic is counted by the capture from their tensors.

Views and metadata ops (no bytes at all) are not here: they are ``registry.FREE_OPS``.
"""

from __future__ import annotations

from typing import Any

from metrics_core.costs.registry import register

DATA_MOVEMENT_OPS: tuple[str, ...] = (
    # copies and conversions
    "clone", "copy", "copy_", "_to_copy", "to", "contiguous", "_copy_from", "_copy_from_and_resize",
    "lift_fresh_copy", "resize_as_", "alias_copy", "view_copy", "permute_copy", "expand_copy",
    "transpose_copy", "detach_copy", "unsqueeze_copy", "squeeze_copy", "t_copy", "slice_copy",
    "select_copy", "as_strided_copy", "unfold_copy", "narrow_copy",
    # joining, tiling, reordering
    "cat", "stack", "repeat", "repeat_interleave", "tile", "roll", "flip", "rot90",
    "pixel_shuffle", "pixel_unshuffle", "native_channel_shuffle", "channel_shuffle", "im2col",
    # padding
    "constant_pad_nd", "pad", "_pad_circular", "reflection_pad1d", "reflection_pad2d", "reflection_pad3d",
    "replication_pad1d", "replication_pad2d", "replication_pad3d",
    # indexing, gather / scatter (no reduction)
    "index", "_unsafe_index", "index_select", "gather", "scatter", "scatter_", "index_put", "index_put_",
    "_index_put_impl_", "_unsafe_index_put", "index_copy",
    "index_copy_", "masked_fill", "masked_fill_", "masked_scatter",
    "slice_scatter", "select_scatter", "diagonal_scatter", "as_strided_scatter", "embedding",
    "max_unpool2d", "max_unpool3d",
    # factories and fills
    "fill", "fill_", "zero_", "zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "new_zeros",
    "new_ones", "new_full", "arange", "linspace", "logspace", "scalar_tensor", "empty_permuted", "eye",
    # masking a triangle (causal masks): a copy with part of it zeroed
    "triu", "tril", "triu_", "tril_",
    "rand", "randn", "rand_like", "randn_like", "randint", "randint_like", "randperm", "normal", "normal_",
    "uniform_", "bernoulli", "bernoulli_",
)  # fmt: skip


@register(*DATA_MOVEMENT_OPS, category="data-movement")
def data_movement_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Copy / concatenate / pad / index / gather / scatter / fill / factory: no arithmetic, (0, 0)."""
    return 0, 0


@register(
    "nonzero",
    "argwhere",
    "masked_select",
    "_unique",
    "_unique2",
    "unique_dim",
    "unique_consecutive",
    "unique_dim_consecutive",
    category="data-movement",
)
def selection_cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    """Data-dependent selections (run on known values by the capture): no arithmetic, (0, 0)."""
    return 0, 0
