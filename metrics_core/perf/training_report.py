"""A training step's result as data and as text: what ``modeltui train`` prints and the app's training view
shows (one implementation for both; definitions: ``perf.training``, ``perf.parallel_plans``,
``report.op_parallelism``).

``training_result`` turns a captured step (``runtime.train_capture.TrainRun``) into the JSON-compatible
dict of one model on a target: the step estimate (``TrainingEstimate.to_dict``), the precision's recipe,
what the estimate assumes and whether it is validated on the target, op-level parallelism, and with
``gpus`` > 1 every parallel plan and the best one. ``training_text`` is its text, tables folded to a width
(``common.textable``). Every figure is an estimate (``"estimate": true``). No torch here.
"""

from __future__ import annotations

from typing import Any

from metrics_core.perf.hardware import HardwareTarget

#: What each optimizer implementation means (``capture.train_step.OPTIMIZER_IMPLS``), for the assumptions.
OPTIMIZER_IMPL_MEANING: dict[str, str] = {
    "foreach": "PyTorch's foreach optimizer (one multi-tensor op per update step, a few kernels each)",
    "for-loop": "PyTorch's for-loop optimizer (one kernel per update step per parameter tensor)",
}

#: What the efficiency modes mean, for the assumptions line.
EFFICIENCY_MEANING: dict[str, str] = {
    "ideal": "physical: datasheet peaks",
    "calibrated": "calibrated: achievable fractions and launch costs of the generation",
}


def training_result(
    captured: Any,
    target: HardwareTarget,
    accumulation: int,
    gpus: int,
    modes: dict[str, str],
    limit: int | None = None,
) -> dict[str, Any]:
    """The JSON-compatible result of one model (module docstring): the best plan fits ``limit`` bytes per
    GPU (default: the target's memory). ``UsageError`` for a precision the target lacks, or ``gpus`` > 1
    on a target without an interconnect figure."""
    from metrics_core.capture.train_step import PRECISION_RECIPES
    from metrics_core.perf.efficiency import builtin_calibration, efficiency_source, training_validation_for
    from metrics_core.perf.parallel_plans import all_plans, best_plan, tensor_parallel_refusals
    from metrics_core.perf.training import estimate_training, local_records
    from metrics_core.report.op_parallelism import op_parallelism

    step = captured.step
    est = estimate_training(
        step, target, model=captured.model, accumulation=accumulation,
        tokens_per_sample=captured.tokens_per_sample, execution=modes["execution"],
        efficiency=modes["efficiency"],
    )  # fmt: skip
    d = est.to_dict()
    d.update(hardware=target.id, hardware_name=target.name, task=captured.task, inputs=captured.inputs)
    d["memory_format"] = getattr(captured, "memory_format", "contiguous")
    d["recipe"] = PRECISION_RECIPES[step.precision]
    d["loss_scaling"] = step.loss_scaling
    calibrated = builtin_calibration(target, modes["efficiency"])  # what was validated (perf.efficiency)
    d["validation"] = training_validation_for(target) if calibrated else None
    d["efficiency_source"] = efficiency_source(target) if modes["efficiency"] == "calibrated" else None
    d["blocks"] = len(step.blocks)
    d["fp8_gemms"] = len(step.fp8_records)
    if step.precision == "fp8-mixed" and not step.fp8_records:
        # Transformer Engine swaps the blocks' nn.Linear layers only: without any, nothing runs in fp8
        d["note"] = (
            "fp8-mixed: no Linear layer inside a block, so no GEMM runs in fp8 (Transformer Engine "
            "replaces nn.Linear only; convolutions and attention stay bf16): the figures are bf16-mixed's"
        )
    parallel = {}
    for phase in ("forward", "backward"):
        records = local_records(step.phase(phase))
        seconds = [o.time_s for o in est.estimates[phase].ops]
        parallel[phase] = op_parallelism(records, seconds, work="seconds").to_dict()
    d["op_parallelism"] = parallel
    d["gpus"] = gpus
    if gpus > 1:
        plans = all_plans(step, est, target, gpus, accumulation)
        best = best_plan(plans, limit)
        d["plans"] = [p.to_dict() for p in plans]
        d["best_plan"] = best.to_dict() if best else None
        d["memory_limit_bytes"] = limit if limit is not None else d["memory"]["capacity_bytes"]
        d["refused_plans"] = tensor_parallel_refusals(step, gpus)
    d["tensor_parallel_dims"] = {
        "attention_heads": step.attention_heads, "kv_heads": step.kv_heads, "mlp_width": step.mlp_width,
    }  # fmt: skip
    return d


def assumptions_text(d: dict[str, Any], target: HardwareTarget) -> str:
    """One line (prose, folds): what the estimate assumes — target, precision recipe, optimizer
    implementation, execution, efficiency (calibrated or physical) — and whether it is validated on this
    target."""
    from metrics_core.report.context import unvalidated_label

    validated = (
        f"validated on this target: {d['validation']}"
        if d.get("validation")
        else f"{unvalidated_label(d.get('efficiency_source'))} for training on this target"
    )
    efficiency = EFFICIENCY_MEANING.get(d["efficiency"], d["efficiency"])
    impl = d.get("optimizer_impl", "foreach")
    return (
        f"estimate (roofline) on {target.name}; {d['precision']}: {d['recipe']}; "
        f"{OPTIMIZER_IMPL_MEANING.get(impl, impl)}; {d['execution']} kernels, {efficiency}"
        f"{layout_phrase(d)}; {validated}"
    )


def layout_phrase(d: dict[str, Any]) -> str:
    """``'; model and inputs channels-last (NHWC)'`` (or ``NCHW (contiguous)``) when the memory format
    matters to the step (it was chosen channels-last, or an input is 4-D / 5-D); ``''`` otherwise (token
    models: no layout to choose)."""
    from metrics_core.common.input_spec import MEMORY_FORMAT_LABELS

    fmt = d.get("memory_format", "contiguous")
    if fmt == "contiguous" and not any(len(i.get("shape") or ()) in (4, 5) for i in d.get("inputs") or ()):
        return ""
    return f"; model and inputs {MEMORY_FORMAT_LABELS.get(fmt, fmt)}"


def training_text(d: dict[str, Any], target: HardwareTarget, width: int | None = None) -> str:
    """The text of one model's result: its step by phase, throughput and MFU, memory by category at the
    peak, what fits, op-level parallelism and the plans; tables and prose folded to ``width`` columns
    (default: ``textable.output_width()``)."""
    from metrics_core.common.textable import text_table, wrap_prose
    from metrics_core.common.units import human_count, human_time

    gb = lambda n: f"{n / 1e9:,.2f}"  # noqa: E731
    checkpointing = f"on ({d['blocks']} blocks)" if d["checkpointing"] else "off"
    ph, mem = d["phases"], d["memory"]
    out = [
        f"{d['model']}: training step on {target.name} (estimates: roofline, {d['execution']}, "
        f"{d['efficiency']} efficiency)",
        f"micro-batch {d['batch_size']} x {d['accumulation']} per step, {d['optimizer']} "
        f"({d.get('optimizer_impl', 'foreach')}), {d['precision']}, "
        f"loss {d['loss']}, checkpointing {checkpointing}",
        f"{human_count(d['params'])} parameters ({human_count(d['trainable_params'])} trainable)",
        assumptions_text(d, target),
        "",
    ]
    rows = []
    for p in ("forward", "backward", "optimizer"):
        x = ph[p]
        note = f" (+{x['recomputed_flops'] / 1e9:,.1f} recomputed)" if x["recomputed_flops"] else ""
        rows.append(
            [p, f"{x['ops']:,}", f"{x['kernels']:,}", f"{x['flops'] / 1e9:,.1f}{note}", gb(x["bytes"]),
             human_time(x["time_s"]), x["bound"]]
        )  # fmt: skip
    rows.append([f"step (x{d['accumulation']} fwd+bwd)", "", "", "", "", human_time(d["step_time_s"]), ""])
    table = text_table(
        ["phase", "ops", "kernels", "GFLOP", "GB moved", "time", "bound"], rows,
        [False, True, True, True, True, True, False], width,
    )  # fmt: skip
    out.append(table)
    rate = f"{d['samples_per_s']:,.1f} samples/s"
    if d.get("tokens_per_s"):
        rate += f" ({d['tokens_per_s']:,.0f} tokens/s)"
    gemms = f"; {d['fp8_gemms']:,} GEMMs on the fp8 path" if d.get("gemm_precision") == "fp8" else ""
    out.append(
        f"throughput {rate}; MFU {100 * d['mfu']:.1f}% (HFU {100 * d['hfu']:.1f}%) of "
        f"{d['compute_precision']} peak{gemms}"
    )
    if d.get("note"):
        out.append(d["note"])
    out.append("")
    labels = {
        "weights": f"weights ({d['compute_precision']}"
        + (" + fp8 copies)" if d.get("gemm_precision") == "fp8" else ")"),
        "master_weights": "master weights (fp32)",
        "gradients": "gradients",
        "optimizer_state": "optimizer state",
        "saved_activations": "activations saved for backward",
        "temporaries": "temporaries",
    }
    rows = [[label, gb(mem[k])] for k, label in labels.items()]
    rows.append(["total", gb(mem["total"])])
    out.append(text_table([f"memory at the peak ({mem['peak_phase']})", "GB"], rows, [False, True], width))
    fits = "fits" if mem["fits"] else "does NOT fit"
    out.append(
        f"{gb(mem['total'])} of {gb(mem['capacity_bytes'])} GB: {fits}; largest micro-batch "
        f"~{mem['max_micro_batch']:,} (activations scaled with the batch)"
    )
    out.append("")
    for phase in ("forward", "backward"):
        par = d["op_parallelism"][phase]
        out.append(
            f"op-level parallelism ({phase}): critical path {100 * par['critical_share']:.1f}% of the "
            f"op time, average parallelism {par['parallelism']:.2f}, widest {par['max_width']} compute ops "
            f"at once ({par['max_width_all_ops']} ops of any kind)"
        )
    out += plans_text(d, target, width)
    return wrap_prose("\n".join(out), width)


def plans_text(d: dict[str, Any], target: HardwareTarget, width: int | None = None) -> list[str]:
    """The lines of the parallel plans (none for one GPU): every plan, fastest first, and the best."""
    from metrics_core.common.textable import text_table
    from metrics_core.common.units import human_time
    from metrics_core.perf.comm import link_label

    if not d.get("plans"):
        return [f"refused: {r['name']} ({r['reason']})" for r in d.get("refused_plans", [])]
    gb = lambda n: f"{n / 1e9:,.2f}"  # noqa: E731
    out = [
        "",
        f"parallel plans on {d['gpus']} GPUs ({link_label(target, d['gpus'])}), "
        f"global batch {d['plans'][0]['global_batch']:,}:",
    ]
    rows = []
    for p in sorted(d["plans"], key=lambda p: p["step_time_s"]):
        rows.append(
            [p["name"], gb(p["memory_bytes"]) + ("" if p["fits"] else "!"), human_time(p["step_time_s"]),
             f"{p['samples_per_s']:,.0f}", _seconds(p["communication_s"]),
             _seconds(p["exposed_communication_s"]), f"{100 * p['bubble_fraction']:.0f}%"]
        )  # fmt: skip
    out.append(
        text_table(
            ["plan", "GB/GPU", "step", "samples/s", "comm", "exposed", "bubble"],
            rows,
            [False, True, True, True, True, True, True],
            width,
        )
    )
    out += [f"{p['name']}: {p['note']}" for p in d["plans"] if p.get("note")]
    out += [f"refused: {r['name']} ({r['reason']})" for r in d.get("refused_plans", [])]
    best = d.get("best_plan")
    out.append(
        f"best: {best['name']} ({best['samples_per_s']:,.0f} samples/s, {gb(best['memory_bytes'])} GB/GPU)"
        if best
        else "best: none fits"
    )
    out.append(PLANS_LEGEND)
    return out


#: The plans table's legend: its own line, after the verdict (``best: ...``).
PLANS_LEGEND = (
    "legend: GB/GPU! = does not fit; comm: collectives and transfers per step; exposed: the part not "
    "hidden behind the backward"
)


def _seconds(value: float) -> str:
    """``human_time``, with 0 as ``0``."""
    from metrics_core.common.units import human_time

    return human_time(value) if value else "0"
