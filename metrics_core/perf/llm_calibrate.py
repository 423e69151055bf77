"""Fit a serving stack's parameters to LLM measurements: ``modeltui calibrate --llm`` and the published-data
benchmark (``benchmarks/validate_llm.py``). Pure Python, no torch: the captures (``runtime.llm_capture``)
come in from ``metrics_core.runtime.llm_calibrate``, which runs them in worker processes.

**The CSV** (one measurement a row; a header line naming the columns, in any order, extra columns
ignored)::

    model,stack,hardware,tp,weights,activations,kv,batch,prompt_tokens,output_tokens,metric,value
    hf:meta-llama/Llama-3.1-8B,vllm,h100-sxm5-80gb,1,fp16,fp16,fp16,1,512,128,tpot_ms,7.9

- ``model``: a modeltui model spec (``hf:ID``, ``hf:path/to/config.json``, ``module:factory`` ...);
  ``stack``: a serving stack id (``perf.stacks``; ``llama.cpp`` = ``llama-cpp``); ``hardware``: a target
  id of the catalog; ``tp``: GPUs of tensor parallelism (empty: 1);
- ``weights`` / ``activations`` / ``kv``: as ``modeltui llm --weights/--activations/--kv`` (empty: fp16);
- ``batch``: sequences decoded together (empty only for ``ttft_ms``); ``prompt_tokens`` P and
  ``output_tokens`` N per sequence (N may be empty for ``ttft_ms`` and ``prefill_tok_s``: 1);
- ``metric`` and ``value`` (positive), as the estimate maps them (``metric_value``):

  - ``ttft_ms``: one request's own prefill, batch 1 (under continuous batching a request is prefilled on
    its own while its neighbours decode), ``1e3 x ttft_s``;
  - ``tpot_ms``: the mean decode step with ``batch`` sequences, ``1e3 x tpot_s``;
  - ``decode_tok_s``: ``batch / tpot_s``; ``prefill_tok_s``: ``batch x P / ttft_s`` (prefill of the batch);
  - ``throughput_tok_s``: ``batch x N / (ttft_s + N x tpot_s)``, TTFT of the whole batch's prefill.

A row that cannot be read is a ``ValueError`` of one line naming the file, the line and the column, and so
is a value that is not physical (``check_value``: a step of 1 us to one day, at most 1e8 tokens/s per GPU)
or a batch / token count above what ``llm`` analyses (``COUNT_LIMITS``).

**Parameters** (``params_informed``): those a stack's rows inform, each with at least ``MIN_ROWS`` rows: the
bandwidth share per memory type of the targets of rows that decode (``tpot_ms``, ``decode_tok_s``,
``throughput_tok_s``) and the step overhead (same rows); the GEMM scale per compute precision of rows that
prefill (``ttft_ms``, ``prefill_tok_s``, ``throughput_tok_s``); the request overhead (``ttft_ms`` rows).
Ranges: ``perf.stacks.FIT_RANGES``.

**Fit** (``coordinate_fit``): minimise the mean |log r| over the rows, r = estimated / measured as speeds
(> 1: optimistic, whatever the metric's direction; an estimate that fails counts as a factor of 10), by a
deterministic coordinate search: ``sweeps`` passes trying ``grid`` evenly spaced values over each
parameter's whole range, then refining passes trying 4 points around each current value (1 and 2 steps
either side; the step starts at half the grid spacing and halves, ``refine`` times at most, whenever a
whole pass moves nothing); a value is taken only when it strictly lowers the objective: the loss plus a
weak pull towards the start values (``PRIOR_WEIGHT`` x the sum of ((value - start) / range width)^2, as
``perf.calibrate``), so a parameter the rows barely move keeps its value (or stays unset). Fitted values
are rounded (microseconds to 0.1, fractions to 3 decimals); reported losses are the data loss alone.
The step and request overheads add to the times exactly, so they are searched again (cheaply, nothing
re-estimated) for every value tried of the bandwidth shares and GEMM scales: those trade off with the
step overhead along a narrow valley a plain coordinate search crawls along.

**Split** (``split_rows``): a row is held out when the first 8 hex digits of SHA-256 of its fields (the 12
columns as read, so the same on every run and machine, whatever the row's line) as a fraction of 2^32 are
below the hold-out fraction (``perf.calibrate.held_out``). Errors before/after: ``perf.validation.summarize``
of the speeds on the fit rows and on the held-out rows.
"""

from __future__ import annotations

import contextlib
import csv
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from metrics_core.common.errors import ModeltuiError
from metrics_core.perf.calibrate import (
    BATCH_TIME_RANGE_S,
    USER_FILE_HEADER,
    held_out,
    is_changed,
    is_improved,
)
from metrics_core.perf.efficiency import params_for
from metrics_core.perf.hardware import HardwareTarget
from metrics_core.perf.llm import (
    ACTIVATION_PRECISIONS,
    MAX_BATCH_SIZE,
    MAX_TOKENS,
    Scenario,
    estimate_llm,
)
from metrics_core.perf.quant import kv_format, weight_format
from metrics_core.perf.stacks import (
    Stack,
    canonical_id,
    check_param,
    get_param,
    get_stack,
    param_range,
    parse_stack_table,
    stacks,
    with_params,
)
from metrics_core.perf.validation import summarize

#: The CSV's columns (module doc).
COLUMNS: tuple[str, ...] = (
    "model", "stack", "hardware", "tp", "weights", "activations", "kv", "batch", "prompt_tokens",
    "output_tokens", "metric", "value",
)  # fmt: skip
#: The metrics a row may measure (module doc); the first two are times (lower is faster).
METRICS: tuple[str, ...] = ("ttft_ms", "tpot_ms", "decode_tok_s", "prefill_tok_s", "throughput_tok_s")
TIME_METRICS = frozenset({"ttft_ms", "tpot_ms"})
DECODE_METRICS = frozenset({"tpot_ms", "decode_tok_s", "throughput_tok_s"})
PREFILL_METRICS = frozenset({"ttft_ms", "prefill_tok_s", "throughput_tok_s"})
#: Rows a parameter needs before it is fitted.
MIN_ROWS = 3
#: Grid points per parameter range, full-range sweeps and refining passes of ``coordinate_fit``.
GRID = 7
SWEEPS = 2
REFINE = 10
MAX_PASSES = 30
#: The objective's weak pull towards the start values (``perf.calibrate``'s): moving one parameter across
#: its whole range costs as much as 0.5 % of mean |log error|, so a parameter the rows barely move stays.
PRIOR_WEIGHT = 0.005
DEFAULT_HOLDOUT = 0.25
#: The loss of a row whose estimate fails: |log 10|.
FAILED_LOSS = math.log(10)

#: The physical range of a measured step (seconds): a TTFT, a TPOT, or the time per sequence step a speed
#: implies (``decode_tok_s``: batch / value; ``prefill_tok_s``: batch x P / value, the batch's prefill;
#: ``throughput_tok_s``: batch / value, the mean time per generated token of the batch): the vision
#: measurements' range of one forward pass (``perf.calibrate.BATCH_TIME_RANGE_S``: 1 us to one day).
STEP_RANGE_S: tuple[float, float] = BATCH_TIME_RANGE_S
#: The largest speed a row may state, tokens/s per GPU (the value / ``tp``): every token costs at least
#: 2 FLOP per parameter, so 1e8 tokens/s of even a 100M-parameter model (smaller than any served LLM) is
#: 2e16 FLOP/s, above the largest peak in the catalog (``data/hardware.toml``: B300 FP4, 1.35e16 FLOP/s).
MAX_TOKENS_PER_S_PER_GPU = 1e8
#: Per column: the largest batch and token counts a row may state (``perf.llm``'s limits on what it
#: analyses: 2**20 sequences, 2**20 tokens).
COUNT_LIMITS: dict[str, int] = {
    "batch": MAX_BATCH_SIZE,
    "prompt_tokens": MAX_TOKENS,
    "output_tokens": MAX_TOKENS,
}


@dataclass(frozen=True)
class LlmMeasurement:
    """One row of the CSV (module doc), names made canonical (stack id, weight and KV formats)."""

    id: str
    model: str
    stack: str
    hardware: str
    tp: int
    weights: str
    activations: str
    kv: str
    batch: int
    prompt: int
    output: int
    metric: str
    value: float
    #: The 12 fields as read, joined: what the hold-out split hashes.
    key: str = ""


def _int(text: str, column: str, where: str, default: int | None = None) -> int:
    text = text.strip()
    if not text and default is not None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{where}: column {column}: expected a positive integer, got {text!r}") from None
    if value < 1:
        raise ValueError(f"{where}: column {column}: expected a positive integer, got {text!r}")
    limit = COUNT_LIMITS.get(column)
    if limit is not None and value > limit:
        raise ValueError(f"{where}: column {column}: {value:,} is above the largest analysed, {limit:,}")
    return value


def parse_row(r: Mapping[str, str], where: str) -> LlmMeasurement:
    """One CSV row (a ``csv.DictReader`` dict) as an ``LlmMeasurement``; ``ValueError`` (one line: ``where``,
    the column and what is wrong) otherwise. The hardware is checked by ``read_llm_csv``."""
    cell = {c: (r.get(c) or "").strip() for c in COLUMNS}
    if not cell["model"]:
        raise ValueError(f"{where}: column model: empty (a model spec such as hf:meta-llama/Llama-3.1-8B)")
    stack = canonical_id(cell["stack"])
    if stack not in stacks():
        try:
            get_stack(cell["stack"])  # its one-line error, with the close ids as suggestions
        except ModeltuiError as exc:
            raise ValueError(f"{where}: column stack: {exc}") from None
    if not cell["hardware"]:
        raise ValueError(f"{where}: column hardware: empty (a target id, `modeltui hardware` lists them)")
    metric = cell["metric"]
    if metric not in METRICS:
        raise ValueError(f"{where}: column metric: {metric!r} is not one of {', '.join(METRICS)}")
    try:
        weights = weight_format(cell["weights"] or "fp16").name
    except ValueError as exc:
        raise ValueError(f"{where}: column weights: {exc}") from None
    activations = cell["activations"] or "fp16"
    if activations not in ACTIVATION_PRECISIONS:
        raise ValueError(
            f"{where}: column activations: {activations!r} is not one of {', '.join(ACTIVATION_PRECISIONS)}"
        )
    try:
        kv = kv_format(cell["kv"] or "fp16").name
    except ValueError as exc:
        raise ValueError(f"{where}: column kv: {exc}") from None
    tp = _int(cell["tp"], "tp", where, default=1)
    batch = _int(cell["batch"], "batch", where, default=1 if metric == "ttft_ms" else None)
    prompt = _int(cell["prompt_tokens"], "prompt_tokens", where)
    one = 1 if metric in ("ttft_ms", "prefill_tok_s") else None
    output = _int(cell["output_tokens"], "output_tokens", where, default=one)
    bad_value = f"{where}: column value: expected a positive number, got {cell['value']!r}"
    try:
        value = float(cell["value"])
    except ValueError:
        raise ValueError(bad_value) from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(bad_value)
    check_value(metric, value, batch, prompt, tp, where)
    return LlmMeasurement(
        id=where, model=cell["model"], stack=stack, hardware=cell["hardware"], tp=tp, weights=weights,
        activations=activations, kv=kv, batch=batch, prompt=prompt, output=output, metric=metric,
        value=value, key="|".join(cell[c] for c in COLUMNS),
    )  # fmt: skip


def check_value(metric: str, value: float, batch: int, prompt: int, tp: int, where: str) -> None:
    """``ValueError`` (one line: ``where``, the column and the accepted range) when a row's value is not
    physical: a step outside ``STEP_RANGE_S`` (a time metric's own, a speed's implied one, see there) or a
    speed above ``MAX_TOKENS_PER_S_PER_GPU`` x ``tp`` tokens/s."""
    lo, hi = STEP_RANGE_S
    if metric in TIME_METRICS:
        if not lo * 1e3 <= value <= hi * 1e3:
            raise ValueError(
                f"{where}: column value: {metric} {value:g} is outside {lo * 1e3:g}-{hi * 1e3:g} ms "
                "(1 us to one day)"
            )
        return
    tokens = batch * prompt if metric == "prefill_tok_s" else batch  # per step
    fastest = min(tokens / lo, MAX_TOKENS_PER_S_PER_GPU * tp)
    slowest = tokens / hi
    if not slowest <= value <= fastest:
        raise ValueError(
            f"{where}: column value: {metric} {value:g} is outside {slowest:.3g}-{fastest:.3g} tokens/s for "
            f"{tokens:,} token(s) a step on {tp} GPU(s) (a step of 1 us to one day, at most "
            f"{MAX_TOKENS_PER_S_PER_GPU:g} tokens/s per GPU)"
        )


def read_llm_csv(path: str, target_of: Callable[[str], HardwareTarget] | None = None) -> list[LlmMeasurement]:
    """The rows of an LLM measurement CSV (module doc), each named ``FILE:LINE``. ``target_of``: resolves
    the hardware column (raising ``ModeltuiError`` / ``KeyError`` for an unknown id); with it, every row's
    scenario is also checked against its target (``Scenario.validated``). ``ValueError`` (one line naming
    the row and the column) for the first bad row, a missing column, a file without rows or one that is not
    UTF-8 text; ``OSError`` when the file cannot be read."""
    try:
        return _read_llm_csv(path, target_of)
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text (an LLM measurement CSV is)") from None


def _read_llm_csv(path: str, target_of: Callable[[str], HardwareTarget] | None) -> list[LlmMeasurement]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise ValueError(
                f"{path}: not an LLM measurement CSV (missing column {', '.join(missing)}; needs "
                f"{','.join(COLUMNS)})"
            )
        reader.fieldnames = header
        rows = []
        for r in reader:
            where = f"{path}:{reader.line_num}"
            if not any((v or "").strip() for v in r.values() if isinstance(v, str)):
                continue  # a blank line
            row = parse_row(r, where)
            if target_of is not None:
                try:
                    target = target_of(row.hardware)
                except (ModeltuiError, KeyError) as exc:
                    msg = str(exc).strip("'\"").removeprefix("error: ")
                    raise ValueError(f"{where}: column hardware: {msg}") from None
                try:
                    scenario_of(row).validated(target)
                except ModeltuiError as exc:
                    raise ValueError(f"{where}: {exc}") from None
            rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no measurement rows")
    return rows


# ------------------------------------------------------------------------ rows -> scenarios -> metrics


def batch_of(row: Any) -> int:
    """The sequences the row's estimate runs: 1 for a TTFT (one request's own prefill), else its batch."""
    return 1 if row.metric == "ttft_ms" else row.batch


def scenario_of(row: Any, batch: int | None = None) -> Scenario:
    """The ``perf.llm.Scenario`` of a row (``LlmMeasurement`` or anything with its fields: ``prompt``,
    ``output``, ``weights``, ``activations``, ``kv``, ``tp``, ``stack``) at ``batch`` (default
    ``batch_of``)."""
    return Scenario(
        batch_size=batch_of(row) if batch is None else batch,
        prompt_tokens=row.prompt,
        generate_tokens=row.output,
        weights=row.weights,
        activations=row.activations,
        kv=row.kv,
        tp=row.tp,
        stack=row.stack,
    )


def metric_value(metric: str, est: Any, batch: int, prompt: int, output: int) -> float:
    """The estimate of ``metric`` (module doc; its unit) from an ``LlmEstimate`` at ``batch`` sequences."""
    return metric_of_times(metric, est.prefill.time_s, est.tpot_s, batch, prompt, output)


def metric_of_times(metric: str, ttft_s: float, tpot_s: float, batch: int, prompt: int, output: int) -> float:
    """``metric_value`` from the estimate's TTFT (the prefill of ``batch`` sequences) and TPOT."""
    if metric == "tpot_ms":
        return 1e3 * tpot_s
    if metric == "ttft_ms":
        return 1e3 * ttft_s
    if metric == "decode_tok_s":
        return batch / tpot_s
    if metric == "prefill_tok_s":
        return batch * prompt / ttft_s
    if metric == "throughput_tok_s":
        return batch * output / (ttft_s + output * tpot_s)
    raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")


def speed(metric: str, value: float) -> float:
    """A metric's value as a speed (higher is faster): times inverted."""
    return 1.0 / value if metric in TIME_METRICS else value


def speed_ratio(row: Any, estimate: float) -> float:
    """estimate / measured as a speed ratio (> 1: optimistic) whatever the metric's direction."""
    return speed(row.metric, estimate) / speed(row.metric, row.value)


def params_informed(
    rows: Sequence[Any], targets: Sequence[HardwareTarget], min_rows: int = MIN_ROWS
) -> list[str]:
    """The stack parameters ``rows`` (with their ``targets``) inform (module doc), sorted."""
    counts: Counter[str] = Counter()
    for r, t in zip(rows, targets, strict=True):
        if r.metric in DECODE_METRICS and t.memory_type:
            counts[f"bandwidth.{t.memory_type}"] += 1
            counts["step_overhead_us"] += 1
        if r.metric in PREFILL_METRICS:
            prec = scenario_of(r, 1).validated(t).compute_precision
            counts[f"gemm_scale.{get_stack(r.stack).gemm_scale_key(prec, t.vendor)}"] += 1
        if r.metric == "ttft_ms":
            counts["request_overhead_us"] += 1
    return sorted(k for k, n in counts.items() if n >= min_rows)


# -------------------------------------------------------------------------------------------- fitting


@dataclass(frozen=True)
class PreparedLlmRow:
    """A row with its target, validated scenario and capture (``runtime.llm_calibrate.prepare_rows``)."""

    row: LlmMeasurement
    target: HardwareTarget
    scenario: Scenario
    capture: Any
    #: ``(ttft_s, tpot_s)`` without the stack's step and request overheads, by the stack's other
    #: parameters: those overheads add to the times exactly (``perf.llm.estimate_llm``: each decode step and
    #: prefill + the step overhead, TTFT + the request overhead), so a fit moving them re-estimates nothing.
    _base: dict = field(default_factory=dict, compare=False, repr=False)

    def times(self, stack: Stack | None = None) -> tuple[float, float]:
        """``(ttft_s, tpot_s)`` of the row's scenario with ``stack`` (default ``get_stack``'s)."""
        stack = stack or get_stack(self.scenario.stack)
        key = (stack.id, stack.execution, stack.cuda_graphs, stack.kernel_gap_us, stack.custom_allreduce,
               stack.attention_scale, tuple(sorted(stack.bandwidth.items())),
               tuple(sorted(stack.gemm_scale.items())))  # fmt: skip
        base = self._base.get(key)
        if base is None:
            bare = replace(stack, step_overhead_us=0.0, request_overhead_us=0.0)
            e = estimate_llm(self.capture, self.target, self.scenario, stack=bare)
            base = self._base[key] = (e.prefill.time_s, e.tpot_s)
            if len(self._base) > 512:  # a long fit: keep the newest
                del self._base[next(iter(self._base))]
        if self.scenario.efficiency != "calibrated":  # the pure roofline has no stack overheads
            return base
        return base[0] + stack.step_overhead_s + stack.request_overhead_s, base[1] + stack.step_overhead_s

    def estimate(self, stack: Stack | None = None) -> float:
        """The estimated metric (its unit) with ``stack`` (default: the stack as ``get_stack`` gives it)."""
        ttft, tpot = self.times(stack)
        r = self.row
        return metric_of_times(r.metric, ttft, tpot, self.scenario.batch_size, r.prompt, r.output)


def loss(rows: Sequence[PreparedLlmRow], stack: Stack | None = None) -> float:
    """Mean |log speed ratio| over the rows (module doc; 0 for none)."""
    if not rows:
        return 0.0
    total = 0.0
    for p in rows:
        try:
            total += abs(math.log(speed_ratio(p.row, p.estimate(stack))))
        except (ArithmeticError, ValueError, ModeltuiError):
            total += FAILED_LOSS
    return total / len(rows)


def start_value(stack: Stack, name: str, targets: Iterable[HardwareTarget]) -> float:
    """Where the search of ``name`` starts: the stack's value, or for a per-kind entry it does not set, what
    applies now (``bandwidth.<type>``: the mean generation bandwidth share of ``targets`` of that memory
    type; ``gemm_scale.<precision>``: 1), clipped to the parameter's range."""
    value = get_param(stack, name)
    lo, hi = param_range(name)
    if value is None:
        field_name, key = check_param(name)
        shares = [params_for(t).bandwidth for t in targets if t.memory_type == key]
        value = sum(shares) / len(shares) if field_name == "bandwidth" and shares else 1.0
    return min(hi, max(lo, value))


def round_value(name: str, value: float) -> float:
    """A fitted value as written: microseconds to 0.1, fractions to 3 decimals."""
    return round(value, 1 if name.endswith("_us") else 3)


def value_tolerance(name: str) -> float:
    """How far a fitted value must move from the value in effect to count as changed: half the last digit
    it is written with (``round_value``): 0.05 us, 0.0005 for fractions."""
    return 0.05 if name.endswith("_us") else 0.0005


#: The parameters that add to the estimated times exactly (``PreparedLlmRow.times``): cheap to search, so
#: ``coordinate_fit`` re-fits them for every value it tries of the others.
ADDITIVE = ("request_overhead_us", "step_overhead_us")


def _compass(
    stack: Stack,
    names: Sequence[str],
    evaluate: Callable[[Stack], tuple[float, Stack]],
    start: Mapping[str, float],
    sweeps: int,
    grid: int,
    refine: int,
    max_passes: int,
) -> tuple[float, Stack]:
    """The coordinate / compass search of the module doc over ``names`` from ``stack``; ``evaluate(stack)``
    gives a trial's objective and the stack it stands for (with inner parameters fitted)."""
    best, cur = evaluate(stack)

    def try_values(name: str, candidates: Iterable[float]) -> bool:
        nonlocal best, cur
        now = get_param(cur, name)
        improved = False
        for v in candidates:
            if now is not None and abs(v - now) <= 1e-12 * max(1.0, abs(v)):
                continue
            score, trial = evaluate(with_params(cur, {name: v}))
            if score < best - 1e-12:
                best, cur, now, improved = score, trial, v, True
        return improved

    for _ in range(sweeps):
        for name in names:
            lo, hi = param_range(name)
            try_values(name, [lo + (hi - lo) * k / (grid - 1) for k in range(grid)])
    share, halvings, passes = 0.5, 0, 0
    while names and halvings < refine and passes < max_passes:
        passes += 1
        moved = False
        for name in names:
            lo, hi = param_range(name)
            step = (hi - lo) / (grid - 1) * share
            now = get_param(cur, name)
            centre = now if now is not None else start[name]
            moved |= try_values(name, [min(hi, max(lo, centre + k * step)) for k in (-2, -1, 1, 2)])
        if not moved:  # no parameter moves at this step: halve it
            share, halvings = share / 2, halvings + 1
    return best, cur


def coordinate_fit(
    rows: Sequence[PreparedLlmRow],
    stack: Stack,
    names: Sequence[str],
    sweeps: int = SWEEPS,
    grid: int = GRID,
    refine: int = REFINE,
    local: bool = False,
    prior_weight: float = PRIOR_WEIGHT,
    max_passes: int = MAX_PASSES,
) -> tuple[Stack, float]:
    """``stack`` with ``names`` fitted to ``rows`` by the coordinate search of the module doc, and the final
    data loss. The ``ADDITIVE`` overheads are fitted again for every value tried of the other parameters
    (a bandwidth share and the step overhead trade off along a narrow valley a plain coordinate search
    crawls along). ``local``: no full-range sweep of the others, only refining passes (a fit started from
    fitted values)."""
    targets = [p.target for p in rows]
    start = {n: start_value(stack, n, targets) for n in names}
    width = {n: (param_range(n)[1] - param_range(n)[0]) or 1.0 for n in names}

    def objective(st: Stack) -> tuple[float, Stack]:
        pull = sum(((v - start[n]) / width[n]) ** 2 for n in names if (v := get_param(st, n)) is not None)
        return loss(rows, st) + prior_weight * pull, st

    inner = [n for n in names if n in ADDITIVE]
    outer = [n for n in names if n not in ADDITIVE]

    def fit_inner(st: Stack) -> tuple[float, Stack]:
        return _compass(st, inner, objective, start, sweeps, grid, refine, max_passes)

    evaluate = fit_inner if inner else objective
    if outer:
        _, cur = _compass(stack, outer, evaluate, start, 0 if local else sweeps, grid, refine, max_passes)
    else:
        _, cur = evaluate(stack)
    rounded = with_params(cur, {n: round_value(n, v) for n in names if (v := get_param(cur, n)) is not None})
    if objective(rounded)[0] > objective(stack)[0]:  # rounding made it worse than the start: keep the start
        rounded = stack
    return rounded, loss(rows, rounded)


def split_rows(
    rows: Sequence[PreparedLlmRow], fraction: float
) -> tuple[list[PreparedLlmRow], list[PreparedLlmRow]]:
    """``(fit rows, held-out rows)`` by ``perf.calibrate.held_out`` of each row's ``key`` (module doc)."""
    fit_rows = [p for p in rows if not held_out(p.row.key, fraction)]
    return fit_rows, [p for p in rows if held_out(p.row.key, fraction)]


def summary(rows: Sequence[PreparedLlmRow], stack: Stack | None = None) -> dict[str, Any]:
    """``perf.validation.summarize`` of the rows' speeds (estimated vs measured) with ``stack``; rows whose
    estimate fails are left out."""
    est, meas = [], []
    for p in rows:
        with contextlib.suppress(ArithmeticError, ValueError, ModeltuiError):
            e = speed(p.row.metric, p.estimate(stack))
            est.append(e)
            meas.append(speed(p.row.metric, p.row.value))
    return summarize(est, meas)


@dataclass
class StackCalibration:
    """One stack's fit: the parameters, their values before (None: unset) and after, the losses on the fit
    rows and the before/after errors on both splits (``summary`` dicts); ``note`` says why nothing was
    fitted when ``params`` is empty."""

    stack: str
    params: list[str]
    before: dict[str, float | None]
    after: dict[str, float | None]
    loss_before: float
    loss_after: float
    fit_before: dict[str, Any]
    fit_after: dict[str, Any]
    held_before: dict[str, Any]
    held_after: dict[str, Any]
    origin: str = "built-in"
    fitted_stack: Stack | None = None
    note: str | None = None
    hardware: list[str] = field(default_factory=list)
    #: The values in effect before the fit, where the search started (``start_value``): ``before``'s, or
    #: for a parameter the stack does not set (None there) what applies now (a generation's bandwidth
    #: share, a GEMM scale of 1).
    start: dict[str, float] = field(default_factory=dict)

    @property
    def changed(self) -> dict[str, float]:
        """The fitted values that differ from the values in effect before (``before``; for a parameter the
        stack does not set, ``start``: its generation's) by more than ``value_tolerance``: what ``--write``
        stores."""
        return {
            n: v for n in self.params if is_changed(self.in_effect(n), v := self.after[n], value_tolerance(n))
        }

    def in_effect(self, name: str) -> float | None:
        """The value of ``name`` in effect before the fit: the stack's, else where the search started."""
        before = self.before[name]
        return before if before is not None else self.start.get(name)

    @property
    def improved(self) -> bool:
        """Whether the fit lowered the loss on the fit rows by more than ``calibrate.LOSS_TOLERANCE``."""
        return is_improved(self.loss_before, self.loss_after)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "origin": self.origin,
            "hardware": self.hardware,
            "params": self.params,
            "ranges": {n: list(param_range(n)) for n in self.params},
            "before": self.before,
            "start": self.start,
            "after": self.after,
            "changed": {n: n in self.changed for n in self.params},
            "loss_before": self.loss_before,
            "loss_after": self.loss_after,
            "improved": self.improved,
            "fit_rows": {"before": self.fit_before, "after": self.fit_after},
            "held_out_rows": {"before": self.held_before, "after": self.held_after},
            "note": self.note,
        }


def calibrate_stack(
    stack: Stack,
    rows: Sequence[PreparedLlmRow],
    holdout: float = DEFAULT_HOLDOUT,
    params: Sequence[str] | None = None,
    **search: Any,
) -> StackCalibration:
    """Split ``rows`` (all of ``stack``), fit ``params`` (default ``params_informed`` by the fit rows) on
    the fit rows starting from ``stack`` (the parameters in use now), and summarise both splits before and
    after."""
    fit_rows, held_rows = split_rows(rows, holdout)
    names = list(params) if params is not None else params_informed(
        [p.row for p in fit_rows], [p.target for p in fit_rows]
    )  # fmt: skip
    for n in names:
        check_param(n)
    before = {n: get_param(stack, n) for n in names}
    note = None
    fitted, loss_before = stack, loss(fit_rows, stack)
    loss_after = loss_before
    if not fit_rows:
        note = f"all {len(rows)} rows fall in the held-out split; lower --holdout or add rows"
        names, before = [], {}
    elif not names:
        note = (
            f"no parameter is informed by {MIN_ROWS} or more of its {len(fit_rows)} fit rows "
            "(decode rows: bandwidth share and step overhead; prefill rows: GEMM scale; TTFT rows: "
            "request overhead)"
        )
    else:
        fitted, loss_after = coordinate_fit(fit_rows, stack, names, **search)
    return StackCalibration(
        stack=stack.id,
        params=names,
        before=before,
        after={n: get_param(fitted, n) for n in names},
        loss_before=loss_before,
        loss_after=loss_after,
        fit_before=summary(fit_rows, stack),
        fit_after=summary(fit_rows, fitted),
        held_before=summary(held_rows, stack),
        held_after=summary(held_rows, fitted),
        origin=stack.origin,
        fitted_stack=fitted,
        note=note,
        hardware=sorted({p.target.id for p in rows}),
        start={n: start_value(stack, n, [p.target for p in fit_rows]) for n in names},
    )


# ------------------------------------------------------------------------------------------ user file


def _header_path(line: str) -> list[str] | None:
    """The key path of a TOML table header line (``[stack."llama.cpp".bandwidth]`` -> ``['stack',
    'llama.cpp', 'bandwidth']``), None for any other line."""
    s = line.strip()
    if not s.startswith("[") or s.startswith("[["):
        return None
    s = s[1 : s.rfind("]")] if "]" in s else s[1:]
    parts, cur, quote = [], "", None
    for c in s:
        if quote:
            if c == quote:
                quote = None
            else:
                cur += c
        elif c in "\"'":
            quote = c
        elif c == ".":
            parts.append(cur.strip())
            cur = ""
        else:
            cur += c
    parts.append(cur.strip())
    return parts


def stack_block(stack_id: str, values: Mapping[str, float], comment: Sequence[str]) -> str:
    """The ``[stack.ID]`` table of the user efficiency file (dotted keys for per-kind parameters), preceded
    by ``comment`` lines (``# ``)."""
    lines = [f"# {c}" for c in comment]
    lines.append(f"[stack.{stack_id}]")
    lines.extend(f"{k} = {values[k]!r}" for k in sorted(values))
    return "\n".join(lines) + "\n"


def merge_stack_table(
    existing: str, stack_id: str, values: Mapping[str, float], comment: Sequence[str]
) -> str:
    """``existing`` user-file text with ``stack_id``'s table (its sub-tables, and the comment lines right
    above them) replaced by ``values`` merged over its current valid values, or the table appended. Other
    tables, their comments and the file's header stay as they are."""
    sid = canonical_id(stack_id)
    old: dict[str, float] = {}
    with contextlib.suppress(tomllib.TOMLDecodeError, ValueError):
        for key, table in (tomllib.loads(existing).get("stack") or {}).items():
            if canonical_id(key) == sid:
                old.update(parse_stack_table(key, table, "user file"))
    lines = existing.splitlines()
    kept: list[str] = []
    insert_at: int | None = None
    i = 0
    while i < len(lines):
        path = _header_path(lines[i])
        if path and len(path) >= 2 and path[0] == "stack" and canonical_id(path[1]) == sid:
            while kept and kept[-1].lstrip().startswith("#"):  # its comment lines
                kept.pop()
            if insert_at is None:
                insert_at = len(kept)
            start = i
            i += 1
            while i < len(lines) and _header_path(lines[i]) is None:
                i += 1
            while i > start + 1 and (not lines[i - 1].strip() or lines[i - 1].lstrip().startswith("#")):
                i -= 1  # comments and blank lines before the next table belong to it
            continue
        kept.append(lines[i])
        i += 1
    block = stack_block(sid, {**old, **values}, comment).rstrip("\n").splitlines()
    if insert_at is None:
        body = "\n".join(kept).rstrip("\n")
        text = (body + "\n\n") if body else USER_FILE_HEADER + "\n"
        return text + "\n".join(block) + "\n"
    before, after = kept[:insert_at], kept[insert_at:]
    while after and not after[0].strip():
        after.pop(0)
    out = before + block + ([""] + after if after else [])
    return "\n".join(out).rstrip("\n") + "\n"
