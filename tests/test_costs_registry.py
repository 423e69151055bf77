"""The cost-rule registry as a whole: every rule documented, categorised, keyed by a real aten op; and
every op of real torchvision forward passes either has a rule or is a free view/metadata op."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from metrics_core.common.records import CATEGORIES
from metrics_core.costs import FREE_OPS, RULES, lookup
from metrics_core.costs.registry import OWN_OPS

lookup("convolution")  # load every rule module

MAC_CATEGORIES = {"conv", "matmul", "attention"}


def test_every_rule_has_a_docstring_and_a_valid_category():
    for op, rule in RULES.items():
        assert rule.fn.__doc__ and rule.fn.__doc__.strip(), op
        assert rule.category in CATEGORIES, (op, rule.category)


def test_every_rule_is_keyed_by_an_existing_aten_op_and_no_rule_is_free():
    aten_ops = {name.split("::", 1)[1].split(".", 1)[0] for name in torch._C._dispatch_get_all_op_names()
                if name.startswith("aten::")}  # fmt: skip
    assert sorted(set(RULES) - aten_ops - OWN_OPS) == []
    assert sorted(set(RULES) & FREE_OPS) == []
    import metrics_core.capture.mla  # noqa: F401 (defines modeltui's own ops)
    import metrics_core.capture.optim8bit  # noqa: F401

    own = {n.split("::", 1)[1].split(".", 1)[0] for n in torch._C._dispatch_get_all_op_names()
           if n.startswith("modeltui::")}  # fmt: skip
    assert sorted(OWN_OPS - own) == []


def test_only_mac_ops_report_macs():
    # one representative call per non-MAC category: MACs are 0 there
    x = torch.randn(2, 3, 4, 5, device="meta")
    for op, args in [("relu", (x,)), ("add", (x, x)), ("_softmax", (x, -1, False)), ("sum", (x,)),
                     ("cat", ([x, x],)), ("native_layer_norm", (x, [5], None, None, 1e-5))]:  # fmt: skip
        assert lookup(op).category not in MAC_CATEGORIES
        assert lookup(op).fn(args, {}, x)[0] == 0, op


class _Ops(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: set[str] = set()
        self.macs = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func.overloadpacket.__name__
        self.ops.add(name)
        rule = RULES.get(name)
        if rule is not None:
            self.macs += rule.fn(args, kwargs, out)[0]
        return out


# Published torchvision figures (weights meta "_ops", GFLOPS that are in fact GMACs, 3 decimals):
# resnet18 1.814, mobilenet_v3_small 0.057, vit_b_16 17.564.
PUBLISHED_GMACS = [("resnet18", 1.814), ("mobilenet_v3_small", 0.057), ("vit_b_16", 17.564)]


@pytest.mark.parametrize(("name", "gmacs"), PUBLISHED_GMACS)
def test_torchvision_forward_passes_are_fully_covered(name, gmacs):
    import torchvision.models

    with torch.device("meta"):
        model = torchvision.models.get_model(name, weights=None).eval()
    x = torch.randn(1, 3, 224, 224, device="meta")
    mode = _Ops()
    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # as the capture runs: no fused fast path
    try:
        with torch.no_grad(), mode:
            model(x)
    finally:
        torch.backends.mha.set_fastpath_enabled(before)
    assert mode.ops - set(RULES) - FREE_OPS == set()
    assert round(mode.macs / 1e9, 3) == gmacs


def test_docs_table_lists_every_rule():
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "cost_rules.md").read_text()
    assert sorted(op for op in RULES if f"`{op}`" not in doc) == []
