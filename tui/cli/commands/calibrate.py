"""``modeltui calibrate``: fit a target's calibrated-model parameters to your own measurements.

Input (vision models): the measurements ``modeltui bench`` saved for the target (``--from-bench``, the
file ``<cache dir>/bench/results.jsonl``) and/or a CSV in timm's benchmark format (``--measurements``: at
least ``model,infer_img_size,infer_batch_size,infer_samples_per_sec``; ``model`` a torchvision catalog name,
a ``timm:``/``hf:`` name, or a timm architecture mapped through ``--pairs``). The models are analysed
(``runtime.analyze.analyze_many``, cached), the parameters fitted on all but the held-out models
(``metrics_core.perf.calibrate``), and the parameters and errors printed before/after; ``--write`` merges the
fitted values into the user efficiency file (``perf.efficiency.user_efficiency_file``), which every
estimate on that target then uses (and says so: ``efficiency_source``).

LLM serving measurements (``--llm FILE.csv``, the format of ``metrics_core.perf.llm_calibrate``): each
row's scenario is captured (``runtime.llm_calibrate``), the parameters each serving stack's rows inform
(bandwidth share, GEMM scale, step and request overhead) fitted on all but the held-out rows, the errors
printed before/after, and ``--write`` merges ``[stack.ID]`` tables into the user efficiency file, which
every ``llm`` estimate with that stack then uses (and says so: ``stack_source``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections import defaultdict
from pathlib import Path

from metrics_core.common.errors import UsageError, WriteError

FORMATS = ("table", "json")
EXECUTIONS = ("eager", "compiled")

#: The parameters fitted by default: the classes vision models exercise, of the execution mode.
DEFAULT_PARAMS = {
    "eager": ("conv_eager", "gemm", "attention", "vector", "bandwidth", "depthwise_eager", "kernel_gap_us",
              "eager_op_us"),
    "compiled": ("conv_compiled", "gemm", "attention", "vector", "bandwidth", "depthwise_compiled",
                 "kernel_gap_us", "compiled_kernel_us"),
}  # fmt: skip

#: Columns a vision measurement CSV must have (timm's benchmark.py output).
VISION_COLUMNS = ("model", "infer_img_size", "infer_batch_size", "infer_samples_per_sec")


def holdout_fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}") from None
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return v


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="fit a target's performance-model parameters to your measurements (bench results or a CSV)",
        description="Fits the calibrated model's per-op-class fractions and launch costs of --hardware to "
        "measured throughputs, reports the error before/after on the fit rows and on held-out models, and "
        "with --write stores the values in the user efficiency file.",
    )
    p.add_argument("--hardware", metavar="ID", help="the target to calibrate (with --llm: only its rows)")
    p.add_argument("--hardware-file", metavar="PATH", action="append", default=[], help="extra hardware TOML")
    p.add_argument(
        "--from-bench", action="store_true", help="use the measurements `modeltui bench` saved for ID"
    )
    p.add_argument(
        "--measurements",
        metavar="FILE.csv",
        action="append",
        default=[],
        help="timm benchmark CSV (model,infer_img_size,infer_batch_size,infer_samples_per_sec); repeatable",
    )
    p.add_argument(
        "--llm",
        metavar="FILE.csv",
        help="LLM serving measurements (model,stack,hardware,tp,weights,activations,kv,batch,prompt_tokens,"
        "output_tokens,metric,value): fit the serving stacks' parameters",
    )
    p.add_argument("--stack", metavar="ID", help="with --llm: fit this serving stack only")
    p.add_argument("--pairs", metavar="FILE.csv", help="torchvision,timm pairs mapping the CSV's timm names")
    p.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="fp16", help="of the CSV rows (fp16)")
    p.add_argument(
        "--execution", choices=EXECUTIONS, default="eager", help="how the measurements ran (default eager)"
    )
    p.add_argument(
        "--params",
        metavar="P,P,...",
        help="parameters to fit (default: the classes of the execution mode; see `efficiency.toml`)",
    )
    p.add_argument(
        "--holdout", type=holdout_fraction, default=0.25, metavar="F", help="share of models held out (0.25)"
    )
    p.add_argument("--loss", choices=("mean", "median", "mse"), default="mean", help="mean |log est/meas|")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="write the fitted values to the user file")
    group.add_argument("--dry-run", action="store_true", help="only report (the default)")
    p.add_argument("--no-cache", action="store_true", help="analyse again instead of using the cache")
    p.add_argument("--format", choices=FORMATS, default="table")


def run(args: argparse.Namespace) -> int:
    from metrics_core.perf import calibrate as cal
    from metrics_core.perf.efficiency import params_for, user_efficiency_file
    from tui.cli.commands.hardware import load_catalog_with_warnings

    if args.llm:
        return run_llm(args)
    if args.stack:
        raise UsageError("--stack: only with --llm FILE.csv (serving-stack calibration)")
    if not args.hardware:
        raise UsageError("give --hardware ID (the target to calibrate) or --llm FILE.csv (serving stacks)")
    target = load_catalog_with_warnings(args.hardware_file).get(args.hardware)
    names = args.params.split(",") if args.params else list(DEFAULT_PARAMS[args.execution])
    try:
        params = cal.check_params(n.strip() for n in names if n.strip())
    except ValueError as exc:
        raise UsageError(f"--params: {exc}") from None
    if not args.from_bench and not args.measurements:
        raise UsageError(
            "no measurements: give --from-bench (bench's saved results) or --measurements FILE.csv"
        )
    wanted, sources, skipped = collect(args, target)
    if not wanted:
        why = ""
        if skipped:  # every row was refused: say why, not only that nothing was found
            more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
            why = f" (skipped: {skipped[0]}{more})"
        raise UsageError(
            f"no measurements for {target.id} ({args.execution}) in {', '.join(sources)}{why}; "
            "run `modeltui bench ... --hardware` on it or check the CSV's model names"
        )
    rows, failed = analyse(wanted, target, args)
    if not rows:
        raise UsageError(f"none of the {len(wanted)} measured models could be analysed: {failed[0]}")
    prepared = [cal.prepare(m) for m in rows]
    try:
        calib = cal.calibrate(prepared, params, args.holdout, args.loss)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    base = params_for(target)
    path = user_efficiency_file()
    written = None
    if args.write and any(calib.changed.values()):  # nothing to write when no value moves
        written = write_user_file(path, target.id, calib, sources, args)
    doc = {
        "target": target.id,
        "generation": base.generation,
        "execution": args.execution,
        "sources": sources,
        "rows": len(rows),
        **calib.to_dict(),
        "ranges": {n: list(cal.PARAM_RANGES[n]) for n in params},
        "user_file": str(path),
        "written": str(written) if written else None,
        "skipped": skipped,
        "not_analysed": failed,
    }
    if args.format == "json":
        print(json.dumps(doc, indent=2, allow_nan=False))
    else:
        print(calibrate_text(doc, args.write))
    return 0


def collect(args: argparse.Namespace, target) -> tuple[list[tuple], list[str], list[str]]:  # noqa: ANN001
    """``(rows, sources, skipped)``: rows ``(model, dtype, precision|None, batch, analysis dict, samples/s,
    label)`` for the target and execution, the sources read, and one line per row skipped."""
    rows: list[tuple] = []
    sources: list[str] = []
    skipped: list[str] = []
    if args.from_bench:
        from metrics_core.measure.bench import load_saved, results_path
        from metrics_core.perf.calibrate import throughput_problem

        path = results_path()
        sources.append(f"bench results {path}")
        saved, bad = load_saved(path)
        if bad:
            skipped.append(f"{bad} unreadable line(s) in {path}")
        latest: dict[tuple, dict] = {}
        for rec in saved:
            if rec.get("target") != target.id or rec.get("execution", "eager") != args.execution:
                continue
            analysis = rec.get("analysis") or {}
            config = json.dumps(analysis, sort_keys=True)
            key = (rec["model"], rec.get("dtype"), rec.get("batch_size"), config)
            latest[key] = rec  # a later run of the same configuration replaces an earlier one
        for rec in latest.values():
            problem = throughput_problem(int(rec["batch_size"]), float(rec["throughput_per_s"]))
            if problem:
                skipped.append(f"{path}: {rec['model']} ({rec['dtype']}): {problem}")
                continue
            rows.append(
                (rec["model"], rec["dtype"], rec.get("precision"), int(rec["batch_size"]),
                 rec.get("analysis") or {}, float(rec["throughput_per_s"]), f"bench {rec.get('date', '')}")
            )  # fmt: skip
    pairs = read_pairs_arg(args.pairs)
    for name in args.measurements:
        sources.append(name)
        rows.extend(read_vision_csv(name, pairs, args.dtype, skipped))
    return rows, sources, skipped


def read_pairs_arg(path: str | None) -> dict[str, str]:
    if not path:
        return {}
    from metrics_core.perf.validation import read_pairs

    try:
        return read_pairs(path)
    except (OSError, KeyError, UnicodeDecodeError) as exc:
        raise UsageError(f"--pairs {path}: cannot read a torchvision,timm CSV: {exc}") from None


def read_vision_csv(path: str, pairs: dict[str, str], dtype: str, skipped: list[str]) -> list[tuple]:
    """The rows of a timm-format CSV (module doc) as ``collect`` rows; names that are neither catalog
    names, prefixed names nor in ``pairs`` are counted in ``skipped``. ``UsageError`` for a missing file or
    a CSV in another format (the LLM format: not supported yet)."""
    from metrics_core.perf.calibrate import throughput_problem
    from metrics_core.sources.catalog import catalog

    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            missing = [c for c in VISION_COLUMNS if c not in header]
            if missing:
                raise UsageError(
                    f"--measurements {path}: not a vision benchmark CSV (missing {', '.join(missing)}; "
                    f"needs {','.join(VISION_COLUMNS)}); LLM measurements go in --llm FILE.csv"
                )
            records = list(reader)
    except OSError as exc:
        raise UsageError(f"--measurements {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:  # a binary or non-UTF-8 file: it was a traceback
        raise UsageError(f"--measurements {path}: not UTF-8 text (a vision benchmark CSV is)") from None
    known = {s.name for s in catalog()}
    out, unknown = [], 0
    for n, r in enumerate(records, 2):
        arch = (r.get("model") or "").strip()
        name = arch if arch in known or ":" in arch else pairs.get(arch) or pairs.get(arch.split(".")[0])
        if not name:
            unknown += 1
            continue
        try:
            size = int(float(r["infer_img_size"]))
            batch = int(float(r["infer_batch_size"]))
            rate = float(r["infer_samples_per_sec"])
        except (TypeError, ValueError):
            skipped.append(f"{path}:{n}: unreadable numbers in row of {arch!r}")
            continue
        if not 0 < rate < math.inf or batch < 1 or size < 1:  # nan / inf: no measurement (a math error)
            skipped.append(f"{path}:{n}: {arch!r} has no positive finite throughput, batch and size")
            continue
        problem = throughput_problem(batch, rate)
        if problem:
            skipped.append(f"{path}:{n}: {arch!r}: {problem}")
            continue
        shape = {"input_shape": [3, size, size]}
        out.append((name, dtype, None, batch, shape, rate, f"{Path(path).name}:{n}"))
    if unknown:
        skipped.append(f"{unknown} row(s) of {path}: not a torchvision model, a prefixed name or in --pairs")
    return out


def analyse(wanted: list[tuple], target, args: argparse.Namespace) -> tuple[list, list[str]]:  # noqa: ANN001
    """The ``Measurement`` rows of ``wanted`` (``collect``), analysing each distinct configuration once
    (cached); and one line per model that could not be analysed."""
    from metrics_core.common.input_spec import parse_input_spec
    from metrics_core.perf.calibrate import Measurement
    from metrics_core.perf.roofline import precision_for
    from metrics_core.runtime.analyze import AnalysisOptions, analyze_many

    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, (_model, dtype, _prec, batch, analysis, _rate, _label) in enumerate(wanted):
        groups[(dtype, batch, json.dumps(analysis, sort_keys=True))].append(i)
    reports: dict[int, object] = {}
    for (dtype, batch, analysis_text), idx in groups.items():
        a = json.loads(analysis_text)
        opts = AnalysisOptions(
            batch_size=batch,
            dtype=dtype,
            input_shape=tuple(a["input_shape"]) if a.get("input_shape") else None,
            inputs=tuple(parse_input_spec(s) for s in a["inputs"]) if a.get("inputs") else None,
            inputs_fn=a.get("inputs_fn"),
            seq_len=a.get("seq_len"),
            hf_class=a.get("hf_class"),
            attention=a.get("attention") or "sdpa",
            memory_format=a.get("memory_format") or "contiguous",
            use_cache=not args.no_cache,
        )
        models = list(dict.fromkeys(wanted[i][0] for i in idx))
        by_name = dict(zip(models, analyze_many(models, opts), strict=True))
        for i in idx:
            reports[i] = by_name[wanted[i][0]]
    rows, failed = [], []
    for i, (model, dtype, prec, batch, _analysis, rate, label) in enumerate(wanted):
        rep = reports[i]
        if not rep.ok or not rep.records:  # type: ignore[attr-defined]
            failed.append(f"{model}: {rep.error or 'no op records'}")  # type: ignore[attr-defined]
            continue
        precision = prec or precision_for(target, dtype)
        rows.append(
            Measurement(model, rep.records, target, precision, args.execution, batch, rate, label)  # type: ignore[attr-defined]
        )
    return rows, list(dict.fromkeys(failed))


def write_user_file(path: Path, target_id: str, calib, sources: list[str], args) -> Path:  # noqa: ANN001
    """Merge the fitted values into the user efficiency file atomically; the comment above the table says
    what they were fitted on, when, and the error before/after."""
    import datetime

    from metrics_core.common.paths import write_atomic
    from metrics_core.perf.calibrate import error_text, merge_user_file

    try:
        existing = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        existing = ""
    except OSError as exc:
        raise UsageError(f"cannot read the user efficiency file {path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"the user efficiency file {path} is not UTF-8 text (byte {exc.start}): fix or move it; it was "
            "not changed"
        ) from None
    r = calib.result
    today = datetime.date.today().isoformat()
    held = calib.held_after if calib.held_after.get("n") else calib.fit_after
    held_b = calib.held_before if calib.held_before.get("n") else calib.fit_before
    which = "held-out rows" if calib.held_after.get("n") else "fit rows (none held out)"
    comment = [
        f"fitted by `modeltui calibrate` on {today}: {', '.join(r.params)} ({args.execution} execution, "
        f"loss {r.loss_name} |log est/meas|)",
        f"on {calib.fit_before['n']} rows of {calib.fit_models} models from {'; '.join(sources)}",
        f"{which} before: {error_text(held_b)}",
        f"{which} after:  {error_text(held)}",
    ]
    text = merge_user_file(existing, target_id, r.fitted, comment)
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise WriteError(f"cannot write the user efficiency file {path}: {exc.strerror or exc}") from None
    return path


def _error_rows(doc: dict) -> list[list[str]]:
    """The error table's rows of a fit (``fit_rows`` / ``held_out_rows``, each before and after)."""
    rows = []
    for split_name, key in (("fit", "fit_rows"), ("held out", "held_out_rows")):
        for when in ("before", "after"):
            s = doc[key][when]
            if not s["n"]:
                rows.append([split_name, when, "0", "-", "-", "-", "-"])
                continue
            rho = s["spearman"]
            rows.append(
                [split_name, when, str(s["n"]), f"{s['geomean_ratio']:.3f}", _pct(s["median_abs_error"]),
                 f"{100 * s['within']:.0f}%", "-" if rho is None else f"{rho:.3f}"]
            )  # fmt: skip
    return rows


def _pct(v) -> str:  # noqa: ANN001
    return "-" if v is None else f"{100 * v:.1f}%"


#: What the parameter table's ``Changed`` column means (``perf.calibrate.param_tolerance``,
#: ``perf.llm_calibrate.value_tolerance``: half the last digit a value is written with).
CHANGED_LEGEND = "Changed = the value written differs from the one in use"


def _yes(changed: bool) -> str:
    return "yes" if changed else "no"


def _improved(improved: bool) -> str:
    """How the fit's loss moved, in words (``perf.calibrate.is_improved``: by more than 0.00005)."""
    return "improved" if improved else "not improved (the values in use fit these rows as well)"


def calibrate_text(doc: dict, write: bool = False) -> str:
    from metrics_core.common.textable import text_table

    head = (
        f"Calibrating {doc['target']} (generation {doc['generation']}), {doc['execution']} execution: "
        f"{doc['rows']} measurement rows, {doc['fit_models']} models fitted, {doc['held_out_models']} "
        f"held out ({100 * doc['holdout']:.0f}% by SHA-256 of the model name)\n"
        f"from: {'; '.join(doc['sources'])}"
    )
    prows = []
    for n in doc["params"]:
        lo, hi = doc["ranges"][n]
        before, after = doc["before"][n], doc["after"][n]
        prows.append([n, f"{lo:g}-{hi:g}", f"{before:.3g}", f"{after:.3g}", _yes(doc["changed"][n])])
    ptable = text_table(
        ["Parameter", "Range", "Before", "After", "Changed"], prows, [False, True, True, True, False]
    )
    erows = _error_rows(doc)
    etable = text_table(
        ["Rows", "Params", "n", "Geomean est/meas", "Median |error|", "Within ±25%", "Spearman"],
        erows,
        [False, False, True, True, True, True, True],
    )
    parts = [head, ptable, etable]
    parts.append(
        f"Loss ({doc['loss']} |log est/meas|) on the fit rows: {doc['loss_before']:.4f} -> "
        f"{doc['loss_after']:.4f} ({doc['evaluations']} evaluations): {_improved(doc['improved'])}. "
        f"Before = the parameters in use now; {CHANGED_LEGEND}."
    )
    if doc["written"]:
        parts.append(
            f"Wrote [target.{doc['target']}] to {doc['written']}: estimates on it now use these values."
        )
    elif write:
        parts.append("Nothing written: no parameter changed.")
    else:
        parts.append(f"Dry run: nothing written (--write merges the 'After' values into {doc['user_file']}).")
    for line in doc["skipped"]:
        parts.append(f"Skipped: {line}")
    for line in doc["not_analysed"]:
        parts.append(f"Not analysed: {line}")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------- LLM stacks


def run_llm(args: argparse.Namespace) -> int:
    """``calibrate --llm FILE.csv``: read, capture, fit per stack, report, and with ``--write`` store."""
    from metrics_core.perf import llm_calibrate as lc
    from metrics_core.perf.efficiency import user_efficiency_file
    from metrics_core.perf.stacks import canonical_id, get_stack, stacks
    from metrics_core.runtime.llm_calibrate import prepare_rows
    from tui.cli.commands.hardware import load_catalog_with_warnings

    for flag, given in (("--from-bench", args.from_bench), ("--measurements", args.measurements),
                        ("--pairs", args.pairs)):  # fmt: skip
        if given:
            raise UsageError(f"{flag}: not with --llm (the LLM CSV names each row's model and hardware)")
    catalog = load_catalog_with_warnings(args.hardware_file)
    only = None
    if args.stack:
        only = canonical_id(args.stack)
        if only not in stacks():
            get_stack(args.stack)  # the one-line error with suggestions
    params = None
    if args.params:
        from metrics_core.perf.stacks import check_param

        params = [n.strip() for n in args.params.split(",") if n.strip()]
        try:
            for n in params:
                check_param(n)
        except ValueError as exc:
            raise UsageError(f"--params: {exc}") from None
    hardware = catalog.get(args.hardware).id if args.hardware else None
    try:
        rows = lc.read_llm_csv(args.llm, catalog.get)
    except OSError as exc:
        raise UsageError(f"--llm {args.llm}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"--llm {exc}" if str(exc).startswith(args.llm) else f"--llm {args.llm}: {exc}"
        ) from None
    rows = [
        r for r in rows if (only is None or r.stack == only) and (hardware is None or r.hardware == hardware)
    ]
    if not rows:
        which = " and ".join(x for x in (only and f"stack {only}", hardware and f"hardware {hardware}") if x)
        raise UsageError(f"--llm {args.llm}: no rows for {which}")
    prepared, failed = prepare_rows(rows, catalog.get)
    if not prepared:
        raise UsageError(f"none of the {len(rows)} rows could be estimated: {failed[0]}")
    by_stack: dict[str, list] = defaultdict(list)
    for p in prepared:
        by_stack[p.row.stack].append(p)
    results = []
    for sid, rs in by_stack.items():
        try:
            results.append(lc.calibrate_stack(get_stack(sid), rs, args.holdout, params))
        except ValueError as exc:
            raise UsageError(f"--params: {exc}") from None
    path = user_efficiency_file()
    written = None
    if args.write and any(c.changed for c in results):
        written = write_stack_tables(path, results, args)
    doc = {
        "csv": args.llm,
        "rows": len(rows),
        "estimated": len(prepared),
        "holdout": args.holdout,
        "stacks": [c.to_dict() for c in results],
        "user_file": str(path),
        "written": str(written) if written else None,
        "failed": failed,
    }
    if args.format == "json":
        print(json.dumps(doc, indent=2, allow_nan=False))
    else:
        print(llm_calibrate_text(doc, args.write))
    return 0


def write_stack_tables(path: Path, results: list, args: argparse.Namespace) -> Path:
    """Merge each stack's changed values into the user efficiency file (one atomic write); the comment above
    each table says what it was fitted on, when, and the error before/after."""
    import datetime

    from metrics_core.common.paths import write_atomic
    from metrics_core.perf.calibrate import error_text
    from metrics_core.perf.llm_calibrate import merge_stack_table

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise UsageError(f"cannot read the user efficiency file {path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"the user efficiency file {path} is not UTF-8 text (byte {exc.start}): fix or move it; it was "
            "not changed"
        ) from None
    today = datetime.date.today().isoformat()
    for c in results:
        if not c.changed:
            continue
        held = bool(c.held_after.get("n"))
        which = "held-out rows" if held else "fit rows (none held out)"
        comment = [
            f"fitted by `modeltui calibrate --llm` on {today}: {', '.join(c.params)} "
            f"(loss mean |log est/meas| {c.loss_before:.4f} -> {c.loss_after:.4f})",
            f"on {c.fit_before['n']} rows ({', '.join(c.hardware)}) of {args.llm}",
            f"{which} before: {error_text(c.held_before if held else c.fit_before)}",
            f"{which} after:  {error_text(c.held_after if held else c.fit_after)}",
        ]
        text = merge_stack_table(text, c.stack, c.changed, comment)
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise WriteError(f"cannot write the user efficiency file {path}: {exc.strerror or exc}") from None
    return path


def _num(v, start=None) -> str:  # noqa: ANN001
    """A parameter's value; an unset one is its generation's (``start``: the value that applies, shown)."""
    if v is not None:
        return f"{v:.4g}"
    return "(generation)" if start is None else f"{start:.4g} (generation)"


def llm_calibrate_text(doc: dict, write: bool) -> str:
    from metrics_core.common.textable import text_table

    parts = [
        f"Calibrating serving stacks on {doc['csv']}: {doc['rows']} rows, {doc['estimated']} estimated, "
        f"{100 * doc['holdout']:.0f}% held out by SHA-256 of the row"
    ]
    for c in doc["stacks"]:
        head = f"\n== {c['stack']} (parameters now: {c['origin']}; hardware {', '.join(c['hardware'])}) =="
        parts.append(head)
        if c["note"]:
            parts.append(f"nothing fitted: {c['note']}")
        if c["params"]:
            prows = []
            for n in c["params"]:
                lo, hi = c["ranges"][n]
                b, a = c["before"][n], c["after"][n]
                prows.append(
                    [n, f"{lo:g}-{hi:g}", _num(b, c["start"].get(n)), _num(a), _yes(c["changed"][n])]
                )
            parts.append(
                text_table(
                    ["Parameter", "Range", "Before", "After", "Changed"],
                    prows,
                    [False, True, True, True, False],
                )
            )
        erows = _error_rows(c)
        parts.append(
            text_table(
                ["Rows", "Params", "n", "Geomean est/meas", "Median |error|", "Within ±25%", "Spearman"],
                erows,
                [False, False, True, True, True, True, True],
            )
        )
        if c["params"]:
            parts.append(
                f"Loss (mean |log est/meas| as speeds) on the fit rows: {c['loss_before']:.4f} -> "
                f"{c['loss_after']:.4f}: {_improved(c['improved'])}. Before = the parameters in use now; "
                f"{CHANGED_LEGEND}."
            )
    if doc["written"]:
        parts.append(
            f"\nWrote the [stack.ID] tables to {doc['written']}: llm estimates now use these values."
        )
    elif write:
        parts.append("\nNothing written: no parameter changed.")
    else:
        parts.append(
            f"\nDry run: nothing written (--write merges the 'After' values into {doc['user_file']})."
        )
    for line in doc["failed"]:
        parts.append(f"Not estimated: {line}")
    return "\n".join(parts)
