"""Op capture on the meta device: bytes, weights, views, module attribution, attention (hand-derived)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from metrics_core.capture.trace import capture


def run(model, *shapes, dtype="fp32"):
    with torch.device("meta"):
        model = model.to("meta").eval()
        inputs = tuple(torch.randn(*s) for s in shapes)
    return capture(model, inputs, dtype)


def test_conv_bytes_and_weight_attribution():
    trace = run(nn.Sequential(nn.Conv2d(3, 4, 3, bias=False)), (1, 3, 8, 8))
    (r,) = trace.records
    assert (r.op, r.module, r.module_type, r.category) == ("convolution", "0", "Conv2d", "conv")
    # out 1x4x6x6 = 144 elements; MACs = 144 * 3 * 3 * 3 = 3888
    assert (r.macs, r.flops) == (3888, 7776)
    assert r.input_bytes == 3 * 8 * 8 * 4  # 768
    assert r.weight_bytes == 4 * 3 * 3 * 3 * 4  # 432
    assert r.output_bytes == 144 * 4  # 576
    assert r.input_shapes == [[1, 3, 8, 8], [4, 3, 3, 3]]
    assert r.output_shape == [1, 4, 6, 6]


def test_linear_on_3d_input_counts_weight_through_transpose_view():
    trace = run(nn.Linear(16, 32), (2, 5, 16))
    (r,) = trace.records  # view/t/view are free; one addmm remains
    assert r.op == "addmm"
    assert (r.macs, r.flops) == (2 * 5 * 16 * 32, 2 * 2 * 5 * 16 * 32)  # 5120, 10240
    assert r.input_bytes == 10 * 16 * 4  # 640
    assert r.weight_bytes == (32 * 16 + 32) * 4  # weight (via t view) + bias = 2176
    assert r.output_bytes == 10 * 32 * 4  # 1280


@pytest.mark.parametrize(("dtype", "size"), [("fp32", 4), ("fp16", 2), ("bf16", 2), ("int8", 1)])
def test_bytes_follow_dtype(dtype, size):
    (r,) = run(nn.Linear(16, 32, bias=False), (10, 16), dtype=dtype).records
    assert (r.input_bytes, r.weight_bytes, r.output_bytes) == (160 * size, 512 * size, 320 * size)
    assert r.dtype == dtype


def test_inplace_and_module_paths():
    model = nn.Sequential(nn.Sequential(nn.Conv2d(2, 2, 1), nn.ReLU(inplace=True)), nn.Flatten())
    trace = run(model, (1, 2, 4, 4))
    assert [(r.module, r.op) for r in trace.records] == [("0.0", "convolution"), ("0.1", "relu_")]
    relu = trace.records[1]
    assert (relu.input_bytes, relu.output_bytes, relu.flops) == (128, 128, 32)  # 32 elements, 1 FLOP each


class _SDPA(nn.Module):
    def forward(self, q, k, v):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v)


def test_sdpa_is_one_attention_op():
    trace = run(_SDPA(), (2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 4))
    (r,) = trace.records
    assert (r.op, r.category) == ("scaled_dot_product_attention", "attention")
    # B*H*L*S*(E + Ev) = 2*3*5*7*(8+4) = 2520 MACs
    assert r.macs == 2520
    # q + k + v = (240 + 336 + 168) elements; out 2*3*5*4 = 120 elements; fp32
    assert (r.input_bytes, r.output_bytes, r.weight_bytes) == (744 * 4, 120 * 4, 0)


class _MHA(nn.Module):
    def __init__(self, need_weights):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.need_weights = need_weights

    def forward(self, x):
        return self.attn(x, x, x, need_weights=self.need_weights)[0]


@pytest.mark.parametrize("need_weights", [False, True])
def test_multihead_attention_in_eval_no_grad_counts_its_contents(need_weights):
    trace = run(_MHA(need_weights), (1, 4, 8))
    # in-projection 4 tokens x 8 -> 24: 768 MACs; attention 1*2*4*4*(4+4) = 256; out-projection 4*8*8 = 256
    assert sum(r.macs for r in trace.records) == 768 + 256 + 256
    attention = [r for r in trace.records if r.category == "attention"]
    assert sum(r.macs for r in attention) == 256
    assert {r.module for r in trace.records} == {"attn"}


def test_head_index_is_the_op_writing_the_output():
    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.Flatten(), nn.Linear(8 * 4, 10))
    trace = run(model, (1, 3, 2, 2))
    assert trace.records[trace.head_index].op == "addmm"


class _Branch(nn.Module):
    def __init__(self, proj: nn.Linear) -> None:
        super().__init__()
        self.proj = proj

    def forward(self, x):
        return self.proj(x)


class _SharedThreeWays(nn.Module):
    """One Linear held by three parents (``a.proj``, ``b.proj``, ``c.proj``), each calling it once."""

    def __init__(self) -> None:
        super().__init__()
        shared = nn.Linear(4, 4, bias=False)
        self.a, self.b, self.c = _Branch(shared), _Branch(shared), _Branch(shared)

    def forward(self, x):
        return self.c(self.b(self.a(x)))


def test_a_shared_module_is_named_at_its_call_site():
    trace = run(_SharedThreeWays(), (2, 4))
    # the rule: the name under the running parent that holds it; each call is 2 x 4 x 4 = 32 MACs
    assert [(r.module, r.module_type, r.macs) for r in trace.records] == [
        ("a.proj", "Linear", 32),
        ("b.proj", "Linear", 32),
        ("c.proj", "Linear", 32),
    ]


class _BuildsInForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return nn.ReLU()(self.fc(x))  # a module that is not part of the model: its op is the caller's


def test_a_module_built_in_forward_runs_as_its_caller():
    trace = run(nn.Sequential(_BuildsInForward()), (2, 4))
    assert [(r.module, r.module_type, r.op) for r in trace.records] == [
        ("0.fc", "Linear", "addmm"),
        ("0", "_BuildsInForward", "relu"),
    ]


@pytest.mark.parametrize("model_type", ["llama", "qwen2", "mistral"])
def test_rotary_embedding_ops_belong_to_their_modules(model_type):
    transformers = pytest.importorskip("transformers")
    config = transformers.AutoConfig.for_model(
        model_type,
        hidden_size=64,
        intermediate_size=128,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_hidden_layers=1,
        vocab_size=100,
        max_position_embeddings=64,
    )
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config).eval()
        ids = torch.zeros(1, 8, dtype=torch.long)
    trace = capture(model, (ids,), "fp32", input_values=[(ids, torch.zeros(1, 8, dtype=torch.long))])
    # the cos/sin tables come from model.rotary_emb; apply_rotary_pos_emb runs in each attention layer
    # (transformers calls it through a hub "Func" module that is not part of the model): nothing is "?"
    assert "?" not in {r.module for r in trace.records}
    assert {r.op for r in trace.records if r.module == "model.rotary_emb"} >= {"cos", "sin"}
    rotated = [r for r in trace.records if r.module == "model.layers.0.self_attn" and r.op == "neg"]
    # rotate_half negates half of q (4 heads) and of k (2 heads): 1 x heads x 8 tokens x 8 (head_dim / 2)
    assert [r.output_shape for r in rotated] == [[1, 4, 8, 8], [1, 2, 8, 8]]
