"""PyTorch's foreach optimizer in the training step (issue 23): the ``_foreach_*`` cost rules, the
multi-tensor kernel launches (``aten/src/ATen/native/cuda/MultiTensorApply.cuh``) and their time, and the
``train`` verb's optimizer phase. Every expected value is derived by hand in a comment."""

from __future__ import annotations

import csv
import io
import json

import pytest
import torch
import train_models as tm

from metrics_core.capture.train_step import capture_step
from metrics_core.costs.foreach import CHUNK_ELEMENTS, multi_tensor_launches
from metrics_core.perf.efficiency import kernel_time, params_for
from metrics_core.perf.fusion import Kernel
from metrics_core.perf.hardware import get_target
from metrics_core.perf.training import estimate_training
from metrics_core.runtime.train_capture import default_optimizer_impl
from tui.cli import main

C = CHUNK_ELEMENTS  # 65,536 elements: one thread block


def step_of(factory, shape, **kw):
    model = factory().to("meta")
    x = torch.empty(*shape, device="meta")
    return capture_step(model, (x,), {}, batch_size=shape[0], **kw)


# resnet18's 62 parameter tensors (torchvision): conv1 7x7, bn1, 4 stages of 2 BasicBlocks (two 3x3 convs
# and two batch norms each, stages 2-4's first block with a 1x1 downsample conv + norm), fc weight + bias
def _resnet18_numels() -> list[int]:
    out = [64 * 3 * 7 * 7, 64, 64]
    c_in = 64
    for c in (64, 128, 256, 512):
        for b in range(2):
            out += [c * (c_in if b == 0 else c) * 9, c, c, c * c * 9, c, c]
            if b == 0 and c != 64:
                out += [c * c_in, c, c]
        c_in = c
    return out + [1000 * 512, 1000]


def test_resnet18_parameter_list_matches_its_parameter_count():
    numels = _resnet18_numels()
    assert len(numels) == 62 and sum(numels) == 11_689_512  # torchvision resnet18: 11.69 M parameters


def test_launches_by_tensor_limit_4kb_table():
    numels = _resnet18_numels()
    # chunks: sum of ceil(numel / 65,536) = 227 < 320 blocks, so only the tensor limit acts. 4 KB limits:
    # depth 3 (addcmul_, addcdiv_): 48 tensors per launch -> 48 + 14 = 2 launches; depth 2: 64 >= 62 -> 1;
    # depth 1: 110 -> 1
    assert sum(-(-n // C) for n in numels) == 227
    assert [multi_tensor_launches(numels, d, large_kernel_arg=False) for d in (1, 2, 3)] == [1, 1, 2]
    # 32 KB limits (CUDA >= 12.1, sm >= 70): depth 3 holds 336 tensors, 2,240 blocks: 1 launch each
    assert [multi_tensor_launches(numels, d) for d in (1, 2, 3)] == [1, 1, 1]


def test_launches_by_block_limit():
    # one tensor of 321 chunks at depth 1 (4 KB: 320 blocks per launch): a launch at block 320, 1 block left
    assert multi_tensor_launches([321 * C], 1, large_kernel_arg=False) == 2
    # 640 chunks + 1 element = 641 blocks: 320, 320, 1 -> 3 launches
    assert multi_tensor_launches([640 * C + 1], 1, large_kernel_arg=False) == 3
    # a tensor cut by the block limit carries into the next launch: 300 + 30 chunks, then 1 chunk: the first
    # launch fills at block 320 (20 chunks into the second tensor), the second holds 10 + 1 blocks
    assert multi_tensor_launches([300 * C, 30 * C, 7], 1, large_kernel_arg=False) == 2
    # 32 KB: 2,240 blocks per launch: 2,240 chunks -> 1; one element more -> 2
    assert multi_tensor_launches([2_240 * C], 1) == 1
    assert multi_tensor_launches([2_240 * C + 1], 1) == 2


def test_launches_tensor_limit_empty_tensors_and_scalar_lists():
    one = [1] * 110
    # 4 KB depth 1: 110 tensors per launch: 110 -> 1, 111 -> 2, 221 -> 3
    assert multi_tensor_launches(one, 1, large_kernel_arg=False) == 1
    assert multi_tensor_launches([1] * 111, 1, large_kernel_arg=False) == 2
    assert multi_tensor_launches([1] * 221, 1, large_kernel_arg=False) == 3
    # a scalar-list op (Adam's per-tensor step sizes) holds 96 at depth 1: 97 tensors -> 2 launches
    assert multi_tensor_launches([1] * 97, 1, scalar_list=True, large_kernel_arg=False) == 2
    # empty tensors are skipped: none at all -> no launch; 200 empty + 1 -> 1
    assert multi_tensor_launches([0, 0], 1) == 0
    assert multi_tensor_launches([0] * 200 + [1], 1, large_kernel_arg=False) == 1
    with pytest.raises(ValueError, match="1-5"):
        multi_tensor_launches([1], 6)


def test_foreach_adamw_step_costs_per_op():
    s = step_of(tm.no_bias, (4, 64), loss="cross-entropy", precision="fp32", optimizer="adamw")
    assert s.optimizer_impl == "foreach"
    p = 64 * 32 + 32 * 10  # 2,368 parameters in 2 tensors
    ops = [(r.op, r.category, r.macs, r.flops, r.bytes, r.kernels) for r in s.phase("optimizer")]
    # torch.optim.AdamW(foreach=True), fp32, per element: decay p *= 1 - lr wd (1 FLOP; p read + written
    # 8 B); m.lerp_(g, 1 - b1) (3; m, g read, m written 12 B); v *= b2 (1; 8 B); v.addcmul_(g, g, 1 - b2)
    # (3; v, g, g read, v written 16 B); denom = sqrt(v) (1; 8 B); denom /= sqrt(bias correction 2) (1;
    # 8 B); denom += eps (1; 8 B); p.addcdiv_(m, denom, -step size) (3; p, m, denom read, p written 16 B).
    # Two tensors: one launch each (record kernels None)
    per = [
        ("_foreach_mul_", 1, 8),
        ("_foreach_lerp_", 3, 12),
        ("_foreach_mul_", 1, 8),
        ("_foreach_addcmul_", 3, 16),
        ("_foreach_sqrt", 1, 8),
        ("_foreach_div_", 1, 8),
        ("_foreach_add_", 1, 8),
        ("_foreach_addcdiv_", 3, 16),
    ]
    assert ops == [(op, "elementwise", 0, f * p, b * p, None) for op, f, b in per]
    # the same 84 bytes per parameter as the for-loop implementation, 14 FLOPs per parameter
    assert sum(r.bytes for r in s.phase("optimizer")) == 84 * p
    assert sum(r.flops for r in s.phase("optimizer")) == 14 * p == 33_152


class ManySmall(torch.nn.Module):
    """400 parameter tensors of 4 elements: more than a 32 KB depth-3 launch holds (336)."""

    def __init__(self) -> None:
        super().__init__()
        self.ps = torch.nn.ParameterList(torch.nn.Parameter(torch.zeros(4)) for _ in range(400))

    def forward(self, x):
        return x * torch.stack(list(self.ps)).sum(0)


def test_foreach_step_of_many_tensors_launches_several_kernels_per_op():
    s = step_of(ManySmall, (2, 4), loss="mse", precision="fp32", optimizer="adamw")
    kernels = {r.op: r.kernels for r in s.phase("optimizer")}
    # 400 tensors, 1 chunk each (400 blocks < 2,240): depth 3 (addcmul_: v, g, g; addcdiv_: p, m, denom)
    # holds 336 tensors -> 2 launches; depth 1 (mul_, div_, add_: 770 or 672 with a scalar list) and
    # depth 2 (lerp_: m, g; sqrt: v and its output: 448) -> 1
    assert kernels == {
        "_foreach_mul_": None,
        "_foreach_lerp_": None,
        "_foreach_addcmul_": 2,
        "_foreach_sqrt": None,
        "_foreach_div_": None,
        "_foreach_add_": None,
        "_foreach_addcdiv_": 2,
    }
    est = estimate_training(s, get_target("a100-pcie-40gb"))
    # 8 host calls; 6 x 1 + 2 x 2 = 10 kernels
    assert (est.phases["optimizer"].ops, est.phases["optimizer"].kernels) == (8, 10)


def test_a_foreach_kernel_pays_one_gap_per_launch_and_one_host_issue():
    target = get_target("a100-pcie-40gb")
    p = params_for(target)
    rec = step_of(tm.no_bias, (4, 64), loss="mse", precision="fp32").phase("optimizer")[0]
    records = [rec]
    for launches in (1, 3, 40):
        k = Kernel(ops=(0,), kind="op", flops=0, read_bytes=0, write_bytes=0, main=0, launches=launches)
        t = kernel_time(k, records, target, "fp32", "calibrated", "eager")
        # no work: GPU time = launches x (kernel gap + launch overhead); host = one eager issue; the
        # overhead is the longer of the two
        gpu = launches * (p.kernel_gap_us * 1e-6 + target.launch_overhead_s)
        assert t.overhead_s == pytest.approx(max(gpu, p.eager_op_us * 1e-6))
        ideal = kernel_time(k, records, target, "fp32", "ideal", "eager")
        assert ideal.overhead_s == pytest.approx(launches * target.launch_overhead_s)


def test_default_implementation_follows_the_target_kind():
    # torch's _default_to_fused_or_foreach: foreach for CUDA tensors, the for-loop on CPU tensors
    impl = {t: default_optimizer_impl(get_target(t).vendor, get_target(t).kind) for t in (
        "a100-pcie-40gb", "mi300x", "jetson-agx-orin-64gb", "xeon-8480-plus", "epyc-9654", "apple-m3-max",
        "raspberry-pi-5",
    )}  # fmt: skip
    # CUDA / ROCm tensors take foreach, a Jetson's too (kind "edge SoC": a helper found it on the for-loop);
    # CPUs and Apple's mps devices are not in torch's foreach device list
    assert impl == {
        "a100-pcie-40gb": "foreach", "mi300x": "foreach", "jetson-agx-orin-64gb": "foreach",
        "xeon-8480-plus": "for-loop", "epyc-9654": "for-loop", "apple-m3-max": "for-loop",
        "raspberry-pi-5": "for-loop",
    }  # fmt: skip
    assert default_optimizer_impl("NVIDIA", "gpu") == "foreach"  # a user target's kind, any case


def _train_json(capsys, *extra):
    assert main(["train", "resnet18", "--hardware", "a100-pcie-40gb", "--format", "json", *extra]) == 0
    d = json.loads(capsys.readouterr().out)
    return d[0] if isinstance(d, list) else d


def test_resnet18_optimizer_phase_foreach_vs_for_loop(capsys):
    foreach = _train_json(capsys)
    loop = _train_json(capsys, "--optimizer-impl", "for-loop")
    assert (foreach["optimizer_impl"], loop["optimizer_impl"]) == ("foreach", "for-loop")
    fo, lo = foreach["phases"]["optimizer"], loop["phases"]["optimizer"]
    # bf16-mixed AdamW over resnet18's 62 tensors: foreach = 8 multi-tensor ops (1 launch each under the
    # 32 KB limits: 62 tensors, 227 chunks) + 62 casts of the fp32 master weights to the bf16 weights = 70
    # ops and kernels; for-loop = 8 ops x 62 tensors + 62 casts = 558
    assert (fo["ops"], fo["kernels"]) == (70, 70)
    assert (lo["ops"], lo["kernels"]) == (558, 558)
    # the same work either way: 14 FLOPs per parameter (test_foreach_adamw_step_costs_per_op)
    assert fo["flops"] == lo["flops"] == 14 * 11_689_512
    assert fo["bytes"] == lo["bytes"]
    fp32 = _train_json(capsys, "--precision", "fp32")["phases"]["optimizer"]
    assert (fp32["ops"], fp32["kernels"]) == (8, 8)  # no master-weight casts


def test_train_outputs_name_the_implementation(capsys):
    assert main(["train", "resnet18", "--hardware", "a100-pcie-40gb", "--precision", "fp32"]) == 0
    text = capsys.readouterr().out
    assert "adamw (foreach)" in text and "PyTorch's foreach optimizer" in text
    assert main(["train", "resnet18", "--hardware", "a100-pcie-40gb", "--format", "csv"]) == 0
    row = next(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert (row["optimizer_impl"], row["optimizer_kernels"]) == ("foreach", "70")


def test_foreach_sgd_momentum_step_costs_per_op():
    s = step_of(tm.no_bias, (4, 64), loss="cross-entropy", precision="fp32", optimizer="sgd")
    p = 2_368
    ops = [(r.op, r.flops, r.bytes) for r in s.phase("optimizer")]
    # torch.optim.SGD(momentum=0.9, foreach=True), fp32, per element: buf *= momentum (1 FLOP; buf read +
    # written 8 B); buf += 1 x g (alpha = 1 - dampening = 1: 1 FLOP; buf, g read, buf written 12 B);
    # p += -lr x buf (alpha != 1: 2 FLOPs; 12 B)
    assert ops == [
        ("_foreach_mul_", p, 8 * p),
        ("_foreach_add_", p, 12 * p),
        ("_foreach_add_", 2 * p, 12 * p),
    ]


def test_a_foreach_op_without_a_rule_stays_uncovered():
    from metrics_core.capture.dispatch import OpCapture

    xs = [torch.empty(3, device="meta"), torch.empty(5, device="meta")]
    cap = OpCapture(torch.nn.Identity(), "fp32")
    with cap:
        torch._foreach_norm(xs)  # a reduction over each tensor: no per-element rule in FOREACH_FLOPS
        torch._foreach_mul_(xs, 2.0)
    assert [(r.op, r.covered, r.category, r.flops) for r in cap.records] == [
        ("_foreach_norm", False, "uncovered", 0),
        ("_foreach_mul_", True, "elementwise", 3 + 5),  # 1 FLOP per element of the 8
    ]
