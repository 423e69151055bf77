"""The registry of op cost rules, keyed by aten op overload-packet name (e.g. ``"convolution"``).

A rule is a small function ``(args, kwargs, out) -> (macs, flops)`` over the op's actual arguments
(tensors are meta tensors: only shapes and dtypes are read). Bytes are not a rule's business: they are
computed once, generically, by the capture from the op's tensor arguments and outputs.

Ops in ``FREE_OPS`` (views and metadata) cost nothing and are not recorded as layers. Any other op
without a rule is recorded as uncovered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CostFn = Callable[[tuple[Any, ...], dict[str, Any], Any], tuple[int, int]]


@dataclass(frozen=True)
class Rule:
    """A cost rule: ``fn`` gives ``(macs, flops)``; ``category`` is one of ``records.CATEGORIES``."""

    fn: CostFn
    category: str


RULES: dict[str, Rule] = {}


def register(*ops: str, category: str) -> Callable[[CostFn], CostFn]:
    """Register ``fn`` as the cost rule of each aten op name in ``ops`` (overload-packet names)."""

    def deco(fn: CostFn) -> CostFn:
        for op in ops:
            if op in RULES:
                raise ValueError(f"duplicate cost rule for aten op {op!r}")
            RULES[op] = Rule(fn, category)
        return fn

    return deco


#: View and metadata ops: free (no bytes, no FLOPs) and not layers.
FREE_OPS: frozenset[str] = frozenset(
    {
        "view",
        "_unsafe_view",
        "reshape",
        "_reshape_alias",
        "as_strided",
        "permute",
        "transpose",
        "t",
        "expand",
        "expand_as",
        "slice",
        "select",
        "narrow",
        "unsqueeze",
        "unfold",
        "squeeze",
        "flatten",
        "unflatten",
        "detach",
        "alias",
        "lift_fresh",
        "view_as",
        "split",
        "split_with_sizes",
        "unbind",
        "chunk",
        "unsafe_split",
        "unsafe_chunk",
        "diagonal",
        "movedim",
        "numpy_T",
        "_reshape_copy_if_needed",
        "sym_size",
        "sym_stride",
        "sym_numel",
        "sym_storage_offset",
        "size",
        "stride",
        "dim",
        "is_same_size",
        "_local_scalar_dense",
        "empty",
        "empty_like",
        "empty_strided",
        "new_empty",
        "new_empty_strided",
        "set_",
        "resize_",
        "as_strided_",
        "squeeze_",
        "unsqueeze_",
        "transpose_",
        "t_",
        "swapaxes",
        "swapdims",
        "view_as_real",
        "view_as_complex",
        "_to_copy_if_noop",
        "contiguous_if_noop",
        "_has_compatible_shallow_copy_type",
        "prim::device",
        "_nested_tensor_size",
        "_record_function_enter",  # profiler markers (torch.optim's step): no work
        "_record_function_enter_new",
        "_record_function_exit",
    }
)


def lookup(op: str) -> Rule | None:
    """The rule for ``op`` (overload-packet name), loading the rule modules on first use."""
    _load_rules()
    return RULES.get(op)


_loaded = False


def _load_rules() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from metrics_core.costs import rules  # noqa: F401  (registers every rule module)
