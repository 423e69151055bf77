"""Training steps (issue 23): the captured backward and optimizer, memory by category, parallel plans,
op-level parallelism and the ``train`` verb. Every expected value is derived by hand in a comment, or
taken from the publication named beside it."""

from __future__ import annotations

import csv
import json

import pytest
import torch
import train_models as tm

from metrics_core.capture.dataflow import annotate_dataflow
from metrics_core.capture.trace import capture
from metrics_core.capture.train_step import capture_step, find_blocks
from metrics_core.common.errors import UsageError
from metrics_core.perf.comm import link_for
from metrics_core.perf.hardware import get_target
from metrics_core.perf.parallel_plans import (
    data_parallel_communication,
    pipeline_bubble,
    split_stages,
    zero_memory,
)
from metrics_core.perf.training import estimate_training, max_micro_batch
from metrics_core.report.op_parallelism import op_parallelism
from tui.cli import main


def step_of(factory, shape, **kw):
    model = factory().to("meta")
    x = torch.empty(*shape, device="meta")
    return capture_step(model, (x,), {}, batch_size=shape[0], **kw)


def macs_by(step, phase):
    """{(op, module): MACs} of one phase."""
    out = {}
    for r in step.phase(phase):
        out[(r.op, r.module)] = out.get((r.op, r.module), 0) + r.macs
    return out


def test_backward_macs_of_linear_layers_are_twice_the_forward():
    s = step_of(tm.mlp, (2, 8), loss="mse", precision="fp32")
    fwd = macs_by(s, "forward")
    # forward: Linear(8, 16) on (2, 8): 2*8*16 = 256 MACs; Linear(16, 4): 2*16*4 = 128
    assert fwd[("addmm", "0")] == 256 and fwd[("addmm", "2")] == 128
    bwd = macs_by(s, "backward")
    # Linear(16, 4): grad_input (2x4 @ 4x16) 128 + grad_weight (4x2 @ 2x16) 128 = 256 = 2 x 128;
    # Linear(8, 16), the first layer, has no input gradient: grad_weight (16x2 @ 2x8) 256 = 1 x 256
    assert bwd[("mm", "2")] == 2 * 128
    assert bwd[("mm", "0")] == 256
    assert sum(r.macs for r in s.phase("backward")) == 512


def test_backward_macs_of_convolutions_are_twice_the_forward():
    s = step_of(tm.convnet, (2, 3, 8, 8), loss="mse", precision="fp32")
    fwd = macs_by(s, "forward")
    # conv1: 2*8*8*8 = 1,024 outputs x 3*3*3 = 27,648 MACs; conv2: 2*4*8*8 = 512 outputs x 8*3*3 = 36,864
    assert fwd[("convolution", "0")] == 27_648 and fwd[("convolution", "2")] == 36_864
    by_module = {r.module: r for r in s.phase("backward") if r.op == "convolution_backward"}
    # conv2: input + weight gradients = 2 x 36,864; FLOPs 2 x MACs + 512 bias-gradient adds
    assert by_module["2"].macs == 73_728 and by_module["2"].flops == 147_456 + 512
    # conv1: the model input needs no gradient: weight gradient only = 1 x 27,648, + 1,024 bias adds
    assert by_module["0"].macs == 27_648 and by_module["0"].flops == 55_296 + 1_024


def test_fused_attention_backward_is_one_op_of_five_matmuls_per_score():
    class Attention(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = torch.nn.Linear(8, 24)

        def forward(self, x):
            q, k, v = self.qkv(x).view(2, 4, 3, 2, 4).permute(2, 0, 3, 1, 4)
            return torch.nn.functional.scaled_dot_product_attention(q, k, v).sum(1)

    m = Attention().to("meta")
    s = capture_step(
        m, (torch.empty(2, 4, 8, device="meta"),), {}, batch_size=2, loss="mse", precision="fp32"
    )
    fwd = [r for r in s.phase("forward") if r.category == "attention"]
    bwd = [r for r in s.phase("backward") if r.category == "attention"]
    # B=2, H=2, L=S=4, E=Ev=4: forward MACs = 2*2*4*4*(4+4) = 512; backward = 2*2*4*4*(3*4 + 2*4) = 1,280
    assert [(r.op, r.macs) for r in fwd] == [("scaled_dot_product_attention", 512)]
    assert [(r.op, r.macs) for r in bwd] == [("_scaled_dot_product_flash_attention_backward", 1_280)]
    # FLOPs: 2 x 1,280 + 5 per score (64 scores) + 2*Ev per query row (16 rows) = 2,560 + 320 + 128
    assert bwd[0].flops == 3_008
    assert not any(r.op in ("bmm", "_softmax_backward_data") for r in s.phase("backward"))


def test_adamw_mixed_precision_holds_16_bytes_per_parameter():
    s = step_of(tm.no_bias, (4, 64), loss="cross-entropy", precision="bf16-mixed", optimizer="adamw")
    p = 64 * 32 + 32 * 10  # 2,368 parameters, no buffers
    assert s.trainable_params == p
    # bf16 weights 2 + bf16 gradients 2 + fp32 master 4 + fp32 exp_avg 4 + fp32 exp_avg_sq 4 (ZeRO paper 3.1);
    # PyTorch's step counters live on the host and are not counted
    assert (s.weight_bytes, s.grad_bytes, s.master_bytes, s.optimizer_state_bytes) == (
        2 * p,
        2 * p,
        4 * p,
        8 * p,
    )
    assert s.persistent_bytes + s.grad_bytes == 16 * p == 37_888


def test_sgd_with_momentum_in_fp32_holds_12_bytes_per_parameter():
    s = step_of(tm.no_bias, (4, 64), loss="cross-entropy", precision="fp32", optimizer="sgd")
    p = 2_368
    # fp32 weights 4 + gradients 4 + momentum buffer 4, no master copy
    assert (s.weight_bytes, s.grad_bytes, s.master_bytes, s.optimizer_state_bytes) == (4 * p, 4 * p, 0, 4 * p)


def test_adamw_step_moves_the_bytes_of_the_for_loop_implementation():
    s = step_of(
        tm.no_bias, (4, 64), loss="cross-entropy", precision="fp32", optimizer="adamw",
        optimizer_impl="for-loop",
    )  # fmt: skip
    assert s.optimizer_impl == "for-loop"
    ops = [r.op for r in s.phase("optimizer") if r.module == ""]
    # per parameter tensor (torch.optim.AdamW, foreach=False): decay, first moment, second moment (two
    # ops), denominator (sqrt, divide, add eps), update
    assert ops[:8] == ["mul_", "lerp_", "mul_", "addcmul_", "sqrt", "div", "add_", "addcdiv_"]
    assert len(ops) == 2 * 8
    # fp32, bytes read + written per element: mul_ 4+4, lerp_ (m, g) 8+4, mul_ 4+4, addcmul_ (v, g, g) 12+4,
    # sqrt 4+4, div 4+4, add_ 4+4, addcdiv_ (p, m, denom) 12+4 = 84 per parameter (the step counters are
    # host tensors: no device op)
    assert sum(r.bytes for r in s.phase("optimizer")) == 84 * 2_368


def test_activation_checkpointing_keeps_only_the_block_inputs():
    plain = step_of(tm.two_blocks, (4, 16), loss="mse", precision="fp32", optimizer="sgd")
    ckpt = step_of(tm.two_blocks, (4, 16), loss="mse", precision="fp32", optimizer="sgd", checkpointing=True)
    assert find_blocks(tm.two_blocks()) == ["blocks.0", "blocks.1"]
    # fp32, batch 4: a (4, 16) activation is 256 bytes. Without checkpointing the backward needs, per
    # block, its input (the first Linear's weight gradient) and its ReLU output (ReLU's and the second
    # Linear's gradients): x, r0, out0, r1, out1 = 5 x 256; the head's output and the MSE target 2 x 64;
    # the loss itself (its backward seed is ones_like(loss)) 4: 1,412 bytes
    assert plain.memory.saved_at_forward_end == 5 * 256 + 2 * 64 + 4 == 1_412
    # checkpointed: each block keeps its input only (x, out0), the head its input (out1): r0 and r1 are
    # recomputed during backward: 1,412 - 2 x 256 = 900
    assert ckpt.memory.saved_at_forward_end == 900
    # the recomputation: both blocks' forward again (2 blocks x 2 Linears x 4*16*16 MACs = 2,048)
    assert sum(r.macs for r in ckpt.records if r.index in set(ckpt.recomputed)) == 2_048


def test_zero_stages_per_gpu_bytes_match_the_zero_paper():
    # ZeRO paper (Rajbhandari et al. 2020), Figure 1: Psi = 7.5B parameters, K = 12, N_d = 64 GPUs:
    # baseline 120 GB, P_os 31.4 GB, P_os+g 16.6 GB, P_os+g+p 1.9 GB per GPU
    psi = 7_500_000_000
    per_gpu = [sum(zero_memory(2 * psi, 2 * psi, 4 * psi, 8 * psi, 64, z).values()) for z in (0, 1, 2, 3)]
    # 16 Psi; 4 Psi + 12 Psi / 64; 2 Psi + 14 Psi / 64; 16 Psi / 64
    assert per_gpu == [120_000_000_000, 31_406_250_000, 16_640_625_000, 1_875_000_000]
    assert [round(b / 1e9, 1) for b in per_gpu] == [120.0, 31.4, 16.6, 1.9]


def test_pipeline_bubble_and_balanced_split():
    # (p - 1) / (m + p - 1): 4 stages, 12 micro-batches: 3 / 15
    assert pipeline_bubble(4, 12) == pytest.approx(0.2)
    assert pipeline_bubble(1, 8) == 0.0
    # units costing 1..6 in 3 stages: [1,2,3] [4,5] [6] has the smallest largest stage, 9
    assert split_stages([1, 2, 3, 4, 5, 6], 3) == [(0, 3), (3, 5), (5, 6)]
    with pytest.raises(ValueError):
        split_stages([1.0, 2.0], 3)


def test_ring_all_reduce_of_the_gradients():
    link = link_for("pcie", 64)  # PCIe Gen4 x16: 32 GB/s one way, ring bus bandwidth 32 x 0.60 = 19.2 GB/s
    grad_bytes = 1_000_000_000
    # ring: 2 (N-1)/N x (bytes + S_half 4 MiB) / 19.2 GB/s + latency (launch 5 + base 8.4 + 2(N-1) x 5.7 us)
    bandwidth = 2 * 7 / 8 * (grad_bytes + 4 * 2**20) / 19.2e9
    latency = (5 + 8.4 + 14 * 5.7) * 1e-6
    assert data_parallel_communication(grad_bytes, 0, 8, 0, 1, link) == pytest.approx(bandwidth + latency)
    # the ideal ring term alone, 2 (N-1)/N x bytes / bandwidth = 91.1 ms, is within 1 % of it
    assert bandwidth + latency == pytest.approx(1.75 * grad_bytes / 19.2e9, rel=0.01)
    # ZeRO-3 per micro-batch: two all-gathers of the weights + one reduce-scatter of the gradients
    assert data_parallel_communication(grad_bytes, 0, 1, 3, 1, link) == 0.0


def test_largest_micro_batch_scales_activations():
    # 10 GB fixed, 2 GB of activations at batch 8 (0.25 GB per sample), 80 GB: (80 - 10) / 0.25 = 280
    assert max_micro_batch(10_000_000_000, 2_000_000_000, 8, 80_000_000_000) == 280
    assert max_micro_batch(90_000_000_000, 1, 8, 80_000_000_000) == 0


def test_step_time_mfu_and_memory_on_a_target():
    s = step_of(tm.no_bias, (4, 64), loss="cross-entropy", precision="bf16-mixed", optimizer="adamw")
    target = get_target("h100-sxm5-80gb")
    e = estimate_training(s, target, accumulation=3, efficiency="ideal")
    f, b, o = (e.phases[p].time_s for p in ("forward", "backward", "optimizer"))
    assert e.step_time_s == pytest.approx(3 * (f + b) + o)
    assert e.samples_per_s == pytest.approx(12 / e.step_time_s)
    # model FLOPs: forward 2 x 4 x (64*32 + 32*10) = 18,944 + the loss; backward 2 x 4*32*10 (head: input
    # and weight gradients) + 4*64*32 (first layer: weight gradient only) = 2 x (2,560 + 8,192) + the loss
    assert e.phases["forward"].macs == 4 * 2_368 and e.phases["backward"].macs == 2 * 1_280 + 8_192
    assert e.mfu == pytest.approx(e.model_flops / e.step_time_s / 989.4e12)
    assert e.memory.capacity_bytes == 80_000_000_000 and e.memory.fits
    with pytest.raises(UsageError):
        estimate_training(s, target, accumulation=0)


def test_train_verb_caps_accumulation_and_prints_long_steps_in_minutes(capsys):
    from metrics_core.common.units import human_time

    base = ["train", "train_models:two_blocks", "--input-shape", "16", "--hardware", "h100-sxm5-80gb"]
    # accumulation is capped as the batch is (runtime.options.MAX_BATCH_SIZE = 2**20 = 1,048,576)
    assert main([*base, "--accumulation", "99999999999"]) == 2
    assert capsys.readouterr().err.strip() == (
        "modeltui: error: --accumulation 99,999,999,999 is above the largest analysed, 1,048,576"
    )
    assert main([*base, "--accumulation", str(1 << 20), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    ph = row["phases"]
    # the step is 2**20 micro-batches of forward + backward, then one optimizer step
    assert row["step_time_s"] == pytest.approx(
        (1 << 20) * (ph["forward"]["time_s"] + ph["backward"]["time_s"]) + ph["optimizer"]["time_s"]
    )
    assert 60 <= row["step_time_s"] < 3_600  # so the table prints it in minutes (human_time)
    assert main([*base, "--accumulation", str(1 << 20)]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("step (x1048576 fwd+bwd)")]
    assert line.split()[-2:] == [f"{row['step_time_s'] / 60:.2f}", "min"]
    assert line.endswith(human_time(row["step_time_s"]))


def test_op_parallelism_of_branches_and_a_chain():
    def parallel(factory):
        model = factory().to("meta").eval()
        trace = capture(model, (torch.empty(2, 8, device="meta"),), "fp32")
        annotate_dataflow(trace.records, trace.events)
        return op_parallelism(trace.records)

    wide, narrow = parallel(tm.branches), parallel(tm.chain)
    # three Linear(8, 8) on (2, 8): 2 x 2*8*8 = 256 FLOPs each; the branches all read the input (level 0),
    # cat reads all three (level 1): width 3, critical path one Linear = 256 of 768, parallelism 3
    assert (wide.max_width, wide.total_work, wide.critical_path_work, wide.parallelism) == (3, 768, 256, 3.0)
    assert wide.max_width_all_ops == 3 and wide.levels == 2
    # a chain: width 1, every op on the critical path
    assert (narrow.max_width, narrow.critical_path_work, narrow.parallelism) == (1, 768, 1.0)


def test_train_verb_json_and_errors(capsys):
    argv = ["train", "train_models:two_blocks", "--input-shape", "16", "--hardware", "h100-sxm5-80gb",
            "--optimizer", "sgd", "--precision", "fp32", "--batch-size", "4", "--gpus", "4",
            "--format", "json"]  # fmt: skip
    assert main(argv) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["estimate"] is True and row["context"]["hardware"] == "h100-sxm5-80gb"
    assert row["context"]["precision"] == "fp32"
    # 2 blocks x 2 Linear(16, 16) x (16*16 + 16) + Linear(16, 4) (16*4 + 4) = 1,088 + 68 = 1,156 parameters;
    # SGD fp32: weights and momentum 4 bytes each
    assert row["params"] == 1_156
    assert row["memory"]["weights"] == row["memory"]["optimizer_state"] == 4 * 1_156
    # 3 units (blocks.0, blocks.1, head): pipelines of 1 or 2 stages over 4 GPUs, ZeRO 0-3 across replicas,
    # and tensor-parallel groups of 2 (x 2 replicas) and 4 over the blocks' Linear layers
    zeros = ("", " zero1", " zero2", " zero3")
    assert sorted(p["name"] for p in row["plans"]) == sorted(
        [f"dp4{z}" for z in zeros]
        + [f"pp2 x dp2{z}" for z in zeros]
        + [f"tp2 x dp2{z}" for z in zeros]
        + ["tp4"]
    )
    assert row["best_plan"]["fits"] is True and row["memory_limit_bytes"] == 80_000_000_000
    # a per-GPU limit below every plan's memory (weights alone are 4,624 bytes): none fits
    assert main([*argv, "--memory-limit", "1KB"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["best_plan"] is None
    no_link = ["train", "train_models:two_blocks", "--input-shape", "16", "--hardware", "raspberry-pi-5",
               "--precision", "fp32", "--gpus", "2"]  # fmt: skip
    assert main(no_link) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "interconnect" in err[0]


def test_train_table_fits_80_columns(capsys):
    argv = ["train", "train_models:convnet", "--input-shape", "3", "8", "8", "--hardware", "a100-sxm4-80gb",
            "--gpus", "8"]  # fmt: skip
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any(line.startswith("best: ") for line in lines)


def test_adafactor_keeps_factored_second_moments():
    s = step_of(tm.no_bias, (4, 64), loss="cross-entropy", precision="fp32", optimizer="adafactor")
    # torch.optim.Adafactor on a (R, C) matrix keeps a row (R) and a column (C) second moment, fp32:
    # (32 + 64) + (10 + 32) = 138 elements x 4 bytes (AdamW would keep 2 x 2,368 x 4 = 18,944)
    assert s.optimizer_state_bytes == 138 * 4 == 552


# NVIDIA DeepLearningExamples, PyTorch/Classification/ConvNets/resnet50v1.5/README.md, "Training
# performance results" (pytorch-21.03 NGC container, batch 256 per GPU, SGD with momentum): 1x A100 80GB
# (DGX A100) mixed precision 2,470 img/s; 1x V100 32GB (DGX-1) mixed precision 1,156 img/s, FP32 356 img/s.
# The mixed-precision runs are channels-last (ConvNets/configs.yml: `memory_format: nhwc` for resnet50 AMP
# on DGX1V and DGXA100, NVIDIA/DeepLearningExamples 097c7ff917b7c56246590b1246a8f5bd8957c534), the FP32 one
# NCHW (no memory_format: the default): each is captured in its run's format.
RESNET50_PUBLISHED = [("a100-sxm4-80gb", "fp16-mixed", "channels_last", 2470),
                      ("v100-sxm2-32gb", "fp16-mixed", "channels_last", 1156),
                      ("v100-sxm2-32gb", "fp32", "contiguous", 356)]  # fmt: skip


def test_resnet50_training_throughput_against_nvidia_published_figures():
    from metrics_core.perf.efficiency import training_validation_for
    from metrics_core.perf.parallel_plans import all_plans
    from metrics_core.runtime.options import AnalysisOptions
    from metrics_core.runtime.train_capture import TrainOptions, capture_named

    steps = {}
    for hardware, precision, memory_format, measured in RESNET50_PUBLISHED:
        if precision not in steps:
            options = AnalysisOptions(batch_size=256, memory_format=memory_format)
            run = capture_named("resnet50", options, TrainOptions(None, "sgd", precision))
            steps[precision] = run.step
        target = get_target(hardware)
        e = estimate_training(steps[precision], target)
        # estimates (README "Training"): 3,589 (+45 %), 1,504 (+30 %) channels-last, 312 (-12 %) NCHW img/s;
        # within 50 % of the published figures (the backward kernels' own efficiency is not modelled: the
        # channels-last AMP estimates are 1.3-1.45x optimistic)
        assert abs(e.samples_per_s / measured - 1) < 0.50, (hardware, precision, e.samples_per_s)
        # the "validated on this target" text ([validated_training]) states the current error
        error = f"{round(100 * (e.samples_per_s / measured - 1)):+d} %"
        assert error in training_validation_for(target), (hardware, precision, error)
        if hardware == "a100-sxm4-80gb":  # 8x A100 80GB (DGX A100), 16,621 img/s: plain DDP, dp8 (+73 %)
            dp8 = next(p for p in all_plans(steps[precision], e, target, 8) if p.name == "dp8")
            error = f"{round(100 * (dp8.samples_per_s / 16_621 - 1)):+d} %"
            assert f"(dp8) {error}" in training_validation_for(target), error


def test_python_api_trains_a_meta_copy_and_leaves_the_model_as_it_was():
    import metrics_core

    model = tm.mlp().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    s = metrics_core.train_step(model, (torch.randn(2, 8),), loss="mse", precision="fp32", optimizer="sgd")
    # the same step as the meta-built model's (backward 512 MACs, test above); the user's model untouched
    assert sum(r.macs for r in s.phase("backward")) == 512 and s.batch_size == 2
    assert not model.training and all(p.grad is None and p.device.type == "cpu" for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    e = metrics_core.estimate_training(s, metrics_core.get_target("h100-sxm5-80gb"))
    assert e.memory.weights == 4 * (8 * 16 + 16 + 16 * 4 + 4)  # 212 fp32 parameters


def test_tensor_parallel_splits_the_block_matmuls():
    from metrics_core.perf.comm import collective_time
    from metrics_core.perf.parallel_plans import target_link, tensor_parallel_plan

    s = step_of(tm.two_blocks, (4, 16), loss="mse", precision="fp32", optimizer="sgd")
    # the four Linear(16, 16) of the two blocks are split (256 weights + 16 biases each); the head is not
    assert s.split_params == 4 * 272 and s.params == 1_156
    target = get_target("h100-sxm5-80gb")
    e = estimate_training(s, target)
    plan = tensor_parallel_plan(s, e, target, tp=2, dp=1, zero=0, accumulation=2)
    # per GPU: the head's 68 parameters + half of the 1,088 split ones = 612 fp32 parameters
    assert plan.memory["weights"] == 4 * 612 and plan.memory["optimizer_state"] == 4 * 612
    # two blocks x (2 all-reduces forward + 2 backward) of the block output, (4, 16) fp32 = 256 bytes,
    # per micro-batch; 2 micro-batches (the group runs the batch of both GPUs)
    per_reduce = collective_time("all_reduce", 256, 2, target_link(target)).time_s
    assert plan.communication_s == pytest.approx(2 * 2 * 4 * per_reduce)
    assert plan.global_batch == 8 and plan.name == "tp2"


def test_gradient_accumulation_holds_every_gradient_through_the_step():
    one = step_of(tm.two_blocks, (4, 16), loss="mse", precision="fp32", optimizer="sgd")
    acc = step_of(tm.two_blocks, (4, 16), loss="mse", precision="fp32", optimizer="sgd", accumulation=4)
    # 1,156 fp32 parameters: 4,624 bytes of gradients, all live at the peak when the micro-batches' sums
    # are held; without accumulation the peak (blocks.0's weight-gradient mm) comes before the first
    # Linear's bias gradient (16 x 4 = 64 bytes) is written: 4,560
    assert one.memory.gradient_total == acc.memory.gradient_total == 4 * 1_156
    assert acc.memory.gradients == 4_624 and one.memory.gradients == 4_560
    assert acc.memory.peak_bytes > one.memory.peak_bytes


def test_fp16_mixed_scales_the_loss_and_unscales_every_gradient():
    fp16 = step_of(tm.no_bias, (4, 64), loss="cross-entropy", precision="fp16-mixed", optimizer="adamw")
    bf16 = step_of(tm.no_bias, (4, 64), loss="cross-entropy", precision="bf16-mixed", optimizer="adamw")
    p = 2_368
    assert fp16.loss_scaling and not bf16.loss_scaling
    # GradScaler.scale: the fp16 loss times the scale, one multiply at the end of the forward
    scale = fp16.phase("forward")[-1]
    assert (scale.op, scale.flops) == ("mul", 1)
    amp = {r.op: r for r in fp16.phase("optimizer") if r.op.startswith("_amp")}
    unscale = amp["_amp_foreach_non_finite_check_and_unscale_"]
    # one foreach op over the 2 gradients: per element a finiteness check and a multiply by 1/scale
    # = 2 x 2,368 FLOPs; the fp16 gradients read (2 B each) with found_inf and inv_scale (fp32, 4 B each),
    # and written back in place
    assert unscale.flops == 2 * p == 4_736
    assert (unscale.input_bytes, unscale.output_bytes) == (2 * p + 8, 2 * p)
    # GradScaler.update: the scale, growth tracker and found_inf read (4 B each), the scale written; 5 FLOPs
    update = amp["_amp_update_scale_"]
    assert (update.flops, update.input_bytes, update.output_bytes) == (5, 12, 4)
    # the rest of the step is bf16-mixed's: two more optimizer ops, 2 x 2 B x 2,368 + 8 + 16 more bytes
    assert len(fp16.phase("optimizer")) == len(bf16.phase("optimizer")) + 2
    extra = sum(r.bytes for r in fp16.phase("optimizer")) - sum(r.bytes for r in bf16.phase("optimizer"))
    assert extra == 4 * p + 8 + 16 == 9_496
    # fp16 and bf16 hold the same bytes: 2 + 2 + 4 + 4 + 4 = 16 per parameter
    for s in (fp16, bf16):
        assert s.persistent_bytes + s.grad_bytes == 16 * p


def test_8bit_adamw_state_bytes_are_blockwise_quantised():
    from metrics_core.capture.optim8bit import state_bytes

    # bitsandbytes (Dettmers et al. 2021; bitsandbytes 0.50 init_state): two uint8 states (1 B each) and one
    # fp32 absmax per 256 elements per state from 4,096 elements; two fp32 states below that
    assert state_bytes(8_192) == 2 * 8_192 + 2 * 4 * 32 == 16_640  # 32 blocks of 256
    assert state_bytes(4_097) == 2 * 4_097 + 2 * 4 * 17 == 8_330  # 17 blocks: the last one partial
    assert state_bytes(4_095) == 8 * 4_095  # under min_8bit_size: 32-bit state
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.Linear(128, 10, bias=False)).to("meta")
    x = torch.empty(4, 64, device="meta")
    s = capture_step(model, (x,), {}, batch_size=4, loss="cross-entropy", optimizer="adamw8bit")
    # 64x128 weight (8,192: 8-bit) 16,640 + bias (128: fp32 states) 1,024 + 10x128 head (1,280: fp32 states)
    # 10,240 + the two shared 256-value fp32 maps 2,048 = 29,952 (fp32 AdamW: 8 x 9,600 = 76,800)
    assert s.optimizer_state_bytes == 16_640 + 1_024 + 10_240 + 2_048 == 29_952
    ops = [(r.op, r.flops, r.input_bytes + r.weight_bytes, r.output_bytes) for r in s.phase("optimizer")]
    # one fused kernel per tensor; 49 FLOPs per element with weight decay (costs/optimizer.py); bytes read:
    # the bf16 gradient 2 B, the fp32 master weight 4 B, two 1-byte states, 2 x 32 absmax 4 B; the same
    # written back except the gradient: 2 x 8,192 + 4 x 8,192 + 2 x 8,192 + 256 = 65,792 read, 49,408 written
    assert ops[0] == ("adam_8bit_blockwise_step", 49 * 8_192, 65_792, 49_408)
    # the bias: 16 FLOPs per element; gradient 2 B + master, two fp32 states 12 B read, 12 B written
    assert ops[1] == ("adam_32bit_step", 16 * 128, 14 * 128, 12 * 128)
    # then the fp32 master weights written back to the bf16 model (one cast per tensor)
    assert [op for op, *_ in ops[3:]] == ["_to_copy"] * 3
    adam = capture_step(model, (x,), {}, batch_size=4, loss="cross-entropy", optimizer="adam8bit")
    assert adam.phase("optimizer")[0].flops == 48 * 8_192  # no weight decay: one multiply fewer


def _tiny_llama(tmp_path, monkeypatch):
    """A hand-picked GQA config: hidden 48, 6 attention heads of 8, 2 KV heads, MLP width 96, 2 layers."""
    pytest.importorskip("transformers")
    from transformers import LlamaConfig

    dims = {"hidden_size": 48, "num_attention_heads": 6, "num_key_value_heads": 2, "intermediate_size": 96}
    cfg = LlamaConfig(vocab_size=64, num_hidden_layers=2, max_position_embeddings=64, **dims).to_dict()
    cfg["architectures"] = ["LlamaForCausalLM"]
    (tmp_path / "gqa").mkdir()
    (tmp_path / "gqa" / "config.json").write_text(json.dumps(cfg))
    monkeypatch.chdir(tmp_path)
    return "hf:gqa/config.json"


def test_tensor_parallel_degrees_must_split_heads_kv_heads_and_the_mlp(tmp_path, monkeypatch, capsys):
    from metrics_core.perf.parallel_plans import tensor_parallel_check
    from metrics_core.runtime.options import AnalysisOptions
    from metrics_core.runtime.train_capture import TrainOptions, capture_named

    name = _tiny_llama(tmp_path, monkeypatch)
    step = capture_named(name, AnalysisOptions(batch_size=2, seq_len=8), TrainOptions()).step
    # read from the config: 6 heads, 2 KV heads, intermediate_size 96; k_proj and v_proj are 48 x (2 x 8)
    # = 768 weights each, no bias: 2 layers x 2 x 768 = 3,072 parameters
    assert (step.attention_heads, step.kv_heads, step.mlp_width, step.kv_params) == (6, 2, 96, 3_072)
    assert tensor_parallel_check(step, 2) == (True, "")
    assert tensor_parallel_check(step, 3) == (False, "2 KV heads neither split 3 ways nor replicate evenly")
    assert tensor_parallel_check(step, 4) == (False, "6 attention heads do not split 4 ways")
    # 6 = 3 x 2: each KV head replicated on 3 GPUs (vLLM's QKVParallelLinear)
    assert tensor_parallel_check(step, 6) == (
        True,
        "2 KV heads replicated x3 (vLLM's rule: one KV head per GPU)",
    )
    argv = [
        "train",
        name,
        "--seq-len",
        "8",
        "--batch-size",
        "2",
        "--hardware",
        "h100-sxm5-80gb",
        "--gpus",
        "6",
    ]
    assert main([*argv, "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    names = {p["name"] for p in row["plans"]}
    assert "tp2 x dp3" in names and "tp6" in names and not any(n.startswith("tp3") for n in names)
    assert row["refused_plans"] == [
        {"name": "tp3", "reason": "2 KV heads neither split 3 ways nor replicate evenly"}
    ]
    assert row["tensor_parallel_dims"] == {"attention_heads": 6, "kv_heads": 2, "mlp_width": 96}
    tp6 = next(p for p in row["plans"] if p["name"] == "tp6")
    # per GPU: the 6,384 parameters outside the split matmuls (embeddings 3,072, head 3,072, norms 240),
    # 1/6 of the 39,936 split ones (6,656), and the replicated KV projections' extra share:
    # 3,072 x (1/2 - 1/6) = 1,024: 14,064 of 46,320 parameters, of the bf16 weights (buffers included)
    assert row["params"] == 46_320
    assert tp6["memory"]["weights"] == int(row["memory"]["weights"] * 14_064 / 46_320)
    assert tp6["note"] == "2 KV heads replicated x3 (vLLM's rule: one KV head per GPU)"
    assert main([*argv, "--format", "csv"]) == 0
    (csv_row,) = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert csv_row["refused_plans"] == "tp3: 2 KV heads neither split 3 ways nor replicate evenly"
    assert (csv_row["loss_scaling"], csv_row["gemm_precision"]) == ("False", "bf16")
    assert csv_row["recipe"].startswith("bf16 model weights and gradients, fp32 master weights")
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "refused: tp3 (2 KV heads neither split 3 ways nor replicate evenly)" in out
    assert "tp6: 2 KV heads replicated x3 (vLLM's rule: one KV head per GPU)" in out


def test_fp8_mixed_runs_the_block_gemms_in_fp8_with_cast_transposes():
    from metrics_core.capture.train_step import FP8_META_BYTES

    fp8 = step_of(tm.two_blocks, (4, 16), loss="mse", precision="fp8-mixed", optimizer="sgd")
    bf16 = step_of(tm.two_blocks, (4, 16), loss="mse", precision="bf16-mixed", optimizer="sgd")
    records = fp8.records
    # the four Linear(16, 16) of the blocks are fp8 GEMMs (the head is not): 4 forward addmm + 7 backward
    # mm (the first layer's input needs no gradient)
    gemms = [records[i] for i in fp8.fp8_records]
    assert [r.op for r in gemms] == ["addmm"] * 4 + ["mm"] * 7 and all(r.dtype == "fp8" for r in gemms)
    # a forward GEMM reads its (4, 16) input and its weight + bias at 1 byte (64 + 272) and writes bf16 (128)
    assert (gemms[0].input_bytes, gemms[0].weight_bytes, gemms[0].output_bytes) == (64, 272, 128)
    casts = [r for r in records if r.op == "fp8_cast_transpose"]
    # each fp8 layer's input cast in the forward (4), its output gradient in the backward (4), its weight
    # once per step in the optimizer phase (4); a (4, 16) activation: 2 B x 64 read, the fp8 tensor and its
    # transpose written (2 x 64), 3 FLOPs per element (amax: fabs, fmax; the scale)
    assert len(casts) == 12
    assert (casts[0].input_bytes, casts[0].output_bytes, casts[0].flops) == (128, 128, 192)
    weight_casts = [r for r in fp8.phase("optimizer") if r.op == "fp8_cast_transpose"]
    # a 16 x 16 weight: the bf16 model weight read (512), fp8 copy + transpose written (512), 768 FLOPs
    assert [(r.input_bytes, r.output_bytes, r.flops) for r in weight_casts] == [(512, 512, 768)] * 4
    # weights: bf16-mixed's + the cached fp8 weights and transposes (2 x 1,024) + the delayed-scaling state
    # of 4 layers (5 fp8 tensors x (1,024 amax history + scale + inverse scale) x 4 B = 20,520 each)
    assert FP8_META_BYTES == 20_520
    assert fp8.weight_bytes == bf16.weight_bytes + 2 * 1_024 + 4 * 20_520
    # saved for backward: the (4, 16) inputs of blocks.0.lin1 and blocks.1.lin1 (x and out0) are read in the
    # backward only by fp8 GEMMs: kept as fp8 copies, 64 B instead of 128 each
    assert fp8.memory.saved_at_forward_end == bf16.memory.saved_at_forward_end - 2 * 64
    e = estimate_training(fp8, get_target("h100-sxm5-80gb"), efficiency="ideal")
    h100 = get_target("h100-sxm5-80gb")
    assert e.gemm_precision == "fp8" and e.peak_flops_per_s == h100.peak_flops("bf16")  # MFU against bf16
    # the fp8 GEMMs on the fp8 path (H100 SXM: 1,979 dense fp8 TFLOP/s), the rest on bf16
    first = next(o for o in e.estimates["forward"].ops if o.index == fp8.fp8_records[0])
    assert first.compute_s == pytest.approx(2 * 4 * 16 * 16 / h100.peak_flops("fp8"))
    cast = next(o for o in e.estimates["forward"].ops if o.index == 0)
    assert cast.compute_s == pytest.approx(192 / h100.peak_flops("bf16"))
    with pytest.raises(UsageError, match="has no fp8 figure"):
        estimate_training(fp8, get_target("a100-sxm4-80gb"))


def test_8bit_state_layout_matches_bitsandbytes_when_installed():
    """capture.optim8bit re-creates bitsandbytes' AdamW8bit (not a dependency): where it is installed, its
    real optimizer, stepped on meta tensors (its ops have fake kernels), holds the same state tensors."""
    bnb = pytest.importorskip("bitsandbytes")
    from metrics_core.capture.optim8bit import Adam8bit

    def state_of(cls):
        model = torch.nn.Sequential(torch.nn.Linear(128, 64), torch.nn.Linear(64, 10)).to("meta")
        for p in model.parameters():
            p.grad = torch.empty_like(p)
        opt = cls(model.parameters(), weight_decay=0.01)
        opt.step()
        tensors = {id(t): t for p in model.parameters() for t in opt.state[p].values() if torch.is_tensor(t)}
        return sorted((str(t.dtype), tuple(t.shape)) for t in tensors.values() if t.device.type == "meta")

    # 64 x 128 weight: two uint8 states and 32 absmax each; the bias (64), the 10 x 64 head (640) and its
    # bias (10) under 4,096 elements: two fp32 states each; the two 256-value maps once
    assert state_of(bnb.optim.AdamW8bit) == state_of(Adam8bit)


def test_fp8_mixed_without_block_linears_says_nothing_runs_in_fp8(capsys):
    # resnet18 has no nn.Linear inside a block (its one Linear is the head): Transformer Engine's recipe
    # puts no GEMM on the fp8 path, so the figures are bf16-mixed's and the output says so
    common = ["train", "resnet18", "--hardware", "h100-sxm5-80gb", "--format", "json"]
    assert main([*common, "--precision", "fp8-mixed"]) == 0
    fp8 = json.loads(capsys.readouterr().out)[0]
    assert main([*common, "--precision", "bf16-mixed"]) == 0
    bf16 = json.loads(capsys.readouterr().out)[0]
    assert (fp8["fp8_gemms"], fp8["gemm_precision"], bf16["fp8_gemms"]) == (0, "bf16", 0)
    assert fp8["note"].startswith("fp8-mixed: no Linear layer inside a block, so no GEMM runs in fp8")
    assert fp8["step_time_s"] == bf16["step_time_s"]
    assert "note" not in bf16


def test_a_model_without_trainable_parameters_is_named_in_the_refusal():
    """``train`` on a frozen or parameter-free model said "the model has no trainable parameters" without
    naming it."""

    class Frozen(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(4, 4).requires_grad_(False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x)

    with pytest.raises(UsageError) as info:
        capture_step(Frozen(), (torch.zeros(2, 4),), {}, batch_size=2, loss="mse")
    assert str(info.value) == "Frozen has no trainable parameters (none with requires_grad): nothing to train"
