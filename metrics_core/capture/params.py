"""Parameter counts of a built model."""

from __future__ import annotations


def count_params(model) -> tuple[int, int]:  # noqa: ANN001 (nn.Module)
    """(all, trainable) parameter element counts; shared parameters counted once."""
    seen: set[int] = set()
    total = trainable = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return total, trainable
