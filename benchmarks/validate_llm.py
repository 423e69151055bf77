"""LLM estimates held against published serving measurements (benchmarks/measured/llm_serving.csv).

Every row of the CSV (engine, GPU, GPUs, model, weights / activations / KV, batch, prompt and output
tokens, metric, value; sources in benchmarks/measured/README.md) becomes a ``modeltui llm`` scenario on the
row's target with the row's serving stack (``--stack``) and tensor parallelism, and the published metric is
compared with the estimate:

- ``tpot_ms`` -> TPOT; ``ttft_ms`` -> TTFT; ``decode_tok_s`` -> batch / TPOT; ``prefill_tok_s`` -> batch x
  prompt / TTFT;
- ``throughput_tok_s`` -> batch x output / (TTFT + output x TPOT), the whole system's output tokens/s; a row
  with no batch (an offline max-throughput run: the engine picks the batch) is estimated at the largest batch
  that fits, capped at the stack's ``max_batch``.

A row with a ``power_limit_w`` (the board power limit the published run was held to, e.g. gpt-fast's A100s at
330 W) is estimated on its target under that limit (``perf.power.with_power_limit``: the power model's
sustained tensor clock at that limit). Rows whose GPU, model or precision the catalog does not have are
listed as skipped. Models that share an
architecture with a bundled config are analysed as it (Meta-Llama-3-8B as Llama-3.1-8B; Llama-3.3-70B and
Meta-Llama-3-70B as Llama-3.1-70B); Llama-2-13B / 70B, CodeLlama-7B and Llama-3.1-405B use the config files
in benchmarks/measured/configs/ (public config.json values).

Output: per metric and per stack, n, geomean estimate / measured, median |error|, share within ±25 % and
Spearman's rho, and the leave-one-GPU-out table (``--leave-one-out``: each GPU's rows estimated with stack
parameters refitted on the other GPUs' rows only, from the unfitted premise ``LOO_PRIOR``, ``--fit``; a GPU
whose stack has fewer than 5 rows on other GPUs is not held out, nor is a row whose parameter no other GPU's
rows inform, such as a vendor backend's own GEMM scale: the data file's values were fitted on those rows).
``--refine N`` adds N local sweeps with halving steps after the fit's grid sweeps; ``--fit-only NAME,...``
fits only those parameters (one alone needs 3 rows, a stack 5), and ``--never-fit GPU,...`` keeps those
GPUs' rows out of the fit (estimated only: a held-back check), as ``--fit`` always does for the rows
collected as held-out checks (``HELD_OUT``). ``--hold-out GPU,...`` (with ``--leave-one-out``) holds out only
those GPUs and skips the fit on all rows (the shipped values are the estimates'): the per-GPU refits can then
run in several processes, one GPU set each, and ``--combine`` their ``--json`` files. Rows with a
``cold_start`` setup column of 1 (a process's first prompt) add the stack's ``cold_start_overhead_us`` to
their TTFT; llama.cpp rows map to ``llama-cpp-2024`` or ``llama-cpp`` by their ``engine_version``
(``stack_of``). Captures are cached in ``benchmarks/.llm_cache`` (pickles, keyed by model, shape and the
hash of ``metrics_core``'s sources), so a second run only estimates.

    python benchmarks/validate_llm.py [--csv FILE] [--jobs 2] [--json out.json] [--worst 10]
        [--fit [--refine N] [--fit-only NAME,...] [--never-fit GPU,...]]
        [--leave-one-out [--hold-out GPU,...]]
        [--only STACK,...] [--combine JSON ...]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import pickle
import re
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metrics_core.common.errors import ModeltuiError  # noqa: E402
from metrics_core.perf import llm_calibrate  # noqa: E402
from metrics_core.perf.hardware import hardware_targets  # noqa: E402
from metrics_core.perf.llm import Scenario, estimate_llm  # noqa: E402
from metrics_core.perf.power import with_power_limit  # noqa: E402
from metrics_core.perf.serving import arrival_wait_s  # noqa: E402
from metrics_core.perf.validation import summarize  # noqa: E402

MEASURED = ROOT / "benchmarks" / "measured"
CONFIGS = MEASURED / "configs"
CACHE = ROOT / "benchmarks" / ".llm_cache"

#: Published model id -> the model analysed (same architecture; see module doc).
MODEL_MAP = {
    "meta-llama/Meta-Llama-3-8B": "hf:meta-llama/Llama-3.1-8B",
    "meta-llama/Llama-3.1-8B": "hf:meta-llama/Llama-3.1-8B",
    "meta-llama/Llama-3.1-70B": "hf:meta-llama/Llama-3.1-70B",
    "meta-llama/Llama-3.3-70B": "hf:meta-llama/Llama-3.1-70B",
    "meta-llama/Meta-Llama-3-70B": "hf:meta-llama/Llama-3.1-70B",
    "meta-llama/Llama-2-7b-hf": "hf:meta-llama/Llama-2-7b-hf",
    "mistralai/Mistral-7B-v0.1": "hf:mistralai/Mistral-7B-v0.1",
    "mistralai/Mixtral-8x7B-v0.1": "hf:mistralai/Mixtral-8x7B-v0.1",
    "meta-llama/Llama-2-13b-hf": f"hf:{CONFIGS / 'llama-2-13b'}",
    "meta-llama/Llama-2-70b-hf": f"hf:{CONFIGS / 'llama-2-70b'}",
    "codellama/CodeLlama-7b-hf": f"hf:{CONFIGS / 'codellama-7b'}",
    "meta-llama/Llama-3.1-405B": f"hf:{CONFIGS / 'llama-3.1-405b'}",
}

#: Published engine -> serving stack (``metrics_core/perf/data/stacks.toml``).
STACK_MAP = {
    "vllm": "vllm",
    "tensorrt-llm": "tensorrt-llm",
    "sglang": "sglang",
    "llama.cpp": "llama-cpp",
    "gpt-fast": "torch-compile",
    "other:pytorch-eager": "hf-eager",
    "nim": "tensorrt-llm",
}

#: Engine versions of llama.cpp rows that ran its pre-June-2024 prompt path (stack ``llama-cpp-2024``:
#: quantised prompt GEMMs dequantised to fp16 for cuBLAS, attention unfused), by a year or build in the CSV's
#: ``engine_version``: every row here is one (Dec 2023, Jan 2024 and May 2024 builds).
LLAMA_CPP_2024 = re.compile(r"\b(2023|(Jan|Feb|Mar|Apr|May) 2024|build [0-9a-f]+ \((1[0-9]{3}|2[0-9]{3})\))")


#: Engine versions of vLLM rows that ran its V0 engine (stack ``vllm-2024``): releases 0.5-0.7 and the
#: Oct 2024 blog's ROCm build; V1 became the default in 0.8 (Mar 2025). The CI rows (version not printed)
#: stay ``vllm``.
VLLM_V0 = re.compile(r"^0\.[0-7]\.|Oct 2024")


def stack_of(engine: str, version: str) -> str:
    """The serving stack of a row: ``STACK_MAP``'s; llama.cpp's by its build (``LLAMA_CPP_2024``), vLLM's by
    its release (``VLLM_V0``)."""
    stack = STACK_MAP[engine]
    if stack == "llama-cpp" and LLAMA_CPP_2024.search(version):
        return "llama-cpp-2024"
    if stack == "vllm" and VLLM_V0.search(version):
        return "vllm-2024"
    return stack


#: Rows collected as held-out checks (``benchmarks/measured/README.md``): ``--fit`` never fits on them, only
#: estimates them. The llama.cpp b6413 RTX PRO 6000 rows at eight power limits; the vLLM rows of AMD's MI300X
#: dev-docker tables, the Oracle 405B blog and vLLM's CI latency tests.
HELD_OUT = re.compile(r"^(llamacpp-b6413-rtxpro6000-|vllm066-|vllm-oci-|vllm-ci-)")

#: Published weight precision -> weight format (``perf.quant``).
WEIGHTS_MAP = {f"gguf-{q}": q for q in ("q4_0", "q4_1", "q5_1", "q4_k_s", "q4_k_m", "q8_0")}


@dataclass(frozen=True)
class Row:
    id: str
    source: str
    stack: str
    gpu: str
    tp: int
    model: str
    weights: str
    activations: str
    kv: str
    batch: int | None
    prompt: int
    output: int
    metric: str
    value: float
    #: Online serving at a request rate (requests/s), concurrency not published; None otherwise.
    qps: float | None = None
    #: The board power limit the run was held to (W; the CSV's ``power_limit_w`` setup column), None: stock.
    power_limit_w: float | None = None
    #: The row timed a fresh process's first prompt (the CSV's ``cold_start`` setup column: llama.cpp
    #: ``./main`` runs, which time one prompt per process; ``llama-bench`` runs a warm-up first).
    cold_start: bool = False


def read_rows(path: Path, targets: dict) -> tuple[list[Row], list[str]]:
    """The usable rows and the reasons the others were skipped."""
    rows, skipped = [], []
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            why = None
            if r["gpu"] not in targets:
                why = f"GPU {r['gpu']} not in the catalog"
            elif r["model"] not in MODEL_MAP:
                why = f"model {r['model']} not mapped"
            elif r["engine"] not in STACK_MAP:
                why = f"engine {r['engine']} not mapped"
            elif r["engine"] == "llama.cpp" and int(r["gpus"] or 1) > 1:
                why = "llama.cpp splits layers across GPUs (pipeline), not tensor parallel: not modelled"
            elif "QPS=INF" in r["notes"] and r["metric"] in ("ttft_ms", "tpot_ms"):
                why = "requests at an infinite rate: TTFT / TPOT are queueing, not serving"
            if why:
                skipped.append(f"{r['id']}: {why}")
                continue
            weights = WEIGHTS_MAP.get(r["weights"], r["weights"])
            activations = r["activations"] or ("fp16" if r["engine"] == "llama.cpp" else "bf16")
            if activations == "nvfp4":
                activations = "fp4"
            kv = r["kv"] or "fp16"
            if not (r["prompt_tokens"] or "0").isdigit() or not (r["output_tokens"] or "0").isdigit():
                skipped.append(
                    f"{r['id']}: lengths {r['prompt_tokens']} / {r['output_tokens']} are not token counts"
                )
                continue
            prompt = int(r["prompt_tokens"] or 0) or 1
            output = int(r["output_tokens"] or 0) or 1
            if r["metric"] == "decode_tok_s" and not r["output_tokens"]:
                output = 128  # llama.cpp tg128 when the source does not say
            if r["metric"] == "prefill_tok_s" and not r["prompt_tokens"]:
                prompt = 512  # pp512
            rows.append(
                Row(
                    id=r["id"],
                    source=r["source"],
                    stack=stack_of(r["engine"], r["engine_version"]),
                    gpu=r["gpu"],
                    tp=int(r["gpus"] or 1),
                    model=MODEL_MAP[r["model"]],
                    weights=weights,
                    activations=activations,
                    kv=kv,
                    batch=int(r["batch"]) if r["batch"] else None,
                    prompt=prompt,
                    output=output,
                    metric=r["metric"],
                    value=float(r["value"]),
                    qps=float(m.group(1)) if (m := re.search(r"QPS=([0-9.]+)", r["notes"])) else None,
                    power_limit_w=float(r["power_limit_w"]) if r.get("power_limit_w") else None,
                    cold_start=r.get("cold_start") == "1",
                )
            )
    return rows, skipped


def target_of(row: Row, targets: dict):  # noqa: ANN201 (HardwareTarget)
    """The row's target as it ran: the catalog's, under the row's board power limit when it has one
    (``perf.power.with_power_limit``: the power model derives the sustained tensor clock at that limit)."""
    return with_power_limit(targets[row.gpu], row.power_limit_w)


def scenario_of(row: Row, batch: int) -> Scenario:
    """The row's ``Scenario`` at ``batch`` sequences (the product's mapping, ``perf.llm_calibrate``)."""
    return llm_calibrate.scenario_of(row, batch)


def _code_hash() -> str:
    """SHA-256 (16 hex digits) over ``metrics_core``'s Python sources: a capture pickled by other code (an
    ``LlmCapture`` without a field the estimator now reads) is never loaded. Data files (stacks.toml,
    efficiency.toml) are left out: a refit changes estimates, not captures."""
    if not _CODE_HASH:
        h = hashlib.sha256()
        root = ROOT / "metrics_core"
        for f in sorted(root.rglob("*.py")):
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
        _CODE_HASH.append(h.hexdigest()[:16])
    return _CODE_HASH[0]


_CODE_HASH: list[str] = []


def _key(model: str, s: Scenario) -> str:
    raw = f"{model}|{s.batch_size}|{s.prompt_tokens}|{s.generate_tokens}|{s.bits}|{_code_hash()}"
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


_LOADED: dict[str, object] = {}


def capture_cached(model: str, s: Scenario):  # noqa: ANN201
    """``capture_llm`` of ``model`` for ``s``'s shape: from memory, else the pickle cache, else captured."""
    from metrics_core.runtime.llm_capture import capture_llm

    key = _key(model, s)
    if key in _LOADED:
        return _LOADED[key]
    path = CACHE / f"{key}.pkl"
    if path.exists():
        try:
            _LOADED[key] = pickle.loads(path.read_bytes())
            return _LOADED[key]
        except Exception:  # noqa: BLE001 (a corrupt cache entry is rebuilt)
            pass
    cap = capture_llm(model, s.batch_size, s.prompt_tokens, s.generate_tokens, s.bits)
    CACHE.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(cap))
    tmp.replace(path)
    return cap


def _capture_job(args: tuple[str, Scenario]) -> str | None:
    try:
        capture_cached(*args)
    except Exception as exc:  # noqa: BLE001
        return f"{args[0]} {args[1].batch_size}x{args[1].prompt_tokens}+{args[1].generate_tokens}: {exc}"
    return None


def batch_of(row: Row, targets: dict) -> int:
    """The sequences in flight: a TTFT is one request's own prefill (batch 1: under continuous batching a
    request is prefilled on its own, its neighbours decode); the row's batch (concurrency); at a request
    rate, Little's law, concurrency = rate x (TTFT + output x TPOT) at that concurrency (a fixed point); for
    a max-throughput row the largest batch that fits (a batch-1 capture's ``max_batch_size``) capped at the
    stack's ``max_batch``."""
    from metrics_core.perf.stacks import get_stack

    if row.metric == "ttft_ms":
        return 1
    if row.batch:
        return row.batch
    if row.qps:
        return concurrency_at_rate(row, targets)

    s = scenario_of(row, 1).validated(target_of(row, targets))
    est = estimate_llm(capture_cached(row.model, s), target_of(row, targets), s)
    return max(1, min(est.max_batch_size, get_stack(row.stack).max_batch))


def concurrency_at_rate(row: Row, targets: dict) -> int:
    """The sequences in flight of a row measured at a request rate: Little's law, requests in the system =
    rate x (TTFT + output x TPOT) at that concurrency (a fixed point), rounded up to a whole batch."""
    c = 1
    for _ in range(6):
        s = scenario_of(row, c).validated(target_of(row, targets))
        e = estimate_llm(capture_cached(row.model, s), target_of(row, targets), s)
        c = max(1, math.ceil(row.qps * (e.prefill.time_s + row.output * e.tpot_s)))
    return c


#: The concurrency of each TTFT row measured at a request rate (``concurrency_at_rate``), found once.
_RATE_CONCURRENCY: dict[str, int] = {}


def estimate_row(row: Row, targets: dict, batch: int) -> float:
    """The estimate of the row's metric (its unit)."""
    target = target_of(row, targets)
    s = scenario_of(row, batch).validated(target)
    e = estimate_llm(capture_cached(row.model, s), target, s)
    # a process's first prompt also pays the stack's one-time costs (memory-pool growth, first library calls)
    ttft = e.prefill.time_s + (e.stack.cold_start_overhead_us * 1e-6 if row.cold_start and e.stack else 0.0)
    if row.metric == "tpot_ms":
        return 1e3 * e.tpot_s
    if row.metric == "ttft_ms":
        if row.qps:  # a request arriving at a rate waits for the step in flight (perf.serving.arrival_wait_s)
            if row.id not in _RATE_CONCURRENCY:  # the fixed point once; the step at it with these parameters
                _RATE_CONCURRENCY[row.id] = concurrency_at_rate(row, targets)
            sc = scenario_of(row, _RATE_CONCURRENCY[row.id]).validated(target)
            step = estimate_llm(capture_cached(row.model, sc), target, sc).tpot_s
            ttft += arrival_wait_s(step, row.qps * (e.prefill.time_s + row.output * step))
        return 1e3 * ttft
    if row.metric == "decode_tok_s":
        return batch / e.tpot_s
    if row.metric == "prefill_tok_s":
        return batch * row.prompt / ttft
    if row.metric == "throughput_tok_s":
        return batch * row.output / (ttft + row.output * e.tpot_s)
    raise ValueError(row.metric)


# ------------------------------------------------------------------------------------------ fitting

#: Ranges of the stack parameters the fit searches (physically plausible; stacks.toml states why).
FIT_RANGES = {
    "bandwidth": (0.3, 0.95),
    "gemm_scale": (0.15, 1.2),
    "step_overhead_us": (0.0, 5000.0),
    "request_overhead_us": (0.0, 20000.0),
    "cold_start_overhead_us": (0.0, 100000.0),
}
GRID = 7
#: Where each leave-one-GPU-out fit starts: the unfitted premise of each kind of parameter, never a value
#: fitted with the held-out GPU's rows (a coordinate search keeps its start where no grid point beats it):
#: the generic GPU's DRAM bandwidth share (``generation.generic-gpu`` in ``data/efficiency.toml``), the
#: generation's GEMM fraction as it is (scale 1), and no runtime overheads.
LOO_PRIOR = {
    "bandwidth": 0.85,
    "gemm_scale": 1.0,
    "step_overhead_us": 0.0,
    "request_overhead_us": 0.0,
    "cold_start_overhead_us": 0.0,
}
#: Rows a parameter needs to be fitted (``fit_params``): 3, but 2 for the cold-start cost, which only the rows
#: timing a process's first prompt inform (two per GPU in the Dec-2023 llama.cpp tables: held out one GPU at a
#: time, the other GPU's two rows fit it).
MIN_ROWS = {"cold_start_overhead_us": 2}


def fit_params(rows: list[Row], targets: dict, min_rows: int = 3) -> list[str]:
    """The parameters a stack's rows inform: the bandwidth share per memory type of rows that decode, the
    GEMM scale per compute precision (and vendor, where the stack prices a vendor's backend apart:
    ``Stack.gemm_scale_key``) of rows that prefill, the step overhead (decode rows) and the request
    overhead (TTFT rows); each only with at least ``min_rows`` rows."""
    from collections import Counter

    from metrics_core.perf.stacks import stacks

    counts: Counter[str] = Counter()
    for r in rows:
        t = targets[r.gpu]
        if r.metric in ("decode_tok_s", "tpot_ms", "throughput_tok_s") and t.memory_type:
            counts[f"bandwidth.{t.memory_type}"] += 1
            counts["step_overhead_us"] += 1
        if r.metric in ("prefill_tok_s", "ttft_ms", "throughput_tok_s"):
            s = scenario_of(r, 1).validated(t)
            prec = s.compute_precision
            stack = stacks()[r.stack]
            mmq = stack.tuning(t, prec, 0.0, s.dequantised_bytes_per_weight).int8_mmq_min_rows
            if mmq and r.prompt >= mmq:  # its prompt GEMMs run as int8 MMA kernels (``Stack.tuning``)
                prec = "int8"
            counts[f"gemm_scale.{stack.gemm_scale_key(prec, t.vendor)}"] += 1
        if r.metric == "ttft_ms":
            counts["request_overhead_us"] += 1
        if r.cold_start and r.metric in ("prefill_tok_s", "ttft_ms", "throughput_tok_s"):
            counts["cold_start_overhead_us"] += 1
    return sorted(k for k, n in counts.items() if n >= min(min_rows, MIN_ROWS.get(k, min_rows)))


def get_param(stack_id: str, name: str) -> float:
    from metrics_core.perf.efficiency import params_for  # noqa: F401 (the generation's value is the default)
    from metrics_core.perf.stacks import stacks

    st = stacks()[stack_id]
    if "." in name:
        field, key = name.split(".")
        return getattr(st, field).get(key, 1.0 if field == "gemm_scale" else 0.88)
    return getattr(st, name)


def set_param(stack_id: str, name: str, value: float) -> None:
    """Replace one parameter of the cached stack (the data file is not touched)."""
    from metrics_core.perf.stacks import stacks

    known = stacks()
    st = known[stack_id]
    if "." in name:
        field, key = name.split(".")
        known[stack_id] = replace(st, **{field: {**getattr(st, field), key: value}})
    else:
        known[stack_id] = replace(st, **{name: value})


def row_terms(rows: list[Row], targets: dict, batches: dict) -> dict[str, float]:
    """Each row's |log speed ratio| (an estimate that fails counts as a factor of 10)."""
    out = {}
    for r in rows:
        try:
            out[r.id] = abs(math.log(ratio(r, estimate_row(r, targets, batches[r.id]))))
        except Exception:  # noqa: BLE001
            out[r.id] = math.log(10)
    return out


def loss(rows: list[Row], targets: dict, batches: dict) -> float:
    """Mean |log speed ratio| over the rows (estimates that fail count as a factor of 10)."""
    return sum(row_terms(rows, targets, batches).values()) / len(rows)


#: Loss evaluations of rows (``coordinate_fit``'s count, printed with ``--fit``).
EVALS = {"rows": 0, "rows_skipped": 0}


def coordinate_fit(stack_id: str, rows: list[Row], targets: dict, batches: dict, names: list[str],
                   sweeps: int = 2, local: bool = False, refine: int = 0) -> float:  # fmt: skip
    """Fit ``names`` of ``stack_id`` to ``rows`` by a deterministic coordinate search (a grid over each
    parameter's range; ``local``: 5 points around the current value, steps of 1/12 of the range); then
    ``refine`` more sweeps around the current values with steps halved each time (1/12, 1/24 ... of the
    range), so that the grid's coarseness does not leave a joint optimum between its points; returns the
    final loss.

    Exact shortcut: an estimate is monotone in every fitted parameter (a time never grows with a bandwidth
    share or a GEMM scale and never shrinks with an overhead: sums and maxima of such terms), so a row whose
    estimate is the same at both ends of a sweep's interval is the same everywhere inside it; such rows are
    not re-estimated at the sweep's inner points (the losses, and so the fit, are those of estimating
    every row at every point)."""
    terms = row_terms(rows, targets, batches)
    EVALS["rows"] += len(rows)
    best = sum(terms.values()) / len(rows)
    plan = [(local, 1.0)] * sweeps + [(True, 0.5**k) for k in range(refine)]
    for is_local, scale in plan:
        for name in names:
            lo, hi = FIT_RANGES[name.split(".")[0]]
            now = get_param(stack_id, name)
            if is_local:
                step = scale * (hi - lo) / (2 * (GRID - 1))
                grid = [min(hi, max(lo, now + k * step)) for k in (-2, -1, 1, 2)]
            else:
                grid = [lo + (hi - lo) * k / (GRID - 1) for k in range(GRID)]
            ends = {}
            for v in (min(grid + [now]), max(grid + [now])):
                set_param(stack_id, name, v)
                ends[v] = row_terms(rows, targets, batches)
                EVALS["rows"] += len(rows)
            moving = [r for r in rows if any(e[r.id] != terms[r.id] for e in ends.values())]
            now_terms = terms
            for v in grid:
                if v in ends:
                    trial = ends[v]
                else:
                    set_param(stack_id, name, v)
                    trial = {**terms, **row_terms(moving, targets, batches)}
                    EVALS["rows"] += len(moving)
                    EVALS["rows_skipped"] += len(rows) - len(moving)
                score = sum(trial.values()) / len(rows)
                if score < best - 1e-9:
                    best, now, now_terms = score, v, trial
            set_param(stack_id, name, now)
            terms = now_terms
    return best


def ratio(row: Row, est: float) -> float:
    """estimate / measured as a speed ratio (> 1: optimistic): ``perf.llm_calibrate.speed_ratio``."""
    return llm_calibrate.speed_ratio(row, est)


def table(rows: list[Row], ests: dict[str, float], key) -> list[tuple]:  # noqa: ANN001
    """(group, n, geomean speed ratio, median |error|, within ±25 %, Spearman) per ``key(row)``."""
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        if r.id in ests:
            groups[key(r)].append(r)
    out = []
    for g, rs in sorted(groups.items()):
        # speeds (higher is faster) so that est/meas > 1 is optimistic for every metric
        meas = [r.value if r.metric not in ("tpot_ms", "ttft_ms") else 1 / r.value for r in rs]
        est = [ests[r.id] if r.metric not in ("tpot_ms", "ttft_ms") else 1 / ests[r.id] for r in rs]
        s = summarize(est, meas)
        out.append((g, s["n"], s["geomean_ratio"], s["median_abs_error"], s["within"], s["spearman"]))
    return out


def print_table(title: str, lines: list[tuple]) -> None:
    print(f"\n{title}")
    print(
        f"{'group':<34} {'n':>4} {'geomean est/meas':>17} {'median |err|':>13} "
        f"{'within 25%':>11} {'Spearman':>9}"
    )
    for g, n, gm, me, wi, rho in lines:
        rho_s = f"{rho:.3f}" if rho is not None and not math.isnan(rho) else "-"
        print(f"{g:<34} {n:>4} {gm:>17.2f} {100 * me:>12.1f}% {100 * wi:>10.0f}% {rho_s:>9}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", default=str(MEASURED / "llm_serving.csv"))
    ap.add_argument("--jobs", type=int, default=2, help="capture processes (2)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--worst", type=int, default=10)
    ap.add_argument("--only", default=None, help="comma-separated stacks to evaluate")
    ap.add_argument("--fit", action="store_true", help="fit each stack's parameters to its rows first")
    ap.add_argument(
        "--leave-one-out", action="store_true", help="with --fit: each GPU estimated with a fit without it"
    )
    ap.add_argument(
        "--refine", type=int, default=0, help="with --fit: local sweeps with halving steps after the grid"
    )
    ap.add_argument(
        "--combine", nargs="+", metavar="JSON", default=None, help="print the tables of saved --json runs"
    )
    ap.add_argument(
        "--fit-only", default=None, metavar="NAME,...", help="with --fit: fit only these parameters"
    )
    ap.add_argument(
        "--never-fit",
        default="",
        metavar="GPU,...",
        help="with --fit: these GPUs' rows are estimated, never fitted on (a held-back check)",
    )
    ap.add_argument(
        "--hold-out",
        default="",
        metavar="GPU,...",
        help="with --leave-one-out: hold out only these GPUs; the shipped values stay (no fit on all rows)",
    )
    args = ap.parse_args(argv)
    if args.hold_out and not (args.fit and args.leave_one_out):
        ap.error("--hold-out needs --fit --leave-one-out")
    if args.combine:
        return combine(args.combine)
    started = time.perf_counter()
    targets = {t.id: t for t in hardware_targets()}
    rows, skipped = read_rows(Path(args.csv), targets)
    if args.only:
        rows = [r for r in rows if r.stack in args.only.split(",")]
    bad: list[str] = []
    usable = []
    for r in rows:
        try:
            scenario_of(r, r.batch or 1).validated(targets[r.gpu])
            usable.append(r)
        except ModeltuiError as exc:
            bad.append(f"{r.id}: {exc}")
    rows = usable
    # captures: batch-1 shapes first (they give the max-throughput batches), in parallel processes
    jobs = {}
    for r in rows:
        s = scenario_of(r, r.batch or 1).validated(targets[r.gpu])
        jobs[(r.model, _key(r.model, s))] = (r.model, s)
    _run_jobs(list(jobs.values()), args.jobs, bad)
    batches = {}
    for r in rows:
        try:
            batches[r.id] = batch_of(r, targets)
        except Exception as exc:  # noqa: BLE001
            bad.append(f"{r.id}: {exc}")
    jobs = {}
    for r in rows:
        if r.id in batches:
            s = scenario_of(r, batches[r.id]).validated(targets[r.gpu])
            jobs[(r.model, _key(r.model, s))] = (r.model, s)
    _run_jobs(list(jobs.values()), args.jobs, bad)
    captured_s = time.perf_counter() - started

    rows = [r for r in rows if r.id in batches]
    ests: dict[str, float] = {}
    for r in rows:
        try:
            ests[r.id] = estimate_row(r, targets, batches[r.id])
        except Exception as exc:  # noqa: BLE001
            bad.append(f"{r.id}: {exc}")
    rows = [r for r in rows if r.id in ests]
    loo: dict[str, float] = {}
    if args.fit:
        print_table("before the fit, all", table(rows, ests, lambda r: "all"))
        by_stack: dict[str, list[Row]] = defaultdict(list)
        for r in rows:
            by_stack[r.stack].append(r)
        fitted: dict[str, dict[str, float]] = {}
        never = {g for g in args.never_fit.split(",") if g}
        for sid, rs_all in sorted(by_stack.items()):
            rs = [r for r in rs_all if r.gpu not in never and not HELD_OUT.match(r.id)]
            names = fit_params(rs, targets)
            if args.fit_only:
                names = [n for n in names if n in args.fit_only.split(",")]
            # a stack's fit needs 5 rows; one parameter fitted alone (--fit-only) 3
            if not names or len(rs) < (3 if args.fit_only and len(names) == 1 else 5):
                print(f"\n{sid}: {len(rs)} rows, nothing fitted (physical values kept)")
                continue
            start = {n: get_param(sid, n) for n in names}
            hold = {g for g in args.hold_out.split(",") if g}
            if hold:  # the shipped values stay the estimates'; only the held-out GPUs' refits run here
                fitted[sid] = dict(start)
                print(f"\n{sid}: {len(rs)} rows; shipped values kept, holding out {', '.join(sorted(hold))}")
            else:
                score = coordinate_fit(sid, rs, targets, batches, names, refine=args.refine)
                fitted[sid] = {n: get_param(sid, n) for n in names}
                print(f"\n{sid}: {len(rs)} rows, mean |log ratio| {score:.3f}; fitted:")
                for n in names:
                    print(f"  {n:<24} {start[n]:>10.3f} -> {fitted[sid][n]:>10.3f}")
            if args.leave_one_out:
                for gpu in sorted({r.gpu for r in rs if not hold or r.gpu in hold}):
                    train = [r for r in rs if r.gpu != gpu]
                    if len(train) < 5:
                        # too few other rows to fit on; the data file's values were fitted on these very
                        # rows (stacks.toml), so they cannot stand for a fit without them: not held out
                        print(f"  {sid} on {gpu}: not held out ({len(train)} rows of other GPUs)")
                        continue
                    seen = set(fit_params(train, targets))
                    held, unseen = [], set()
                    for r in rs:
                        if r.gpu == gpu:
                            # a parameter no other GPU's rows inform (a vendor's own backend) keeps a value
                            # fitted with this GPU's rows: such a row is not held out
                            own = set(fit_params([r], targets, 1)) - seen
                            unseen |= own
                            if not own:
                                held.append(r)
                    if unseen:
                        print(f"  {sid} on {gpu}: {len(held)} rows held out; not the rows of "
                              f"{', '.join(sorted(unseen))} (no other GPU's rows)")  # fmt: skip
                    if not held:
                        continue
                    # the fit again on the other GPUs' rows (a grid sweep from the unfitted premise, then the
                    # refinement), never from values fitted with this GPU's rows
                    for n in names:
                        set_param(sid, n, LOO_PRIOR[n.split(".")[0]])
                    coordinate_fit(sid, train, targets, batches, names, sweeps=1, refine=args.refine)
                    for r in held:
                        loo[r.id] = estimate_row(r, targets, batches[r.id])
                    for n, v in fitted[sid].items():
                        set_param(sid, n, v)
        for r in rows:
            ests[r.id] = estimate_row(r, targets, batches[r.id])
        if args.json:
            Path(args.json).with_suffix(".params.json").write_text(json.dumps(fitted, indent=1))
    if args.fit:
        print(f"fit: {EVALS['rows']} row estimates ({EVALS['rows_skipped']} skipped as constant in a sweep)")
    print(f"{len(ests)} rows estimated; {len(skipped)} skipped (catalog / mapping); {len(bad)} failed")
    for line in bad:
        print(f"  failed {line}")
    print_table("by metric", table(rows, ests, lambda r: r.metric))
    print_table("by stack", table(rows, ests, lambda r: r.stack))
    print_table("by GPU", table(rows, ests, lambda r: r.gpu))
    print_table("by stack x metric", table(rows, ests, lambda r: f"{r.stack} {r.metric}"))
    print_table("all", table(rows, ests, lambda r: "all"))
    if loo:
        print("\n== leave one GPU out: each GPU's rows estimated with its stack fitted without them ==")
        print_table("by metric (leave-one-GPU-out)", table(rows, loo, lambda r: r.metric))
        print_table("by stack (leave-one-GPU-out)", table(rows, loo, lambda r: r.stack))
        print_table("by GPU (leave-one-GPU-out)", table(rows, loo, lambda r: r.gpu))
        print_table("all (leave-one-GPU-out)", table(rows, loo, lambda r: "all"))
    worst = sorted((r for r in rows if r.id in ests), key=lambda r: -abs(math.log(ratio(r, ests[r.id]))))
    print(f"\nworst {args.worst} (speed est/meas):")
    for r in worst[: args.worst]:
        print(f"  {r.id:<58} {ratio(r, ests[r.id]):5.2f}  (b{batches[r.id]})")
    print(
        f"\n(captures {captured_s:.0f} s, total {time.perf_counter() - started:.0f} s; "
        "estimates, not measurements)"
    )
    if args.json:
        out = [
            {**r.__dict__, "batch_used": batches.get(r.id), "estimate": ests.get(r.id),
             "speed_ratio": ratio(r, ests[r.id]) if r.id in ests else None,
             "estimate_leave_one_gpu_out": loo.get(r.id)}
            for r in rows
        ]  # fmt: skip
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


def merge_runs(runs: Iterable[list[dict]]) -> list[dict]:
    """The rows of several saved runs (``--json`` lists), one per id: a row in several runs takes the last
    run's estimate, and its leave-one-out estimate from the run that held its GPU out (runs split with
    ``--hold-out``: the others have None there)."""
    by_id: dict[str, dict] = {}
    for run in runs:
        for d in run:
            key = "estimate_leave_one_gpu_out"
            by_id[d["id"]] = {**d, key: d.get(key) or by_id.get(d["id"], {}).get(key)}
    return list(by_id.values())


def combine(paths: list[str]) -> int:
    """The tables of one or more saved runs (``--json`` of runs with ``--only`` subsets of the stacks):
    the estimates with the stack parameters as they were, and the leave-one-GPU-out estimates."""
    data = merge_runs(json.loads(Path(path).read_text(encoding="utf-8")) for path in paths)
    fields = set(Row.__dataclass_fields__)
    rows = [Row(**{k: v for k, v in d.items() if k in fields}) for d in data if d["estimate"] is not None]
    ests = {d["id"]: d["estimate"] for d in data if d["estimate"] is not None}
    loo = {d["id"]: d["estimate_leave_one_gpu_out"] for d in data if d.get("estimate_leave_one_gpu_out")}
    print("\n# [validated_llm] entries for metrics_core/perf/data/efficiency.toml (leave-one-GPU-out errors)")
    pairs: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in rows:
        if r.id in loo:
            pairs[(r.gpu, r.stack)].append(r)
    for gpu in sorted({g for g, _ in pairs}):
        print(f"[validated_llm.{gpu}]")
        for (g, stack), rs in sorted(pairs.items()):
            if g == gpu:
                errs = sorted(abs(ratio(r, loo[r.id]) - 1) for r in rs)
                med = (
                    errs[len(errs) // 2]
                    if len(errs) % 2
                    else (errs[len(errs) // 2 - 1] + errs[len(errs) // 2]) / 2
                )
                metrics = ", ".join(sorted({r.metric for r in rs}))
                print(f'{stack} = "{len(rs)} published points ({metrics}); median |error| {100 * med:.0f} % '
                      f'with the stack fitted without this GPU"')  # fmt: skip
    for name, values in (("estimates (stack parameters as fitted)", ests), ("leave one GPU out", loo)):
        if not values:
            continue
        print(f"\n== {name} ==")
        print_table("by metric", table(rows, values, lambda r: r.metric))
        print_table("by stack", table(rows, values, lambda r: r.stack))
        print_table("by GPU", table(rows, values, lambda r: r.gpu))
        print_table("all", table(rows, values, lambda r: "all"))
    return 0


def _run_jobs(jobs: list, n: int, bad: list[str]) -> None:
    todo = [j for j in jobs if not (CACHE / f"{_key(*j)}.pkl").exists()]
    if not todo:
        return
    print(f"capturing {len(todo)} shapes on {n} processes ...", flush=True)
    if n <= 1:
        errors = [_capture_job(j) for j in todo]
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(n) as pool:
            errors = pool.map(_capture_job, todo, chunksize=1)
    bad += [e for e in errors if e]


if __name__ == "__main__":
    raise SystemExit(main())
