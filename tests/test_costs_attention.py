"""Attention cost rules: every SDPA variant that runs on meta, the fused nn.MultiheadAttention and
nn.TransformerEncoderLayer fast-path ops (CPU, eval + no_grad), hand-derived."""

from __future__ import annotations

import contextlib

import torch
from cost_probe import costs, meta
from torch import nn

from metrics_core.costs import lookup

aten = torch.ops.aten


# Shared SDPA geometry: B=2, H=4, L=10 queries, S=12 keys, E=16, Ev=8.
#   scores = B*H*L*S = 960; MACs = 960 * (E + Ev) = 23040
#   FLOPs = 2*MACs + 960 * (5 softmax + 1 scale) = 46080 + 5760 = 51840 (+960 with a mask = 52800)
SDPA_MACS, SDPA_FLOPS, SDPA_MASKED_FLOPS = 23040, 51840, 52800
# With Ev = E = 16 (kernels that need equal head dims): MACs = 960 * 32 = 30720;
#   FLOPs = 61440 + 5760 = 67200
SDPA16_MACS, SDPA16_FLOPS = 30720, 67200


def bhle(ev: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return meta(2, 4, 10, 16), meta(2, 4, 12, 16), meta(2, 4, 12, ev)


def single(fn, *inputs):
    """The one (op, macs, flops) that ``fn`` dispatches."""
    (result,) = costs(fn, *inputs)
    return result


def test_sdpa_as_recorded_by_the_capture():
    # the capture records F.scaled_dot_product_attention itself with (q, k, v, *args) and its kwargs
    q, k, v = bhle()
    out = meta(2, 4, 10, 8)
    rule = lookup("scaled_dot_product_attention").fn
    assert rule((q, k, v), {}, out) == (SDPA_MACS, SDPA_FLOPS)
    assert rule((q, k, v), {"attn_mask": meta(10, 12), "scale": 0.5}, out) == (SDPA_MACS, SDPA_MASKED_FLOPS)
    assert rule((q, k, v, meta(10, 12)), {}, out) == (SDPA_MACS, SDPA_MASKED_FLOPS)


def test_sdpa_grouped_query_attention_counts_query_heads():
    # q has 4 heads, k/v 2 (enable_gqa): the scores are still B*H_q*L*S = 960
    q, k, v = meta(2, 4, 10, 16), meta(2, 2, 12, 16), meta(2, 2, 12, 8)
    assert lookup("scaled_dot_product_attention").fn((q, k, v), {"enable_gqa": True}, meta(2, 4, 10, 8)) == (
        SDPA_MACS,
        SDPA_FLOPS,
    )


def test_sdpa_on_meta_decomposes_into_math_ops():
    # F.scaled_dot_product_attention on meta: q and k each scaled by sqrt(scale) (mul), q@k^T (bmm),
    # softmax, p@v (bmm). mul: B*H*L*E = 1280 and B*H*S*E = 1536; bmm: 8*10*16*12 = 15360 and
    # 8*10*12*8 = 7680 MACs; softmax: 5 * 960 = 4800
    assert costs(torch.nn.functional.scaled_dot_product_attention, *bhle()) == [
        ("mul", 0, 1280),
        ("mul", 0, 1536),
        ("bmm", 15360, 30720),
        ("_safe_softmax", 0, 4800),
        ("bmm", 7680, 15360),
    ]


def test_sdpa_fused_variants_on_meta():
    q, k, v = bhle()
    assert single(aten._scaled_dot_product_efficient_attention, q, k, v, None, False) == (
        "_scaled_dot_product_efficient_attention",
        SDPA_MACS,
        SDPA_FLOPS,
    )
    assert single(aten._scaled_dot_product_efficient_attention, q, k, v, meta(2, 4, 10, 12), False) == (
        "_scaled_dot_product_efficient_attention",
        SDPA_MACS,
        SDPA_MASKED_FLOPS,
    )
    assert single(aten._scaled_dot_product_cudnn_attention, q, k, v, None, False) == (
        "_scaled_dot_product_cudnn_attention",
        SDPA_MACS,
        SDPA_FLOPS,
    )
    assert single(aten._scaled_dot_product_fused_attention_overrideable, q, k, v) == (
        "_scaled_dot_product_fused_attention_overrideable",
        SDPA_MACS,
        SDPA_FLOPS,
    )
    q, k, v = bhle(ev=16)
    assert single(aten._scaled_dot_product_flash_attention, q, k, v) == (
        "_scaled_dot_product_flash_attention",
        SDPA16_MACS,
        SDPA16_FLOPS,
    )
    assert single(aten._scaled_dot_product_flash_attention_for_cpu, q, k, v) == (
        "_scaled_dot_product_flash_attention_for_cpu",
        SDPA16_MACS,
        SDPA16_FLOPS,
    )


def test_sdpa_cpu_flash_kernel_as_dispatched_on_cpu():
    # On CPU, F.scaled_dot_product_attention runs the flash kernel (one op)
    q, k, v = (torch.randn(2, 4, n, 16) for n in (10, 12, 12))
    assert single(torch.nn.functional.scaled_dot_product_attention, q, k, v) == (
        "_scaled_dot_product_flash_attention_for_cpu",
        SDPA16_MACS,
        SDPA16_FLOPS,
    )


def test_low_level_kernels_take_blhe_layout():
    # (B, L, H, E) layout: q (2,10,4,16), k (2,12,4,16): same geometry, scores = 960
    q, k = meta(2, 10, 4, 16), meta(2, 12, 4, 16)
    assert single(aten._flash_attention_forward, q, k, k, None, None, 10, 12, 0.0, False, False) == (
        "_flash_attention_forward",
        SDPA16_MACS,
        SDPA16_FLOPS,
    )
    assert single(
        aten._efficient_attention_forward, q, k, meta(2, 12, 4, 8), None, None, None, None, None, 0.0, 0
    ) == (
        "_efficient_attention_forward",
        SDPA_MACS,
        SDPA_FLOPS,
    )


def test_cudnn_attention_forward_rule():
    # no meta kernel: call the rule with the dense (B, H, L, E) layout
    q, k, v = bhle()
    assert lookup("_cudnn_attention_forward").fn((q, k, v, None, None, None, 10, 12, False), {}, None) == (
        SDPA_MACS,
        SDPA_FLOPS,
    )


def test_packed_variable_length_counts_total_queries_times_max_keys():
    # packed (total_q=25, H=4, E=16) with max_k = 12: scores = 25*4*12 = 1200; MACs = 1200 * 32 = 38400;
    # FLOPs = 76800 + 1200 * 6 = 84000
    q, k = meta(25, 4, 16), meta(30, 4, 16)
    cu = torch.zeros(3, dtype=torch.int32, device="meta")
    args = (q, k, k, cu, cu, 10, 12, 0.0, False, False)
    assert lookup("_flash_attention_forward").fn(args, {}, None) == (38400, 84000)


@contextlib.contextmanager
def mha_fastpath(enabled: bool):
    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(enabled)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(before)


# nn.MultiheadAttention(64, 4) on x (B=2, L=S=10, D=64), H=4 heads, need_weights (default):
#   MACs: in-projection B*(L+2S)*D*D = 2*30*4096 = 245760; attention B*L*S*2D = 2*100*128 = 25600;
#         out-projection B*L*D*D = 81920; total 353280
#   FLOPs: 2*MACs = 706560; q/k/v bias adds B*(L+2S)*D = 3840; query scaling B*L*D = 1280;
#          softmax 5 * (B*H*L*S = 800) = 4000; head-average of the weights 800 adds + B*L*S = 200 divides
#          -> 706560 + 3840 + 1280 + 4000 + 1000 = 716680
MHA_MACS, MHA_FLOPS = 353280, 716680


def test_native_multi_head_attention_fast_path():
    mha = nn.MultiheadAttention(64, 4, batch_first=True).eval()
    x = torch.randn(2, 10, 64)
    with mha_fastpath(True):
        assert costs(lambda t: mha(t, t, t), x) == [("_native_multi_head_attention", MHA_MACS, MHA_FLOPS)]


def test_unfused_multi_head_attention_adds_up_to_the_fused_op():
    mha = nn.MultiheadAttention(64, 4, batch_first=True, device="meta").eval()
    x = meta(2, 10, 64)
    with mha_fastpath(False):
        ops = costs(lambda t: mha(t, t, t), x)
    # mm (in-projection), add (its bias), mul (query scaling), bmm, softmax, bmm, addmm (out-projection),
    # mean (head average), plus copies
    assert [op for op, _, _ in ops if op != "clone"] == [
        "mm", "add", "mul", "bmm", "_softmax", "bmm", "addmm", "mean",
    ]  # fmt: skip
    assert (sum(m for _, m, _ in ops), sum(f for _, _, f in ops)) == (MHA_MACS, MHA_FLOPS)


def test_native_multi_head_attention_without_averaged_weights():
    # as MHA_FLOPS less the head average (1000): 715680, whether no weights or per-head weights are returned
    mha = nn.MultiheadAttention(64, 4, batch_first=True).eval()
    x = torch.randn(2, 10, 64)
    with mha_fastpath(True):
        no_weights = costs(lambda t: mha(t, t, t, need_weights=False), x)
        per_head = costs(lambda t: mha(t, t, t, average_attn_weights=False), x)
    assert no_weights == per_head == [("_native_multi_head_attention", MHA_MACS, 715680)]


def test_transformer_encoder_layer_fast_path():
    layer = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, batch_first=True).eval()
    x = torch.randn(2, 10, 64)
    # self-attention without weights: MACs 353280; FLOPs 706560 + 3840 + 1280 + 4000 = 715680
    # FFN (F=128): MACs 2 * B*L*D*F = 2 * 20*64*128 = 327680 -> total MACs 680960
    # FLOPs += 2 * 327680 (FFN) + 2 residual adds 2*1280 + 2 layer norms 2 * 7*1280 + ReLU 20*128
    #        = 715680 + 655360 + 2560 + 17920 + 2560 = 1394080
    with mha_fastpath(True):
        assert costs(layer, x) == [("_transformer_encoder_layer_fwd", 680960, 1394080)]
