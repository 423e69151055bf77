"""Convolution cost rules: hand-derived MACs/FLOPs for the convolutions as they dispatch on meta."""

from __future__ import annotations

import torch
from cost_probe import Capture
from cost_probe import costs as probe_costs
from torch import nn

from metrics_core.costs import lookup


def costs(module: nn.Module, *shape: int) -> list[tuple[str, int, int]]:
    """(op, macs, flops) of each non-free op of ``module`` on a meta input of ``shape``."""
    x = torch.randn(*shape, device="meta")
    module = module.to("meta").eval()
    return probe_costs(module, x)


def test_grouped_dilated_strided_conv2d():
    conv = nn.Conv2d(8, 12, 3, stride=2, padding=2, dilation=2, groups=4)
    # H_out = floor((17 + 2*2 - 2*(3-1) - 1) / 2) + 1 = 9; W_out = floor((19 + 4 - 4 - 1) / 2) + 1 = 10
    # MACs = N * C_out * H_out * W_out * (C_in / groups) * k*k = 2 * 12 * 9 * 10 * 2 * 9 = 38880
    assert costs(conv, 2, 8, 17, 19) == [("convolution", 38880, 77760)]


def test_depthwise_conv2d():
    conv = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)
    # out 1x16x10x10; MACs = 1 * 16 * 100 * (16/16) * 9 = 14400
    assert costs(conv, 1, 16, 10, 10) == [("convolution", 14400, 28800)]


def test_transposed_conv2d_with_stride_and_output_padding():
    conv = nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1, groups=2)
    # out H = (5-1)*2 - 2*1 + (3-1) + 1 + 1 = 10, W = (7-1)*2 - 2 + 2 + 1 + 1 = 14 (not used by the formula)
    # MACs = N * C_in * H_in * W_in * (C_out / groups) * k*k = 1 * 6 * 5 * 7 * 2 * 9 = 3780
    assert costs(conv, 1, 6, 5, 7) == [("convolution", 3780, 7560)]


def test_transposed_conv1d():
    conv = nn.ConvTranspose1d(3, 4, 5, stride=3)
    # MACs = N * C_in * L_in * C_out * k = 2 * 3 * 6 * 4 * 5 = 720
    assert costs(conv, 2, 3, 6) == [("convolution", 720, 1440)]


def test_conv1d():
    conv = nn.Conv1d(3, 5, 4, stride=3, padding=1)
    # L_out = floor((20 + 2 - 4) / 3) + 1 = 7; MACs = 2 * 5 * 7 * 3 * 4 = 840
    assert costs(conv, 2, 3, 20) == [("convolution", 840, 1680)]


def test_conv3d():
    conv = nn.Conv3d(2, 4, (3, 1, 2), stride=(1, 2, 2), padding=(1, 0, 0))
    # D_out = (4 + 2 - 3) + 1 = 4; H_out = floor((6 - 1) / 2) + 1 = 3; W_out = floor((6 - 2) / 2) + 1 = 3
    # MACs = 1 * 4 * (4*3*3) * 2 * (3*1*2) = 1728
    assert costs(conv, 1, 2, 4, 6, 6) == [("convolution", 1728, 3456)]


def test_conv_variants_share_the_formula():
    x = torch.randn(2, 8, 9, 9, device="meta")
    w = torch.randn(6, 4, 3, 3, device="meta")  # groups = 2
    out = torch.randn(2, 6, 7, 7, device="meta")
    # MACs = 2 * 6 * 49 * 4 * 9 = 21168
    for op, args in [
        ("mkldnn_convolution", (x, w, None, [0, 0], [1, 1], [1, 1], 2)),
        ("cudnn_convolution", (x, w, [0, 0], [1, 1], [1, 1], 2, False, False, True)),
        ("_convolution", (x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 2, False, False, True, True)),
    ]:
        assert lookup(op).fn(args, {}, out) == (21168, 42336), op
    wt = torch.randn(8, 3, 3, 3, device="meta")  # transposed: (C_in, C_out/groups, k, k), groups = 2
    outt = torch.randn(2, 6, 11, 11, device="meta")
    # transposed MACs = 2 * 8 * 81 * 3 * 9 = 34992
    assert lookup("cudnn_convolution_transpose").fn((x, wt), {}, outt) == (34992, 69984)
    assert lookup("convolution").fn((x, wt, None, [1, 1], [0, 0], [1, 1], True, [0, 0], 2), {}, outt) == (
        34992,
        69984,
    )


def test_conv_tbc():
    x = torch.randn(10, 2, 3, device="meta")  # (time, batch, C_in)
    w = torch.randn(3, 3, 4, device="meta")  # (k, C_in, C_out)
    b = torch.randn(4, device="meta")
    with Capture() as cap:
        torch.conv_tbc(x, w, b, 1)
    ((name, args, kwargs, out),) = [c for c in cap.calls if c[0] == "conv_tbc"]
    # T_out = 10 + 2*1 - 3 + 1 = 10; MACs = T_out * N * C_out * k * C_in = 10 * 2 * 4 * 3 * 3 = 720
    assert lookup(name).fn(args, kwargs, out) == (720, 1440)
