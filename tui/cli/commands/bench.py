"""``modeltui bench``: measure forward-pass latency on this machine next to the roofline estimate.

Measured numbers are labelled as such; the estimate columns come from ``metrics_core.perf.roofline`` and
say "(est.)". Definitions: ``metrics_core.measure.bench``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from metrics_core.common import units
from metrics_core.common.errors import row_error
from metrics_core.common.textable import text_table
from metrics_core.measure.bench import DEVICES
from tui.cli.commands.options import (
    add_analysis_args,
    add_hardware_args,
    int_at_least,
    options_from_args,
    positive_int,
)

FORMATS = ("table", "json")
BAR_WIDTH = 24


non_negative_int = int_at_least(0, "an integer >= 0")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure latency/throughput on this machine vs the roofline estimate")
    p.add_argument("models", nargs="+", metavar="MODEL", help="catalog names or package.module:factory")
    p.add_argument("--device", choices=DEVICES, default="cpu", help="where to run (default cpu)")
    p.add_argument(
        "--warmup", type=non_negative_int, default=10, metavar="K", help="untimed passes (default 10)"
    )
    p.add_argument("--iters", type=positive_int, default=50, metavar="N", help="timed passes (default 50)")
    add_analysis_args(p, engine=False)
    add_hardware_args(p)
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument(
        "--no-save",
        action="store_true",
        help="do not append the measurements to the saved results (<cache dir>/bench/results.jsonl, "
        "read by `modeltui calibrate --from-bench`)",
    )


def run(args: argparse.Namespace) -> int:
    from metrics_core.measure.bench import bench_model, check_device, check_dtype, detect_target
    from metrics_core.perf.roofline import precision_for
    from metrics_core.runtime import pool
    from metrics_core.runtime.analyze import analyze_many

    options = options_from_args(args)
    check_device(args.device)
    check_dtype(options.dtype, args.device)
    if args.hardware:
        from tui.cli.commands.hardware import load_catalog_with_warnings

        target = load_catalog_with_warnings(args.hardware_file).get(args.hardware)
    else:
        target, _note = detect_target(args.device, args.hardware_file)  # the note: in each result
    if target is not None:
        precision_for(target, options.dtype, use_tf32=args.tf32)  # a missing path fails before any work
    reports = analyze_many(list(args.models), options)
    bar = ProgressBar(len(reports)) if sys.stderr.isatty() else None
    from tui.cli.commands.perfmode import modes_of

    kwargs = {"target": target, "use_tf32": args.tf32, "hardware_files": args.hardware_file, **modes_of(args)}
    if pool.use_processes():  # the models run in a child process: their faults and prints stay there
        results = measure_in_child(list(zip(args.models, reports, strict=True)), options, args, kwargs, bar)
    else:  # MODELTUI_IN_PROCESS=1 (tests)
        results = []
        for report, name in zip(reports, args.models, strict=True):
            if bar is not None:
                bar.next_model()
            results.append(
                bench_model(
                    name, options, args.device, args.warmup, args.iters, progress=bar, report=report, **kwargs
                )
            )
    if bar is not None:
        bar.clear()
    if not args.no_save:
        save(results, options, args.tf32)
    if args.format == "json":
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        print(bench_text(results))
    return 1 if any(not r.ok for r in results) else 0


def save(results: list, options, tf32: bool) -> None:  # noqa: ANN001
    """Append the successful results to the saved measurements (``measure.bench.save_results``); a file
    that cannot be written is a warning on stderr, never a failed benchmark."""
    from metrics_core.measure.bench import save_results

    try:
        path, n = save_results(results, options, tf32=tf32)
    except OSError as exc:
        print(f"modeltui: warning: measurements not saved: {exc}", file=sys.stderr)
        return
    if n:
        print(f"modeltui: saved {n} measurement(s) to {path} (--no-save: skip)", file=sys.stderr)


def measure_in_child(jobs: list, options, args: argparse.Namespace, kwargs: dict, bar) -> list:  # noqa: ANN001
    """``bench_model`` of each (name, report) in a child process (``metrics_core.measure.bench_child``):
    a model that raises, exits, crashes or runs past ``--timeout`` gets a failed ``BenchResult`` naming
    why; the others are measured. Results in the order of ``jobs``."""
    import threading

    from metrics_core.measure.bench import BenchResult
    from metrics_core.measure.bench_child import BenchJob, run_benchmarks

    out: dict[str, BenchResult] = {}
    seen: list[str] = []

    def on_event(event) -> None:  # noqa: ANN001 (BenchEvent)
        if bar is not None and event.model not in seen:
            seen.append(event.model)
            bar.next_model()
        if event.kind == "progress":
            if bar is not None:
                bar(event.model, event.phase, event.done, event.total)
        elif event.kind == "result":
            out[event.model] = event.result
        else:
            report = dict(jobs)[event.model]
            shape = list(report.input_shape or [])
            out[event.model] = BenchResult(
                event.model, args.device, "-", options.dtype, options.batch_size, shape, args.warmup,
                args.iters, error=event.error,
            )  # fmt: skip

    job = BenchJob(options, args.device, args.warmup, args.iters, kwargs)
    run_benchmarks(jobs, job, on_event, threading.Event(), timeout_s=options.timeout_s)
    return [out[name] for name, _ in jobs]


class ProgressBar:
    """A one-line progress bar on stderr (only used when stderr is a terminal)."""

    def __init__(self, models: int) -> None:
        self.models, self.index = models, 0

    def next_model(self) -> None:
        self.index += 1

    def __call__(self, model: str, phase: str, done: int, total: int) -> None:
        filled = BAR_WIDTH * done // total if total else BAR_WIDTH
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        line = f"[{self.index}/{self.models}] {model}: {phase} [{bar}] {done}/{total}"
        print(f"\r\x1b[K{line}", end="", file=sys.stderr, flush=True)

    def clear(self) -> None:
        print("\r\x1b[K", end="", file=sys.stderr, flush=True)


def bench_text(results: Sequence) -> str:  # noqa: ANN001 (BenchResult)
    """Header (device, dtype, batch, passes), the measured/estimated table, then notes."""
    if not results:
        return ""
    first = results[0]
    threads = f", {first.threads} threads" if first.threads else ""
    header = (
        f"Measured on {first.device} ({first.device_name}{threads}); dtype {first.dtype}, batch "
        f"{first.batch_size}, {first.warmup} warm-up + {first.iters} timed passes\nrows in the order given"
    )
    target = next((r.target for r in results if r.target), None)
    rate = "OP/s" if first.dtype == "int8" else "FLOP/s"
    headers = ["Model", "Median", "p90", "Samples/s", f"Achieved {rate}", "Latency (est.)", "Measured/est."]
    cuda = any(r.measured_peak_bytes is not None for r in results)
    if cuda:
        headers += ["Peak mem", "Peak (est.)", "Mem measured/est."]
    rows = []
    for r in results:
        if not r.ok:
            rows.append([r.model, "error", *(["-"] * (len(headers) - 2))])
            continue
        row = [
            r.model,
            units.human_time(r.median_s),
            units.human_time(r.p90_s),
            units.samples_per_s(r.throughput_per_s),
            units.human_rate(r.achieved_flops_per_s, rate),
            units.human_time(r.estimated_latency_s),
            units.times(r.latency_ratio),
        ]
        if cuda:
            row += [
                units.human_bytes(r.measured_peak_bytes),
                units.human_bytes(r.estimated_peak_bytes),
                units.times(r.peak_memory_ratio),
            ]
        rows.append(row)
    parts = [header, text_table(headers, rows, [False, *([True] * (len(headers) - 1))])]
    notes = []
    if target:
        prec = next((r.precision for r in results if r.precision), "")
        modes = next((f"{r.execution}, {r.efficiency} efficiency" for r in results), "")
        notes.append(
            f"Estimates on {target}, {prec} ({modes}); Measured/est. = measured median / estimated latency."
        )
        mismatch = next((r.device_note for r in results if r.device_note), None)
        if mismatch:  # the same device and target for every row: one line
            notes.append(f"Note: {mismatch}.")
    else:
        reason = next((r.target_note for r in results if r.target_note), "no hardware target")
        notes.append(f"No estimate: {reason}.")
    if cuda:
        notes.append("Peak mem = torch.cuda.max_memory_allocated; Peak (est.) = activations + weights.")
    parts.extend(energy_lines(results))
    for r in results:
        if r.error:
            notes.append(f"{r.model}: ERROR {row_error(r.model, r.error)}")
    return "\n".join([*parts, *notes])


def energy_lines(results: Sequence) -> list[str]:  # noqa: ANN001 (BenchResult)
    """Energy per pass: the estimate (board power x estimated latency, an upper bound) beside the NVML
    measurement on CUDA; on CPU a line saying energy is not measured."""
    ok = [r for r in results if r.ok]
    estimated = any(r.estimated_energy_j is not None for r in ok)
    measured = any(r.measured_energy_j is not None for r in ok)
    out = []
    if estimated or measured:
        headers = ["Model", "Est. J/pass", "Est. J/sample", "Meas. J/pass", "Meas. J/sample", "Mean W"]
        rows = [
            [
                r.model,
                units.human_energy(r.estimated_energy_j),
                units.human_energy(r.estimated_energy_per_sample_j),
                units.human_energy(r.measured_energy_j),
                units.human_energy(r.measured_energy_per_sample_j),
                units.fixed(r.measured_power_w, 1),
            ]
            for r in ok
        ]
        out.append("Energy per forward pass:")
        out.append(text_table(headers, rows, [False, *([True] * 5)]))
    power = next((r.board_power_w for r in ok if r.board_power_w is not None), None)
    if power is not None:
        out.append(f"Energy (est.) = {units.plain(power)} W board power x estimated latency: an upper bound.")
    if measured:
        first = next(r for r in ok if r.measured_energy_j is not None)
        out.append(
            f"Measured: NVML total-energy counter over >= 1 s of back-to-back passes "
            f"({first.energy_passes} passes in {units.human_time(first.energy_window_s)} for {first.model})."
        )
    notes = dict.fromkeys(r.energy_note for r in ok if r.energy_note)
    out.extend(f"{n[0].upper()}{n[1:]}." for n in notes)
    return out
