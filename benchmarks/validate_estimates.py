"""Estimated vs measured throughput: the performance model held against published GPU benchmarks.

For every row of each measurement CSV whose timm architecture has a torchvision pair (see
``shared/reference/measured/README.md``), the torchvision model is analysed at the row's image size and
batch size (fp16: the CSVs are AMP fp16 runs; cached, so a second run is fast) and estimated on the
matching target, per execution mode and efficiency model. Per mode it prints n, the geometric mean of
estimate / measured, the median |error|, the share within ±25 %, Spearman's rho, and the ten worst rows
with what dominates their estimated time.

    python benchmarks/validate_estimates.py [--measured DIR ...] [--efficiency ideal,calibrated]
        [--target FILE=ID ...] [--json out.json] [--worst 10] [--leave-one-out [--loo-params P,P,...]]

``--measured`` is repeatable (e.g. also ``benchmarks/measured/vision``: more published timm runs); the
pairs file defaults to the first folder's.

``--leave-one-out``: the published error of a GPU the parameters were not fitted on. For each GPU (every
measurement file of one target: eager and compiled, all PyTorch versions), the ``FITTABLE`` parameters
(``--loo-params``) are fitted (``metrics_core.perf.calibrate``, mean |log est/meas|) on the OTHER GPUs'
files only, as values shared across generations, starting from ``generic-gpu``'s physical estimates (not
fitted to anything: a parameter the other GPUs do not constrain, e.g. the compiled ones when only eager
files remain, keeps that prior; ``implicit_gemm`` starts from ``IMPLICIT_GEMM_PREMISE``, not the built-in
value fitted on the RTX 4090's compiled files). A compiled convolution's fraction is ``gemm x
implicit_gemm`` (``Efficiency.compiled_conv``), so the eager files' ``gemm`` carries over to compiled ones.
The DRAM bandwidth share is not fitted (``SOURCED``): each GPU keeps its generation's value in
``data/efficiency.toml``, a streaming share published stream benchmarks measure (0.88 on NVIDIA parts: copy
and triad kernels on the RTX 4090, A100 and H100), so a held-out GPU's share never comes from another
GPU's fit. Each held-out file is then estimated with them (its target keeps its own tiles, SM count,
sustained clock and streaming share) and summarised like the main table, beside the built-in
parameters (fitted by hand on all files, the held-out one included) and the unfitted prior.

A CSV's target and execution come from its file name (``...-4090.csv`` -> ``rtx-4090`` eager,
``...-4090-dynamo.csv`` -> compiled, ``...-rtx3090.csv`` -> ``rtx-3090``; ``--target NAME=ID`` overrides),
its precision from ``amp`` (fp16) / ``bf16`` / ``fp32`` in the name.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metrics_core.perf import calibrate as cal  # noqa: E402
from metrics_core.perf.efficiency import (  # noqa: E402
    FITTABLE,
    IMPLICIT_GEMM_PREMISE,
    builtin_params_for,
    efficiency_source,
    generation_values,
)
from metrics_core.perf.hardware import hardware_targets  # noqa: E402
from metrics_core.perf.roofline import estimate_records, precision_for  # noqa: E402
from metrics_core.perf.validation import map_rows, read_pairs, summarize, target_for_file, worst  # noqa: E402
from metrics_core.runtime.analyze import AnalysisOptions, analyze_many  # noqa: E402

DEFAULT_MEASURED = ROOT.parent / "shared" / "reference" / "measured"
#: Parameters ``--leave-one-out`` never fits unless ``--loo-params`` names them: published physical figures
#: of each generation (the streaming bandwidth share: sources in ``data/efficiency.toml``).
SOURCED = ("bandwidth",)


def file_mode(name: str, targets: dict, overrides: dict[str, str]) -> tuple[str, str, str] | None:
    """(target id, execution, dtype) of a measurement file: ``--target`` overrides, else from its name
    (``metrics_core.perf.validation.target_for_file``)."""
    kinds = {i: t.kind for i, t in targets.items()}
    found = target_for_file(name, list(targets), kinds)
    stem = Path(name).stem
    if name in overrides or stem in overrides:
        tid = overrides.get(name) or overrides[stem]
        found = target_for_file(f"x-{tid}", [tid], kinds) if found is None else found
        return (tid, found[1], found[2]) if found else (tid, "eager", "fp16")
    return found


def explain(est) -> str:  # noqa: ANN001 (ModelEstimate)
    """What dominates an estimate's time: the category with the largest share, and the memory-bound share."""
    by_cat: Counter[str] = Counter()
    for o in est.ops:
        by_cat[o.category] += o.time_s
    cat, t = by_cat.most_common(1)[0]
    launch = getattr(est, "launch_time_s", 0.0) or 0.0
    parts = [
        f"{cat} {100 * t / est.latency_s:.0f}% of est. time",
        f"memory-bound {est.memory_bound_time_pct:.0f}%",
    ]
    if launch:
        parts.append(f"launch {100 * launch / est.latency_s:.0f}%")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--measured", action="append", default=None, help="folder with CSVs (repeatable; default: shared)"
    )
    ap.add_argument("--pairs", default=None, help="pairs CSV (default: MEASURED/torchvision_timm_pairs.csv)")
    ap.add_argument("--efficiency", default="ideal,calibrated", help="comma-separated efficiency models")
    ap.add_argument("--target", action="append", default=[], help="FILE=ID: the target of a CSV")
    ap.add_argument("--worst", type=int, default=10)
    ap.add_argument("--json", default=None, help="write the summary (and every row) as JSON here")
    ap.add_argument("--leave-one-out", action="store_true", help="fit on the other GPUs, estimate each")
    ap.add_argument(
        "--loo-params",
        default=",".join(p for p in FITTABLE if p not in ("nchw_passes", "conv_compiled", *SOURCED)),
        help="parameters fitted in --leave-one-out (default: every fittable one but nchw_passes, "
        "conv_compiled, which is gemm x implicit_gemm, and the sourced bandwidth share)",
    )
    ap.add_argument("--loo-prior", default="generic-gpu", help="generation whose values start the fit")
    args = ap.parse_args(argv)

    folders = [Path(m) for m in (args.measured or [str(DEFAULT_MEASURED)])]
    pairs = read_pairs(args.pairs or folders[0] / "torchvision_timm_pairs.csv")
    targets = {t.id: t for t in hardware_targets()}
    overrides = dict(o.split("=", 1) for o in args.target)
    efficiencies = [e.strip() for e in args.efficiency.split(",") if e.strip()]
    files = sorted(p for m in folders for p in m.glob("*.csv") if p.name != Path(args.pairs or "pairs").name)
    files = [p for p in files if "pairs" not in p.name]

    started = time.perf_counter()
    plan = []  # (file, target, execution, dtype, rows)
    for path in files:
        mode = file_mode(path.name, targets, overrides)
        if mode is None:
            print(f"skipped {path.name}: no target matches its name (give --target {path.name}=ID)")
            continue
        plan.append((path, *mode, map_rows(path, pairs)))

    # analyse each distinct (dtype, size, batch) group once, all its models in one call (cached)
    wanted: dict[tuple[str, int, int], set[str]] = defaultdict(set)
    for _path, _tid, _ex, dtype, rows in plan:
        for r in rows:
            wanted[(dtype, r.image_size, r.batch_size)].add(r.model)
    reports = {}
    for (dtype, size, batch), models in sorted(wanted.items()):
        opts = AnalysisOptions(batch_size=batch, dtype=dtype, input_shape=(3, size, size))
        for rep in analyze_many(sorted(models), opts):
            reports[(rep.model, dtype, size, batch)] = rep
    analysed_s = time.perf_counter() - started

    for tid in sorted({tid for _p, tid, *_ in plan}):
        source = efficiency_source(targets[tid])
        if source != "built-in":
            print(f"note: {tid} estimates use {source} (the user efficiency file), not the built-in values")
    if args.leave_one_out:
        loo = leave_one_out(plan, reports, targets, args)
        if args.json:
            Path(args.json).write_text(json.dumps(loo, indent=1, allow_nan=False), encoding="utf-8")
        print(f"\n(analysis {analysed_s:.1f} s, total {time.perf_counter() - started:.1f} s)")
        return 0

    summary = []
    for path, tid, execution, dtype, rows in plan:
        target = targets[tid]
        precision = precision_for(target, dtype)
        for eff in efficiencies:
            kept, est, meas, ests = [], [], [], []
            for r in rows:
                rep = reports.get((r.model, dtype, r.image_size, r.batch_size))
                if rep is None or not rep.ok or not rep.records:
                    print(f"  {r.model} @{r.image_size} b{r.batch_size}: not analysed ({rep and rep.error})")
                    continue
                e = estimate_records(
                    rep.records,
                    target,
                    precision,
                    rep.batch_size,
                    rep.model,
                    execution=execution,
                    efficiency=eff,
                )
                kept.append(r)
                est.append(e.throughput_per_s)
                meas.append(r.samples_per_s)
                ests.append(e)
            s = summarize(est, meas)
            mode = f"{tid} {dtype} {execution}, efficiency {eff}"
            print(f"\n== {path.name}: {mode}")
            gm, me, wi, rho = s["geomean_ratio"], s["median_abs_error"], s["within"], s["spearman"]
            print(
                f"n {s['n']}  geomean est/meas {gm:.3f}  median |error| {100 * me:.1f}%  "
                f"within ±25% {100 * wi:.0f}%  Spearman {rho:.4f}"
            )
            index = {id(r): e for r, e in zip(kept, ests, strict=True)}
            print(f"worst {args.worst}:")
            for r, ratio in worst(kept, est, meas, args.worst):
                print(
                    f"  {r.model:<20} {r.image_size:>4}px b{r.batch_size:<5} est/meas {ratio:5.2f}  "
                    f"({explain(index[id(r)])})"
                )
            summary.append(
                {
                    "file": path.name,
                    "target": tid,
                    "dtype": dtype,
                    "execution": execution,
                    "efficiency": eff,
                    **s,
                    "rows": [
                        {
                            "model": r.model,
                            "timm": r.timm_model,
                            "image_size": r.image_size,
                            "batch_size": r.batch_size,
                            "measured_per_s": m,
                            "estimated_per_s": e,
                        }
                        for r, e, m in zip(kept, est, meas, strict=True)
                    ],
                }
            )
    print(
        f"\n(analysis {analysed_s:.1f} s, total {time.perf_counter() - started:.1f} s; "
        "estimates, not measurements)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1, allow_nan=False), encoding="utf-8")
    return 0


def _line(label: str, s: dict) -> str:
    if not s["n"]:
        return f"  {label:<34} n 0"
    return (
        f"  {label:<34} n {s['n']:>3}  geomean {s['geomean_ratio']:.3f}  median |error| "
        f"{100 * s['median_abs_error']:5.1f}%  within ±25% {100 * s['within']:3.0f}%  "
        f"Spearman {s['spearman']:.4f}"
    )


def leave_one_out(plan: list, reports: dict, targets: dict, args: argparse.Namespace) -> list[dict]:
    """The ``--leave-one-out`` tables (module doc); returns them as JSON-ready dicts."""
    params = cal.check_params(p.strip() for p in args.loo_params.split(",") if p.strip())
    # the prior is unfitted: the generation's physical estimates, and implicit_gemm's premise (the built-in
    # [op_class] value was fitted on the RTX 4090's compiled files)
    prior = {**generation_values(args.loo_prior), "implicit_gemm": IMPLICIT_GEMM_PREMISE}
    # a sourced parameter not fitted stays each GPU's own (its generation's published figure)
    prior = {n: v for n, v in prior.items() if n in params or n not in SOURCED}
    prepared: dict[str, list] = {}  # file name -> prepared rows (base: built-in)
    for path, tid, execution, dtype, rows in plan:
        target = targets[tid]
        precision = precision_for(target, dtype)
        base = builtin_params_for(target)
        out = []
        for r in rows:
            rep = reports.get((r.model, dtype, r.image_size, r.batch_size))
            if rep is None or not rep.ok or not rep.records:
                continue
            m = cal.Measurement(
                r.model, rep.records, target, precision, execution, r.batch_size, r.samples_per_s, path.name
            )
            out.append(cal.prepare(m, base))
        prepared[path.name] = out
    gpus = sorted({tid for _p, tid, *_ in plan})
    results = []
    for gpu in gpus:
        held = [p for p, tid, *_ in plan if tid == gpu]
        train = [row for p, tid, *_ in plan if tid != gpu for row in prepared[p.name]]
        print(f"\n== leave out {gpu}: fit {', '.join(params)} on {len(train)} rows of the other GPUs")
        if not train:
            print("  no other GPU's measurements: nothing to fit on")
            continue
        t0 = time.perf_counter()
        res = cal.fit(train, params, start=prior)
        fitted = {**prior, **res.fitted}
        print(
            f"  loss {res.loss_before:.4f} -> {res.loss_after:.4f} ({res.evaluations} evaluations, "
            f"{time.perf_counter() - t0:.0f} s); fitted: " + ", ".join(f"{n} {fitted[n]:g}" for n in params)
        )
        for path in held:
            rows = prepared[path.name]
            s_builtin = cal.summary(rows)
            s_prior = cal.summary(rows, prior)
            s_loo = cal.summary(rows, fitted)
            print(f"  {path.name}:")
            print(_line("built-in (fitted incl. this file)", s_builtin))
            print(_line(f"prior ({args.loo_prior}, unfitted)", s_prior))
            print(_line("leave-one-GPU-out fit", s_loo))
            results.append(
                {
                    "file": path.name,
                    "held_out_gpu": gpu,
                    "fitted": fitted,
                    "params": params,
                    "builtin": s_builtin,
                    "prior": s_prior,
                    "leave_one_out": s_loo,
                }
            )
    return results


if __name__ == "__main__":
    raise SystemExit(main())
