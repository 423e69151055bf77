"""Softmax, activation, element-wise, reduction, interpolation and data-movement cost rules:
hand-derived FLOPs (MACs = 0) for the ops as they dispatch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from cost_probe import costs, meta
from torch import nn

from metrics_core.costs import lookup


def test_softmax_and_log_softmax():
    # 2*3*5 = 30 elements x 5 (max, subtract, exp, sum, divide) = 150
    assert costs(lambda x: torch.softmax(x, -1), meta(2, 3, 5)) == [("_softmax", 0, 150)]
    assert costs(lambda x: torch.log_softmax(x, 1), meta(2, 3, 5)) == [("_log_softmax", 0, 150)]


@pytest.mark.parametrize(
    ("module", "op", "per_element"),
    [
        (nn.ReLU(), "relu", 1),
        (nn.ReLU(inplace=True), "relu_", 1),
        (nn.ReLU6(), "hardtanh", 2),  # min(max(x, 0), 6)
        (nn.LeakyReLU(0.1), "leaky_relu", 2),
        (nn.SiLU(inplace=True), "silu_", 5),  # x * 1 / (1 + exp(-x))
        (nn.Sigmoid(), "sigmoid", 4),
        (nn.Hardswish(inplace=True), "hardswish_", 5),  # x * min(max(x + 3, 0), 6) / 6
        (nn.Hardsigmoid(), "hardsigmoid", 4),
        (nn.GELU(), "gelu", 5),  # x * 0.5 * (1 + erf(x / sqrt 2))
        (nn.GELU("tanh"), "gelu", 9),
        (nn.Tanh(), "tanh", 1),
        (nn.Mish(), "mish", 5),
        (nn.ELU(), "elu", 4),
    ],
)
def test_activation(module, op, per_element):
    # 1*16*4*4 = 256 elements
    assert costs(module, meta(1, 16, 4, 4)) == [(op, 0, 256 * per_element)]


def test_clamp_counts_given_bounds():
    # swin_v2 clamps with a max only: 1 per element; with both bounds 2 per element (12 elements)
    assert costs(lambda x: torch.clamp(x, max=4.6), meta(3, 4)) == [("clamp", 0, 12)]
    assert costs(lambda x: torch.clamp(x, -1.0, 1.0), meta(3, 4)) == [("clamp", 0, 24)]
    assert costs(lambda x: torch.clamp_min(x, 1e-12), meta(3, 4)) == [("clamp_min", 0, 12)]


def test_elementwise_counts_broadcast_output_elements():
    x, b = meta(2, 3, 4, 5), meta(3, 1, 1)
    # output 2*3*4*5 = 120 elements, whatever the operand shapes
    assert costs(torch.add, x, b) == [("add", 0, 120)]
    assert costs(torch.mul, b, x) == [("mul", 0, 120)]
    assert costs(lambda t: t * 0.5, x) == [("mul", 0, 120)]
    # alpha != 1: a multiply and an add per element
    assert costs(lambda t, u: torch.add(t, u, alpha=2), x, b) == [("add", 0, 240)]
    # in place, and a comparison then a select (where) with broadcasting: 120 each
    assert costs(lambda t, u: t.add_(u), x, b) == [("add_", 0, 120)]
    assert costs(lambda t, u: torch.where(t > 0, t, u), x, b) == [("gt", 0, 120), ("where", 0, 120)]
    # outer-broadcast: (4,1) - (1,5) -> 20 elements
    assert costs(torch.sub, meta(4, 1), meta(1, 5)) == [("sub", 0, 20)]
    assert costs(torch.sqrt, meta(4, 5)) == [("sqrt", 0, 20)]


def test_reductions():
    x = meta(2, 3, 4)  # 24 elements
    assert costs(lambda t: t.sum(1), x) == [("sum", 0, 24)]  # 24 adds
    assert costs(lambda t: t.mean(1), x) == [("mean", 0, 32)]  # 24 adds + 8 divides
    assert costs(lambda t: t.amax(-1), x) == [("amax", 0, 24)]
    assert costs(lambda t: t.max(1), x) == [("max", 0, 24)]  # max.dim: 24 compares
    assert costs(lambda t: t.var(1), x) == [("var", 0, 112)]  # 4*24 + 2*8
    assert costs(lambda t: t.std(1), x) == [("std", 0, 120)]  # 4*24 + 3*8
    assert costs(lambda t: torch.var_mean(t, 1), x) == [("var_mean", 0, 112)]
    assert costs(lambda t: t.norm(dim=-1), x) == [("linalg_vector_norm", 0, 54)]  # 2*24 + 6 roots
    # the binary overload of max is element-wise: 6 outputs
    assert lookup("max").fn((meta(2, 3), meta(2, 3)), {}, meta(2, 3)) == (0, 6)


def test_interpolation():
    x = meta(1, 2, 5, 7)
    # output 1*2*10*14 = 280 elements; bilinear 4 taps: 2*4 - 1 = 7 each -> 1960
    assert costs(lambda t: F.interpolate(t, size=(10, 14), mode="bilinear"), x) == [
        ("upsample_bilinear2d", 0, 1960)
    ]
    # bicubic 16 taps: 31 each -> 8680
    assert costs(lambda t: F.interpolate(t, size=(10, 14), mode="bicubic"), x) == [
        ("upsample_bicubic2d", 0, 8680)
    ]
    # nearest is a gather: 0
    assert costs(lambda t: F.interpolate(t, scale_factor=2, mode="nearest"), x) == [
        ("upsample_nearest2d", 0, 0)
    ]
    assert lookup("upsample_nearest2d").category == "data-movement"
    # trilinear (1,1,2,3,4) -> (4,6,8): 192 outputs x 15 = 2880; linear 1-D 2*10 = 20 outputs x 3 = 60
    assert costs(lambda t: F.interpolate(t, size=(4, 6, 8), mode="trilinear"), meta(1, 1, 2, 3, 4)) == [
        ("upsample_trilinear3d", 0, 2880)
    ]
    assert costs(lambda t: F.interpolate(t, size=10, mode="linear"), meta(1, 2, 5)) == [
        ("upsample_linear1d", 0, 60)
    ]


def test_grid_sample():
    x, grid = meta(1, 2, 5, 5), meta(1, 3, 4, 2)
    # output (1,2,3,4) = 24 elements: bilinear 24 x 7 = 168, bicubic 24 x 31 = 744, nearest 0
    assert costs(lambda a, g: F.grid_sample(a, g, align_corners=False), x, grid) == [
        ("grid_sampler_2d", 0, 168)
    ]
    assert costs(lambda a, g: F.grid_sample(a, g, mode="bicubic", align_corners=False), x, grid) == [
        ("grid_sampler_2d", 0, 744)
    ]
    assert costs(lambda a, g: F.grid_sample(a, g, mode="nearest", align_corners=False), x, grid) == [
        ("grid_sampler_2d", 0, 0)
    ]


def test_data_movement_is_free_of_arithmetic():
    x, mask = meta(2, 3, 4), torch.ones(2, 3, 4, dtype=torch.bool, device="meta")
    idx, tokens = torch.tensor([0, 1], device="meta"), torch.zeros(5, dtype=torch.long, device="meta")
    ops = costs(
        lambda t: (
            torch.cat([t, t]),
            t.clone(),
            F.pad(t, (1, 1)),
            t[idx],
            torch.roll(t, 1, 0),
            t.masked_fill(mask, 0.0),
            F.embedding(tokens, t[0]),
        ),
        x,
    )
    assert ops == [
        ("cat", 0, 0), ("clone", 0, 0), ("constant_pad_nd", 0, 0), ("index", 0, 0), ("roll", 0, 0),
        ("masked_fill", 0, 0), ("embedding", 0, 0),
    ]  # fmt: skip
    assert {lookup(op).category for op, _, _ in ops} == {"data-movement"}


def test_antialiased_resize_counts_both_separable_passes():
    # 1x3x16x16 -> 8x8 bilinear, antialiased: s = 16/8 = 2, support = 2/2 * 2 = 2; output i's window is
    # centred at 2i + 1: i = 0 -> [0, 3) (3 taps), i = 7 -> [13, 16) (3 taps), the others 4 taps.
    # Per line of 8 outputs: sum(2T - 1) = 2*30 - 8 = 52 FLOPs. Width pass over the 16 input rows:
    # 16 x 52 = 832; height pass over the 8 output columns: 8 x 52 = 416; 1,248 per plane x 3 = 3,744.
    x = meta(1, 3, 16, 16)
    assert costs(lambda t: F.interpolate(t, size=(8, 8), mode="bilinear", antialias=True), x) == [
        ("_upsample_bilinear2d_aa", 0, 3744)
    ]
    # bicubic (interp_size 4, support 4): taps [5, 7, 8, 8, 8, 8, 7, 5] = 56 -> 2*56 - 8 = 104 per line;
    # (16 + 8) x 104 = 2,496 per plane x 3 = 7,488
    assert costs(lambda t: F.interpolate(t, scale_factor=0.5, mode="bicubic", antialias=True), x) == [
        ("_upsample_bicubic2d_aa", 0, 7488)
    ]
    # only the width changes (16x16 -> 16x8): one pass, 16 rows x 52 = 832 per plane x 3 = 2,496
    assert costs(lambda t: F.interpolate(t, size=(16, 8), mode="bilinear", antialias=True), x) == [
        ("_upsample_bilinear2d_aa", 0, 2496)
    ]


def test_aa_windows_match_pytorch():
    # the taps with a non-zero weight in a real CPU resize of one-hot rows lie inside aa_taps' windows
    # (17 -> 5: s = 3.4, support 3.4; the window of output 1 also holds a zero-weight edge tap)
    from metrics_core.costs.interpolate import aa_taps

    assert aa_taps(16, 8, 2) == [3, 4, 4, 4, 4, 4, 4, 3]
    assert aa_taps(17, 5, 2) == [5, 7, 7, 6, 5]
    assert aa_taps(5, 12, 2) == [1] + [2] * 10 + [1]  # upsampling: support 1, 2 taps, clipped edges
    for n_in, n_out in ((16, 8), (17, 5), (5, 12)):
        seen = [0] * n_out
        for j in range(n_in):
            one_hot = torch.zeros(1, 1, 1, n_in, dtype=torch.float64)
            one_hot[..., j] = 1
            y = F.interpolate(one_hot, size=(1, n_out), mode="bilinear", antialias=True)[0, 0, 0]
            seen = [s + int(v != 0) for s, v in zip(seen, y.tolist(), strict=True)]
        assert all(s <= t for s, t in zip(seen, aa_taps(n_in, n_out, 2), strict=True))


def test_polar_counts_cos_sin_and_two_multiplies():
    from metrics_core.costs.complex import complex_scale

    # 3 x 4 = 12 complex outputs x (cos, sin, abs * cos, abs * sin) = 48 real FLOPs: the rule counts 2 per
    # element, the capture doubles any op with complex values
    assert costs(lambda a, t: torch.polar(a, t), meta(3, 4), meta(3, 4)) == [("polar", 0, 24)]
    assert complex_scale("polar", "elementwise", 0, 24) == (0, 48)
