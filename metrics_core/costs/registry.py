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

#: modeltui's own ops (namespace ``modeltui``, defined with ``torch.library`` by the capture), keyed by
#: name like the aten ops: ``mla_decode_attention`` (``capture.mla``, absorbed multi-head latent attention
#: as one fused kernel); ``adam_8bit_blockwise_step``, ``adam_32bit_step`` (``capture.optim8bit``:
#: bitsandbytes' fused 8-bit and 32-bit Adam steps) and ``fp8_cast_transpose`` (fp8 training's fused cast).
OWN_OPS: frozenset[str] = frozenset(
    {"mla_decode_attention", "adam_8bit_blockwise_step", "adam_32bit_step", "fp8_cast_transpose"}
)


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
        # the profiler's record_function markers (torch.optim steps are wrapped in one): host-side only
        "_record_function_enter",
        "_record_function_enter_new",
        "_record_function_exit",
    }
)


def lookup(op: str, qualified: str | None = None) -> Rule | None:
    """The rule for ``op`` (overload-packet name): a user's rule for ``qualified`` (``namespace::op``) or
    ``op`` first (``register_cost_rule``), else the built-in one, loading the rule modules on first use."""
    if USER_RULES:
        user = USER_RULES.get(qualified) if qualified else None
        if user is None:
            user = USER_RULES.get(op)
        if user is not None:
            return user
    _load_rules()
    return RULES.get(op)


#: The users' rules (``register_cost_rule``), by ``namespace::op`` or overload-packet name; they take
#: precedence over the built-in ones, and a user rule that raises leaves its op uncovered, by name.
USER_RULES: dict[str, Rule] = {}


@dataclass(frozen=True)
class UserRule(Rule):
    """A rule registered with ``register_cost_rule`` (its failures are reported, not raised)."""


def register_cost_rule(op: str, fn: CostFn, category: str = "elementwise") -> None:
    """Give ``op`` a cost rule: ``fn(args, kwargs, out) -> (macs, flops)``.

    ``op`` is a custom op's ``"namespace::name"`` (``torch.library`` ops, a Triton kernel wrapped as an
    op) or an aten overload-packet name (``"_trilinear"``, or ``"aten::_trilinear"``); ``fn`` receives
    the op's arguments as the built-in rules do (tensors are meta tensors during a capture: read
    ``.shape`` and ``.dtype``) and returns non-negative integers ``(macs, flops)`` (Python or numpy
    integers; ``flops`` is usually ``2 * macs`` for multiply-adds).
    ``category``: one of ``common.records.CATEGORIES`` (the op's class in tables and the performance
    model). A rule for an op replaces an earlier user rule for it (and takes precedence over a built-in
    one). Raises ``UsageError`` for a bad op name, a ``fn`` that is not callable or an unknown category.

    A rule that raises, or returns anything but two non-negative integers, is not a crash: the op is
    recorded as uncovered and the report's coverage names it with the rule's error.
    """
    import re

    from metrics_core.common.errors import UsageError
    from metrics_core.common.records import CATEGORIES

    if not isinstance(op, str) or not re.fullmatch(r"([A-Za-z_]\w*::)?[A-Za-z_]\w*", op):
        hint = ""
        if isinstance(op, str) and re.fullmatch(r"\w+\.\w+(\.\w+)?", op):  # aten.addmm.default
            ns, name = op.split(".")[:2]
            hint = f" (did you mean {name!r}, or {ns + '::' + name!r}?)"
        raise UsageError(
            f"register_cost_rule: op must be 'namespace::name' or an aten op name such as 'addmm', "
            f"got {op!r}{hint}"
        )
    op = op.removeprefix("aten::")  # aten ops are keyed by their overload-packet name
    if not callable(fn):
        raise UsageError(f"register_cost_rule({op!r}): fn must be callable, got a {type(fn).__name__}")
    if category not in CATEGORIES:
        raise UsageError(
            f"register_cost_rule({op!r}): unknown category {category!r}; "
            f"choose one of {', '.join(CATEGORIES)}"
        )
    USER_RULES[op] = UserRule(fn, category)


def remove_cost_rule(op: str) -> bool:
    """Remove a user's rule for ``op``; True when there was one."""
    return USER_RULES.pop(op.removeprefix("aten::") if isinstance(op, str) else op, None) is not None


_plugins_loaded = False


def load_rule_modules(modules: tuple[str, ...] | list[str] = (), entry_points: bool = True) -> None:
    """Import the users' rule modules (``--rules pkg.mod``: each registers its rules when imported) and
    the ``modeltui.cost_rules`` entry points of installed packages (each a module or a callable that
    registers rules; loaded once per process). ``UsageError`` (one line) naming a module that cannot be
    imported or fails."""
    import importlib

    from metrics_core.common.errors import UsageError

    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a user's module: its failure is theirs, one line
            raise UsageError(f"--rules {name}: cannot import it: {type(exc).__name__}: {exc}") from None
    global _plugins_loaded
    if not entry_points or _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points as eps

    for ep in eps(group="modeltui.cost_rules"):
        try:
            loaded = ep.load()
            if callable(loaded):
                loaded()
        except Exception as exc:
            raise UsageError(
                f"cost-rule plugin {ep.name} ({ep.value}) failed: {type(exc).__name__}: {exc}"
            ) from None


_loaded = False


def _load_rules() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from metrics_core.costs import rules  # noqa: F401  (registers every rule module)
