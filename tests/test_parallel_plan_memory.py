"""Per-GPU memory of the parallel plans (issue 23): the peak over phases of the per-GPU categories —
per-parameter temporaries sharded with the optimizer, activation-phase temporaries with the activations,
the forward/backward peak and the optimizer-step peak taken apart. Every expected value is derived by
hand in a comment.

The model: ``train_models.two_blocks`` fed (4, 16): blocks.0 and blocks.1 (Linear(16, 16) -> ReLU ->
Linear(16, 16), 272 parameters per Linear: 544 per block) and the head Linear(16, 4) (68): 1,156
parameters; its units (the pipeline's split points) are blocks.0, blocks.1, head.
"""

from __future__ import annotations

import torch
import train_models as tm

from metrics_core.capture.train_step import capture_step
from metrics_core.perf.parallel_plans import (
    data_parallel_memory,
    peak_over_phases,
    pipeline_memory,
)
from metrics_core.perf.training_report import plans_text

PARAMS = 1_156


def two_blocks_step(optimizer: str, precision: str):
    model = tm.two_blocks().to("meta")
    x = torch.empty(4, 16, device="meta")
    return capture_step(model, (x,), {}, batch_size=4, loss="mse", optimizer=optimizer, precision=precision)


def test_the_captured_figures_the_plans_start_from():
    sgd = two_blocks_step("sgd", "fp32")
    assert (sgd.weight_bytes, sgd.memory.gradient_total, sgd.optimizer_state_bytes) == (4 * PARAMS,) * 3
    # foreach SGD with momentum updates in place (_foreach_mul_, _foreach_add_ x2): no temporaries
    assert sgd.optimizer_temporary_bytes == 0
    # op 22 (the sum giving blocks.0.lin2's bias gradient), fp32: the gradients written so far are the
    # head's (68 x 4 = 272), blocks.1's (544 x 4 = 2,176) and blocks.0.lin2's (272 x 4 = 1,088) = 3,536;
    # saved for backward still live: blocks.0's input and its ReLU output, (4, 16) x 4 B = 256 each;
    # temporaries: the gradient of blocks.0.lin2's output and the one of the ReLU output, 256 each
    m = sgd.memory
    assert (m.live_gradients[22], m.live_saved[22], m.live_temporaries[22]) == (3_536, 512, 512)
    # the single-GPU peak is op 24 (blocks.0.lin1's weight gradient): 4,560 + 256 + 256
    assert (m.peak_index, m.gradients, m.saved, m.temporaries) == (24, 4_560, 256, 256)
    adamw = two_blocks_step("adamw", "bf16-mixed")
    # foreach AdamW's _foreach_sqrt(exp_avg_sq): one fp32 tensor per parameter, 4 x 1,156 = 4,624, freed
    # before the master weights are cast back to bf16 (2 x 1,156 = 2,312)
    assert adamw.optimizer_temporary_bytes == 4 * PARAMS == 4_624


def test_zero3_optimizer_step_temporaries_shard_with_the_optimizer():
    s = two_blocks_step("adamw", "bf16-mixed")
    memory, phase = data_parallel_memory(s, dp=2, zero=3, accumulation=1)
    # persistent, ZeRO-3 over 2: bf16 weights 2 x 1,156 / 2 = 1,156, fp32 master 4 x 1,156 / 2 = 2,312,
    # AdamW's two fp32 moments 8 x 1,156 / 2 = 4,624: 8,092.
    # optimizer step: its half of the bf16 gradients 1,156 + its half of the sqrt temporary 4,624 / 2 =
    # 2,312 -> 8,092 + 3,468 = 11,560.
    # forward/backward: + blocks.0 gathered whole (544 x 2 = 1,088) and, at the largest of
    # gradients / 2 + saved + temporaries (bf16: half the fp32 figures of the test above, op 22:
    # 1,768 / 2 + 256 + 256 = 1,396), 884 + 256 + 256 -> 8,092 + 1,088 + 1,396 = 10,576 < 11,560
    assert phase == "optimizer"
    assert memory == {
        "weights": 1_156,
        "master_weights": 2_312,
        "gradients": 1_156,
        "optimizer_state": 4_624,
        "saved_activations": 0,
        "temporaries": 2_312,
    }
    assert sum(memory.values()) == 11_560
    # the whole model's 4,624 bytes of temporaries, never sharded, would have made it 13,872 + 1,088


def test_zero3_forward_backward_peak_moves_where_sharded_gradients_put_it():
    s = two_blocks_step("sgd", "fp32")
    memory, phase = data_parallel_memory(s, dp=4, zero=3, accumulation=1)
    # persistent, ZeRO-3 over 4: weights 4,624 / 4 = 1,156, momentum 1,156; + blocks.0 gathered whole
    # (544 x 4 = 2,176) while it runs.
    # gradients / 4 + saved + temporaries per op: at the single-GPU peak (op 24) 4,560 / 4 + 256 + 256 =
    # 1,652; at op 22: 3,536 / 4 + 512 + 512 = 1,908, the largest (op 23, threshold_backward, ties it)
    # -> 1,156 + 2,176 + 1,156 + 884 + 512 + 512 = 6,396 (the single-GPU peak's split would say 6,140).
    # optimizer step: 1,156 + 1,156 + its gradients 1,156 + no temporaries = 3,468
    assert phase == "backward"
    assert memory == {
        "weights": 1_156 + 2_176,
        "master_weights": 0,
        "gradients": 884,
        "optimizer_state": 1_156,
        "saved_activations": 512,
        "temporaries": 512,
    }
    assert sum(memory.values()) == 6_396


def test_pipeline_stage_bytes_by_phase():
    s = two_blocks_step("sgd", "fp32")
    # 2 stages, blocks.0 | blocks.1 + head, 2 micro-batches (1F1B: stage 0 holds 2 in flight, stage 1 one)
    memory, phase = pipeline_memory(s, [(0, 1), (1, 3)], dp=1, zero=0, micro_batches=2)
    # stage 0 (544 parameters, fp32): weights, gradients (every micro-batch adds to them: all held),
    # momentum 2,176 each; saved: the model input, blocks.0's ReLU output and its output, (4, 16) x 4 B =
    # 256 each, plus the MSE target (64, made by no op) and the loss (4, an op of no unit), which the
    # capture counts in the first unit: 836, x 2 in flight = 1,672; temporaries: the most live
    # while one of its ops runs, 512 (ops 20-23) -> 6,528 + 1,672 + 512 = 8,712.
    # its optimizer step: 6,528 (SGD: no temporaries). Stage 1 (612 parameters): 3 x 2,448 + (512 + 64)
    # saved x 1 + 512 = 8,432: stage 0 is the fullest.
    assert s.unit_saved_bytes[0] == 836 and s.unit_saved_bytes[1:] == [512, 64]
    assert phase == "backward"
    assert memory == {
        "weights": 2_176,
        "master_weights": 0,
        "gradients": 2_176,
        "optimizer_state": 2_176,
        "saved_activations": 1_672,
        "temporaries": 512,
    }
    assert sum(memory.values()) == 8_712


def test_pipeline_stage_optimizer_peak_is_not_summed_with_the_activations():
    s = two_blocks_step("adamw", "bf16-mixed")
    memory, phase = pipeline_memory(s, [(0, 1), (1, 3)], dp=1, zero=0, micro_batches=2)
    # stage 1 (612 of 1,156 parameters): bf16 weights 1,224, gradients 1,224, fp32 master 2,448, moments
    # 4,896 = 9,792; forward/backward: + saved (256 + 32) x 1 + temporaries 256 = 10,336; optimizer step:
    # + its share of the sqrt temporary, 4,624 x 612 / 1,156 = 2,448 -> 12,240, the larger: no
    # activations are live then. (Stage 0: 8,704 + 2,176 = 10,880.) Summing the two phases' peaks would
    # have said 12,784.
    assert phase == "optimizer"
    assert memory["temporaries"] == 2_448 and memory["saved_activations"] == 0
    assert sum(memory.values()) == 12_240


def test_peak_over_phases_takes_the_larger_phase_whole():
    persistent = {"weights": 10, "master_weights": 20, "optimizer_state": 40}
    activation = {"gradients": 5, "saved_activations": 30, "temporaries": 7, "phase": "forward"}
    # forward/backward: 70 + 5 + 30 + 7 = 112; optimizer: 70 + 8 + 33 = 111 -> the forward's categories
    memory, phase = peak_over_phases(persistent, activation, {"gradients": 8, "temporaries": 33})
    assert phase == "forward" and memory["saved_activations"] == 30 and sum(memory.values()) == 112
    # with 35 optimizer temporaries the step peaks there: 70 + 8 + 35 = 113, no activations
    memory, phase = peak_over_phases(persistent, activation, {"gradients": 8, "temporaries": 35})
    assert phase == "optimizer" and memory["saved_activations"] == 0 and sum(memory.values()) == 113


def test_plans_legend_is_a_line_of_its_own():
    plan = {
        "name": "dp2", "memory_bytes": 2e9, "fits": True, "step_time_s": 0.5, "samples_per_s": 16.0,
        "communication_s": 0.1, "exposed_communication_s": 0.0, "bubble_fraction": 0.0, "global_batch": 8,
    }  # fmt: skip
    from metrics_core.perf.hardware import get_target

    lines = plans_text({"gpus": 2, "plans": [plan], "best_plan": plan}, get_target("h100-sxm5-80gb"), 200)
    assert lines[-2] == "best: dp2 (16 samples/s, 2.00 GB/GPU)"
    assert lines[-1].startswith("legend: GB/GPU! = does not fit; comm: ")
    lines = plans_text({"gpus": 2, "plans": [plan], "best_plan": None}, get_target("h100-sxm5-80gb"), 200)
    assert lines[-2:] == ["best: none fits", lines[-1]] and lines[-1].startswith("legend: ")
