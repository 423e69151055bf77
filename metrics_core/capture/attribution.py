"""Module attribution: which ``nn.Module`` is running when an op is dispatched.

Global forward pre/post hooks (``register_module_forward_pre_hook``) push and pop a stack of
``(qualified name, class name)``; each op belongs to the innermost module on the stack. Two rules decide
the name pushed:

- **A shared module is named at its call site.** A module registered under several parents (one
  ``nn.Linear`` held as ``a.proj``, ``b.proj`` and ``c.proj``) has several qualified names; a call is
  attributed to the name under the innermost running module that holds it (called from ``b``'s forward:
  ``b.proj``). Called from a module that holds it under none of its names, it keeps its first name (the
  order of ``named_modules``). So each parent's work is counted in that parent, consistently.
- **A module that is not part of the model runs as its caller.** Modules built inside ``forward`` (or by a
  library on the fly: transformers wraps ``apply_rotary_pos_emb`` in a ``Func`` module made by its kernel
  hub, called from each attention layer) are not children of the analysed model; their ops are attributed
  to the module that called them (the attention layer), never to an anonymous ``?``.
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
        self._names: dict[int, list[str]] = {}
        self._types: dict[int, str] = {}
        for name, mod in model.named_modules(remove_duplicate=False):
            self._names.setdefault(id(mod), [])
            if name not in self._names[id(mod)]:
                self._names[id(mod)].append(name)
            self._types[id(mod)] = type(mod).__name__
        self._stack: list[tuple[str, str]] = [("", type(model).__name__)]
        self._handles: list[Any] = []

    @property
    def current(self) -> tuple[str, str]:
        """``(qualified module name, module class name)`` of the innermost running module."""
        return self._stack[-1]

    def name_at_call(self, module: torch.nn.Module) -> tuple[str, str]:
        """``(name, type)`` a call of ``module`` is attributed to now (the module docstring's rules)."""
        names = self._names.get(id(module))
        if not names:  # not part of the model: its ops are its caller's
            return self._stack[-1]
        if len(names) > 1:
            for caller, _ in reversed(self._stack):  # the innermost running module that holds it
                for name in names:
                    parent = name.rpartition(".")[0]
                    if parent == caller:
                        return name, self._types[id(module)]
        return names[0], self._types[id(module)]

    def set_outer(self, name: str, type_name: str) -> None:
        """What ops dispatched outside any module's forward report (the bottom of the stack): a training
        capture names the unit whose gradient autograd is computing (``capture.train_step``)."""
        self._stack[0] = (name, type_name)

    def _pre_hook(self, module: torch.nn.Module, _args: Any) -> None:
        self._stack.append(self.name_at_call(module))

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
