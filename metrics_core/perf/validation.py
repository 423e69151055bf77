"""Estimates held against measurements: the CSV mapping and the error metrics of the validation benchmark.

Pure functions, no torch: ``benchmarks/validate_estimates.py`` analyses the models and estimates them; this
module reads the published measurement files, maps their rows to our models and scores the estimates.

Input files (``shared/reference/measured/``, see its README):

- a pairs file ``torchvision,timm`` (header row): the torchvision catalog name and the timm architecture with
  the same structure;
- timm benchmark CSVs with at least ``model`` (timm architecture, optionally ``.tag``), ``infer_img_size``
  (square side, px), ``infer_batch_size`` and ``infer_samples_per_sec`` (measured images/s).

Metrics over rows with an estimated and a measured throughput (samples/s), ratio = estimate / measured:

- ``geomean_ratio``: exp(mean(log ratio)) — the systematic bias (1.0: none; > 1: optimistic);
- ``median_abs_error``: median of |ratio - 1| (a fraction; 0.28 = 28 %);
- ``within``: share of rows with |ratio - 1| <= 0.25 (a fraction);
- ``spearman``: rank correlation of estimate and measurement (average ranks for ties).
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: |estimate / measured - 1| within which a row counts as "within" (the issue's ±25 %).
WITHIN: float = 0.25


@dataclass(frozen=True)
class MeasuredRow:
    """One measurement mapped to a torchvision model: images/s at a square image size and batch size."""

    model: str  # torchvision catalog name
    timm_model: str  # the timm architecture of the CSV row (as written, tag included)
    image_size: int  # px (square)
    batch_size: int
    samples_per_s: float  # measured throughput, images/s


def read_pairs(path: str | Path) -> dict[str, str]:
    """``timm architecture -> torchvision name`` from a ``torchvision,timm`` CSV (header row)."""
    with open(path, newline="", encoding="utf-8") as f:
        return {r["timm"].strip(): r["torchvision"].strip() for r in csv.DictReader(f) if r.get("timm")}


def map_rows(measured_csv: str | Path, pairs: dict[str, str]) -> list[MeasuredRow]:
    """The rows of a timm benchmark CSV whose architecture (tag stripped) has a torchvision pair, in file
    order. Every (architecture, image size, batch size) row is kept: one model measured at several sizes
    gives several rows."""
    rows: list[MeasuredRow] = []
    with open(measured_csv, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            arch = r["model"].strip()
            tv = pairs.get(arch) or pairs.get(arch.split(".")[0])
            if tv is None:
                continue
            rows.append(
                MeasuredRow(
                    model=tv,
                    timm_model=arch,
                    image_size=int(float(r["infer_img_size"])),
                    batch_size=int(float(r["infer_batch_size"])),
                    samples_per_s=float(r["infer_samples_per_sec"]),
                )
            )
    return rows


#: Words in a measurement file name that name no device (vendor, product line).
_NOT_DEVICE = ("nvidia", "geforce", "rtx", "tesla", "intel", "amd", "core", "xeon", "epyc")


def target_for_file(
    name: str, ids: Sequence[str], kinds: dict[str, str] | None = None
) -> tuple[str, str, str] | None:
    """``(target id, execution, dtype)`` of a timm benchmark file from its name, None when no target matches.

    Execution: ``compiled`` when the name says ``dynamo``/``compile``/``inductor``, else ``eager``. The device
    is the name's last dash-separated word after the PyTorch/CUDA tags (``...-cu128-4090-dynamo`` -> ``4090``,
    ``...-rtx3090`` -> ``3090``, ``...-i9-10940x`` -> ``10940x``); it matches the target whose id has it as a
    dash-separated part, else whose id without dashes ends with it, else contains it (the first such id).
    Dtype: ``bf16`` / ``fp32`` when named, else AMP: ``fp16`` on GPUs, ``bf16`` on CPUs (``kinds``: id ->
    kind; CPU autocast is bfloat16)."""
    stem = Path(name).stem.lower()
    execution = "compiled" if any(w in stem for w in ("dynamo", "compile", "inductor")) else "eager"
    words = [w for w in stem.split("-") if w not in ("dynamo", "compile", "compiled", "inductor")]
    device = words[-1] if words else ""
    for prefix in _NOT_DEVICE:
        device = device.removeprefix(prefix)
    if not device:
        return None
    match = next((i for i in ids if device in i.split("-")), None)
    match = match or next((i for i in ids if i.replace("-", "").endswith(device)), None)
    match = match or next((i for i in ids if device in i.replace("-", "")), None)
    if match is None:
        return None
    cpu = "cpu" in (kinds or {}).get(match, "").lower()
    dtype = "bf16" if "bf16" in stem else "fp32" if "fp32" in stem else ("bf16" if cpu else "fp16")
    return match, execution, dtype


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks of ``values``; tied values share the average of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        avg = (i + j) / 2 + 1
        for k in range(i, j + 1):
            out[order[k]] = avg
        i = j + 1
    return out


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson correlation of the average ranks); None for < 2 rows or a
    constant series."""
    if len(x) != len(y):
        raise ValueError("spearman: series of different lengths")
    if len(x) < 2:
        return None
    rx, ry = ranks(x), ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def summarize(estimated: Sequence[float], measured: Sequence[float]) -> dict[str, Any]:
    """n, geometric-mean ratio, median |error|, share within ``WITHIN`` and Spearman rho of estimate vs
    measurement (both in samples/s, positive). Fractions, not percentages; None where undefined (n = 0)."""
    if len(estimated) != len(measured):
        raise ValueError("summarize: series of different lengths")
    ratios = [e / m for e, m in zip(estimated, measured, strict=True)]
    n = len(ratios)
    if not n:
        return {"n": 0, "geomean_ratio": None, "median_abs_error": None, "within": None, "spearman": None}
    errors = [abs(r - 1.0) for r in ratios]
    return {
        "n": n,
        "geomean_ratio": math.exp(statistics.fmean(math.log(r) for r in ratios)),
        "median_abs_error": statistics.median(errors),
        "within": sum(1 for e in errors if e <= WITHIN) / n,
        "spearman": spearman(estimated, measured),
    }


def worst(
    rows: Sequence[Any], estimated: Sequence[float], measured: Sequence[float], n: int = 10
) -> list[tuple[Any, float]]:
    """The ``n`` rows with the largest |log(estimate / measured)|, worst first, with their ratio."""
    scored = [(r, e / m) for r, e, m in zip(rows, estimated, measured, strict=True)]
    scored.sort(key=lambda x: -abs(math.log(x[1])))
    return scored[:n]
