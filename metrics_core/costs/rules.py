"""Imports every cost-rule module so that its rules register in ``registry.RULES``.

One module per op family; the table of every rule is ``docs/cost_rules.md``.
"""

from metrics_core.costs import (  # noqa: F401
    activation,
    attention,
    backward,
    conv,
    einsum,
    elementwise,
    fft,
    foreach,
    interpolate,
    matmul,
    movement,
    norm,
    optimizer,
    pooling,
    reduction,
    softmax,
    sorting,
)
