"""``modeltui split MODEL --hardware ID [--gpus N]``: which model needs more than one GPU for inference, and
how to split it layer-wise (``metrics_core.perf.inference_split``: stages balanced by estimated time, each
stage's weights, activations and memory against the GPU's). Every figure is an estimate."""

from __future__ import annotations

import argparse
import sys

from metrics_core.common import units
from metrics_core.common.errors import model_error
from metrics_core.common.textable import text_table
from metrics_core.report.export import to_json
from tui.cli.commands.analysis import analyze_with_progress, exit_status, note_analysed, resolve_hardware
from tui.cli.commands.options import add_analysis_args, add_hardware_args, options_from_args, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "split",
        help="inference on several GPUs: the fewest that fit, and a layer-wise split balanced by time",
    )
    p.add_argument("models", nargs="+", metavar="MODEL")
    p.add_argument(
        "--gpus", type=positive_int, metavar="N", help="split over N GPUs (default: the fewest that fit)"
    )
    p.add_argument("--format", choices=("table", "json"), default="table")
    add_analysis_args(p, engine=False)
    add_hardware_args(p, required=True)


def run(args: argparse.Namespace) -> int:
    from metrics_core.perf.comm import check_scale_up
    from metrics_core.perf.inference_split import split_inference
    from metrics_core.perf.roofline import analysed_precision, estimate_model
    from tui.cli.commands.perfmode import modes_of

    options = options_from_args(args)
    target, precision = resolve_hardware(args, options.dtype)
    if args.gpus:  # as llm --tp and train --gpus refuse more GPUs than one server / rack joins
        check_scale_up(target, args.gpus, "--gpus")
    reports = analyze_with_progress(list(args.models), options)
    out, paths = [], []
    for r in reports:
        if r.error:
            print(f"modeltui: error: {model_error(r.model, r.error)}", file=sys.stderr)
            continue
        est = estimate_model(r, target, analysed_precision(target, r.dtype, precision), **modes_of(args))
        note_analysed(r.model, precision=est.precision)
        paths.append(est.precision)
        out.append(split_inference(r, est, target, args.gpus))
    if args.format == "json":
        sys.stdout.write(to_json([s.to_dict() for s in out]))
    elif out:
        from tui.cli.commands.perfmode import mode_label, provenance_label

        modes = modes_of(args)
        print("\n\n".join(split_text(s, target) for s in out))
        precision = "/".join(dict.fromkeys(paths))  # each model on its analysed dtype's path
        print(
            f"estimates on {target.name}, {precision}: {mode_label(modes)}; "
            f"{provenance_label(target, modes['efficiency'], modes['execution'], precision)}"
        )
    return exit_status(reports)


def split_text(s, target) -> str:  # noqa: ANN001 (InferenceSplit, HardwareTarget)
    """The stages of one split as a table, under a line that says what fits where."""
    need = (
        f"fits on {s.min_gpus} GPU{'s' if s.min_gpus != 1 else ''}"
        if s.min_gpus is not None
        else "does not fit split by layers"
    )
    head = (
        f"{s.model} on {target.name} ({units.human_bytes(s.capacity_bytes)} each): {need}; "
        f"split over {s.gpus}: {'fits' if s.fits else 'does NOT fit'}, "
        f"latency {units.human_time(s.latency_s)}, "
        f"{units.samples_per_s(s.throughput_per_s)} samples/s pipelined (estimates, {s.units} units)"
    )
    rows = [
        [str(st.index), f"{st.first_unit} .. {st.last_unit}" if st.units > 1 else st.first_unit,
         units.human_params(st.params), units.human_bytes(st.weight_bytes),
         units.human_bytes(st.activation_bytes),
         units.human_bytes(st.memory_bytes), "yes" if st.fits else "NO", units.human_time(st.time_s),
         units.human_time(st.transfer_s) if st.transfer_s else "-"]
        for st in s.stages
    ]  # fmt: skip
    headers = ["GPU", "Units", "Params", "Weights", "Activations", "Memory", "Fits", "Time", "Send"]
    table = text_table(headers, rows, [True, False, True, True, True, True, False, True, True])
    return "\n".join([head, table, *s.notes])
