"""Shape helpers shared by the cost rules: arithmetic over ``.shape`` / ``.numel()``, no torch import."""

from __future__ import annotations

from typing import Any

from metrics_core.costs.registry import CostFn


def first_tensor(x: Any) -> Any:
    """``x`` if it is a tensor, else the first tensor of a tuple/list (an op's primary output); or None."""
    if hasattr(x, "shape"):
        return x
    if isinstance(x, (tuple, list)):
        for e in x:
            if hasattr(e, "shape"):
                return e
    return None


def out_numel(out: Any) -> int:
    """Number of elements of an op's primary output (0 when it returned no tensor)."""
    t = first_tensor(out)
    return t.numel() if t is not None else 0


def arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any = None) -> Any:
    """Argument ``name`` of an aten call: positional ``index`` if given, else the keyword, else default."""
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def ntuple(value: Any, n: int) -> tuple[int, ...] | None:
    """An aten ``int[n]`` argument as ``n`` ints: a single value repeats; an empty list gives None."""
    if isinstance(value, int):
        return (value,) * n
    values = tuple(value)
    if not values:
        return None
    if len(values) == 1:
        return values * n
    return values


def per_output_element_rule(op: str, flops_per_element: int, table: str) -> CostFn:
    """A rule costing ``flops_per_element`` FLOPs per output element (MACs = 0), documented by name."""

    def rule(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
        return 0, flops_per_element * out_numel(out)

    rule.__name__ = rule.__qualname__ = f"{op}_cost"
    rule.__doc__ = f"``{op}``: FLOPs = {flops_per_element} x output elements (``{table}``); MACs = 0."
    return rule
