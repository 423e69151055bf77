"""Module attribution: which ``nn.Module`` is running when an op is dispatched.

Global forward pre/post hooks (``register_module_forward_pre_hook``) push and pop a stack of
``(qualified name, class name)``; each op belongs to the innermost module on the stack. Modules that are
not children of the analysed model (built inside ``forward``) appear as ``"?"``.
"""

from __future__ import annotations

from typing import Any

import torch


class ModuleAttribution:
    """A stack of running modules, fed by global forward hooks while installed.

    ``current`` is ``(name, type_name)`` of the innermost running module; ``("", RootClass)`` outside any
    child. Use ``install()`` / ``remove()`` around the forward pass.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self._names: dict[int, tuple[str, str]] = {}
        for name, mod in model.named_modules():
            self._names.setdefault(id(mod), (name, type(mod).__name__))
        self._stack: list[tuple[str, str]] = [("", type(model).__name__)]
        self._handles: list[Any] = []

    @property
    def current(self) -> tuple[str, str]:
        """``(qualified module name, module class name)`` of the innermost running module."""
        return self._stack[-1]

    def set_outer(self, name: str, type_name: str) -> None:
        """What ops dispatched outside any module's forward report (the bottom of the stack): a training
        capture names the unit whose gradient autograd is computing (``capture.train_step``)."""
        self._stack[0] = (name, type_name)

    def _pre_hook(self, module: torch.nn.Module, _args: Any) -> None:
        self._stack.append(self._names.get(id(module), ("?", type(module).__name__)))

    def _post_hook(self, _module: torch.nn.Module, _args: Any, _out: Any) -> None:
        if len(self._stack) > 1:
            self._stack.pop()

    def install(self) -> None:
        """Register the global hooks (every module's forward now reports to this stack)."""
        from torch.nn.modules import module as nn_module

        self._handles = [
            nn_module.register_module_forward_pre_hook(self._pre_hook),
            nn_module.register_module_forward_hook(self._post_hook),
        ]

    def remove(self) -> None:
        """Unregister the hooks (idempotent)."""
        for h in self._handles:
            h.remove()
        self._handles = []
