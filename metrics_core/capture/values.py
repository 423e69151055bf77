"""Real values of the small integer and bool tensors of a meta forward pass ("shadows").

Meta tensors have shapes but no values, yet real model code reads a few values to choose a path:
transformers checks ``(packed_sequence_mask[:, -1] == 0).all()`` and ``padding_mask.all()`` before it
hands SDPA ``is_causal=True``; others take ``.item()`` of a position, or ``nonzero`` of a mask built from
``arange``. Those tensors are computed from shapes and from the integer inputs, never from weights, so
their values are known: each integer/bool tensor (at most ``MAX_ELEMENTS`` elements) whose tensor
arguments all have shadows gets one, computed on the CPU by the same aten op. Model inputs of integer
or bool dtype are given one (all ones: token id 1, attention mask all true, unless the user's
``--inputs`` function gave real values); a factory op (``arange``, ``zeros``, ``full`` ...) has no
tensor arguments and gets one too; a real (non-meta) tensor is its own shadow.

Floating-point tensors never get one (they derive from weights, whose values are unknown here), so a
value that depends on weights or activations (MoE routing, argmax of logits) stays unknown: reading it
is refused as data-dependent (``metrics_core.capture.dispatch``).
"""

from __future__ import annotations

from typing import Any

import torch

#: Largest tensor (elements) given a shadow: the positions and masks of B x L tokens (32M: 256 sequences
#: of 128K tokens; an int64 shadow that size is 256 MB in the worker), nothing bigger.
MAX_ELEMENTS = 1 << 25

_META = torch.device("meta")
_CPU = torch.device("cpu")


def shadowable(t: torch.Tensor) -> bool:
    """Integer or bool tensors small enough to shadow."""
    return not (t.is_floating_point() or t.is_complex()) and t.numel() <= MAX_ELEMENTS


class Shadows:
    """``id(meta tensor) -> CPU tensor`` of the same shape, dtype and values (see module docstring)."""

    def __init__(self) -> None:
        self._values: dict[int, torch.Tensor] = {}
        self._keepalive: list[torch.Tensor] = []
        #: The most elements of an integer/bool tensor left without values for its size (0: none).
        self.too_big = 0

    def __len__(self) -> int:
        return len(self._values)

    def set(self, meta: torch.Tensor, value: torch.Tensor) -> None:
        """Remember ``value`` (moved to CPU, same dtype) as the values of ``meta``."""
        self._values[id(meta)] = value.detach().to(_CPU)
        self._keepalive.append(meta)

    def get(self, t: torch.Tensor) -> torch.Tensor | None:
        """The CPU values of ``t``: its shadow, ``t`` itself when it is a real tensor, else None."""
        if t.device != _META:
            return t
        return self._values.get(id(t))

    def real_args(self, args: Any, stand_in_floats: bool = False) -> Any:
        """``args`` with every tensor replaced by its values and every ``device`` by the CPU; raises
        ``KeyError`` when a tensor has none (the op then gets no shadow). With ``stand_in_floats``, a
        floating-point tensor without values stands in as zeros of its shape (a broadcast scalar: no
        memory), for ops whose output size depends only on their other arguments."""
        if isinstance(args, torch.Tensor):
            value = self.get(args)
            if value is None:
                if stand_in_floats and (args.is_floating_point() or args.is_complex()):
                    return torch.zeros((), dtype=args.dtype).expand(args.shape)
                raise KeyError(id(args))
            return value
        if isinstance(args, (list, tuple)):
            return type(args)(self.real_args(a, stand_in_floats) for a in args)
        if isinstance(args, dict):
            return {
                k: (_CPU if k == "device" else self.real_args(v, stand_in_floats)) for k, v in args.items()
            }
        if isinstance(args, torch.device) and args.type == "meta":
            return _CPU
        return args

    def propagate(self, func: Any, args: tuple, kwargs: dict, out: Any) -> Any:
        """Compute ``func`` on the shadows of its arguments when every tensor argument has one and the
        outputs are shadowable; remember the results for the meta outputs. Returns the real outputs, or
        None when no shadow was made."""
        metas = [
            o for o in (out if isinstance(out, (list, tuple)) else (out,)) if isinstance(o, torch.Tensor)
        ]
        if not metas or not all(o.device == _META and shadowable(o) for o in metas):
            big = [o.numel() for o in metas if not (o.is_floating_point() or o.is_complex())]
            if big and max(big) > MAX_ELEMENTS:
                self.too_big = max(self.too_big, *big)
            return None
        try:
            real = func(*self.real_args(args), **self.real_args(kwargs))
        except KeyError:
            return None
        except Exception:  # an op that cannot run on CPU: no shadow, the meta result stands
            return None
        reals = [
            r for r in (real if isinstance(real, (list, tuple)) else (real,)) if isinstance(r, torch.Tensor)
        ]
        for meta, value in zip(metas, reals, strict=False):
            if tuple(value.shape) == tuple(meta.shape):
                self.set(meta, value)
        return real
