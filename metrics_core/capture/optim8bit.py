"""modeltui's own ops for the training-step capture: 8-bit Adam and AdamW as bitsandbytes runs them
(Dettmers et al. 2021, "8-bit Optimizers via Block-wise Quantization", arXiv:2110.02861;
``bitsandbytes.optim.Adam8bit`` / ``AdamW8bit``), on the meta device.

bitsandbytes is not a dependency (and its import tries to load kernels from the Hugging Face hub), so
this module re-creates what its optimizer holds and launches, from its source (bitsandbytes 0.50,
``optim/optimizer.py`` ``Optimizer2State.init_state`` / ``update_step``, ``csrc/kernels.cu``); where it is
installed, ``tests/test_training.py`` holds its real ``AdamW8bit``'s state on meta against this one:

- **State** per parameter tensor of ``n`` elements: with ``n >= MIN_8BIT_SIZE`` (4,096, the library's
  default ``min_8bit_size``) two uint8 states (``state1``, ``state2``: 1 byte per element each) and one fp32
  absmax per ``BLOCK_SIZE`` (256) elements for each state; smaller tensors keep two fp32 states. The two
  256-value quantisation maps (dynamic signed and unsigned, fp32) are shared by every tensor: counted
  once. So a large tensor holds ``2 + 2 x 4 / 256 = 2.03125`` bytes of state per element (fp32 AdamW: 8).
- **Step**: one fused kernel per tensor (``torch.ops.modeltui.adam_8bit_blockwise_step``, or
  ``adam_32bit_step`` for the small ones), in place: reads the parameter, the gradient, both states
  and the absmax, dequantises, updates, requantises and writes them back. Its FLOPs:
  ``metrics_core.costs.optimizer``. The ops have meta kernels only (they do no arithmetic here).

Hyper-parameters do not change the work except weight decay (AdamW's decoupled decay: one more multiply
per element).

Also ``torch.ops.modeltui.fp8_cast_transpose`` (x, e5m2): fp8 training's fused cast of a GEMM operand to
fp8 with its transpose and amax (Transformer Engine's ``cast_transpose``: one kernel), used by
``capture.train_step`` for ``fp8-mixed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

#: Elements per absmax block (bitsandbytes' ``init_state``: ``blocksize = 256``; the paper's block size
#: is 2048, the library's default since 0.3x is 256).
BLOCK_SIZE = 256
#: Tensors with fewer elements keep 32-bit state (bitsandbytes' ``min_8bit_size`` default).
MIN_8BIT_SIZE = 4096
#: Values of each quantisation map (8 bits).
MAP_VALUES = 256

_SCHEMAS = {
    "adam_8bit_blockwise_step": "adam_8bit_blockwise_step(Tensor(a!) p, Tensor g, "
    "Tensor(b!) state1, Tensor(c!) state2, Tensor(d!) absmax1, Tensor(e!) absmax2, float weight_decay) -> "
    "(Tensor(a!), Tensor(b!), Tensor(c!), Tensor(d!), Tensor(e!))",
    "adam_32bit_step": "adam_32bit_step(Tensor(a!) p, Tensor g, Tensor(b!) state1, "
    "Tensor(c!) state2, float weight_decay) -> (Tensor(a!), Tensor(b!), Tensor(c!))",
    # fp8 training (capture.train_step, fp8-mixed): Transformer Engine's fused cast-transpose of a GEMM
    # operand with its amax: the fp8 tensor and its fp8 transpose
    "fp8_cast_transpose": "fp8_cast_transpose(Tensor x, bool e5m2) -> (Tensor, Tensor)",
}


def _define_ops() -> None:
    """Define the two ops (once per process) with meta kernels that return their in-place outputs."""
    if hasattr(torch.ops, "modeltui") and all(hasattr(torch.ops.modeltui, op) for op in _SCHEMAS):
        return
    lib = torch.library.Library("modeltui", "FRAGMENT")  # noqa: TOR901 - kept alive below
    for name, schema in _SCHEMAS.items():
        lib.define(schema)
        lib.impl(name, _fp8_cast_transpose if name == "fp8_cast_transpose" else _in_place, "Meta")
    _LIBRARIES.append(lib)


def _fp8_cast_transpose(x: torch.Tensor, e5m2: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The meta kernel of the fp8 cast-transpose: an fp8 tensor of ``x``'s shape and one of its 2-D
    transpose (E5M2 for gradients, E4M3 otherwise)."""
    dtype = torch.float8_e5m2 if e5m2 else torch.float8_e4m3fn
    flat = x.reshape(-1, x.shape[-1]) if x.dim() else x.reshape(1, 1)
    return torch.empty_like(x, dtype=dtype), torch.empty(flat.shape[::-1], dtype=dtype, device=x.device)


def _in_place(p: torch.Tensor, g: torch.Tensor, *rest: Any) -> tuple[torch.Tensor, ...]:
    """The meta kernel: the mutated tensors, unchanged (no arithmetic on meta)."""
    return (p, *(t for t in rest if isinstance(t, torch.Tensor)))


_LIBRARIES: list[Any] = []
_define_ops()


def blocks(n: int) -> int:
    """Absmax blocks of an ``n``-element state: ``ceil(n / BLOCK_SIZE)``."""
    return -(-n // BLOCK_SIZE)


def state_bytes(n: int) -> int:
    """Optimizer-state bytes of one ``n``-element parameter tensor (module docstring; the shared maps not
    included): ``2 n + 2 x 4 x blocks(n)`` from ``MIN_8BIT_SIZE`` elements, else ``2 x 4 n``."""
    return 2 * n + 8 * blocks(n) if n >= MIN_8BIT_SIZE else 8 * n


class Adam8bit(torch.optim.Optimizer):
    """bitsandbytes' blockwise 8-bit Adam (``AdamW8bit`` with ``weight_decay`` > 0: decoupled decay) on
    meta tensors: its state layout and one fused op per tensor per step (module docstring). Raises
    ``RuntimeError`` on tensors that are not on the meta device (it has meta kernels only)."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3, weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay})
        self.maps: tuple[torch.Tensor, torch.Tensor] | None = None

    def _init_state(self, p: torch.Tensor) -> dict[str, Any]:
        n = p.numel()
        state = self.state[p]
        if n >= MIN_8BIT_SIZE:
            if self.maps is None:  # the signed and unsigned dynamic maps, shared by every tensor
                self.maps = tuple(torch.zeros(MAP_VALUES, device=p.device) for _ in range(2))
            state["state1"] = torch.zeros_like(p, dtype=torch.uint8)  # the parameter's shape, as bitsandbytes
            state["state2"] = torch.zeros_like(p, dtype=torch.uint8)
            state["absmax1"] = torch.zeros(blocks(n), dtype=torch.float32, device=p.device)
            state["absmax2"] = torch.zeros(blocks(n), dtype=torch.float32, device=p.device)
            state["qmap1"], state["qmap2"] = self.maps
        else:
            state["state1"] = torch.zeros_like(p, dtype=torch.float32)
            state["state2"] = torch.zeros_like(p, dtype=torch.float32)
        return state

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # noqa: ANN401 - torch.optim's signature
        """One fused update per parameter with a gradient (module docstring)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p] or self._init_state(p)
                decay = float(group["weight_decay"])
                if "absmax1" in state:
                    torch.ops.modeltui.adam_8bit_blockwise_step(
                        p, p.grad, state["state1"], state["state2"], state["absmax1"], state["absmax2"], decay
                    )
                else:
                    states = (state["state1"], state["state2"])
                    torch.ops.modeltui.adam_32bit_step(p, p.grad, *states, decay)
