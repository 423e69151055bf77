"""Peak activation memory: lifetimes over captured traces, hand-derived byte by byte.

Shapes are small and fp32 (4 bytes per element) unless a test says otherwise. Each test lists the
storages (name: bytes, first op..last op) and the live bytes per op they imply.
"""

from __future__ import annotations

import torch
from torch import nn

from metrics_core.capture.peak_memory import peak_memory, resident_weight_bytes
from metrics_core.capture.trace import capture


def run(model: nn.Module, *shapes, dtype: str = "fp32"):
    with torch.device("meta"):
        model = model.to("meta").eval()
        inputs = tuple(torch.randn(*s) for s in shapes)
    trace = capture(model, inputs, dtype)
    return trace, peak_memory(trace, resident_weight_bytes(model, dtype))


def test_linear_relu_linear_chain():
    # x [2,8] 64 B (start..0) -> h1 [2,16] 128 B (0..1) -> h2 = relu 128 B (1..2) -> y [2,4] 32 B (2..end)
    # live: op0 x+h1 = 192; op1 h1+h2 = 256; op2 h2+y = 160
    trace, pm = run(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)), (2, 8))
    assert [r.op for r in trace.records] == ["addmm", "relu", "addmm"]
    assert pm.live_bytes == (192, 256, 160)
    assert (pm.peak_activation_bytes, pm.peak_index, pm.peak_op, pm.peak_module) == (256, 1, "relu", "1")
    assert (pm.input_bytes, pm.output_bytes) == (64, 32)
    # weights: 8*16 + 16 + 16*4 + 4 = 212 floats = 848 B
    assert pm.weight_bytes == 848
    assert pm.peak_total_bytes == 256 + 848


def test_inplace_relu_allocates_nothing():
    # relu_ writes into h1: x 64 (start..0), h1 128 (0..2), y 32 (2..end)
    # live: op0 x+h1 = 192; op1 h1 = 128; op2 h1+y = 160
    trace, pm = run(nn.Sequential(nn.Linear(8, 16), nn.ReLU(inplace=True), nn.Linear(16, 4)), (2, 8))
    assert [r.op for r in trace.records] == ["addmm", "relu_", "addmm"]
    assert pm.live_bytes == (192, 128, 160)
    assert (pm.peak_activation_bytes, pm.peak_index) == (192, 0)


class Residual(nn.Module):
    """y = x + b(relu_(a(x))): the skip connection keeps x alive across the branch."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 32)
        self.b = nn.Linear(32, 8)

    def forward(self, x):
        return x + self.b(torch.relu_(self.a(x)))


def test_residual_branch_keeps_the_input_alive():
    # x [2,8] 64 (start..3), h [2,32] 256 (0..2, relu_ in place at 1), z [2,8] 64 (2..3), out 64 (3..end)
    # live: op0 x+h = 320; op1 x+h = 320; op2 x+h+z = 384; op3 x+z+out = 192
    trace, pm = run(Residual(), (2, 8))
    assert [r.op for r in trace.records] == ["addmm", "relu_", "addmm", "add"]
    assert pm.live_bytes == (320, 320, 384, 192)
    assert (pm.peak_activation_bytes, pm.peak_index, pm.peak_module) == (384, 2, "b")


class ViewOfBase(nn.Module):
    """A narrow view keeps its whole base storage alive."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 16)

    def forward(self, x):
        h = self.lin(x)  # op0
        v = h[:, :4]  # view of h: free, shares h's storage
        g = torch.sigmoid(x)  # op1
        return v * g[:, :4]  # op2 reads h (through v) and g (through a slice)


def test_views_share_their_base_storage():
    # x 64 (start..1), h [2,16] 128 (0..2), g [2,8] 64 (1..2), out [2,4] 32 (2..end)
    # live: op0 x+h = 192; op1 x+h+g = 256; op2 h+g+out = 224 (h counts whole: 128, not the view's 32)
    trace, pm = run(ViewOfBase(), (2, 8))
    assert [r.op for r in trace.records] == ["addmm", "sigmoid", "mul"]
    assert pm.live_bytes == (192, 256, 224)
    assert (pm.peak_activation_bytes, pm.peak_index) == (256, 1)


class DeadOutput(nn.Module):
    """An op whose output nobody reads: it lives during its own op only."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 16)

    def forward(self, x):
        h = self.lin(x)  # op0
        torch.cat([h, h])  # op1: 256 B, never used
        return torch.relu(h)  # op2


def test_output_never_used_dies_after_its_op():
    # x 64 (start..0), h 128 (0..2), c [4,16] 256 (1..1), out 128 (2..end)
    # live: op0 x+h = 192; op1 h+c = 384; op2 h+out = 256
    trace, pm = run(DeadOutput(), (2, 8))
    assert [r.op for r in trace.records] == ["addmm", "cat", "relu"]
    assert pm.live_bytes == (192, 384, 256)
    assert (pm.peak_activation_bytes, pm.peak_index, pm.peak_op) == (384, 1, "cat")


class TwoOutputs(nn.Module):
    """Returns an early activation too: model outputs stay live to the end."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 16)
        self.b = nn.Linear(16, 4)

    def forward(self, x):
        h = self.a(x)  # op0
        return h, self.b(torch.sigmoid(h))  # op1 sigmoid, op2 addmm


def test_model_outputs_stay_live_to_the_end():
    # x 64 (start..0), h 128 (0..end), s 128 (1..2), y 32 (2..end)
    # live: op0 x+h = 192; op1 h+s = 256; op2 h+s+y = 288
    _, pm = run(TwoOutputs(), (2, 8))
    assert pm.live_bytes == (192, 256, 288)
    assert (pm.peak_activation_bytes, pm.peak_index, pm.output_bytes) == (288, 2, 160)


class Attention(nn.Module):
    def forward(self, q, k, v):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v)


def test_fused_attention_keeps_scores_on_chip():
    # q, k, v, out [1,2,4,8] = 64 elements = 256 B each; the 1x2x4x4 score matrix is not an activation
    trace, pm = run(Attention(), (1, 2, 4, 8), (1, 2, 4, 8), (1, 2, 4, 8))
    assert [r.op for r in trace.records] == ["scaled_dot_product_attention"]
    assert pm.live_bytes == (1024,)
    assert (pm.peak_activation_bytes, pm.input_bytes, pm.output_bytes) == (1024, 768, 256)


def test_no_ops_peak_is_the_input():
    _, pm = run(nn.Identity(), (2, 8))
    assert (pm.live_bytes, pm.peak_activation_bytes, pm.peak_index, pm.peak_op) == ((), 64, None, None)


def test_dtype_scales_activations_and_weights_but_not_integer_buffers():
    # fp16: x [2,8] 32 B, h1 64, h2 64, y 16 -> live (96, 128, 80)
    _, pm = run(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)), (2, 8), dtype="fp16")
    assert pm.live_bytes == (96, 128, 80)
    assert pm.weight_bytes == 212 * 2
    # BatchNorm1d(4): weight, bias, running_mean, running_var = 16 halves = 32 B, + int64 counter 8 B
    assert resident_weight_bytes(nn.BatchNorm1d(4, device="meta"), "fp16") == 40


def test_tied_weights_count_once():
    a = nn.Linear(8, 8, bias=False, device="meta")
    b = nn.Linear(8, 8, bias=False, device="meta")
    b.weight = a.weight
    assert resident_weight_bytes(nn.Sequential(a, b), "fp32") == 8 * 8 * 4  # 256


def test_to_dict_is_the_scalar_summary():
    _, pm = run(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)), (2, 8))
    assert pm.to_dict() == {
        "peak_activation_bytes": 256,
        "weight_bytes": 848,
        "peak_total_bytes": 1104,
        "peak_index": 1,
        "peak_op": "relu",
        "peak_module": "1",
        "input_bytes": 64,
        "output_bytes": 32,
    }
    assert pm.to_dict(include_live=True)["live_bytes"] == [192, 256, 160]


def test_analysis_attaches_peak_memory_to_the_report():
    from metrics_core.runtime.analyze import AnalysisOptions, analyze

    # perf_models:tiny_mlp at batch 4: x [4,1,16] 256 B (flatten is a view), h1 [4,32] 512, relu out 512,
    # y [4,8] 128 -> live (768, 1024, 640); weights (16*32 + 32 + 32*8 + 8) * 4 = 3232 B
    report = analyze("perf_models:tiny_mlp", AnalysisOptions(batch_size=4, input_shape=(1, 16)))
    assert [r.live_bytes for r in report.records] == [768, 1024, 640]
    memory = report.extras["memory"]
    assert (memory["peak_activation_bytes"], memory["weight_bytes"], memory["peak_total_bytes"]) == (
        1024,
        3232,
        4256,
    )
    assert (memory["peak_index"], memory["peak_op"]) == (1, "relu")
