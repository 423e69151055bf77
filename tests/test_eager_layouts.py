"""Eager layouts: the copies an eager kernel makes inside itself (``costs.eager_copies``), hand-derived bytes
from captures with the strides eager PyTorch sees (``capture.layouts``: a convolution's output is
channels-last when its input is), and what the eager and compiled kernel models do with them."""

from __future__ import annotations

import torch
from torch import nn

from metrics_core.capture.trace import capture
from metrics_core.common.records import OpRecord
from metrics_core.perf.efficiency import kernel_terms, op_class
from metrics_core.perf.fusion import compiled_kernels, eager_kernels
from metrics_core.perf.hardware import get_target


def run(model, *shapes, dtype="fp16"):  # noqa: ANN001
    with torch.device("meta"):
        model = model.to("meta").eval()
        inputs = tuple(torch.randn(*s) for s in shapes)
    return capture(model, inputs, dtype).records


class ChannelNorm(nn.Module):
    """ConvNeXt's LayerNorm over the channels of an NCHW tensor: permute, layer norm, permute back."""

    def __init__(self, c: int, permute: bool = True) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(c)
        self.permute = permute

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.permute:
            return self.norm(x)
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class Roll(nn.Module):
    def __init__(self, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.roll(x, shifts=tuple(-3 for _ in self.dims), dims=self.dims)


def by_op(records, op):  # noqa: ANN001
    return [r for r in records if r.op == op]


def test_layer_norm_of_a_permuted_tensor_copies_it_first():
    # (2, 96, 14, 14) fp16 = 75,264 bytes; permuted to NHWC it is not contiguous: layer_norm_cuda's
    # expect_contiguous() copies all of it once
    (ln,) = by_op(run(ChannelNorm(96), (2, 96, 14, 14)), "native_layer_norm")
    assert ln.hidden_copies == [2 * 96 * 14 * 14 * 2] == [75_264]
    # its own traffic stays the op's: the input (75,264), gamma and beta (2 x 96 x 2), the output
    assert (ln.input_bytes, ln.weight_bytes, ln.output_bytes) == (75_264, 384, 75_264)


def test_layer_norm_of_a_contiguous_tensor_copies_nothing():
    (ln,) = by_op(run(ChannelNorm(96, permute=False), (2, 14, 14, 96)), "native_layer_norm")
    assert ln.hidden_copies is None


def test_roll_over_two_dims_is_two_passes():
    # Swin's shifted window: torch.roll over H and W of (1, 56, 56, 96) fp16 = 602,112 bytes; roll_common
    # rolls H, then W: one pass more than the one op the trace shows
    (r,) = by_op(run(Roll((1, 2)), (1, 56, 56, 96)), "roll")
    assert r.hidden_copies == [602_112]
    (one,) = by_op(run(Roll((1,)), (1, 56, 56, 96)), "roll")
    assert one.hidden_copies is None


def test_softmax_of_a_transposed_tensor_copies_it():
    class SoftmaxT(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(x.transpose(-1, -2), dim=-1)

    # (4, 32, 64) fp16 = 16,384 bytes, transposed: host_softmax's input_.contiguous() copies it
    (s,) = by_op(run(SoftmaxT(), (4, 32, 64)), "_softmax")
    assert s.hidden_copies == [16_384]


def rec(i: int, op: str, copies: list[int] | None) -> OpRecord:
    return OpRecord(
        index=i, module=f"m{i}", module_type="M", op=op, category="norm", input_shapes=[[1]],
        output_shape=[1], dtype="fp16", macs=0, flops=1000, input_bytes=300, output_bytes=300,
        weight_bytes=16, reads_from=[i - 1], hidden_copies=copies,
    )  # fmt: skip


def test_eager_kernel_reads_and_writes_each_copy_once_more_and_launches_it():
    g = [rec(0, "native_layer_norm", [300]), rec(1, "native_layer_norm", None)]
    first, second = eager_kernels(g)
    # the copy reads the strided 300 bytes and writes 300; the norm then reads the copy (its own 300 + 16)
    assert (first.read_bytes, first.write_bytes, first.launches) == (616, 600, 2)
    assert (second.read_bytes, second.write_bytes, second.launches) == (316, 300, 1)
    # the op's own traffic is unchanged: 616 bytes, the metric every table reports
    assert g[0].bytes == 616


def test_compiled_kernels_read_strided_inputs_directly():
    g = [rec(0, "native_layer_norm", [300])]
    (k,) = compiled_kernels(g)
    assert (k.read_bytes, k.write_bytes, k.launches) == (316, 300, 1)


class ConvNeXtStem(nn.Module):
    """A 4x4 stride-4 stem conv, a LayerNorm over channels (permute, norm, permute back), then a 7x7
    depthwise conv and its block's LayerNorm, as ConvNeXt runs them."""

    def __init__(self, c: int = 32) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, c, 4, stride=4)
        self.stem_norm = ChannelNorm(c)
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.block_norm = nn.LayerNorm(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dw(self.stem_norm(self.stem(x)))
        return self.block_norm(x.permute(0, 2, 3, 1))


def test_convnext_runs_channels_last_after_its_stem_norm():
    recs = run(ConvNeXtStem(), (2, 3, 64, 64))
    stem, dw = by_op(recs, "convolution")
    stem_norm, block_norm = by_op(recs, "native_layer_norm")
    # the stem conv reads the NCHW image: NCHW kernel; its output (2, 32, 16, 16) fp16 = 32,768 bytes is
    # permuted for the norm, which copies it first
    assert (stem.channels_last, stem_norm.hidden_copies) == (False, [32_768])
    # permuted back, the norm's output is channels-last: the depthwise conv runs cuDNN's NHWC kernel and
    # writes NHWC (the meta kernel alone would write NCHW), so the block's permuted norm input is
    # contiguous: no copy
    assert (dw.channels_last, block_norm.hidden_copies) == (True, None)


def test_a_channels_last_conv_is_timed_as_the_nhwc_kernel_in_eager():
    dw, dense = rec(0, "convolution", None), rec(1, "convolution", None)
    for r, w in ((dw, [16, 1, 7, 7]), (dense, [16, 16, 3, 3])):
        r.category, r.macs, r.input_shapes, r.output_shape = "conv", 1000, [[1, 16, 8, 8], w], [1, 16, 8, 8]
    assert (op_class(dense, "eager"), op_class(dw, "eager")) == ("conv_eager", "depthwise")
    dense.channels_last = dw.channels_last = True
    assert op_class(dense, "eager") == "conv_compiled"
    # the depthwise kernel's DRAM share is the channels-last one (depthwise_compiled), as under compile
    t = get_target("rtx-4090")
    (k,) = eager_kernels([dw])
    assert kernel_terms(k, [dw], t, "fp16", "eager").nchw is False
    dw.channels_last = False
    assert kernel_terms(k, [dw], t, "fp16", "eager").nchw is True


def test_layers_rows_show_the_copy_bytes_of_eager_kernels():
    from metrics_core.perf.roofline import estimate_records
    from metrics_core.report.rows import layer_csv_keys, layer_rows

    recs = run(ChannelNorm(96), (2, 96, 14, 14))
    t = get_target("rtx-4090")
    eager = layer_rows(recs, estimate_records(recs, t, "fp16", 2, "m", "eager", "calibrated"))
    ln = next(r for r in eager if r["op"] == "native_layer_norm")
    # the 75,264-byte permuted input is copied (read + written) before the norm: 150,528 bytes beyond the
    # op's own 75,264 in + 384 weights + 75,264 out
    assert (ln["est_copy_bytes"], ln["input_bytes"], ln["output_bytes"]) == (150_528, 75_264, 75_264)
    assert layer_csv_keys(eager)[-1] == "est_copy_bytes"
    compiled = layer_rows(recs, estimate_records(recs, t, "fp16", 2, "m", "compiled", "calibrated"))
    assert "est_copy_bytes" not in compiled[0]


class TwoConvs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(16, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dw(self.a(x))


def test_a_convolution_copies_the_operand_not_in_its_kernels_format():
    # cuDNN runs one format (channels-last when the input or the weight is) and first copies the operand
    # that is not in it (ConvShared.cpp cudnn_convolution_forward_out: weight / input .contiguous(format))
    nchw = run(TwoConvs(), (1, 16, 16, 16), dtype="fp32")
    assert [r.hidden_copies for r in by_op(nchw, "convolution")] == [None, None]
    # channels-last input, NCHW weights: conv a copies its (8, 16, 3, 3) fp32 weight, 4,608 bytes; the
    # depthwise (8, 1, 3, 3) weight is channels-last as it is (one input channel): no copy
    model = TwoConvs()
    with torch.device("meta"):
        model = model.to("meta").eval()
        x = torch.randn(1, 16, 16, 16).to(memory_format=torch.channels_last)
    cl_input = capture(model, (x,), "fp32").records
    assert (
        [r.hidden_copies for r in by_op(cl_input, "convolution")]
        == [[8 * 16 * 3 * 3 * 4], None]
        == [
            [4608],
            None,
        ]
    )
    # a channels-last weight and an NCHW input: the input is copied, 1 x 16 x 16 x 16 x 4 = 16,384 bytes
    with torch.device("meta"):
        model = TwoConvs().to("meta").eval()
        model.a.weight.data = model.a.weight.data.to(memory_format=torch.channels_last)
        x = torch.randn(1, 16, 16, 16)
    cl_weight = capture(model, (x,), "fp32").records
    a = by_op(cl_weight, "convolution")[0]
    assert (a.channels_last, a.hidden_copies) == (True, [16_384])
    # eager: the copy reads and writes its bytes, one more launch
    (k,) = [k for k in eager_kernels(cl_weight) if k.main == a.index]
    assert (k.launches, k.read_bytes - (a.input_bytes + a.weight_bytes), k.write_bytes - a.output_bytes) == (
        2,
        16_384,
        16_384,
    )


def test_a_convolution_backward_is_timed_with_its_forward_gemm():
    from metrics_core.perf.efficiency import gemm_shape, op_class

    def bwd(grad_out, x, w, macs):  # noqa: ANN001, ANN202
        r = rec(0, "convolution_backward", None)
        r.category, r.macs, r.input_shapes, r.output_shape = "conv", macs, [grad_out, x, w], x
        return r

    # a 1x1 64 -> 256 convolution on (8, 64, 56, 56): forward GEMM M = 8 x 56 x 56 = 25,088, N = 256,
    # K = 64, one group (its weight is (256, 64, 1, 1)); not 4 groups of 16 from the input's 64 channels
    dense = bwd([8, 256, 56, 56], [8, 64, 56, 56], [256, 64, 1, 1], 2 * 25_088 * 256 * 64)
    assert (gemm_shape(dense), op_class(dense, "eager")) == ((1, 25_088, 256, 64), "conv_eager")
    # a 3x3 depthwise convolution's backward runs where its forward does: on the vector units
    dw = bwd([8, 32, 112, 112], [8, 32, 112, 112], [32, 1, 3, 3], 2 * 8 * 32 * 112 * 112 * 9)
    assert (gemm_shape(dw), op_class(dw, "eager")) == ((32, 100_352, 1, 9), "depthwise")
    # channels-last (OpRecord.channels_last, capture.layouts): the dense backward is cuDNN's NHWC implicit
    # GEMM, the depthwise one stays on the vector units at the channels-last DRAM share
    dense.channels_last = dw.channels_last = True
    assert (op_class(dense, "eager"), op_class(dw, "eager")) == ("conv_compiled", "depthwise")
    (k,) = eager_kernels([dw])
    assert kernel_terms(k, [dw], get_target("rtx-4090"), "fp16", "eager").nchw is False


class ConvHead(nn.Module):
    """Conv2d(4, 8, 3) -> BatchNorm2d -> ReLU -> Conv2d(8, 8, 3) -> flatten -> Linear(200, 3), no conv
    biases: fed (2, 4, 5, 5)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(4, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.fc = nn.Linear(200, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv2(torch.relu(self.bn(self.conv1(x)))).flatten(1))


def train_step_layouts(model: nn.Module, x: torch.Tensor, monkeypatch):  # noqa: ANN001, ANN201
    """One fp32 SGD step of ``model`` on ``x`` (meta): its ``convolution_backward`` records by module, the
    strides of the gradients each returned in the capture (None: not asked for), and all its records."""
    import metrics_core.capture.dispatch as dispatch
    from metrics_core.capture.train_step import capture_step

    strides, device_layout = [], dispatch.device_layout

    def spy(name, args, out):  # noqa: ANN001, ANN202
        out = device_layout(name, args, out)
        if name == "convolution_backward":
            strides.append([None if t is None else t.stride() for t in out[:2]])
        return out

    monkeypatch.setattr(dispatch, "device_layout", spy)
    step = capture_step(
        model, (x,), {}, batch_size=2, loss="cross-entropy", optimizer="sgd", precision="fp32"
    )
    bwd = {r.module: r for r in step.phase("backward") if r.op == "convolution_backward"}
    return bwd, strides, step.records


def cl(t: torch.Tensor) -> torch.Tensor:
    return t.to(memory_format=torch.channels_last)


def test_a_channels_last_nets_backward_convolutions_run_the_nhwc_kernel(monkeypatch):
    with torch.device("meta"):
        model, x = cl(ConvHead().to("meta")), cl(torch.empty(2, 4, 5, 5))
    bwd, strides, records = train_step_layouts(model, x, monkeypatch)
    # conv2's backward comes first: grad_input (2, 8, 5, 5) and grad_weight (8, 8, 3, 3) channels-last, as
    # cuDNN returns them (NHWC strides: C=1, W=C, H=W*C, N=H*W*C), so ReLU's and BatchNorm's backward read
    # NHWC; conv1's input needs no gradient: grad_weight (8, 4, 3, 3) only, channels-last
    assert strides == [[(200, 1, 40, 8), (72, 1, 24, 8)], [None, (36, 1, 12, 4)]]
    conv1, conv2 = bwd["conv1"], bwd["conv2"]
    assert conv1.channels_last and conv2.channels_last
    # conv2's grad_output comes back NCHW through flatten (the reshape of a channels-last tensor copied it
    # to NCHW in the forward): cuDNN copies it to NHWC first, 2 x 8 x 5 x 5 x 4 B = 1,600 bytes; its input
    # and weight are NHWC already. conv1's grad_output (BatchNorm's backward), input and weight are NHWC
    assert (conv2.hidden_copies, conv1.hidden_copies) == ([1_600], None)
    # timed as the NHWC implicit GEMM in eager, with its forward's GEMM: M = 2 x 5 x 5 = 50, N = 8, K = 72
    assert op_class(conv2, "eager") == "conv_compiled"
    from metrics_core.perf.efficiency import gemm_shape

    assert gemm_shape(conv2) == (1, 50, 8, 72)
    # eager: the copy reads and writes its 1,600 bytes, one more launch
    (k,) = [k for k in eager_kernels(records) if k.main == conv2.index]
    assert (k.launches, k.read_bytes - conv2.input_bytes - conv2.weight_bytes) == (2, 1_600)


def test_an_nchw_nets_backward_convolutions_are_unchanged(monkeypatch):
    with torch.device("meta"):
        model, x = ConvHead().to("meta"), torch.empty(2, 4, 5, 5)
    bwd, strides, _ = train_step_layouts(model, x, monkeypatch)
    # contiguous NCHW gradients (strides H*W*C, H*W, W, 1), no copies, the NCHW kernel
    assert strides == [[(200, 25, 5, 1), (72, 9, 3, 1)], [None, (36, 9, 3, 1)]]
    assert [(r.channels_last, r.hidden_copies) for r in bwd.values()] == [(False, None), (False, None)]
    assert op_class(bwd["conv2"], "eager") == "conv_eager"


def test_a_backward_convolution_copies_only_the_operands_its_gradients_read(monkeypatch):
    # a channels-last input fed to a model left NCHW: every convolution runs NHWC (its input is)
    with torch.device("meta"):
        model, x = ConvHead().to("meta"), cl(torch.empty(2, 4, 5, 5))
    bwd, _, _ = train_step_layouts(model, x, monkeypatch)
    # conv2: grad_output (NCHW, flatten) 1,600 bytes, and its NCHW weight (8, 8, 3, 3) x 4 B = 2,304 for
    # the input gradient (cudnn_convolution_backward_input: weight->contiguous(format)), in argument order
    assert bwd["conv2"].hidden_copies == [1_600, 8 * 8 * 3 * 3 * 4] == [1_600, 2_304]
    # conv1 computes no input gradient (the model input needs none): its NCHW weight is not read, no copy
    assert (bwd["conv1"].channels_last, bwd["conv1"].hidden_copies) == (True, None)
