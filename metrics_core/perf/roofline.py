"""Roofline estimates: pure functions over op records, a hardware target and a precision path.

Model (every number it produces is an estimate and says so in ``to_dict``: ``"estimate": true``):

- one compute roof per precision: the target's dense peak for that path applies to every op;
- ridge point = peak FLOP/s / bandwidth (bytes/s), in FLOP/byte;
- per op: AI = FLOPs / bytes (``OpRecord.ai``); attainable FLOP/s = min(peak, AI x bandwidth);
  three regimes: compute time = FLOPs / peak, memory time = bytes / bandwidth, overhead time = the
  target's launch overhead (0 unless the target defines ``launch_overhead_us``); estimated time =
  max(compute, memory) + overhead; bound = ``overhead`` when the overhead is longer than both, else
  ``compute`` when AI >= ridge point, else ``memory``. Ops with no FLOPs (data movement, or ops without a
  cost rule) still cost bytes / bandwidth and are memory-bound;
- per model: latency = sum of op times (no fusion, no overlap between ops, peak clocks, every byte from
  DRAM); throughput = batch size / latency (samples/s); attained FLOP/s = FLOPs / latency; aggregate
  AI = total FLOPs / total bytes; ``compute_s`` / ``memory_s`` / ``overhead_s`` = the sums of the ops' (or
  kernels') three parts; the time share of each bound = time of the ops bound by it / latency, and the
  model's bound is the regime with the largest share.

``calibrated`` efficiency and ``compiled`` execution (``estimate_kernels``) use the same three parts per
kernel (``perf.efficiency.KernelTime``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from metrics_core.common.dtypes import DTYPES
from metrics_core.common.errors import UsageError
from metrics_core.common.records import ModelReport, OpRecord
from metrics_core.perf.cache import kernel_l2_bytes, l2_aware
from metrics_core.perf.efficiency import (
    BOUNDS,
    DEFAULT_EFFICIENCY,
    DEFAULT_EXECUTION,
    EFFICIENCIES,
    Tuning,
    builtin_calibration,
    clock_for,
    efficiency_source,
    kernel_time,
    params_for,
    validation_for,
)
from metrics_core.perf.fusion import EXECUTIONS, kernels_for
from metrics_core.perf.hardware import HardwareTarget

#: Analysis dtype -> precision path of the target's peak table (fp32 -> tf32 with ``use_tf32``).
DTYPE_PRECISION: dict[str, str] = {"fp32": "fp32", "fp16": "fp16", "bf16": "bf16", "int8": "int8"}


def precision_for(target: HardwareTarget, dtype: str, use_tf32: bool = False) -> str:
    """The precision path used for an analysis dtype on ``target``.

    fp32 uses the FP32 path, or the TF32 tensor-core path when ``use_tf32``; fp16/bf16/int8 use their
    own (tensor) paths. ``UsageError`` when the dtype is unknown, ``use_tf32`` is combined with another
    dtype, or the target lacks the path (the message names the target and the precisions it has).
    """
    if dtype not in DTYPE_PRECISION:
        raise UsageError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    if use_tf32 and dtype != "fp32":
        raise UsageError(f"--tf32 applies to dtype fp32 only (got {dtype})")
    precision = "tf32" if use_tf32 else DTYPE_PRECISION[dtype]
    target.peak_flops(precision)  # raises UsageError naming what the target has
    return precision


def analysed_precision(target: HardwareTarget, dtype: str, asked: str | None = None) -> str:
    """The precision path of the estimate of a model analysed in ``dtype`` (``ModelReport.dtype``: the
    options' dtype, or the model's own fp16/bf16 when no dtype was chosen,
    ``AnalysisOptions.dtype_from_model``) on ``target``: the one place the CLI, the app and the Python API
    pick it.

    ``asked`` is the path resolved for the run's options (``precision_for`` of the options' dtype, ``tf32``
    with ``--tf32``). It is kept when it is ``dtype``'s own path (or ``tf32`` for an fp32 analysis); a
    model analysed in another dtype (a bf16 model with no ``--dtype``) takes that dtype's path, e.g. bf16
    bytes on an H100 are estimated on its bf16 tensor roof, never the fp32 one. Where ``target`` lacks
    that path the estimate stays on ``asked``, which its ``precision`` then names. With ``asked`` None
    the dtype's path is required: ``UsageError`` (``precision_for``) when the target lacks it.
    """
    if asked is None:
        return precision_for(target, dtype)
    if DTYPE_PRECISION.get(dtype) == asked or (asked == "tf32" and dtype == "fp32"):
        return asked
    own = DTYPE_PRECISION.get(dtype)
    return own if own is not None and own in target.precisions else asked


def ridge_point(target: HardwareTarget, precision: str) -> float:
    """FLOP/byte at which the memory slope meets the compute roof: peak FLOP/s / bandwidth."""
    return target.ridge_point(precision)


def attainable_flops(ai: float, target: HardwareTarget, precision: str) -> float:
    """Attainable FLOP/s at arithmetic intensity ``ai`` (FLOP/byte): min(peak, ai x bandwidth)."""
    return min(target.peak_flops(precision), ai * target.bandwidth)


def bound_of(flops: float, nbytes: float, target: HardwareTarget, precision: str) -> str:
    """``compute`` when AI = flops / bytes >= the ridge point (and flops > 0), else ``memory``.

    Compared as flops x bandwidth >= bytes x peak, so an op that moves no bytes but computes is
    compute-bound and an op without FLOPs is memory-bound.
    """
    if flops > 0 and flops * target.bandwidth >= nbytes * target.peak_flops(precision):
        return "compute"
    return "memory"


@dataclass(frozen=True)
class OpEstimate:
    """The roofline estimate for one op (times in seconds, rates in FLOP/s)."""

    index: int
    module: str
    op: str
    category: str
    flops: int
    bytes: int
    ai: float
    attainable_flops_per_s: float
    time_s: float
    bound: str
    estimated: bool = True
    #: The three regimes of ``time_s`` (module doc): ``time_s = max(compute_s, memory_s) + overhead_s``.
    compute_s: float = 0.0
    memory_s: float = 0.0
    overhead_s: float = 0.0
    #: Activation bytes it reads from the L2 cache (the cache-aware roofline, ``perf.cache``).
    l2_bytes: int = 0

    @property
    def attained_flops_per_s(self) -> float:
        """FLOPs / estimated time (equals ``attainable_flops_per_s`` when there is no launch overhead)."""
        return self.flops / self.time_s if self.time_s else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["estimated"]
        d["estimate"] = True
        return d


def estimate_op(record: OpRecord, target: HardwareTarget, precision: str) -> OpEstimate:
    """One op on one target: attainable FLOP/s, estimated time and bound (definitions: module doc)."""
    peak = target.peak_flops(precision)
    bw = target.bandwidth
    nbytes = record.bytes
    attainable = attainable_flops(record.ai, target, precision) if nbytes else (peak if record.flops else 0.0)
    launches = 1 if record.kernels is None else record.kernels  # a multi-tensor op: one launch overhead each
    compute, memory, overhead = record.flops / peak, nbytes / bw, launches * target.launch_overhead_s
    time_s = max(compute, memory) + overhead
    bound = bound_of(record.flops, nbytes, target, precision)
    if overhead > max(compute, memory):
        bound = "overhead"
    return OpEstimate(
        index=record.index,
        module=record.module,
        op=record.op,
        category=record.category,
        flops=record.flops,
        bytes=nbytes,
        ai=record.ai,
        attainable_flops_per_s=attainable,
        time_s=time_s,
        bound=bound,
        compute_s=compute,
        memory_s=memory,
        overhead_s=overhead,
    )


def estimate_ops(records: Iterable[OpRecord], target: HardwareTarget, precision: str) -> list[OpEstimate]:
    """``estimate_op`` for each record, in order."""
    return [estimate_op(r, target, precision) for r in records]


@dataclass(frozen=True)
class ModelEstimate:
    """The roofline estimate for one model on one target and precision.

    ``bound`` is the regime (``compute``, ``memory``, ``overhead``) whose bound ops or kernels take the
    largest share of the estimated time (ties: memory, then compute). ``compute_s`` / ``memory_s`` /
    ``overhead_s`` sum the three parts of every op or kernel. ``throughput_per_s`` and
    ``attained_flops_per_s`` are None when the latency is 0 (no ops). ``clock_ratio`` / ``clock_source``:
    the sustained tensor-load clock the calibrated model used (``perf.power``; 1 / ``rated`` for ideal);
    ``validation``: the published measurements the target's parameters were held against, or None
    (``validated`` False: a physical estimate);
    ``efficiency_source``: where the calibrated parameters came from (``built-in``, or ``user: PATH (...)``
    for the user efficiency file: ``perf.efficiency.efficiency_source``), None for ideal estimates.
    """

    model: str
    target: str
    precision: str
    batch_size: int
    flops: int
    bytes: int
    latency_s: float
    throughput_per_s: float | None
    attained_flops_per_s: float | None
    aggregate_ai: float
    memory_bound_time_pct: float
    bound: str
    ridge_point: float
    peak_flops_per_s: float
    bandwidth_bytes_per_s: float
    op_count: int
    memory_bound_ops: int
    ops: tuple[OpEstimate, ...] = field(default=(), repr=False)
    estimated: bool = True
    #: ``eager`` (one kernel per op) or ``compiled`` (Inductor-style fused kernels: ``perf.fusion``).
    execution: str = "eager"
    #: ``ideal`` (datasheet roofline) or ``calibrated`` (achievable efficiency: ``perf.efficiency``).
    efficiency: str = "ideal"
    kernel_count: int = 0
    #: Sums of the three parts of every op / kernel (seconds): compute, memory and overhead time (kernel
    #: gaps, launch overhead, host-bound issue time).
    compute_s: float = 0.0
    memory_s: float = 0.0
    overhead_s: float = 0.0
    #: Of ``memory_s``, the seconds in a serving stack's separate memory passes (``KernelEstimate.pass_s``).
    pass_s: float = 0.0
    compute_bound_time_pct: float = 0.0
    overhead_bound_time_pct: float = 0.0
    clock_ratio: float = 1.0
    clock_source: str = "rated"
    #: The cache-aware roofline (``perf.cache``): whether it applied (eager, calibrated, a target with L2
    #: figures), the activation bytes read from L2, and their share of all activation bytes read.
    l2_aware: bool = False
    l2_bytes: int = 0
    l2_hit_pct: float = 0.0
    #: The published measurements the target's estimates were held against (None: a physical estimate).
    validation: str | None = None
    efficiency_source: str | None = None
    kernels: tuple[KernelEstimate, ...] = field(default=(), repr=False)

    @property
    def validated(self) -> bool:
        """True when the target's estimates were held against published measurements (``validation``)."""
        return self.validation is not None

    @property
    def pct_of_peak(self) -> float | None:
        """Attained FLOP/s as a percentage (0-100) of the precision's peak."""
        if self.attained_flops_per_s is None:
            return None
        return 100.0 * self.attained_flops_per_s / self.peak_flops_per_s

    def to_dict(self, include_ops: bool = False) -> dict[str, Any]:
        """JSON-compatible, flat scalars plus ``"estimate": true``; per-op rows with ``include_ops``."""
        skip = ("ops", "estimated", "kernels")
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        d["pct_of_peak"] = self.pct_of_peak
        d["validated"] = self.validated
        d["estimate"] = True
        if include_ops:
            d["ops"] = [o.to_dict() for o in self.ops]
            if self.execution == "compiled":
                d["kernels"] = [k.to_dict() for k in self.kernels]
        return d


@dataclass(frozen=True)
class KernelEstimate:
    """One kernel of an execution mode (``perf.fusion.Kernel``) with its estimated time (seconds).

    ``ops`` are the record indices it runs; ``op_names`` their aten ops; ``bytes`` its traffic after fusion;
    ``compute_s`` / ``memory_s`` / ``overhead_s`` the three parts of ``time_s``
    (``perf.efficiency.KernelTime``); ``pass_s`` the part of ``memory_s`` in a stack's separate memory
    passes, serial to the kernel's math: ``time_s = max(compute_s, memory_s - pass_s) + pass_s +
    overhead_s``."""

    index: int
    kind: str
    module: str
    ops: tuple[int, ...]
    op_names: tuple[str, ...]
    flops: int
    bytes: int
    time_s: float
    bound: str
    compute_s: float = 0.0
    memory_s: float = 0.0
    overhead_s: float = 0.0
    pass_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ops"], d["op_names"] = list(self.ops), list(self.op_names)
        d["estimate"] = True
        return d


def estimate_records(
    records: Sequence[OpRecord],
    target: HardwareTarget,
    precision: str,
    batch_size: int = 1,
    model: str = "",
    execution: str = DEFAULT_EXECUTION,
    efficiency: str = DEFAULT_EFFICIENCY,
    tuning: Tuning | None = None,
) -> ModelEstimate:
    """Model-level estimate from op records (definitions: module doc).

    ``execution`` / ``efficiency``: see ``estimate_kernels``; the defaults (``eager``, ``calibrated``) are
    every verb's; ``eager`` / ``ideal`` is the pure roofline of the module doc, one kernel per op.
    ``UsageError`` for an unknown mode or a precision the target lacks."""
    check_modes(execution, efficiency)
    if execution != "eager" or efficiency != "ideal":
        return estimate_kernels(records, target, precision, batch_size, model, execution, efficiency, tuning)
    ops = tuple(estimate_ops(records, target, precision))
    return _summary(
        model, target, precision, batch_size, ops,
        flops=sum(o.flops for o in ops),
        nbytes=sum(o.bytes for o in ops),
        parts=ops,
        kernel_count=sum(1 if r.kernels is None else r.kernels for r in records),
    )  # fmt: skip


def describe_modes(execution: str, efficiency: str) -> str:
    """What an estimate of these modes assumes, in words (for text outputs)."""
    kernels = (
        "torch.compile's fused kernels (Inductor rules, perf/fusion.py)"
        if execution == "compiled"
        else "one kernel per op (eager, no fusion)"
    )
    rates = (
        "achievable efficiency per op class with tile/wave quantisation and launch costs "
        "(perf/efficiency.py), tensor clocks sustained under the board's power limit (perf/power.py)"
        if efficiency == "calibrated"
        else "datasheet peaks at rated boost clocks (ideal roofline)"
    )
    return f"{kernels}, no overlap between kernels, {rates}"


def check_modes(execution: str, efficiency: str) -> None:
    """``UsageError`` (one line) for an unknown execution or efficiency mode."""
    if execution not in EXECUTIONS:
        raise UsageError(f"unknown execution {execution!r}; choose one of {', '.join(EXECUTIONS)}")
    if efficiency not in EFFICIENCIES:
        raise UsageError(f"unknown efficiency {efficiency!r}; choose one of {', '.join(EFFICIENCIES)}")


def estimate_kernels(
    records: Sequence[OpRecord],
    target: HardwareTarget,
    precision: str,
    batch_size: int = 1,
    model: str = "",
    execution: str = "compiled",
    efficiency: str = "calibrated",
    tuning: Tuning | None = None,
) -> ModelEstimate:
    """Model-level estimate over the kernels of ``execution`` (``perf.fusion``) timed by ``efficiency``
    (``perf.efficiency``). Latency = sum of kernel times. Per-op estimates share their kernel's time in
    proportion to the ops' own ideal roofline times (their FLOPs and bytes), and carry its bound; ``bytes``
    is the kernels' traffic (after fusion), ``flops`` the ops' FLOPs."""
    check_modes(execution, efficiency)
    records = list(records)
    kernels = kernels_for(records, execution)
    # each op's ideal roofline time (``estimate_op``'s ``time_s``), the weight of its share of its kernel
    peak, bw, launch = target.peak_flops(precision), target.bandwidth, target.launch_overhead_s
    ideal = [max(r.flops / peak, r.bytes / bw) + launch for r in records]
    params = params_for(target) if efficiency == "calibrated" else None
    if params is not None and tuning is not None and tuning.overrides:  # once per model, not per kernel
        params = replace(params, **dict(tuning.overrides))
        tuning = replace(tuning, overrides=())
    cached = efficiency == "calibrated" and l2_aware(target)
    l2 = [0] * len(records)  # per record: its kernel's L2 bytes, on the kernel's main op
    if cached:
        for k, hit in zip(kernels, kernel_l2_bytes(kernels, records, target, execution), strict=True):
            l2[k.main] = hit
    kests: list[KernelEstimate] = []
    op_est: list[OpEstimate | None] = [None] * len(records)
    # a kernel's time depends on its kind, FLOPs, bytes, L2 bytes and its main op's costs and shapes (never
    # on names): a model's repeated layers are priced once (an LLM's 32-80 identical decoder layers)
    times: dict[tuple, Any] = {}
    for n, k in enumerate(kernels):
        main = records[k.main]
        key = (k.kind, k.flops, k.bytes, l2[k.main], _cost_key(main), k.launches)
        kt = times.get(key)
        if kt is None:
            kt = times[key] = kernel_time(
                k, records, target, precision, efficiency, execution, tuning, params, l2[k.main]
            )
        t, bound = kt.time_s, kt.bound
        kests.append(
            KernelEstimate(
                index=n,
                kind=k.kind,
                module=main.module,
                ops=k.ops,
                op_names=tuple(records[i].op for i in k.ops),
                flops=k.flops,
                bytes=k.bytes + round(kt.extra_bytes),
                time_s=t,
                bound=bound,
                compute_s=kt.compute_s,
                memory_s=kt.memory_s,
                overhead_s=kt.overhead_s,
                pass_s=kt.pass_s,
            )
        )
        weights = [ideal[i] or 1.0 for i in k.ops]
        total_w = sum(weights)
        for i, w in zip(k.ops, weights, strict=True):
            share = t * w / total_w
            r = records[i]
            frac = w / total_w
            op_est[i] = OpEstimate(  # positional: a model has thousands of ops (dataclasses.replace is slow)
                r.index, r.module, r.op, r.category, r.flops, r.bytes, r.ai,
                (r.flops or 0) / share if share else 0.0, share, bound, True,
                kt.compute_s * frac, kt.memory_s * frac, kt.overhead_s * frac, l2[i],
            )  # fmt: skip
    ops = tuple(o for o in op_est if o is not None)
    total_in = _activation_reads(records, kernels, execution)
    return _summary(
        model, target, precision, batch_size, ops,
        flops=sum(r.flops or 0 for r in records),
        nbytes=sum(k.bytes for k in kests),
        parts=kests,
        kernel_count=sum(k.launches for k in kernels),
        clock=efficiency == "calibrated",
        l2_aware=cached,
        l2_bytes=sum(l2),
        l2_hit_pct=100.0 * sum(l2) / total_in if total_in else 0.0,
        execution=execution,
        efficiency=efficiency,
        kernels=tuple(kests),
    )  # fmt: skip


def _activation_reads(records: Sequence[OpRecord], kernels: Sequence[Any], execution: str) -> int:
    """Activation bytes read from memory: the ops' inputs (eager), the kernels' reads less their weights
    (compiled: what fused kernels read from other kernels); the denominator of ``l2_hit_pct``."""
    if execution == "eager":
        return sum(r.input_bytes for r in records)
    return sum(k.read_bytes - sum(records[i].weight_bytes for i in k.ops) for k in kernels)


def _cost_key(r: OpRecord) -> tuple:
    """What of a record a kernel's time can depend on (``efficiency.kernel_terms``: its op, category,
    shapes, dtype, MACs, FLOPs and bytes), without its index and module."""
    return (
        r.op, r.category, r.module_type, tuple(map(tuple, r.input_shapes)), tuple(r.output_shape), r.dtype,
        r.macs, r.flops, r.input_bytes, r.output_bytes, r.weight_bytes, r.covered,
    )  # fmt: skip


def _summary(
    model: str,
    target: HardwareTarget,
    precision: str,
    batch_size: int,
    ops: tuple,
    *,
    flops: int,
    nbytes: int,
    parts: Sequence[OpEstimate] | Sequence[KernelEstimate],
    clock: bool = False,
    **extra: Any,
) -> ModelEstimate:
    """The model-level figures of the module doc from its ops or kernels (``parts``, each with
    ``time_s``, ``bound`` and the three parts); ``clock``: the calibrated model's sustained clock applies
    (``extra``: kernel count, execution, efficiency, kernels)."""
    latency = sum(k.time_s for k in parts)
    by_bound = {b: sum(k.time_s for k in parts if k.bound == b) for b in BOUNDS}
    pct = {b: 100.0 * t / latency if latency else 0.0 for b, t in by_bound.items()}
    clock_model = clock_for(target) if clock else None
    return ModelEstimate(
        model=model,
        target=target.id,
        precision=precision,
        batch_size=batch_size,
        flops=flops,
        bytes=nbytes,
        latency_s=latency,
        throughput_per_s=batch_size / latency if latency else None,
        attained_flops_per_s=flops / latency if latency else None,
        aggregate_ai=flops / nbytes if nbytes else 0.0,
        memory_bound_time_pct=pct["memory"],
        bound=dominant_bound(by_bound),
        ridge_point=target.ridge_point(precision),
        peak_flops_per_s=target.peak_flops(precision),
        bandwidth_bytes_per_s=target.bandwidth,
        op_count=len(ops),
        memory_bound_ops=sum(1 for o in ops if o.bound == "memory"),
        ops=ops,
        compute_s=sum(k.compute_s for k in parts),
        memory_s=sum(k.memory_s for k in parts),
        overhead_s=sum(k.overhead_s for k in parts),
        pass_s=sum(getattr(k, "pass_s", 0.0) for k in parts),
        compute_bound_time_pct=pct["compute"],
        overhead_bound_time_pct=pct["overhead"],
        clock_ratio=clock_model.ratio if clock_model else 1.0,
        clock_source=clock_model.source if clock_model else "rated",
        validation=validation_for(target, extra.get("execution"), precision)
        if builtin_calibration(target, "calibrated" if clock else "ideal")
        else None,
        efficiency_source=efficiency_source(target) if clock else None,
        **extra,
    )


def dominant_bound(time_by_bound: dict[str, float]) -> str:
    """The bound with the largest time in ``time_by_bound`` (``{bound: seconds}``: compute, memory, overhead
    and, for an LLM phase, communication); ties go to memory, then compute, then overhead; ``memory`` when
    every time is 0."""
    order = ("memory", "compute", "overhead", "communication")
    return max(order, key=lambda b: (time_by_bound.get(b, 0.0), -order.index(b)))


def estimate_model(
    report: ModelReport,
    target: HardwareTarget,
    precision: str,
    execution: str = DEFAULT_EXECUTION,
    efficiency: str = DEFAULT_EFFICIENCY,
) -> ModelEstimate:
    """The estimate for an analysed report (its records and batch size), with the same defaults as every
    CLI verb and the app (``eager``, ``calibrated``).

    ``ValueError`` when the report has no op records (a failed analysis, or an engine without
    per-op bytes); check ``report.ok and report.records`` first.
    """
    if not report.records:
        reason = report.error or f"no per-op records (engine {report.engine})"
        raise ValueError(f"{report.model}: cannot estimate a roofline: {reason}")
    return estimate_records(
        report.records, target, precision, report.batch_size, report.model, execution, efficiency
    )
