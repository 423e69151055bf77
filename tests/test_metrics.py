"""Model metrics from hand-built op records (every expected value derived by hand in the comments)."""

from __future__ import annotations

import pytest

from metrics_core.common.records import OpRecord
from metrics_core.report.metrics import classify, compute_metrics, max_width, op_width


def rec(index, op, category, macs, flops, ib, ob, wb, ins=((1, 8, 4, 4),), out=(1, 8, 4, 4)):
    return OpRecord(
        index=index,
        module=f"m{index}",
        module_type="X",
        op=op,
        category=category,
        input_shapes=[list(s) for s in ins],
        output_shape=list(out),
        dtype="fp32",
        macs=macs,
        flops=flops,
        input_bytes=ib,
        output_bytes=ob,
        weight_bytes=wb,
    )


RECORDS = [
    # AI = 2000 / (100 + 100 + 0) = 10.0 -> neither bound (boundaries are strict: > 50, < 10)
    rec(0, "convolution", "conv", 1000, 2000, 100, 100, 0, out=(1, 64, 8, 8)),
    # AI = 600 / (4 + 4 + 2) = 60.0 -> compute-bound
    rec(1, "addmm", "matmul", 300, 600, 4, 4, 2, ins=((2, 16), (16, 32)), out=(2, 1000)),
    # AI = 50 / (50 + 50) = 0.5 -> memory-bound
    rec(2, "relu_", "activation", 0, 50, 50, 50, 0),
    # zero-FLOP op: excluded from avg AI and the bound shares, but its bytes count
    rec(3, "cat", "data-movement", 0, 0, 20, 20, 0),
]


def test_totals_and_ratios():
    m = compute_metrics(RECORDS, params=500, trainable_params=400, dtype="fp16", head_index=1)
    assert m["macs"] == 1300
    assert m["flops"] == 2650  # 2000 + 600 + 50 + 0
    assert m["input_bytes"] == 174  # 100 + 4 + 50 + 20
    assert m["output_bytes"] == 174
    assert m["weight_bytes"] == 2
    assert m["memory_bytes"] == 350
    assert m["layers"] == 4
    assert m["size_mb"] == pytest.approx(500 * 2 / 1e6)  # fp16: 2 bytes/param
    assert m["size_mb_fp32"] == pytest.approx(0.002)
    assert m["size_mb_int8"] == pytest.approx(0.0005)
    assert m["flops_per_param"] == pytest.approx(2650 / 500)  # 5.3
    assert m["params_per_mac"] == pytest.approx(500 / 1300)
    assert m["bytes_per_flop"] == pytest.approx(350 / 2650)
    assert m["aggregate_ai"] == pytest.approx(2650 / 350)
    # avg AI over ops with FLOPs > 0: (10 + 60 + 0.5) / 3 = 23.5
    assert m["avg_ai"] == pytest.approx(23.5)
    assert m["compute_bound_pct"] == pytest.approx(100 / 3)  # only the addmm (AI 60 > 50)
    assert m["memory_bound_pct"] == pytest.approx(100 / 3)  # only the relu (AI 0.5 < 10)
    assert m["classification"] == "balanced"


def test_max_width_excludes_head():
    # conv output dim 1 = 64; the addmm (head, index 1) would give 1000 but is excluded.
    assert max_width(RECORDS, head_index=1) == 64
    assert max_width(RECORDS, head_index=None) == 1000


def test_op_width_rules():
    ln = rec(0, "native_layer_norm", "norm", 0, 1, 1, 1, 0, ins=((1, 197, 768),), out=(1, 197, 768))
    bn = rec(0, "native_batch_norm", "norm", 0, 1, 1, 1, 0, ins=((1, 96, 7, 7),), out=(1, 96, 7, 7))
    act = rec(0, "gelu", "activation", 0, 1, 1, 1, 0, ins=((1, 7, 7, 3072),), out=(1, 7, 7, 3072))
    assert (op_width(ln), op_width(bn), op_width(act)) == (768, 96, 0)


def test_op_width_of_a_channel_concatenation():
    # two 256-channel 13x13 maps joined on dim 1 -> 512 channels (SqueezeNet 1.0's fire9)
    fire = rec(0, "cat", "data-movement", 0, 0, 1, 1, 0, ins=((1, 256, 13, 13),) * 2, out=(1, 512, 13, 13))
    # rotary halves joined on the last dim, and tokens joined on dim 1 of a rank-2 tensor: no channels
    rotary = rec(0, "cat", "data-movement", 0, 0, 1, 1, 0, ins=((1, 8, 16, 32),) * 2, out=(1, 8, 16, 64))
    tokens = rec(0, "cat", "data-movement", 0, 0, 1, 1, 0, ins=((1, 4), (1, 5)), out=(1, 9))
    assert (op_width(fire), op_width(rotary), op_width(tokens)) == (512, 0, 0)


def test_undefined_ratios_are_none():
    m = compute_metrics([rec(0, "cat", "data-movement", 0, 0, 8, 8, 0)], 0, 0, "fp32")
    assert m["flops_per_param"] is None and m["params_per_mac"] is None and m["bytes_per_flop"] is None
    assert m["avg_ai"] is None and m["classification"] == "n/a"


@pytest.mark.parametrize(
    ("ai", "label"),
    [(50.01, "compute-bound"), (50.0, "balanced"), (10.0, "balanced"), (9.99, "memory-bound")],
)
def test_classification_thresholds(ai, label):
    assert classify(ai) == label
