"""The choices of a training step — losses, optimizers, precisions and PyTorch's optimizer
implementations — as the one table the ``train`` verb, the app's training view and ``capture.train_step``
read (no torch here: the CLI's parser and the app import it at start-up; the meanings are
``capture.train_step``'s module docstring)."""

from __future__ import annotations

from typing import Any

#: Loss functions a step can use (module docstring).
LOSSES: tuple[str, ...] = ("cross-entropy", "next-token", "mse")

#: Optimizers: name -> (``torch.optim`` class, constructor arguments). Hyper-parameters do not change the
#: work, only which ops run (SGD's momentum buffer, AdamW's decoupled weight decay).
OPTIMIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd": ("SGD", {"lr": 0.1, "momentum": 0.9}),
    "adamw": ("AdamW", {"lr": 1e-3, "weight_decay": 0.01}),
    "adam": ("Adam", {"lr": 1e-3}),
    "adafactor": ("Adafactor", {"lr": 1e-2}),
    # bitsandbytes' blockwise 8-bit Adam / AdamW (capture.optim8bit: its state layout and fused kernels)
    "adam8bit": ("Adam8bit", {"lr": 1e-3}),
    "adamw8bit": ("Adam8bit", {"lr": 1e-3, "weight_decay": 0.01}),
}

#: Training precisions: name -> (compute dtype of forward/backward, fp32 master weights).
PRECISIONS: dict[str, tuple[str, bool]] = {
    "fp32": ("fp32", False),
    "bf16": ("bf16", False),
    "bf16-mixed": ("bf16", True),
    "fp16-mixed": ("fp16", True),
    "fp8-mixed": ("bf16", True),
}

#: Precisions whose GEMMs run in fp8 (``FP8``: Transformer Engine's recipe, module docstring).
FP8_PRECISIONS: frozenset[str] = frozenset({"fp8-mixed"})

#: PyTorch's optimizer implementations a step can be captured with (module docstring).
OPTIMIZER_IMPLS: tuple[str, ...] = ("foreach", "for-loop")
