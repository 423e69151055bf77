"""Achievable efficiency: how fast a kernel really runs on a target, instead of the datasheet roofline.

``ideal`` (the pure roofline): a kernel takes ``max(FLOPs / peak, bytes / bandwidth)`` plus the target's
``launch_overhead_us`` (0 when absent) — the estimate modeltui always made.

``calibrated``: per kernel (``metrics_core.perf.fusion.Kernel``), with ``p`` the parameters of the target's
architecture generation (``data/efficiency.toml``, every figure with its derivation or source there):

- compute rate = peak x ``p.<class>`` x r x q(shape), with r the sustained clock ratio under tensor load
  (``metrics_core.perf.power``: 1 unless the board's power limit holds the clock below boost), class
  ``gemm`` (matmul), ``conv`` (``conv_eager`` /
  ``conv_compiled``: cuDNN on NCHW tensors in eager, channels-last after Inductor's layout optimisation),
  ``attention``; kernels without MACs (pointwise, norms, pooling) and depthwise convolutions (one input
  channel per group: no tensor-core GEMM) compute on the vector units: the fp32 peak x ``p.vector``;
- q(shape), tile and wave quantisation of the kernel's GEMM (M x N x K per group, ``groups`` GEMMs): for each
  candidate output tile (Tm, Tn) with its relative efficiency e, padding efficiency
  ``M N K / (ceil(M/Tm) Tm * ceil(N/Tn) Tn * ceil(K/Tk) Tk)`` times wave efficiency
  ``tiles / (ceil(tiles / units) * units)`` (``units``: SMs / compute units of the target) times e; the best
  candidate is taken (what a library's heuristic picks). For skinny shapes (M of a few rows, as in LLM
  decode) cuBLAS and serving engines run GEMV / split-K kernels instead of padding a 64-128-row tile: when
  M is below the smallest tile's rows the rate is never below the class rate x ``M / (16 ceil(M / 16))``
  (M padded to one 16-row tensor-core MMA, ``MMA_M``), and no GEMM's rate is below the vector units'
  (fp32 peak x ``p.vector``); this keeps decode memory-bound;
- memory rate = bandwidth x ``p.bandwidth`` (a streaming kernel's achievable share of the peak);
- time = max(GPU time, host time): GPU time = max(FLOPs / compute rate, bytes / memory rate) +
  ``p.kernel_gap_us`` (launch latency and tail between dependent kernels); host time = ``p.eager_op_us``
  per eager op or ``p.compiled_kernel_us`` per compiled kernel (the Python/dispatcher cost of issuing it; the
  host runs ahead asynchronously, so it only shows when kernels are shorter than that).
- three regimes (``KernelTime``): compute time, memory time and overhead time (everything that is neither:
  kernel gap, launch overhead, host-bound time); the bound is the regime that takes longest, so a kernel
  at the launch floor is ``overhead``-bound.

Parameters exist per architecture generation (and per target only for counted units), per op class — never
per model or model family. A target with no generation entry uses the generation of its ``kind``
(``[kind.*]`` defaults). No torch here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from metrics_core.common.records import OpRecord
from metrics_core.perf.fusion import Kernel
from metrics_core.perf.hardware import HardwareTarget
from metrics_core.perf.power import DVFS_EXPONENT, ClockModel, clock_model

EFFICIENCIES: tuple[str, ...] = ("ideal", "calibrated")
#: The defaults of every estimate, CLI verbs, the app and the Python API alike: one kernel per aten op
#: (eager PyTorch) at achievable efficiency.
DEFAULT_EXECUTION = "eager"
DEFAULT_EFFICIENCY = "calibrated"

#: Rows of the smallest tensor-core matrix instruction (``mma.sync.m16n8k16``, PTX ISA "Warp-level matrix
#: multiply-accumulate instructions"): a GEMV / split-K kernel pads M to it, never to a 64-128-row tile.
MMA_M = 16

DATA_FILE = Path(__file__).parent / "data" / "efficiency.toml"


@dataclass(frozen=True)
class Efficiency:
    """The calibrated-model parameters of one target (fractions in 0..1, times in microseconds)."""

    generation: str
    units: int
    gemm: float
    conv_eager: float
    conv_compiled: float
    nchw_passes: float
    depthwise_eager: float
    depthwise_compiled: float
    attention: float
    vector: float
    bandwidth: float
    kernel_gap_us: float
    eager_op_us: float
    compiled_kernel_us: float
    tiles: tuple[tuple[int, int, float], ...]
    tile_k: int
    #: Board-level energy per dense tensor FLOP at the boost clock (pJ), None when not derived
    #: (``metrics_core.perf.power``).
    tensor_pj_per_flop: float | None = None


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    return tomllib.loads(DATA_FILE.read_text(encoding="utf-8"))


def params_for(target: HardwareTarget) -> Efficiency:
    """The parameters for ``target``: its generation's (by target id), else its kind's default."""
    data = _data()
    entry = data.get("target", {}).get(target.id, {})
    gen = entry.get("generation")
    if gen is None:
        kind = "cpu" if "cpu" in target.kind.lower() else "gpu"
        gen = data["kind"][kind]["generation"]
    g = data["generation"][gen]
    units = int(entry.get("units", g["units"]))
    return Efficiency(
        generation=gen,
        units=units,
        gemm=g["gemm"],
        conv_eager=g["conv_eager"],
        conv_compiled=g["conv_compiled"],
        nchw_passes=g["nchw_passes"],
        depthwise_eager=g["depthwise_eager"],
        depthwise_compiled=g["depthwise_compiled"],
        attention=g["attention"],
        vector=g["vector"],
        bandwidth=g["bandwidth"],
        kernel_gap_us=g["kernel_gap_us"],
        eager_op_us=g["eager_op_us"],
        compiled_kernel_us=g["compiled_kernel_us"],
        tiles=tuple((int(m), int(n), float(e)) for m, n, e in g["tiles"]),
        tile_k=int(g["tile_k"]),
        tensor_pj_per_flop=g.get("tensor_pj_per_flop"),
    )


def gemm_shape(record: OpRecord) -> tuple[int, int, int, int] | None:
    """``(groups, M, N, K)`` of a MAC op's GEMM (None when it has no MACs or no output).

    K = MACs / output elements (per output element); convolution: N = C_out / groups, M = output elements /
    C_out, groups = C_in / weight.shape[1]; matmul/attention: M, N = the last two output dims, the leading
    dims multiply the groups (batched GEMMs)."""
    out = record.output_shape
    numel = math.prod(out) if out else 1
    if not record.macs or not numel:
        return None
    k = max(1, round(record.macs / numel))
    if record.category == "conv" and len(out) >= 3 and len(record.input_shapes) >= 2:
        c_out = out[1]
        c_in = record.input_shapes[0][1] if len(record.input_shapes[0]) > 1 else 1
        w = record.input_shapes[1]
        groups = max(1, c_in // w[1]) if len(w) > 1 and w[1] else 1
        return groups, numel // c_out, max(1, c_out // groups), k
    if len(out) >= 2:
        m, n = out[-2], out[-1]
        return max(1, numel // (m * n)), m, n, k
    return 1, 1, numel, k


def quantisation(shape: tuple[int, int, int, int], p: Efficiency) -> float:
    """q(shape) of the module doc: the best tile's padding x wave x tile efficiency (0..1]."""
    groups, m, n, k = shape
    kpad = k / (math.ceil(k / p.tile_k) * p.tile_k)
    best = 0.0
    for tm, tn, e in p.tiles:
        tiles = groups * math.ceil(m / tm) * math.ceil(n / tn)
        pad = (m * n) / (math.ceil(m / tm) * tm * math.ceil(n / tn) * tn)
        waves = math.ceil(tiles / p.units)
        wave = tiles / (waves * p.units)
        best = max(best, pad * wave * e)
    return best * kpad


def op_class(record: OpRecord, execution: str) -> str:
    """``gemm``, ``conv_eager``/``conv_compiled``, ``depthwise``, ``attention`` or ``vector`` (module doc)."""
    if record.macs:
        if record.category == "conv":
            shape = gemm_shape(record)
            if shape is not None and _depthwise(record):
                return "depthwise"
            return f"conv_{execution}"
        if record.category == "attention":
            return "attention"
        return "gemm"
    return "vector"


def _depthwise(record: OpRecord) -> bool:
    w = record.input_shapes[1] if len(record.input_shapes) > 1 else []
    return len(w) > 1 and w[1] == 1


#: The three regimes a kernel's time is limited by (``KernelTime.bound``).
BOUNDS: tuple[str, ...] = ("compute", "memory", "overhead")


def bound_of_times(compute_s: float, memory_s: float, overhead_s: float, has_flops: bool = True) -> str:
    """The regime that accounts for most of a time ``max(compute_s, memory_s) + overhead_s``:
    ``overhead`` when the overhead (launch / host / runtime) is longer than both the compute and the memory
    time (a kernel at the launch floor), else ``compute`` when it has FLOPs and its compute time is at least
    its memory time, else ``memory``."""
    if overhead_s > max(compute_s, memory_s):
        return "overhead"
    return "compute" if has_flops and compute_s >= memory_s and compute_s > 0 else "memory"


@dataclass(frozen=True)
class KernelTime:
    """One kernel's estimated time split into its three regimes (seconds).

    ``compute_s`` = FLOPs / the achievable compute rate; ``memory_s`` = bytes / the achievable bandwidth
    (plus layout passes); ``overhead_s`` = what is neither: the kernel gap, the target's launch overhead and
    the host's issue time beyond the device time. ``time_s = max(compute_s, memory_s) + overhead_s``;
    ``bound`` is ``bound_of_times`` of the three."""

    compute_s: float
    memory_s: float
    overhead_s: float
    bound: str

    @property
    def time_s(self) -> float:
        return max(self.compute_s, self.memory_s) + self.overhead_s


def kernel_time(
    kernel: Kernel,
    records: list[OpRecord] | tuple[OpRecord, ...],
    target: HardwareTarget,
    precision: str,
    efficiency: str,
    execution: str,
) -> KernelTime:
    """One kernel's ``KernelTime`` under ``efficiency`` (module doc).

    ``ideal``: compute at the datasheet peak, memory at the peak bandwidth, overhead = the target's
    ``launch_overhead_us`` (0 when absent). ``calibrated``: the achievable rates of the module doc, tensor
    classes at the sustained clock (``clock_for``); overhead = kernel gap + launch overhead, or the host's
    issue time when that is longer than the whole device time. ``ValueError`` for an unknown efficiency."""
    if efficiency == "ideal":
        peak, bw = target.peak_flops(precision), target.bandwidth
        compute, memory = kernel.flops / peak, kernel.bytes / bw
        launch = target.launch_overhead_s
        return KernelTime(compute, memory, launch, bound_of_times(compute, memory, launch, kernel.flops > 0))
    if efficiency != "calibrated":
        raise ValueError(f"unknown efficiency {efficiency!r}; choose one of {', '.join(EFFICIENCIES)}")
    p = params_for(target)
    main = records[kernel.main]
    cls = "attention" if kernel.kind == "attention" else op_class(main, execution)
    bw = target.bandwidth * p.bandwidth
    extra = 0.0
    if cls in ("vector", "depthwise"):
        rate = target.peak_flops("fp32" if target.has("fp32") else precision) * p.vector
        if cls == "depthwise":
            bw *= p.depthwise_eager if execution == "eager" else p.depthwise_compiled
    else:
        rate = target.peak_flops(precision) * getattr(p, cls) * clock_for(target).ratio
        shape = gemm_shape(main)
        if shape is not None:
            tiled = rate * quantisation(shape, p)
            # a skinny GEMM (LLM decode: M = the batch) is not run on a mostly padded 128-row tile:
            # libraries switch to GEMV / split-K kernels (small-M tensor-core MMAs, or the vector units)
            m = shape[1]
            skinny = rate * m / (MMA_M * math.ceil(m / MMA_M)) if m < min(t[0] for t in p.tiles) else 0.0
            vector = target.peak_flops("fp32" if target.has("fp32") else precision) * p.vector
            rate = max(tiled, skinny, vector)
        if cls == "conv_eager":  # NCHW <-> NHWC transforms around the tensor-core kernel, separate passes
            extra = p.nchw_passes * (main.input_bytes + main.output_bytes) / bw
    compute = kernel.flops / rate if kernel.flops and rate else 0.0
    memory = kernel.bytes / bw + extra
    gpu = max(compute, memory) + p.kernel_gap_us * 1e-6 + target.launch_overhead_s
    host = (p.eager_op_us if execution == "eager" else p.compiled_kernel_us) * 1e-6
    overhead = max(gpu, host) - max(compute, memory)
    return KernelTime(compute, memory, overhead, bound_of_times(compute, memory, overhead, kernel.flops > 0))


def clock_for(target: HardwareTarget) -> ClockModel:
    """The sustained tensor-load clock of ``target`` (``metrics_core.perf.power``) with its generation's
    energy per FLOP and the DVFS exponent of ``data/efficiency.toml``."""
    data = _data()
    p = params_for(target)
    exponent = float(data.get("power", {}).get("dvfs_exponent", DVFS_EXPONENT))
    return clock_model(target, p.tensor_pj_per_flop, exponent)


def validation_for(target: HardwareTarget) -> str | None:
    """The published measurements this target's parameters were held against (``[validated]`` in the data
    file: per target id, what was measured and how well), or None: the parameters are physical estimates
    of its generation, not validated on this target."""
    return _data().get("validated", {}).get(target.id)
