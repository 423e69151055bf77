"""Op cost rules: a registry keyed by aten op name (see ``registry``)."""

from metrics_core.costs.registry import FREE_OPS, RULES, Rule, lookup, register

__all__ = ["FREE_OPS", "RULES", "Rule", "lookup", "register"]
