"""Normalisation and pooling cost rules: hand-derived FLOPs (MACs = 0) for the ops as they dispatch."""

from __future__ import annotations

from cost_probe import costs, meta
from torch import nn

from metrics_core.costs import lookup


def run(module: nn.Module, *shape: int) -> list[tuple[str, int, int]]:
    return costs(module.to("meta"), meta(*shape))


# --- normalisation ---------------------------------------------------------------------------------


def test_batch_norm_inference():
    # eval: running statistics; 2*3*4*5 = 120 elements x (2 normalise + 1 weight + 1 bias) = 480
    assert run(nn.BatchNorm2d(3).eval(), 2, 3, 4, 5) == [("native_batch_norm", 0, 480)]


def test_batch_norm_inference_without_affine():
    # 120 elements x 2 (normalise only) = 240
    assert run(nn.BatchNorm2d(3, affine=False).eval(), 2, 3, 4, 5) == [("native_batch_norm", 0, 240)]


def test_batch_norm_training_computes_statistics():
    bn = nn.BatchNorm2d(3).to("meta").train()
    x = meta(2, 3, 4, 5)
    # add_ is num_batches_tracked += 1 (one element); batch norm: 120 x (3 stats + 2 + 1 + 1) = 840
    assert costs(bn, x) == [("add_", 0, 1), ("native_batch_norm", 0, 840)]


def test_batch_norm_inference_kernel_variants():
    x, c = meta(2, 3, 4, 5), meta(3)
    assert lookup("_native_batch_norm_legit_no_training").fn((x, c, c, c, c, 0.1, 1e-5), {}, None) == (0, 480)
    # the no_stats overload: (input, weight, bias, training, momentum, eps)
    assert lookup("_native_batch_norm_legit").fn((x, c, c, True, 0.1, 1e-5), {}, None) == (0, 840)
    assert lookup("_native_batch_norm_legit").fn((x, c, c, c, c, False, 0.1, 1e-5), {}, None) == (0, 480)


def test_layer_norm():
    # 2*3*5 = 30 elements x (3 stats + 2 normalise + 1 weight + 1 bias) = 210
    assert run(nn.LayerNorm(5), 2, 3, 5) == [("native_layer_norm", 0, 210)]
    # without affine: 30 x 5 = 150
    assert run(nn.LayerNorm(5, elementwise_affine=False), 2, 3, 5) == [("native_layer_norm", 0, 150)]


def test_group_norm():
    # 2*4*3*3 = 72 elements x 7 = 504
    assert run(nn.GroupNorm(2, 4), 2, 4, 3, 3) == [("native_group_norm", 0, 504)]


def test_instance_norm_dispatches_as_training_batch_norm():
    # instance norm = batch norm over (1, N*C, H, W) with batch statistics: 2*3*4*4 = 96 x (3 + 2) = 480
    assert run(nn.InstanceNorm2d(3), 2, 3, 4, 4) == [("native_batch_norm", 0, 480)]


def test_rms_norm_rule():
    # 30 elements x (2 stats + 1 normalise + 1 weight) = 120; without weight 90
    x = meta(2, 3, 5)
    assert lookup("rms_norm").fn((x, [5], meta(5), 1e-6), {}, x) == (0, 120)
    assert lookup("_fused_rms_norm").fn((x, [5], None, 1e-6), {}, (x, meta(2, 3, 1))) == (0, 90)


# --- pooling ---------------------------------------------------------------------------------------
# MaxPool2d(3, stride=2, padding=1) on 7x8: out 4x4.
#   H (In=7): windows start at -1, 1, 3, 5 -> positions inside [0,7): 2 + 3 + 3 + 2 = 10
#   W (In=8): windows start at -1, 1, 3, 5 -> 2 + 3 + 3 + 3 = 11
#   2 planes: window elements = 2 * 10 * 11 = 220; outputs = 2 * 16 = 32


def test_max_pool_with_padding_counts_only_elements_inside():
    # comparisons = window elements - outputs = 220 - 32 = 188
    assert run(nn.MaxPool2d(3, stride=2, padding=1), 1, 2, 7, 8) == [("max_pool2d_with_indices", 0, 188)]


def test_avg_pool_with_padding():
    # adds = 220, divides = 32 -> 252 (count_include_pad changes the divisor, not the count)
    assert run(nn.AvgPool2d(3, stride=2, padding=1), 1, 2, 7, 8) == [("avg_pool2d", 0, 252)]
    assert run(nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), 1, 2, 7, 8) == [
        ("avg_pool2d", 0, 252)
    ]


def test_max_pool_ceil_mode_overhang():
    # MaxPool2d(3, stride=2, ceil_mode=True) on 8x8: out = ceil((8-3)/2) + 1 = 4 per dim
    #   windows start 0, 2, 4, 6 -> inside: 3 + 3 + 3 + 2 = 11 per dim; 121 elements, 16 outputs -> 105
    assert run(nn.MaxPool2d(3, stride=2, ceil_mode=True), 1, 1, 8, 8) == [("max_pool2d_with_indices", 0, 105)]


def test_max_pool_dilation():
    # MaxPool2d(2, stride=1, dilation=3) on 1x6x6: out = 6 - 3*(2-1) = 3 per dim, every window inside:
    #   2*2 = 4 elements per window, 9 windows -> 9 * (4 - 1) = 27
    assert run(nn.MaxPool2d(2, stride=1, dilation=3), 1, 1, 6, 6) == [("max_pool2d_with_indices", 0, 27)]


def test_pool_1d_and_3d():
    # MaxPool1d(3, 2) on length 7: out 3 (starts 0, 2, 4), 3 inside each: 2 planes * 3 outputs * (3-1) = 12
    assert run(nn.MaxPool1d(3, 2), 1, 2, 7) == [("max_pool2d_with_indices", 0, 12)]
    # MaxPool3d(2) on 4x4x4: 8 windows of 8: 8 * 7 = 56; AvgPool3d(2): 64 adds + 8 divides = 72
    assert run(nn.MaxPool3d(2), 1, 1, 4, 4, 4) == [("max_pool3d_with_indices", 0, 56)]
    assert run(nn.AvgPool3d(2), 1, 1, 4, 4, 4) == [("avg_pool3d", 0, 72)]


# Adaptive (3, 2) on 7x5, windows [floor(i*In/Out), ceil((i+1)*In/Out)):
#   H (7 -> 3): [0,3) [2,5) [4,7) -> 3 + 3 + 3 = 9; W (5 -> 2): [0,3) [2,5) -> 3 + 3 = 6
#   2 planes: window elements = 2 * 9 * 6 = 108; outputs = 2 * 3 * 2 = 12


def test_adaptive_avg_pool_non_divisible():
    # 108 adds + 12 divides = 120
    assert run(nn.AdaptiveAvgPool2d((3, 2)), 1, 2, 7, 5) == [("_adaptive_avg_pool2d", 0, 120)]


def test_adaptive_max_pool_non_divisible():
    # 108 - 12 = 96 comparisons
    assert run(nn.AdaptiveMaxPool2d((3, 2)), 1, 2, 7, 5) == [("adaptive_max_pool2d", 0, 96)]


def test_adaptive_avg_pool_1d_and_3d():
    # 1-D 7 -> 3 (dispatches as 2-D with H = 1): 2 planes * 9 = 18 adds + 6 divides = 24
    assert run(nn.AdaptiveAvgPool1d(3), 1, 2, 7) == [("_adaptive_avg_pool2d", 0, 24)]
    # 3-D (7, 5, 3) -> (3, 2, 2): D 9, H 6, W (3 -> 2: [0,2) [1,3)) 4; 2 planes * 216 = 432 adds + 24 divides
    assert run(nn.AdaptiveAvgPool3d((3, 2, 2)), 1, 2, 7, 5, 3) == [("_adaptive_avg_pool3d", 0, 456)]


def test_global_average_pool_dispatches_as_mean():
    # AdaptiveAvgPool2d(1) -> mean over H, W: 2*7*5 = 70 adds + 2 divides = 72 (same as the pool formula)
    assert run(nn.AdaptiveAvgPool2d(1), 1, 2, 7, 5) == [("mean", 0, 72)]
