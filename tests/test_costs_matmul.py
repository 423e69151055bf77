"""Matmul and einsum cost rules: hand-derived MACs (FLOPs = 2 x MACs) for the ops as they dispatch."""

from __future__ import annotations

import pytest
import torch
from cost_probe import costs, meta
from torch import nn

from metrics_core.costs import lookup


def test_linear_on_3d_input_dispatches_as_addmm_over_all_tokens():
    lin = nn.Linear(64, 32, device="meta")
    # view (2,10,64) -> (20,64), then addmm: MACs = 20 * 64 * 32 = 40960 (not 64 * 32: every token counts)
    assert costs(lin, meta(2, 10, 64)) == [("addmm", 40960, 81920)]


def test_linear_without_bias_on_3d_input_dispatches_as_mm():
    lin = nn.Linear(64, 32, bias=False, device="meta")
    # MACs = 2 * 10 * 64 * 32 = 40960
    assert costs(lin, meta(2, 10, 64)) == [("mm", 40960, 81920)]


def test_matmul_broadcast_batched():
    # (3,2,10,64) @ (3,1,64,5): the right operand is expanded and copied (clone, 0), then bmm of
    # 6 batches: MACs = 6 * 10 * 64 * 5 = 19200
    assert costs(torch.matmul, meta(3, 2, 10, 64), meta(3, 1, 64, 5)) == [
        ("clone", 0, 0),
        ("bmm", 19200, 38400),
    ]


def test_matmul_vector_matrix_dispatches_as_mm():
    # (7,) @ (7,3): unsqueezed to (1,7) @ (7,3): MACs = 1 * 7 * 3 = 21
    assert costs(torch.matmul, meta(7), meta(7, 3)) == [("mm", 21, 42)]


def test_bmm_baddbmm_addbmm():
    a, b = meta(4, 5, 6), meta(4, 6, 7)
    # every case: 4 batches of (5x6) @ (6x7): MACs = 4 * 5 * 6 * 7 = 840; the added term is not counted
    assert costs(torch.bmm, a, b) == [("bmm", 840, 1680)]
    assert costs(torch.baddbmm, meta(4, 5, 7), a, b) == [("baddbmm", 840, 1680)]
    assert costs(torch.addbmm, meta(5, 7), a, b) == [("addbmm", 840, 1680)]


def test_addmm_mv_dot():
    # addmm: (8x3) @ (3x5): MACs = 8 * 3 * 5 = 120
    assert costs(torch.addmm, meta(5), meta(8, 3), meta(3, 5)) == [("addmm", 120, 240)]
    # mv: (4x6) @ (6,): MACs = 24; dot of 9-vectors: 9
    assert costs(torch.mv, meta(4, 6), meta(6)) == [("mv", 24, 48)]
    assert costs(torch.dot, meta(9), meta(9)) == [("dot", 9, 18)]


def test_matmul_and_linear_rules_for_undecomposed_calls():
    # matmul with a 1-D right operand: (2,3,4) @ (4,) -> (2,3): MACs = 6 * 4 = 24
    assert lookup("matmul").fn((meta(2, 3, 4), meta(4)), {}, meta(2, 3)) == (24, 48)
    # linear (2,10,64) x W(32,64): MACs = 20 * 32 * 64 = 40960
    assert lookup("linear").fn((meta(2, 10, 64), meta(32, 64), None), {}, meta(2, 10, 32)) == (40960, 81920)


def einsum_cost(equation: str, *operands: torch.Tensor) -> tuple[int, int]:
    out = torch.einsum(equation, *operands)
    return lookup("einsum").fn((equation, list(operands)), {}, out)


@pytest.mark.parametrize(
    ("equation", "shapes", "expected"),
    [
        # b=2, i=3, j=4 (contracted), k=5: MACs = 2*3*4*5 = 120
        ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)], (120, 240)),
        # implicit output "ik": j=4 contracted; i=3, k=5: MACs = 60
        ("ij,jk", [(3, 4), (4, 5)], (60, 120)),
        # full contraction to a scalar: i=3, j=4: MACs = 12
        ("ij,ij->", [(3, 4), (3, 4)], (12, 24)),
        # ellipsis broadcast: ...=(2,3), i=4, j=5 (contracted), k=6: MACs = 2*3*4*5*6 = 720
        ("...ij,jk->...ik", [(2, 3, 4, 5), (5, 6)], (720, 1440)),
        # three operands, j and k contracted: i=2, j=3, k=4, l=5: MACs = (3-1) * 120 = 240
        ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)], (240, 480)),
        # outer product, nothing contracted: 0 MACs, i*j = 12 multiplies
        ("i,j->ij", [(3,), (4,)], (0, 12)),
        # single-operand sum over j: 0 MACs, i*j = 12 adds
        ("ij->i", [(3, 4)], (0, 12)),
        # transpose: no arithmetic
        ("ij->ji", [(3, 4)], (0, 0)),
    ],
)
def test_einsum(equation, shapes, expected):
    assert einsum_cost(equation, *(meta(*s) for s in shapes)) == expected


def test_einsum_dispatches_as_bmm():
    # torch.einsum is composite: a capture sees the bmm it lowers to. MACs = 2*3*4*5 = 120, as the rule says.
    assert costs(torch.einsum, "bij,bjk->bik", meta(2, 3, 4), meta(2, 4, 5)) == [("bmm", 120, 240)]


def test_bilinear_layer_trilinear():
    # nn.Bilinear(5, 6, 7) on 4 rows: ATen's _trilinear first contracts x1 with W over in1 for every
    # (row, out, in2): 4*7*5*6 = 840 MACs, then each x1.W_k row with x2 over in2: 4*7*6 = 168 MACs;
    # 1,008 MACs, 2,016 FLOPs; the bias is its own add (28 outputs)
    layer = nn.Bilinear(5, 6, 7, device="meta")
    assert costs(layer, meta(4, 5), meta(4, 6)) == [("_trilinear", 1008, 2016), ("add", 0, 28)]
    assert lookup("_trilinear").category == "matmul"
    # leading dims are flattened into rows: (2, 3, in) is 6 rows -> 6*7*6*(5 + 1) = 1,512 MACs
    no_bias = nn.Bilinear(5, 6, 7, bias=False, device="meta")
    assert costs(no_bias, meta(2, 3, 5), meta(2, 3, 6)) == [("_trilinear", 1512, 3024)]
