"""Parallelism plans for a training step on N GPUs of one target: data parallel with ZeRO stages 0-3,
pipeline parallel (layer-wise split balanced by estimated time), their product, and a search for the
fastest plan under a memory limit. Every figure is an estimate (``"estimate": true``).

Input: a single-GPU estimate (``perf.training.TrainingEstimate``) of a step at micro-batch ``b`` and its
capture (``capture.train_step.StepCapture``). Collectives are timed by ``perf.comm.collective_time`` over
the target's link (``interconnect_kind``, PCIe when not stated; ``interconnect_gbps``); a target without
an interconnect figure runs one GPU only.

Data parallel over ``d`` GPUs (each runs the step on its own micro-batches), ZeRO stage ``z`` (Rajbhandari
et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models", section 5; FSDP is
stage 3):

- memory per GPU: stage 0 holds everything; stage 1 shards the optimizer state and the fp32 master
  weights over ``d`` (and the optimizer step's temporaries: it updates ``1/d`` of the parameters);
  stage 2 also the gradients; stage 3 also the weights (paper, Figure 1:
  ``(2 + 2 + K) Psi`` -> ``2 Psi + 2 Psi + K Psi / d`` -> ``2 Psi + (2 + K) Psi / d`` ->
  ``(2 + 2 + K) Psi / d``);
  activations (and the forward/backward temporaries) are not sharded;
- communication per optimizer step: stage 0 and 1 all-reduce the gradients once (ring: ``2 (d-1)/d x
  bytes / bus bandwidth`` + latencies, ``perf.comm``); stage 1 and 2 reduce-scatter the gradients and
  all-gather the updated weights (the same volume); stage 2 reduce-scatters every micro-batch's
  gradients (they are sharded); stage 3 all-gathers the weights before each micro-batch's forward and
  again before its backward and reduce-scatters its gradients (1.5x the all-reduce volume, paper 7.2.2);
- the optimizer step runs on ``1/d`` of the parameters for stages 1-3;
- communication overlaps the backward (PyTorch DDP buckets, ZeRO's overlapped reduce): the time added to
  the step is ``max(0, communication - backward time of the micro-batches)``; the unoverlapped figure is
  reported beside it.

Pipeline parallel over ``p`` stages with ``m`` micro-batches per step (GPipe / 1F1B, Narayanan et al.
2021, "Efficient Large-Scale Language Model Training on GPU Clusters Using Megatron-LM", section 2.2):
the units of the model (``StepCapture.units``) are split into ``p`` contiguous stages minimising the
slowest stage's forward + backward time (``split_stages``); step time = ``(m + p - 1) x`` the slowest
stage's micro-batch time + the optimizer (the stage with the most parameters); the bubble is the idle
fraction ``(p - 1) / (m + p - 1)``; activations between stages are sent forward and their gradients back
(point-to-point, at the link's bus bandwidth). Memory per stage (1F1B): its share of the weights,
gradients, master weights and optimizer state, its saved activations x ``min(m, p - s)`` micro-batches in
flight (stage ``s`` counted from 0), and its temporaries (memory rule below).

Memory per GPU (every plan): the peak over the step's phases of the per-GPU categories, each phase's
peak taken whole (``peak_over_phases``), never the sum of peaks from different phases:

- *forward/backward*: the weights, master weights and optimizer state the GPU holds (sharded as above;
  ZeRO-3 adds the largest unit's weights, gathered whole while it runs), plus the gradients, saved
  activations and temporaries of the single-GPU simulation (``capture.step_memory``, per op) re-weighed
  for the GPU: gradients sharded with ZeRO 2-3 (and the parameters a GPU keeps under TP / PP), saved
  activations and the activation-phase temporaries with the activations (whole under DP / ZeRO, the
  split ops' share divided by ``t`` under TP); the op where that per-GPU sum is largest
  (``activation_phase_peak``: sharding the gradients can move the peak, e.g. to the forward's end).
  With several micro-batches per step every gradient is held through the phase (they accumulate). A
  pipeline stage holds its saved activations x its micro-batches in flight and the most temporaries
  live while one of its own ops runs (``stage_temporaries``);
- *optimizer step*: the same persistent bytes, the GPU's gradients and the optimizer's temporaries
  (per parameter: foreach AdamW's ``sqrt`` of the second moment, the 16-bit casts of mixed precision)
  for the parameters this GPU updates: ``1/d`` of them under ZeRO 1-3, the stage's under PP, the kept
  share under TP; no activations are live.

The single-GPU figure (``perf.training``) is this rule with nothing sharded.

Tensor parallel over ``t`` GPUs (Shoeybi et al. 2019, "Megatron-LM", section 3: column- then
row-parallel Linear layers, attention heads split): the matmul and attention ops inside the model's blocks
(``StepCapture.split_records``, forward and backward) run on ``1/t`` of their work each, their time taken
as ``1/t`` of the single-GPU estimate (ideal scaling: an upper bound on the speedup, smaller GEMMs run less
efficiently); every other op (norms, element-wise, embeddings, the head) runs whole on every GPU. Each
block all-reduces its output activation twice in the forward (after attention and after the MLP) and twice
in the backward, on the critical path (not overlapped). Memory: the parameters of the split ops
(``split_params``) with their gradients, master weights and optimizer state, and the activations those ops
saved (``split_saved_bytes``), divided by ``t`` (the forward/backward temporaries scaled with the
saved activations); the rest replicated (no sequence parallelism). It suits
transformers; a model without matmuls in blocks gains nothing. ``t`` must split the model
(``tensor_parallel_check``, from ``StepCapture.attention_heads``, ``kv_heads``, ``mlp_width``): ``t``
divides the attention heads and the MLP width; the key/value heads (grouped-query attention) are divided
when ``t`` divides them and, when ``t`` is a multiple of them, replicated ``t / K`` times as vLLM's
``QKVParallelLinear`` does (each GPU holds one KV head: the KV projections' parameters per GPU are
``1/K`` of them, not ``1/t``); any other ``t`` is refused with its reason.

A plan with ``d`` replicas of a ``p``-stage pipeline uses ``d x p`` GPUs; ``d`` replicas of a ``t``-way
tensor-parallel group ``d x t``. The search (``best_plan``)
holds the global batch at ``b x accumulation x N``: data parallel runs ``accumulation`` micro-batches per
replica, a pipeline ``accumulation x p`` and a tensor-parallel group ``accumulation x t`` per replica;
``best_plan`` returns the fastest among those that fit the memory limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from metrics_core.common.errors import UsageError
from metrics_core.perf.comm import check_scale_up, collective_time, link_for
from metrics_core.perf.hardware import HardwareTarget

if TYPE_CHECKING:  # pragma: no cover
    from metrics_core.capture.train_step import StepCapture
    from metrics_core.perf.comm import Link
    from metrics_core.perf.training import TrainingEstimate

ZERO_STAGES: tuple[int, ...] = (0, 1, 2, 3)

#: The largest tensor-parallel group: the GPUs of one NVLink / NVSwitch node (Megatron-LM keeps tensor
#: parallelism inside a node; its all-reduces are on the critical path).
MAX_TENSOR_PARALLEL = 8


@dataclass(frozen=True)
class Plan:
    """One way to run the step on ``gpus`` GPUs: ``dp`` data-parallel replicas of a ``pp``-stage pipeline,
    ZeRO stage ``zero``, ``micro_batches`` micro-batches of ``micro_batch`` samples per replica per step.
    Times in seconds, bytes per GPU (the fullest GPU); ``memory`` by category; ``communication_s`` every
    collective / transfer of a step, ``exposed_communication_s`` the part not hidden behind the backward."""

    dp: int
    pp: int
    zero: int
    micro_batch: int
    micro_batches: int
    gpus: int
    compute_s: float
    communication_s: float
    exposed_communication_s: float
    optimizer_s: float
    bubble_fraction: float
    step_time_s: float
    global_batch: int
    memory: dict[str, int]
    capacity_bytes: int
    stages: list[tuple[int, int]] = field(default_factory=list)
    tp: int = 1
    #: A correction the plan needed (KV heads replicated), one line; "" when none.
    note: str = ""
    #: The phase of the fullest GPU's peak (``forward``, ``backward`` or ``optimizer``; module doc).
    peak_phase: str = ""

    @property
    def name(self) -> str:
        """``dp8``, ``dp4 zero3``, ``pp2 x dp4 zero1``, ``tp2 x dp4`` ..."""
        parts = []
        if self.tp > 1:
            parts.append(f"tp{self.tp}")
        if self.pp > 1:
            parts.append(f"pp{self.pp}")
        if self.dp > 1 or (self.pp == 1 and self.tp == 1):
            parts.append(f"dp{self.dp}")
        text = " x ".join(parts)
        return f"{text} zero{self.zero}" if self.zero else text

    @property
    def memory_bytes(self) -> int:
        """Peak bytes on the fullest GPU."""
        return sum(self.memory.values())

    @property
    def fits(self) -> bool:
        return self.memory_bytes <= self.capacity_bytes

    @property
    def samples_per_s(self) -> float:
        return self.global_batch / self.step_time_s if self.step_time_s else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(
            name=self.name,
            memory_bytes=self.memory_bytes,
            fits=self.fits,
            samples_per_s=self.samples_per_s,
            estimate=True,
        )
        d["stages"] = [list(s) for s in self.stages]
        return d


def pipeline_bubble(stages: int, micro_batches: int) -> float:
    """Idle fraction of a GPipe / 1F1B pipeline: ``(p - 1) / (m + p - 1)`` (Megatron-LM 2021, eq. 1)."""
    if stages < 1 or micro_batches < 1:
        raise ValueError("stages and micro-batches must be >= 1")
    return (stages - 1) / (micro_batches + stages - 1)


def zero_memory(
    weights: int, gradients: int, master: int, optimizer_state: int, dp: int, stage: int
) -> dict[str, int]:
    """Per-GPU bytes of the persistent categories under ZeRO ``stage`` over ``dp`` GPUs (module doc):
    ``{"weights", "gradients", "master_weights", "optimizer_state"}``, each sharded as ``ceil(x / dp)``."""
    if stage not in ZERO_STAGES:
        raise UsageError(f"ZeRO stage must be one of 0, 1, 2, 3, got {stage!r}")

    def shard(x: int, from_stage: int) -> int:
        return -(-x // dp) if stage >= from_stage else x

    return {
        "weights": shard(weights, 3),
        "gradients": shard(gradients, 2),
        "master_weights": shard(master, 1),
        "optimizer_state": shard(optimizer_state, 1),
    }


def _ceil_div(x: int, n: int) -> int:
    return -(-x // n)


def activation_phase_peak(
    step: StepCapture, grad_scale: float, act_scale: float, hold_gradients: bool
) -> tuple[int, int, int, str]:
    """The single-GPU forward/backward simulation (``capture.step_memory``) re-weighed for one GPU of a
    plan: the op where ``grad_scale x gradients + act_scale x (saved + temporaries)`` is largest, and the
    *unscaled* ``(gradients, saved, temporaries, phase)`` live there (the caller shards them exactly).
    ``hold_gradients``: every gradient is live through the phase (micro-batches accumulate into them), so
    the gradients are ``gradient_total`` at every op. A capture without the per-op curves gives its
    single-GPU peak."""
    m = step.memory
    gs, ss, ts = m.live_gradients, m.live_saved, m.live_temporaries
    if not ss:
        return (m.gradient_total if hold_gradients else m.gradients), m.saved, m.temporaries, m.peak_phase
    if hold_gradients:
        i = max(range(len(ss)), key=lambda k: (ss[k] + ts[k], -k))
        g = m.gradient_total
    else:
        i = max(range(len(ss)), key=lambda k: (grad_scale * gs[k] + act_scale * (ss[k] + ts[k]), -k))
        g = gs[i]
    return g, ss[i], ts[i], "forward" if i < step.phase_ends[0] else "backward"


def peak_over_phases(
    persistent: dict[str, int], activation: dict[str, int], optimizer: dict[str, int]
) -> tuple[dict[str, int], str]:
    """Per-GPU bytes by category at the larger of a plan's two peaks (module doc), and its phase.
    ``persistent``: weights, master weights and optimizer state (held through the step); ``activation``:
    the forward/backward peak's ``gradients``, ``saved_activations``, ``temporaries``, its ``phase`` and
    any ``extra_weights`` (ZeRO-3's gathered unit); ``optimizer``: the optimizer step's ``gradients`` and
    ``temporaries`` (no activations are live then)."""
    fb = dict(persistent)
    fb["weights"] += activation.get("extra_weights", 0)
    fb.update(
        gradients=activation["gradients"],
        saved_activations=activation["saved_activations"],
        temporaries=activation["temporaries"],
    )
    opt = dict(persistent)
    opt.update(gradients=optimizer["gradients"], saved_activations=0, temporaries=optimizer["temporaries"])
    if sum(opt.values()) > sum(fb.values()):
        return _ordered(opt), "optimizer"
    return _ordered(fb), str(activation["phase"])


def _ordered(memory: dict[str, int]) -> dict[str, int]:
    order = ("weights", "master_weights", "gradients", "optimizer_state", "saved_activations", "temporaries")
    return {k: memory[k] for k in order}


def _persistent(weights: int, master: int, state: int, dp: int, zero: int) -> dict[str, int]:
    """Weights, master weights and optimizer state per GPU, ZeRO ``zero`` over ``dp`` (``zero_memory``)."""
    z = zero_memory(weights, 0, master, state, dp, zero)
    return {
        "weights": z["weights"],
        "master_weights": z["master_weights"],
        "optimizer_state": z["optimizer_state"],
    }


def _gathered_unit(step: StepCapture, start: int = 0, end: int | None = None) -> int:
    """Bytes of the largest unit's weights among units ``[start, end)``: what ZeRO-3 gathers whole while
    it runs."""
    per = step.weight_bytes // max(step.params, 1)
    return max(step.unit_params[start:end] or [0]) * per


def target_link(target: HardwareTarget, gpus: int | None = None, flag: str = "--gpus") -> Link:
    """The target's GPU-to-GPU link; ``UsageError`` (one line) when it has no interconnect figure or
    ``gpus`` is more than one scale-up domain holds (``comm.check_scale_up``)."""
    check_scale_up(target, gpus or 2, flag)
    return link_for(target.interconnect_kind or "pcie", target.interconnect_gbps)


def data_parallel_communication(
    grad_bytes: int, weight_bytes: int, dp: int, stage: int, micro_batches: int, link: Link
) -> float:
    """Seconds of a step's collectives under ZeRO ``stage`` over ``dp`` GPUs (module doc); 0 for dp 1."""
    if dp == 1:
        return 0.0
    if stage == 0:
        return collective_time("all_reduce", grad_bytes, dp, link).time_s
    reduce = collective_time("reduce_scatter", grad_bytes, dp, link).time_s
    gather = collective_time("all_gather", weight_bytes, dp, link).time_s
    if stage == 1:
        return reduce + gather
    if stage == 2:
        return micro_batches * reduce + gather
    return micro_batches * (2 * gather + reduce)


def point_to_point_time(nbytes: float, link: Link) -> float:
    """Seconds to send ``nbytes`` from one GPU to the next: at the link's bus bandwidth plus one launch."""
    return nbytes / (link.bus_gbps * 1e9) + link.launch_us * 1e-6


def split_stages(costs: Sequence[float], stages: int) -> list[tuple[int, int]]:
    """Contiguous split of ``costs`` (per unit, in order) into ``stages`` non-empty ``[start, end)`` ranges
    minimising the largest stage sum (the linear-partition dynamic programme, O(stages x n^2)).
    ``ValueError`` when there are fewer units than stages."""
    n = len(costs)
    if stages < 1 or stages > n:
        raise ValueError(f"cannot split {n} units into {stages} stages")
    prefix = [0.0]
    for c in costs:
        prefix.append(prefix[-1] + c)
    inf = float("inf")
    best = [[inf] * (n + 1) for _ in range(stages + 1)]
    cut = [[0] * (n + 1) for _ in range(stages + 1)]
    best[0][0] = 0.0
    for s in range(1, stages + 1):
        for end in range(s, n + 1):
            for start in range(s - 1, end):
                v = max(best[s - 1][start], prefix[end] - prefix[start])
                if v < best[s][end]:
                    best[s][end], cut[s][end] = v, start
    out, end = [], n
    for s in range(stages, 0, -1):
        start = cut[s][end]
        out.append((start, end))
        end = start
    return out[::-1]


def unit_times(step: StepCapture, est: TrainingEstimate) -> list[float]:
    """Forward + backward seconds of one micro-batch per unit (``StepCapture.units``); ops of no unit (the
    loss, the root module's own ops) count in the last unit."""
    times = [0.0] * max(len(step.units), 1)
    for phase in ("forward", "backward"):
        lo = 0 if phase == "forward" else step.phase_ends[0]
        for op in est.estimates[phase].ops:
            u = step.record_unit[lo + op.index]
            times[u if u >= 0 else len(times) - 1] += op.time_s
    return times


def data_parallel_plan(
    step: StepCapture, est: TrainingEstimate, target: HardwareTarget, dp: int, zero: int, accumulation: int
) -> Plan:
    """``dp`` replicas, ZeRO ``zero``, ``accumulation`` micro-batches each (module doc)."""
    link = target_link(target) if dp > 1 else None
    fb = est.phases["forward"].time_s + est.phases["backward"].time_s
    opt = est.phases["optimizer"].time_s / (dp if zero >= 1 else 1)
    comm = (
        data_parallel_communication(step.grad_bytes, step.weight_bytes, dp, zero, accumulation, link)
        if link
        else 0.0
    )
    exposed = max(0.0, comm - accumulation * est.phases["backward"].time_s)
    memory, phase = data_parallel_memory(step, dp, zero, accumulation)
    compute = accumulation * fb
    return Plan(
        dp=dp,
        pp=1,
        zero=zero,
        micro_batch=step.batch_size,
        micro_batches=accumulation,
        gpus=dp,
        compute_s=compute,
        communication_s=comm,
        exposed_communication_s=exposed,
        optimizer_s=opt,
        bubble_fraction=0.0,
        step_time_s=compute + exposed + opt,
        global_batch=step.batch_size * accumulation * dp,
        memory=memory,
        capacity_bytes=est.memory.capacity_bytes,
        peak_phase=phase,
    )


def data_parallel_memory(
    step: StepCapture, dp: int, zero: int, accumulation: int
) -> tuple[dict[str, int], str]:
    """Per-GPU bytes by category of ``dp`` replicas under ZeRO ``zero`` with ``accumulation`` micro-batches
    each, at the larger of the forward/backward and the optimizer-step peaks, and that peak's phase
    (module doc)."""

    def shard(x: int, from_stage: int) -> int:
        return _ceil_div(x, dp) if zero >= from_stage else x

    persistent = _persistent(step.weight_bytes, step.master_bytes, step.optimizer_state_bytes, dp, zero)
    hold = accumulation > 1 or step.accumulation > 1
    g, saved, temps, phase = activation_phase_peak(step, 1 / dp if zero >= 2 else 1.0, 1.0, hold)
    activation = {
        "gradients": shard(g, 2), "saved_activations": saved, "temporaries": temps, "phase": phase,
        "extra_weights": _gathered_unit(step) if zero >= 3 and dp > 1 else 0,
    }  # fmt: skip
    optimizer = {
        "gradients": shard(step.memory.gradient_total, 2),
        "temporaries": shard(step.optimizer_temporary_bytes, 1),
    }
    return peak_over_phases(persistent, activation, optimizer)


def pipeline_plan(
    step: StepCapture,
    est: TrainingEstimate,
    target: HardwareTarget,
    pp: int,
    dp: int,
    zero: int,
    micro_batches: int,
) -> Plan:
    """A ``pp``-stage pipeline (balanced by ``split_stages`` on ``unit_times``), ``dp`` replicas of it,
    ZeRO ``zero`` across the replicas, ``micro_batches`` per replica per step (module doc)."""
    link = target_link(target)
    times = unit_times(step, est)
    stages = split_stages(times, pp)
    stage_time = max(sum(times[a:b]) for a, b in stages)
    boundary = max((step.unit_output_bytes[b - 1] for _, b in stages[:-1]), default=0)
    p2p = 2 * point_to_point_time(boundary, link) if pp > 1 else 0.0  # activations on, gradients back
    per_slot = stage_time + p2p
    compute = (micro_batches + pp - 1) * per_slot
    params = max(step.params, 1)
    shares = [sum(step.unit_params[a:b]) / params for a, b in stages]
    s_max = max(range(pp), key=lambda s: shares[s])
    grad_bytes = int(step.grad_bytes * shares[s_max])
    comm = (
        data_parallel_communication(
            grad_bytes, int(step.weight_bytes * shares[s_max]), dp, zero, micro_batches, link
        )
        if dp > 1
        else 0.0
    )
    exposed = max(0.0, comm - micro_batches * est.phases["backward"].time_s / pp)
    opt = est.phases["optimizer"].time_s * shares[s_max] / (dp if zero >= 1 and dp > 1 else 1)
    worst, phase = pipeline_memory(step, stages, dp, zero, micro_batches)
    return Plan(
        dp=dp,
        pp=pp,
        zero=zero,
        micro_batch=step.batch_size,
        micro_batches=micro_batches,
        gpus=dp * pp,
        compute_s=compute,
        communication_s=comm + micro_batches * p2p,
        exposed_communication_s=exposed,
        optimizer_s=opt,
        bubble_fraction=pipeline_bubble(pp, micro_batches),
        step_time_s=compute + exposed + opt,
        global_batch=step.batch_size * micro_batches * dp,
        memory=worst,
        capacity_bytes=est.memory.capacity_bytes,
        stages=stages,
        peak_phase=phase,
    )


def stage_temporaries(step: StepCapture, stages: Sequence[tuple[int, int]]) -> list[int]:
    """Per stage, the most temporaries the single-GPU simulation holds while one of the stage's forward or
    backward ops runs (ops of no unit count in the last stage, as in ``unit_times``); a capture without
    the per-op curves gives its peak's temporaries to every stage."""
    curve = step.memory.live_temporaries
    if not curve:
        return [step.memory.temporaries] * len(stages)
    stage_of = {}
    for s, (a, b) in enumerate(stages):
        for u in range(a, b):
            stage_of[u] = s
    last = len(stages) - 1
    out = [0] * len(stages)
    for i, t in enumerate(curve):
        u = step.record_unit[i] if i < len(step.record_unit) else -1
        s = stage_of.get(u, last)
        out[s] = max(out[s], t)
    return out


def pipeline_memory(
    step: StepCapture, stages: Sequence[tuple[int, int]], dp: int, zero: int, micro_batches: int
) -> tuple[dict[str, int], str]:
    """Per-GPU bytes by category of the fullest stage of a pipeline (``stages``: unit ranges), ``dp``
    replicas under ZeRO ``zero``, ``micro_batches`` per step, at the larger of the stage's forward/backward
    and optimizer-step peaks, and that peak's phase (module doc)."""
    pp = len(stages)
    params = max(step.params, 1)
    temps = stage_temporaries(step, stages)
    worst: dict[str, int] = {}
    worst_phase = ""
    for s, (a, b) in enumerate(stages):
        share = sum(step.unit_params[a:b]) / params
        z = zero_memory(
            int(step.weight_bytes * share), int(step.memory.gradient_total * share),
            int(step.master_bytes * share), int(step.optimizer_state_bytes * share), dp, zero,
        )  # fmt: skip
        persistent = {k: z[k] for k in ("weights", "master_weights", "optimizer_state")}
        in_flight = min(micro_batches, pp - s)
        activation = {
            "gradients": z["gradients"],  # micro-batches accumulate: the stage's gradients all held
            "saved_activations": sum(step.unit_saved_bytes[a:b]) * in_flight,
            "temporaries": temps[s],
            "phase": "backward",
            "extra_weights": _gathered_unit(step, a, b) if zero >= 3 and dp > 1 else 0,
        }
        opt_temps = int(step.optimizer_temporary_bytes * share)
        optimizer = {
            "gradients": z["gradients"],
            "temporaries": _ceil_div(opt_temps, dp) if zero >= 1 else opt_temps,
        }
        mem, phase = peak_over_phases(persistent, activation, optimizer)
        if sum(mem.values()) > sum(worst.values()):
            worst, worst_phase = mem, phase
    return worst, worst_phase


def tensor_parallel_plan(
    step: StepCapture,
    est: TrainingEstimate,
    target: HardwareTarget,
    tp: int,
    dp: int,
    zero: int,
    accumulation: int,
) -> Plan:
    """``dp`` replicas of a ``tp``-way tensor-parallel group, ZeRO ``zero`` across the replicas,
    ``accumulation`` micro-batches each (module doc)."""
    link = target_link(target)
    split = set(step.split_records)
    saved_time = 0.0
    for phase in ("forward", "backward"):
        lo = 0 if phase == "forward" else step.phase_ends[0]
        saved_time += sum(o.time_s for o in est.estimates[phase].ops if lo + o.index in split)
    fb = est.phases["forward"].time_s + est.phases["backward"].time_s - saved_time * (1 - 1 / tp)
    blocks = set(step.blocks)
    reduce = sum(
        collective_time("all_reduce", b, tp, link).time_s
        for u, b in zip(step.units, step.unit_output_bytes, strict=True)
        if u in blocks
    )
    tp_comm = 4 * reduce  # two all-reduces per block forward, two backward (Megatron-LM)
    share = step.split_params / max(step.params, 1)
    keep = 1 - share + share / tp
    note = tensor_parallel_check(step, tp)[1]
    kv = step.kv_heads
    if kv and kv < tp and step.kv_params:  # replicated KV heads: each GPU holds 1/kv of the projections
        keep += step.kv_params / max(step.params, 1) * (1 / kv - 1 / tp)

    def part(x: int) -> int:
        return int(x * keep)

    grad_bytes = part(step.grad_bytes)
    comm = (
        data_parallel_communication(grad_bytes, part(step.weight_bytes), dp, zero, accumulation, link)
        if dp > 1
        else 0.0
    )
    exposed = max(0.0, comm - accumulation * est.phases["backward"].time_s / tp)
    memory, phase = tensor_parallel_memory(step, tp, keep, dp, zero, accumulation)
    compute = accumulation * (fb + tp_comm)
    opt = est.phases["optimizer"].time_s * keep / (dp if zero >= 1 and dp > 1 else 1)
    return Plan(
        dp=dp, pp=1, zero=zero, micro_batch=step.batch_size, micro_batches=accumulation, gpus=dp * tp,
        compute_s=compute, communication_s=comm + accumulation * tp_comm, exposed_communication_s=exposed,
        optimizer_s=opt, bubble_fraction=0.0, step_time_s=compute + exposed + opt,
        global_batch=step.batch_size * accumulation * dp, memory=memory,
        capacity_bytes=est.memory.capacity_bytes, tp=tp, note=note, peak_phase=phase,
    )  # fmt: skip


def tensor_parallel_memory(
    step: StepCapture, tp: int, keep: float, dp: int, zero: int, accumulation: int
) -> tuple[dict[str, int], str]:
    """Per-GPU bytes by category of ``dp`` replicas of a ``tp``-way group that keeps ``keep`` of the
    parameters per GPU, ZeRO ``zero`` across the replicas, ``accumulation`` micro-batches each, at the
    larger of the forward/backward and optimizer-step peaks, and that peak's phase (module doc)."""

    def part(x: int) -> int:
        return int(x * keep)

    def shard(x: int, from_stage: int) -> int:
        return _ceil_div(x, dp) if zero >= from_stage else x

    persistent = _persistent(
        part(step.weight_bytes), part(step.master_bytes), part(step.optimizer_state_bytes), dp, zero
    )
    # the activations the split ops saved are divided by tp (their share at the forward's end); the
    # activation-phase temporaries go with the activations
    saved_end = max(step.memory.saved_at_forward_end, 1)
    act = 1 - (1 - 1 / tp) * min(step.split_saved_bytes, saved_end) / saved_end
    hold = accumulation > 1 or step.accumulation > 1
    g, saved, temps, phase = activation_phase_peak(step, keep / (dp if zero >= 2 else 1), act, hold)
    activation = {
        "gradients": shard(part(g), 2),
        "saved_activations": int(saved * act),
        "temporaries": int(temps * act),
        "phase": phase,
        "extra_weights": int(_gathered_unit(step) * keep) if zero >= 3 and dp > 1 else 0,
    }
    optimizer = {
        "gradients": shard(part(step.memory.gradient_total), 2),
        "temporaries": shard(part(step.optimizer_temporary_bytes), 1),
    }
    return peak_over_phases(persistent, activation, optimizer)


def tensor_parallel_check(step: StepCapture, tp: int) -> tuple[bool, str]:
    """Whether a ``tp``-way tensor-parallel group splits ``step``'s model (module doc), and one line: the
    reason a refused ``tp`` cannot split it, or the correction an accepted one needs ("" when none). A
    dimension the capture did not find is not checked."""
    heads, kv, width = step.attention_heads, step.kv_heads, step.mlp_width
    if heads and heads % tp:
        return False, f"{heads} attention heads do not split {tp} ways"
    if width and width % tp:
        return False, f"the MLP width {width:,} does not split {tp} ways"
    if kv and kv != heads and kv % tp:
        if tp % kv:
            return False, f"{kv} KV heads neither split {tp} ways nor replicate evenly"
        return True, f"{kv} KV heads replicated x{tp // kv} (vLLM's rule: one KV head per GPU)"
    return True, ""


def tensor_parallel_refusals(step: StepCapture, gpus: int) -> list[dict[str, str]]:
    """``[{"name": "tp3", "reason": ...}]``: the tensor-parallel degrees ``all_plans`` would try for ``gpus``
    GPUs that do not split the model (``tensor_parallel_check``)."""
    out = []
    for tp in range(2, min(gpus, MAX_TENSOR_PARALLEL) + 1):
        if gpus % tp or not step.split_records:
            continue
        ok, reason = tensor_parallel_check(step, tp)
        if not ok:
            out.append({"name": f"tp{tp}", "reason": reason})
    return out


def all_plans(
    step: StepCapture, est: TrainingEstimate, target: HardwareTarget, gpus: int, accumulation: int = 1
) -> list[Plan]:
    """Every data-parallel x pipeline x ZeRO plan, and every tensor-parallel x data-parallel x ZeRO plan
    (groups of up to ``MAX_TENSOR_PARALLEL``, models with matmuls in blocks), for ``gpus`` GPUs at a
    global batch of ``micro-batch x accumulation x gpus`` (module doc), in search order."""
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1:
        raise UsageError(f"--gpus must be a positive integer, got {gpus!r}")
    if gpus > 1:
        target_link(target)
    plans = []
    for pp in range(1, gpus + 1):
        if gpus % pp or pp > len(step.units):
            continue
        dp = gpus // pp
        for zero in ZERO_STAGES if dp > 1 else (0,):
            if pp == 1:
                plans.append(data_parallel_plan(step, est, target, dp, zero, accumulation))
            else:
                plans.append(pipeline_plan(step, est, target, pp, dp, zero, accumulation * pp))
    for tp in range(2, min(gpus, MAX_TENSOR_PARALLEL) + 1):
        if gpus % tp or not step.split_records or not tensor_parallel_check(step, tp)[0]:
            continue  # tensor_parallel_refusals says why
        dp = gpus // tp
        for zero in ZERO_STAGES if dp > 1 else (0,):
            plans.append(tensor_parallel_plan(step, est, target, tp, dp, zero, accumulation * tp))
    return plans


def best_plan(plans: Sequence[Plan], memory_limit: int | None = None) -> Plan | None:
    """The fastest plan whose fullest GPU fits ``memory_limit`` bytes (default: each plan's capacity);
    ties go to the fewer pipeline stages, then the lower ZeRO stage. None when none fits."""
    fitting = [
        p for p in plans if p.memory_bytes <= (memory_limit if memory_limit is not None else p.capacity_bytes)
    ]
    return min(fitting, key=lambda p: (p.step_time_s, p.pp, p.zero), default=None)
