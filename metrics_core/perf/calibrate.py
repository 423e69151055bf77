"""Fit a target's calibrated-model parameters to measurements: ``modeltui calibrate`` and the
leave-one-GPU-out benchmark (``benchmarks/validate_estimates.py --leave-one-out``). Pure Python, no torch,
no scipy.

Input: ``Measurement`` rows — an analysed model's op records, its target, precision, execution, batch size and
the measured throughput (samples/s; a latency ``L`` of one batch ``B`` is ``B / L``). Each row is reduced once
to its kernels' ``perf.efficiency.KernelTerms`` (identical kernels counted once, with a multiplicity), so one
evaluation of a parameter set is a sum of ``perf.efficiency.time_from_terms`` over those terms: the same
formula ``kernel_time`` uses, never a second copy of it.

Fit (``fit``): the chosen ``FITTABLE`` parameters are shared by every row (each row keeps its own target's
other parameters: tiles, SM count, clock); the loss is over r = estimated / measured throughput:

- ``mean`` (default): mean |log r| — robust (L1 in log space: an outlier pulls linearly, not quadratically)
  and, unlike the median, moved by every row, so a coordinate search does not stall on flat steps;
- ``median``: median |log r| (the headline metric itself);
- ``mse``: mean (log r)^2.

Search: deterministic coordinate search inside ``efficiency.PARAM_RANGES``: ``rounds`` passes over the
parameters in the order given; each pass tries ``points`` evenly spaced values of one parameter within a
window around its current value (the window starts at the whole range and shrinks by ``shrink`` per pass),
keeping the best value (a strict improvement only, so a parameter the rows do not constrain keeps its
start value). The objective adds a weak pull towards the start values, ``prior_weight`` x the sum of
((value - start) / range width)^2 (0.005: moving one parameter across its whole range costs as much as
0.5 % of mean |log error|), so a parameter the rows barely constrain (a launch cost at batch 1024) does not
drift to a bound for a negligible gain. Fitted values are rounded (fractions to 3 decimals, microseconds to
2); reported losses are the data loss alone.

Held-out split (``held_out``): a model is held out when the first 8 hex digits of SHA-256 of its name, as a
fraction of 2^32, are below the hold-out fraction (0.25: about 1 model in 4) — deterministic across runs and
machines, and all rows of one model fall on the same side. Before/after errors use
``perf.validation.summarize`` on the fit rows and the held-out rows.

Other measurement kinds: a reader only has to produce ``Measurement`` rows (records, target, precision,
execution, batch, samples/s). LLM serving measurements fit serving-stack parameters instead, with their own
row -> scenario -> estimate mapping: ``metrics_core.perf.llm_calibrate``.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from metrics_core.common.records import OpRecord
from metrics_core.perf.cache import kernel_l2_bytes
from metrics_core.perf.efficiency import (
    FITTABLE,
    PARAM_RANGES,
    Efficiency,
    KernelTerms,
    kernel_terms,
    params_for,
    time_from_terms,
)
from metrics_core.perf.fusion import kernels_for
from metrics_core.perf.hardware import HardwareTarget
from metrics_core.perf.validation import summarize

LOSSES: tuple[str, ...] = ("mean", "median", "mse")
DEFAULT_HOLDOUT = 0.25

#: The physical range of one measured batch's time, seconds (``batch / samples per second``). Clearly
#: generous: a forward pass shorter than 1 us is faster than one kernel launch (2-4 us back to back,
#: ``kernel_gap_us`` in ``data/efficiency.toml``), and one longer than a day is no benchmark.
BATCH_TIME_RANGE_S: tuple[float, float] = (1e-6, 86_400.0)
#: The largest batch a measurement may state: what every verb analyses (``runtime.options.MAX_BATCH_SIZE``,
#: 2**20; not imported: perf sits below runtime).
MAX_MEASURED_BATCH = 1 << 20


@dataclass(frozen=True)
class Measurement:
    """One measured throughput of an analysed model on a target (module doc)."""

    model: str
    records: Sequence[OpRecord]
    target: HardwareTarget
    precision: str
    execution: str
    batch_size: int
    samples_per_s: float
    #: Where the row comes from (file, bench run), for reports.
    label: str = ""


@dataclass(frozen=True)
class PreparedRow:
    """A measurement reduced to its kernels' terms (``(terms, count)``) and its base parameters."""

    measurement: Measurement
    kernels: tuple[tuple[KernelTerms, int], ...]
    base: Efficiency

    @property
    def model(self) -> str:
        return self.measurement.model


def prepare(m: Measurement, base: Efficiency | None = None) -> PreparedRow:
    """``m``'s kernels (``perf.fusion.kernels_for`` of its execution) as counted ``KernelTerms``; ``base``:
    the parameters its non-fitted values come from (default ``params_for(m.target)``)."""
    base = base or params_for(m.target)
    records = list(m.records)
    kernels = kernels_for(records, m.execution)
    l2 = kernel_l2_bytes(kernels, records, m.target, m.execution)  # as the calibrated estimate reads L2
    counts: Counter[KernelTerms] = Counter(
        kernel_terms(k, records, m.target, m.precision, m.execution, base, l2_bytes=hit)
        for k, hit in zip(kernels, l2, strict=True)
    )
    return PreparedRow(m, tuple(counts.items()), base)


def estimate(row: PreparedRow, values: Mapping[str, float] | None = None) -> float:
    """Estimated throughput (samples/s) of a prepared row with ``values`` over its base parameters."""
    p = replace(row.base, **values) if values else row.base
    latency = sum(n * time_from_terms(t, p).time_s for t, n in row.kernels)
    return row.measurement.batch_size / latency if latency > 0 else math.inf


def loss_of(ratios: Iterable[float], loss: str = "mean") -> float:
    """The fit's loss over estimate/measured ratios (module doc)."""
    logs = [abs(math.log(r)) for r in ratios]
    if not logs:
        return 0.0
    if loss == "mean":
        return statistics.fmean(logs)
    if loss == "median":
        return statistics.median(logs)
    if loss == "mse":
        return statistics.fmean(x * x for x in logs)
    raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")


def throughput_problem(batch_size: int, samples_per_s: float) -> str | None:
    """Why a measured throughput (``samples_per_s`` at ``batch_size``) is not physical, in a few words naming
    the accepted range: a batch above ``MAX_MEASURED_BATCH`` or a batch time outside ``BATCH_TIME_RANGE_S``
    (so at most ``batch_size x 1e6`` samples/s); None when it is plausible (a positive finite rate and a
    batch >= 1 are checked by the readers)."""
    if batch_size > MAX_MEASURED_BATCH:
        return f"batch {batch_size:,} is above the largest analysed, {MAX_MEASURED_BATCH:,}"
    lo, hi = BATCH_TIME_RANGE_S
    slowest, fastest = batch_size / hi, batch_size / lo
    if not slowest <= samples_per_s <= fastest:
        return (
            f"throughput {samples_per_s:g} samples/s is outside {slowest:.3g}-{fastest:.3g} for batch "
            f"{batch_size:,} (a batch of 1 us to one day)"
        )
    return None


def held_out(model: str, fraction: float) -> bool:
    """Whether ``model`` is in the held-out split (module doc); never for ``fraction <= 0``."""
    if fraction <= 0:
        return False
    h = int(hashlib.sha256(model.encode("utf-8")).hexdigest()[:8], 16)
    return h / 2**32 < fraction


def split(rows: Sequence[PreparedRow], fraction: float) -> tuple[list[PreparedRow], list[PreparedRow]]:
    """``(fit rows, held-out rows)`` by ``held_out`` of each row's model."""
    fit_rows = [r for r in rows if not held_out(r.model, fraction)]
    return fit_rows, [r for r in rows if held_out(r.model, fraction)]


def round_param(name: str, value: float) -> float:
    """A fitted value as written: microseconds to 2 decimals, fractions to 3."""
    return round(value, 2 if name.endswith("_us") else 3)


def param_tolerance(name: str) -> float:
    """How far a fitted value must move from the value in use to count as changed: half the last digit it
    is written with (``round_param``): 0.005 us, 0.0005 for fractions. Closer, the written value is the
    same number."""
    return 0.005 if name.endswith("_us") else 0.0005


#: How much the fit loss must fall for a fit to count as an improvement: half the last of the 4 decimals
#: the loss is printed with (``calibrate`` text: ``0.2670 -> 0.1693``).
LOSS_TOLERANCE = 5e-5


def is_changed(before: float | None, after: float | None, tolerance: float) -> bool:
    """Whether a fitted value ``after`` differs from ``before``, the value in use, by more than
    ``tolerance`` (``param_tolerance``); an unfitted value (None) never has."""
    if after is None:
        return False
    return before is None or abs(after - before) > tolerance


def is_improved(loss_before: float, loss_after: float) -> bool:
    """Whether the fit lowered its loss by more than ``LOSS_TOLERANCE``."""
    return loss_after < loss_before - LOSS_TOLERANCE


def check_params(names: Iterable[str]) -> list[str]:
    """The names, each a ``FITTABLE`` parameter (``ValueError`` naming the first that is not), in order,
    without repeats."""
    out: list[str] = []
    for n in names:
        if n not in PARAM_RANGES:
            raise ValueError(f"unknown parameter {n!r}; choose from {', '.join(FITTABLE)}")
        if n not in out:
            out.append(n)
    if not out:
        raise ValueError("no parameter to fit")
    return out


@dataclass
class FitResult:
    """What ``fit`` found: the start and fitted values of the fitted parameters, the loss before/after on
    the fit rows, the number of loss evaluations."""

    params: list[str]
    start: dict[str, float]
    fitted: dict[str, float]
    loss_name: str
    loss_before: float
    loss_after: float
    evaluations: int
    history: list[tuple[int, str, float, float]] = field(default_factory=list)  # (pass, name, value, loss)


def fit(
    rows: Sequence[PreparedRow],
    params: Sequence[str],
    start: Mapping[str, float] | None = None,
    loss: str = "mean",
    rounds: int = 6,
    points: int = 9,
    shrink: float = 0.4,
    ranges: Mapping[str, tuple[float, float]] = PARAM_RANGES,
    prior_weight: float = 0.005,
) -> FitResult:
    """Fit ``params`` (shared by all ``rows``) by the coordinate search of the module doc. ``start``: the
    initial values (default: the first row's base parameters), clipped to their ranges. ``ValueError`` for
    no rows, an unknown parameter or loss."""
    if not rows:
        raise ValueError("no measurement rows to fit")
    names = check_params(params)
    loss_of([], loss)  # an unknown loss fails before any work
    first = rows[0].base
    x = {n: float((start or {}).get(n, first.value(n))) for n in names}
    x = {n: min(max(v, ranges[n][0]), ranges[n][1]) for n, v in x.items()}
    measured = [r.measurement.samples_per_s for r in rows]
    evaluations = 0
    start_values = dict(x)

    def data_loss(values: Mapping[str, float]) -> float:
        nonlocal evaluations
        evaluations += 1
        ratios = [estimate(r, values) / m for r, m in zip(rows, measured, strict=True)]
        return loss_of(ratios, loss)

    def objective(values: Mapping[str, float]) -> float:
        pull = sum(((values[n] - start_values[n]) / (ranges[n][1] - ranges[n][0] or 1.0)) ** 2 for n in names)
        return data_loss(values) + prior_weight * pull

    best = objective(x)
    before = data_loss(x)
    history: list[tuple[int, str, float, float]] = []
    width = {n: ranges[n][1] - ranges[n][0] for n in names}
    for rnd in range(rounds):
        for n in names:
            lo, hi = ranges[n]
            a, b = max(lo, x[n] - width[n] / 2), min(hi, x[n] + width[n] / 2)
            for i in range(points):
                c = a + (b - a) * i / (points - 1) if points > 1 else a
                if abs(c - x[n]) <= 1e-12 * max(1.0, abs(c)):
                    continue
                v = objective({**x, n: c})
                if v < best - 1e-12:
                    best, x[n] = v, c
            history.append((rnd, n, x[n], best))
        width = {n: w * shrink for n, w in width.items()}
    fitted = {n: round_param(n, v) for n, v in x.items()}
    if objective(fitted) > objective(start_values):  # rounding made it worse than the start: keep the start
        fitted = dict(start_values)
    after = data_loss(fitted)
    return FitResult(names, start_values, fitted, loss, before, after, evaluations, history)


def summary(rows: Sequence[PreparedRow], values: Mapping[str, float] | None = None) -> dict[str, Any]:
    """``perf.validation.summarize`` of the rows' estimates with ``values`` (None: their base parameters)."""
    est = [estimate(r, values) for r in rows]
    return summarize(est, [r.measurement.samples_per_s for r in rows])


@dataclass
class Calibration:
    """A fit with its before/after error on the fit rows and the held-out rows (``summary`` dicts)."""

    result: FitResult
    holdout: float
    fit_before: dict[str, Any]
    fit_after: dict[str, Any]
    held_before: dict[str, Any]
    held_after: dict[str, Any]
    fit_models: int
    held_models: int

    @property
    def changed(self) -> dict[str, bool]:
        """Per parameter: whether its fitted value differs from the value in use by more than
        ``param_tolerance`` (what ``--write`` changes)."""
        r = self.result
        return {n: is_changed(r.start[n], r.fitted[n], param_tolerance(n)) for n in r.params}

    @property
    def improved(self) -> bool:
        """Whether the fit lowered the loss on the fit rows by more than ``LOSS_TOLERANCE``."""
        return is_improved(self.result.loss_before, self.result.loss_after)

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "params": r.params,
            "before": r.start,
            "after": r.fitted,
            "changed": self.changed,
            "loss": r.loss_name,
            "loss_before": r.loss_before,
            "loss_after": r.loss_after,
            "improved": self.improved,
            "evaluations": r.evaluations,
            "holdout": self.holdout,
            "fit_models": self.fit_models,
            "held_out_models": self.held_models,
            "fit_rows": {"before": self.fit_before, "after": self.fit_after},
            "held_out_rows": {"before": self.held_before, "after": self.held_after},
        }


#: Fit rows a vision calibration needs per fitted parameter: 2 (a model's row informs every op class it
#: runs, unlike an LLM row, which informs one phase: ``llm_calibrate.MIN_ROWS`` is 3), so that a fit never
#: has as many parameters as rows to echo them with.
MIN_ROWS_PER_PARAM = 2


def calibrate(
    rows: Sequence[PreparedRow],
    params: Sequence[str],
    holdout: float = DEFAULT_HOLDOUT,
    loss: str = "mean",
    **search: Any,
) -> Calibration:
    """Split ``rows`` (``split``), fit ``params`` on the fit rows, and summarise both splits before (the
    rows' base parameters) and after (the fitted values). ``ValueError`` when the fit split is empty, or
    has fewer than ``MIN_ROWS_PER_PARAM`` rows per parameter (more parameters than the rows can tell apart:
    the fit would only echo its rows)."""
    fit_rows, held_rows = split(rows, holdout)
    if not fit_rows:
        raise ValueError(
            f"all {len(rows)} measurement rows fall in the held-out split; lower --holdout or add models"
        )
    most = len(fit_rows) // MIN_ROWS_PER_PARAM
    if len(params) > most:
        can = f"at most {most} parameter{'s' if most != 1 else ''}" if most else "no parameter"
        fewer = f"pass --params with fewer (e.g. {','.join(params[:most])}) or " if most else ""
        raise ValueError(
            f"{len(fit_rows)} fit {'row informs' if len(fit_rows) == 1 else 'rows inform'} {can} "
            f"({MIN_ROWS_PER_PARAM} rows each), not {len(params)}: "
            f"{fewer}measure more models"
        )
    result = fit(fit_rows, params, loss=loss, **search)
    return Calibration(
        result,
        holdout,
        summary(fit_rows),
        summary(fit_rows, result.fitted),
        summary(held_rows),
        summary(held_rows, result.fitted),
        len({r.model for r in fit_rows}),
        len({r.model for r in held_rows}),
    )


# ------------------------------------------------------------------------------------ the user file


def error_text(s: Mapping[str, Any]) -> str:
    """``median |error| 7.0 %, within ±25 % 92 %, n 109`` of a ``summarize`` dict (``-`` when n = 0)."""
    if not s.get("n"):
        return "no rows"
    return (
        f"median |error| {100 * s['median_abs_error']:.1f} %, within ±25 % {100 * s['within']:.0f} %, "
        f"geomean est/meas {s['geomean_ratio']:.3f}, n {s['n']}"
    )


def user_file_block(target_id: str, values: Mapping[str, float], comment: Sequence[str]) -> str:
    """The ``[target.ID]`` table of the user efficiency file, preceded by ``comment`` lines (``# ``)."""
    lines = [f"# {c}" for c in comment]
    lines.append(f"[target.{_toml_key(target_id)}]")
    lines.extend(f"{k} = {values[k]!r}" for k in values)
    return "\n".join(lines) + "\n"


def _toml_key(key: str) -> str:
    bare = all(c.isalnum() or c in "-_" for c in key) and key
    return key if bare else '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


USER_FILE_HEADER = (
    "# modeltui user efficiency parameters (metrics_core/perf/efficiency.py): [target.ID] tables\n"
    "# override the built-in parameters of that target's generation, [stack.ID] tables those of a\n"
    "# serving stack (metrics_core/perf/stacks.py). Written by `modeltui calibrate --write`; edit freely.\n"
)


def merge_user_file(
    existing: str, target_id: str, values: Mapping[str, float], comment: Sequence[str]
) -> str:
    """``existing`` user-file text with ``target_id``'s table (and the comment lines right above it) replaced
    by ``values`` merged over its current values, or the table appended. Other tables, their comments and
    the file's header stay as they are."""
    lines = existing.splitlines()
    header = f"[target.{_toml_key(target_id)}]"
    alt = f'[target."{target_id}"]'
    start = next((i for i, ln in enumerate(lines) if ln.strip() in (header, alt)), None)
    old: dict[str, float] = {}
    if start is None:
        body = existing.rstrip("\n")
        text = (body + "\n\n") if body else USER_FILE_HEADER + "\n"
        return text + user_file_block(target_id, dict(values), comment)
    end = start + 1
    while end < len(lines) and not lines[end].lstrip().startswith("["):
        end += 1
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1  # comments and blank lines before the next table belong to it
    for ln in lines[start + 1 : end]:
        key, eq, val = ln.partition("=")
        if eq and key.strip() in PARAM_RANGES:
            with contextlib.suppress(ValueError):
                old[key.strip()] = float(val.split("#")[0])
    begin = start
    while begin > 0 and lines[begin - 1].lstrip().startswith("#"):
        begin -= 1
    merged = {**old, **values}
    block = user_file_block(target_id, merged, comment).rstrip("\n").splitlines()
    out = lines[:begin] + block + lines[end:]
    return "\n".join(out).rstrip("\n") + "\n"
