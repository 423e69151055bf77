"""Achievable efficiency: how fast a kernel really runs on a target, instead of the datasheet roofline.

``ideal`` (the pure roofline): a kernel takes ``max(FLOPs / peak, bytes / bandwidth)`` plus the target's
``launch_overhead_us`` (0 when absent) — the estimate modeltui always made.

``calibrated``: per kernel (``metrics_core.perf.fusion.Kernel``), with ``p`` the parameters of the target's
architecture generation (``data/efficiency.toml``, every figure with its derivation or source there):

- compute rate = peak x ``p.<class>`` x r x q(shape), with r the sustained clock ratio under tensor load
  (``metrics_core.perf.power``: 1 unless the board's power limit holds the clock below boost), class
  ``gemm`` (matmul), ``conv`` (``conv_eager``: cuDNN on NCHW tensors in eager; ``conv_compiled``: cuDNN on
  channels-last tensors, after Inductor's layout optimisation or in eager on an input already channels-last
  (``OpRecord.channels_last``; a convolution's backward as its forward), by default ``gemm x implicit_gemm``,
  see ``Efficiency.compiled_conv``), ``attention``; kernels without MACs (pointwise, norms, pooling) and
  depthwise convolutions (one input channel per group: no tensor-core GEMM) compute on the vector units: the
  fp32 peak x ``p.vector``;
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
  ``p.kernel_gap_us`` (launch latency and tail between dependent kernels; once per launch of a
  multi-tensor ``_foreach_*`` op, ``fusion.Kernel.launches``, whose host time is one issue); host time =
  ``p.eager_op_us`` per eager op or ``p.compiled_kernel_us`` per compiled kernel (the Python/dispatcher
  cost of issuing it; the host runs ahead asynchronously, so it only shows when kernels are shorter than
  that).
- three regimes (``KernelTime``): compute time, memory time and overhead time (everything that is neither:
  kernel gap, launch overhead, host-bound time); the bound is the regime that takes longest, so a kernel
  at the launch floor is ``overhead``-bound.

Parameters exist per architecture generation (and per target only for counted units), per op class — never
per model or model family. A target with no generation entry uses the generation of its ``kind``
(``[kind.*]`` defaults). No torch here.

User calibration: ``<config dir>/efficiency.toml`` (the config dir of ``perf.hardware.user_hardware_dir``:
``$MODELTUI_CONFIG_DIR`` or platformdirs' ``user_config_dir("modeltui")``) holds ``[target.ID]`` tables of
parameter overrides (``FITTABLE`` names, each within ``PARAM_RANGES``), written by ``modeltui calibrate``
(``perf.calibrate``). ``params_for`` merges them over the built-in generation parameters; a broken file is
ignored whole with one warning line on stderr; a ``[target.ID]`` table naming no target of the catalog is one
warning line of its own (``unknown_target_warnings``, called where the catalog is loaded: the CLI, the app).
``efficiency_source`` says which applied to an estimate.
The same file's ``[stack.ID]`` tables override serving-stack parameters (``perf.stacks``, written by
``modeltui calibrate --llm``); they are read there, each broken one ignored on its own.
"""

from __future__ import annotations

import difflib
import math
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from metrics_core.common.records import OpRecord
from metrics_core.perf.fusion import Kernel
from metrics_core.perf.hardware import HardwareTarget, suggest, user_hardware_dir
from metrics_core.perf.power import DVFS_EXPONENT, ClockModel, clock_model
from metrics_core.perf.this_machine import TARGET_ID as THIS_MACHINE

EFFICIENCIES: tuple[str, ...] = ("ideal", "calibrated")
#: The defaults of every estimate, CLI verbs, the app and the Python API alike: one kernel per aten op
#: (eager PyTorch) at achievable efficiency.
DEFAULT_EXECUTION = "eager"
DEFAULT_EFFICIENCY = "calibrated"
#: The kernel models a serving stack can run (``metrics_core.perf.fusion.EXECUTIONS``).
EXECUTIONS_OF_STACKS: tuple[str, ...] = ("eager", "compiled")

#: Rows of the smallest tensor-core matrix instruction (``mma.sync.m16n8k16``, PTX ISA "Warp-level matrix
#: multiply-accumulate instructions"): a GEMV / split-K kernel pads M to it, never to a 64-128-row tile.
MMA_M = 16

DATA_FILE = Path(__file__).parent / "data" / "efficiency.toml"

#: The parameters a user file may override and ``modeltui calibrate`` may fit: the per-op-class fractions
#: and the launch / issue times (not the tiles, SM counts or energy figures: they are datasheet facts).
FITTABLE: tuple[str, ...] = (
    "gemm", "conv_eager", "conv_compiled", "implicit_gemm", "nchw_passes", "depthwise_eager",
    "depthwise_compiled", "attention", "vector", "bandwidth", "kernel_gap_us", "eager_op_us",
    "compiled_kernel_us",
)  # fmt: skip

#: ``implicit_gemm`` before any compiled measurement informs it: a channels-last cuDNN convolution is an
#: implicit GEMM (M = N x P x Q output pixels, N = K output channels, K = C x R x S; NVIDIA Deep Learning
#: Performance Guide, "Convolutional Layers": convolution algorithms) on the same tensor-core tiles as a
#: cuBLAS GEMM, so its premise is the GEMM's fraction (1.0). The built-in value (``[op_class]`` in the data
#: file) is fitted; the leave-one-GPU-out benchmark starts from this premise where no other GPU has
#: ``torch.compile`` measurements.
IMPLICIT_GEMM_PREMISE = 1.0

#: Physically plausible range of each fittable parameter (inclusive). Tensor-class fractions of the rated
#: dense peak: 0.3-1.0; the vector units' share of the fp32 peak a pointwise kernel's math reaches:
#: 0.05-1.0; a streaming kernel's share of the DRAM peak: 0.5-0.95 (a copy kernel reaches ~0.9); a depthwise
#: convolution's share of that: 0.2-1.0; NCHW layout passes per eager convolution: 0-2; device gap per
#: kernel 0-10 us (an empty kernel's launch latency is 2-4 us); host issue time per eager op 2-20 us (PyTorch
#: dispatcher benchmarks: 5-10 us on a desktop CPU) and per compiled kernel 1-15 us.
PARAM_RANGES: dict[str, tuple[float, float]] = {
    "gemm": (0.3, 1.0),
    "conv_eager": (0.3, 1.0),
    "conv_compiled": (0.3, 1.0),
    "implicit_gemm": (0.5, 1.0),
    "attention": (0.3, 1.0),
    "nchw_passes": (0.0, 2.0),
    "depthwise_eager": (0.2, 1.0),
    "depthwise_compiled": (0.2, 1.0),
    "vector": (0.05, 1.0),
    "bandwidth": (0.5, 0.95),
    "kernel_gap_us": (0.0, 10.0),
    "eager_op_us": (2.0, 20.0),
    "compiled_kernel_us": (1.0, 15.0),
}

#: The user calibration file's name in the config dir (module doc).
USER_FILE_NAME = "efficiency.toml"


@dataclass(frozen=True)
class Efficiency:
    """The calibrated-model parameters of one target (fractions in 0..1, times in microseconds)."""

    generation: str
    units: int
    gemm: float
    conv_eager: float
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
    #: A channels-last (compiled) convolution's fraction of the dense peak as a multiple of ``gemm``: one
    #: value for every generation (``[op_class]`` in the data file), see ``compiled_conv``.
    implicit_gemm: float = IMPLICIT_GEMM_PREMISE
    #: An explicit compiled-convolution fraction (a generation that states one, e.g. CPUs' oneDNN, or a
    #: user calibration); None: ``gemm x implicit_gemm``.
    conv_compiled: float | None = None
    #: What a serving stack's decode bandwidth share (``data/stacks.toml`` ``bandwidth.<memory type>``,
    #: fitted on NVIDIA parts, whose streaming kernels reach 0.88 of the DRAM peak) is multiplied by on
    #: this generation: its own measured streaming share over NVIDIA's (CDNA 3: 0.77 / 0.88 = 0.875); 1.0
    #: where the generation states none (``stack_bandwidth_scale`` in the data file, with its sources).
    stack_bandwidth_scale: float = 1.0

    @property
    def compiled_conv(self) -> float:
        """The fraction of the dense peak a convolution reaches under ``torch.compile``.

        Inductor (no max-autotune) lowers ``aten.convolution`` to an extern call of ``at::convolution``
        (cuDNN) with its input and weight required channels-last (torch/_inductor/kernel/conv.py
        ``convolution``: ``aten_convolution`` is the only choice unless max-autotune adds Triton templates;
        ``V.graph.layout_opt`` from config.layout_optimization, on by default on CUDA). cuDNN runs a
        channels-last fp16 convolution as an implicit GEMM on the tensor cores, so its fraction is the
        generation's cuBLAS GEMM fraction (fitted per generation, eager data included) times
        ``implicit_gemm`` (one value for all generations: what the implicit GEMM's filter-tap address
        arithmetic and halo loads cost against a plain GEMM). An explicit ``conv_compiled`` wins."""
        if self.conv_compiled is not None:
            return self.conv_compiled
        return self.gemm * self.implicit_gemm

    def value(self, name: str) -> float:
        """The value of a ``FITTABLE`` parameter (``conv_compiled`` resolved: ``compiled_conv``)."""
        return self.compiled_conv if name == "conv_compiled" else float(getattr(self, name))

    def fraction(self, cls: str) -> float:
        """The fraction of the dense peak of op class ``cls`` (``gemm``, ``conv_eager``, ``conv_compiled``,
        ``attention``)."""
        return self.compiled_conv if cls == "conv_compiled" else float(getattr(self, cls))


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    return tomllib.loads(DATA_FILE.read_text(encoding="utf-8"))


def params_for(target: HardwareTarget) -> Efficiency:
    """The parameters for ``target``: its generation's (by target id), else its kind's default, with the
    user file's ``[target.ID]`` overrides merged over them (module doc)."""
    p = builtin_params_for(target)
    overrides = user_overrides().get(target.id)
    return replace(p, **overrides) if overrides else p


def generation_values(generation: str) -> dict[str, float]:
    """The ``FITTABLE`` values of a built-in generation (``KeyError`` for an unknown one): its table's,
    ``implicit_gemm`` from ``[op_class]`` (all generations share it), ``conv_compiled`` only where the
    generation states one (else it is ``gemm x implicit_gemm``, ``Efficiency.compiled_conv``)."""
    g = _data()["generation"][generation]
    out = {n: float(g[n]) for n in FITTABLE if n in g}
    out["implicit_gemm"] = _implicit_gemm()
    return out


def _implicit_gemm() -> float:
    """``[op_class] implicit_gemm``: one value for every generation (``IMPLICIT_GEMM_PREMISE`` when the data
    file has none)."""
    return float(_data().get("op_class", {}).get("implicit_gemm", IMPLICIT_GEMM_PREMISE))


def builtin_params_for(target: HardwareTarget) -> Efficiency:
    """The built-in parameters for ``target`` (``data/efficiency.toml``), no user overrides."""
    return _builtin_params(target.id, target.kind)


@lru_cache(maxsize=256)
def _builtin_params(target_id: str, kind: str) -> Efficiency:
    data = _data()
    entry = data.get("target", {}).get(target_id, {})
    gen = entry.get("generation")
    if gen is None:
        gen = data["kind"]["cpu" if "cpu" in kind.lower() else "gpu"]["generation"]
    g = data["generation"][gen]
    units = int(entry.get("units", g["units"]))
    return Efficiency(
        generation=gen,
        units=units,
        gemm=g["gemm"],
        conv_eager=g["conv_eager"],
        conv_compiled=g.get("conv_compiled"),
        implicit_gemm=_implicit_gemm(),
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
        tensor_pj_per_flop=_pj_per_flop(g.get("tensor_energy_from")),
        stack_bandwidth_scale=float(g.get("stack_bandwidth_scale", 1.0)),
    )


# ------------------------------------------------------------------------------------ the user file


def user_efficiency_file() -> Path:
    """``<config dir>/efficiency.toml`` (module doc); it need not exist."""
    return user_hardware_dir().parent / USER_FILE_NAME


def parse_user_efficiency(text: str, label: str) -> dict[str, dict[str, float]]:
    """``{target id: {parameter: value}}`` of a user efficiency file's text. ``ValueError`` (one line naming
    ``label``, the table and the key) for TOML errors, a key that is not a fittable parameter, a value that is
    not a number or outside its ``PARAM_RANGES``. Tables other than ``[target.*]`` and ``[stack.*]`` are
    refused too (``[stack.*]`` tables are read by ``perf.stacks.user_stack_overrides``, not here)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{label}: not valid TOML: {exc}") from None
    extra = sorted(set(data) - {"target", "stack"})  # [stack.ID]: perf.stacks.user_stack_overrides
    if extra:
        raise ValueError(
            f"{label}: unknown table or key {extra[0]!r} (only [target.ID] tables and [stack.ID] tables)"
        )
    targets = data.get("target", {})
    if not isinstance(targets, dict):  # ``target = 5``: not the [target.ID] tables
        raise ValueError(f"{label}: 'target' is not a table of [target.ID] tables")
    out: dict[str, dict[str, float]] = {}
    for tid, table in targets.items():
        if not isinstance(table, dict):
            raise ValueError(f"{label}: target.{tid} is not a table")
        values: dict[str, float] = {}
        for key, value in table.items():
            if key not in PARAM_RANGES:
                close = difflib.get_close_matches(key, FITTABLE, n=2, cutoff=0.6)
                hint = f"; did you mean {' or '.join(close)}?" if close else ""
                raise ValueError(
                    f"{label}: [target.{tid}] {key}: not a calibratable parameter{hint} "
                    f"(one of {', '.join(FITTABLE)})"
                )
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{label}: [target.{tid}] {key} = {value!r}: expected a number")
            lo, hi = PARAM_RANGES[key]
            if not lo <= value <= hi:
                raise ValueError(f"{label}: [target.{tid}] {key} = {value}: outside its range {lo:g}-{hi:g}")
            values[key] = float(value)
        out[tid] = values
    return out


_warned: set[tuple[Any, ...]] = set()


def warn_user_file(key: tuple[Any, ...], message: str) -> None:
    """``modeltui: warning: MESSAGE`` on stderr once per ``key`` (a user-file version and what is wrong in
    it: ``(path, mtime_ns)`` for the whole file, so the readers of its tables warn once between them)."""
    if key not in _warned:
        _warned.add(key)
        print(f"modeltui: warning: {message}", file=sys.stderr, flush=True)


def user_overrides() -> dict[str, dict[str, float]]:
    """The user file's overrides (``parse_user_efficiency``), ``{}`` when there is none; a broken file is
    ignored with one warning line on stderr (once per file version). Re-read when the file changes."""
    path = user_efficiency_file()
    try:
        st = os.stat(path)
    except OSError:
        return {}
    return _load_user(str(path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=8)
def _load_user(path: str, mtime_ns: int, size: int) -> dict[str, dict[str, float]]:
    try:
        return parse_user_efficiency(Path(path).read_text(encoding="utf-8"), path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        message = str(exc) if path in str(exc) else f"{path}: {exc}"  # a decoding error names no file
        warn_user_file((path, mtime_ns), f"{message} (user efficiency file ignored)")
        return {}


def unknown_target_warnings(known_ids: Iterable[str]) -> list[str]:
    """One line per ``[target.ID]`` table of the user file whose ID is no target of ``known_ids`` (the
    catalog the caller loaded: built-in, user-dir and ``--hardware-file`` targets; ``this-machine`` always
    counts), with the closest known ids suggested (``perf.hardware.suggest``): such a table applies to no
    estimate (a typo, or a target since renamed). ``[]`` when there is no user file or it is broken (that is
    warned about on its own)."""
    known = {*known_ids, THIS_MACHINE}
    out = []
    for tid in user_overrides():
        if tid not in known:
            hints = suggest(tid, sorted(known))
            hint = f"; did you mean {', '.join(hints)}?" if hints else ""
            out.append(
                f"{user_efficiency_file()}: [target.{tid}]: unknown hardware target{hint} (this table "
                "applies to no target; `modeltui hardware` lists them)"
            )
    return out


def warn_unknown_targets(known_ids: Iterable[str]) -> None:
    """``unknown_target_warnings`` on stderr (``warn_user_file``: each line once per process)."""
    for message in unknown_target_warnings(known_ids):
        warn_user_file((message,), message)


def efficiency_source(target: HardwareTarget) -> str:
    """``"built-in"`` when ``target``'s calibrated parameters are ``data/efficiency.toml``'s, else
    ``"user: PATH (names)"``: the user file and the parameters it overrides for the target."""
    overrides = user_overrides().get(target.id)
    if not overrides:
        return "built-in"
    return f"user: {user_efficiency_file()} ({', '.join(sorted(overrides))})"


# ------------------------------------------------------------------------------------------ kernels


def _pj_per_flop(pair: Any) -> float | None:
    """``[board W, dense TFLOP/s]`` -> pJ per FLOP (W / TFLOP/s), None when absent."""
    if not pair:
        return None
    watts, tflops = pair
    return float(watts) / float(tflops)


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
    if (shape_k := _operand_k(record)) is not None and abs(shape_k - record.macs / numel) <= 0.02 * shape_k:
        k = shape_k  # a step model's record: its M rounded in the shape, its MACs not (K = MACs / M N drifts)
    if record.op == "convolution_backward" and len(record.input_shapes) >= 3:
        return _conv_backward_shape(record)
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


#: The input operand whose last dimension is a matmul op's K: A of ``mm(A, B)``, ``linear(x, W)``; mat1 of
#: ``addmm(bias, mat1, mat2)``.
_K_OPERAND = {"mm": 0, "bmm": 0, "matmul": 0, "_int_mm": 0, "_scaled_mm": 0, "linear": 0, "addmm": 1,
              "addmm_": 1, "baddbmm": 1, "baddbmm_": 1, "_addmm_activation": 1}  # fmt: skip


def _operand_k(record: OpRecord) -> int | None:
    """K of a matmul op from its operand's shape (``_K_OPERAND``), None for other ops or missing shapes.
    ``gemm_shape`` takes it where MACs / (M N) agree within 2 %: a captured record's shapes and MACs agree
    exactly; a step model's record (``perf.serving.StepModel.records``) rounds its token count in the
    shapes but not in the MACs, and K = MACs / (M N) would then drift with the fraction (K 4,098 for 4,096
    at 156.3 tokens: a time that falls as tokens are added)."""
    i = _K_OPERAND.get(record.op)
    if i is None or len(record.input_shapes) <= i or not record.input_shapes[i]:
        return None
    return int(record.input_shapes[i][-1]) or None


def _conv_backward_shape(record: OpRecord) -> tuple[int, int, int, int] | None:
    """``(groups, M, N, K)`` of a ``convolution_backward`` (tensors grad_output, input, weight): the
    forward convolution's GEMM, which its input- and weight-gradient GEMMs transpose (same MACs each):
    M = grad_output elements / C_out, N = C_out / groups, K = weight elements per output channel; groups from
    the weight's layout (``(C_out, C_in / g, ...)``, or ``(C_in, C_out / g, ...)`` transposed)."""
    grad_out, x, w = record.input_shapes[:3]
    if len(grad_out) < 3 or len(x) < 2 or len(w) < 3 or not w[1]:
        return None
    c_out, c_in = grad_out[1], x[1]
    groups = max(1, (c_in if w[0] == c_out else c_out) // w[1])
    numel = math.prod(grad_out)
    return groups, numel // c_out, max(1, c_out // groups), max(1, math.prod(w[1:]))


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
    """``gemm``, ``conv_eager``/``conv_compiled``, ``depthwise``, ``attention`` or ``vector`` (module doc).
    A convolution is ``conv_compiled`` (cuDNN's channels-last kernel) under ``torch.compile`` and wherever
    its input or weight is already channels-last (``OpRecord.channels_last``; its ``convolution_backward``
    likewise, ``capture.layouts``), ``conv_eager`` (NCHW) otherwise; a depthwise one (or its backward) is
    ``depthwise`` in either layout."""
    if record.macs:
        if record.category == "conv":
            shape = gemm_shape(record)
            if shape is not None and _depthwise(record, shape):
                return "depthwise"
            return "conv_compiled" if record.channels_last else f"conv_{execution}"
        if record.category == "attention":
            return "attention"
        return "gemm"
    return "vector"


def _depthwise(record: OpRecord, shape: tuple[int, int, int, int]) -> bool:
    """One input channel per group: the weight (argument 1; argument 2 of ``convolution_backward``) is
    ``(C, 1, ...)``, and the convolution (its ``gemm_shape``) has more than one group."""
    at = 2 if record.op == "convolution_backward" else 1
    w = record.input_shapes[at] if len(record.input_shapes) > at else []
    return len(w) > 1 and w[1] == 1 and shape[0] > 1


@dataclass(frozen=True)
class Tuning:
    """How a runtime (a serving stack, ``metrics_core.perf.stacks``) changes the calibrated kernel model.

    ``overrides``: ``Efficiency`` fields replaced (name, value), e.g. the bandwidth share its decode kernels
    reach or its GEMM fraction at this precision; ``host_issue``: False when the kernels are replayed from
    a CUDA graph (no per-kernel host issue time); ``dequant_flops_per_weight_byte``: vector FLOPs a GEMM
    spends per byte of (quantised) weights it reads, to dequantise them in registers (W4A16 and others:
    ``metrics_core.perf.quant``), added to its compute time at the vector rate."""

    overrides: tuple[tuple[str, float], ...] = ()
    host_issue: bool = True
    dequant_flops_per_weight_byte: float = 0.0
    #: fp16 GEMMs accumulate in fp16 (cuBLAS ``CUBLAS_COMPUTE_16F``, llama.cpp's default): they run at the
    #: target's ``fp16_accumulate_tflops`` where it has one (GeForce parts: twice the fp32-accumulate rate).
    fp16_accumulate: bool = False
    #: GEMMs of at least this many rows (tokens) whose weights are quantised first dequantise the whole
    #: weight matrix to fp16 in a kernel of their own, then run the fp16 GEMM on it (llama.cpp before its
    #: tensor-core MMQ: ``to_fp16_cuda`` + cuBLAS for batches above ``MMQ_MAX_BATCH_SIZE``); 0: never.
    dequant_pass_min_rows: int = 0
    #: Extra DRAM bytes per quantised weight byte such a pass moves: the fp16 copy written and read back
    #: (2 x 2 bytes per weight / the format's bytes per weight).
    dequant_pass_bytes_per_weight_byte: float = 0.0
    #: Bytes of DRAM traffic per attention-score element when the attention is not fused (no flash
    #: attention: the score matrix is written by one GEMM, read and written by the softmax, read by the next
    #: GEMM); 0: a fused (flash) kernel that keeps the scores on chip.
    attention_score_bytes: float = 0.0
    #: GEMMs of at least this many rows whose weights are quantised run as int8 tensor-core MMA kernels at
    #: the target's int8 peak x ``int8_mmq_peak_scale`` (the stack's int8 GEMM scale over the one already
    #: in the fraction), after a pass that quantises their input activations, reading and writing
    #: ``mmq_activation_bytes`` per element (llama.cpp's MMQ: ``quantize_mmq_q8_1`` reads f32, writes
    #: ``block_q8_1_mmq``, 144 B per 128 values); the GEMM then reads the quantised copy; 0: never.
    int8_mmq_min_rows: int = 0
    int8_mmq_peak_scale: float = 1.0
    mmq_activation_bytes: tuple[float, float] = (0.0, 0.0)
    #: A prompt's GEMMs run in micro-batches of at most this many rows (the stack's prefill chunk; set for
    #: the prefill phase only; 0: in one): their tiles are those of a full chunk, and a dequantisation pass
    #: streams the weights only for the chunks at or above its row threshold.
    prefill_chunk_rows: int = 0


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
    the host's issue time beyond the device time. ``pass_s``: the part of ``memory_s`` spent in separate
    memory passes a runtime runs around the kernel (``KernelTerms.pass_bytes``), which its math cannot
    overlap. ``time_s = max(compute_s, memory_s - pass_s) + pass_s + overhead_s`` (without passes,
    ``max(compute_s, memory_s) + overhead_s``); ``bound`` is ``bound_of_times`` of the three."""

    compute_s: float
    memory_s: float
    overhead_s: float
    bound: str
    #: DRAM bytes the runtime moves beyond the kernel's own traffic (a stack's dequantisation copy, an
    #: unfused attention's score matrix: ``Tuning``), counted in ``memory_s`` and in the phase's bytes.
    extra_bytes: float = 0.0
    #: Seconds of ``memory_s`` in separate, serial memory passes (see the class doc).
    pass_s: float = 0.0

    @property
    def time_s(self) -> float:
        return max(self.compute_s, self.memory_s - self.pass_s) + self.pass_s + self.overhead_s


def kernel_time(
    kernel: Kernel,
    records: list[OpRecord] | tuple[OpRecord, ...],
    target: HardwareTarget,
    precision: str,
    efficiency: str,
    execution: str,
    tuning: Tuning | None = None,
    params: Efficiency | None = None,
    l2_bytes: int = 0,
) -> KernelTime:
    """One kernel's ``KernelTime`` under ``efficiency`` (module doc).

    ``ideal``: compute at the datasheet peak, memory at the peak bandwidth, overhead = the target's
    ``launch_overhead_us`` (0 when absent). ``calibrated``: the achievable rates of the module doc, tensor
    classes at the sustained clock (``clock_for``); overhead = kernel gap + launch overhead, or the host's
    issue time when that is longer than the whole device time; ``tuning`` (calibrated only) adjusts that for
    a runtime (``Tuning``); ``params``: ``params_for(target)`` when the caller has it already (a model's
    kernels share it); ``l2_bytes``: bytes of its traffic served from the L2 cache at the target's L2
    bandwidth (``perf.cache``). ``ValueError`` for an unknown efficiency."""
    if efficiency == "ideal":
        peak, bw = target.peak_flops(precision), target.bandwidth
        compute, memory = kernel.flops / peak, kernel.bytes / bw
        launch = kernel.launches * target.launch_overhead_s
        return KernelTime(compute, memory, launch, bound_of_times(compute, memory, launch, kernel.flops > 0))
    if efficiency != "calibrated":
        raise ValueError(f"unknown efficiency {efficiency!r}; choose one of {', '.join(EFFICIENCIES)}")
    p = params or params_for(target)
    if tuning is not None and tuning.overrides:
        p = replace(p, **dict(tuning.overrides))
    terms = kernel_terms(kernel, records, target, precision, execution, p, tuning, l2_bytes)
    kt = time_from_terms(terms, p)
    extra = terms.bytes + terms.pass_bytes - kernel.bytes
    return replace(kt, extra_bytes=extra) if extra else kt


@dataclass(frozen=True)
class KernelTerms:
    """What a kernel's calibrated time depends on besides the ``FITTABLE`` parameters (``kernel_time`` =
    ``time_from_terms(kernel_terms(...), params_for(target))``; ``perf.calibrate`` evaluates many
    parameter sets over the same terms).

    ``cls``: the op class (``op_class``; ``attention`` for an attention kernel); ``peak``: the precision's
    dense peak, ``clock``: the sustained clock ratio (tensor classes), ``vector_peak``: the fp32 peak;
    ``q``: tile/wave quantisation and ``skinny`` the GEMV floor's M share (0: not skinny), None when the
    kernel has no GEMM shape; ``io_bytes``: the main op's input + output bytes (NCHW passes);
    ``bandwidth``: bytes/s; ``launch_s``: the target's launch overhead; ``eager``: eager execution;
    ``nchw``: a depthwise convolution on NCHW tensors (eager, input not channels-last: ``depthwise_eager``;
    else ``depthwise_compiled``);
    ``host_issue``: False under CUDA graphs (no per-kernel host time); ``dequant_flops``: vector FLOPs to
    dequantise the weights a GEMM reads (``Tuning.dequant_flops_per_weight_byte`` x its weight bytes);
    ``bytes``: the DRAM bytes the kernel's own main loop moves (overlapped with its math);
    ``pass_bytes``: DRAM bytes of separate memory passes the runtime runs before or after it (a stack's
    dequantisation copy, an unfused attention's score round trips: ``Tuning``), which nothing overlaps."""

    cls: str
    flops: float
    bytes: float
    peak: float
    clock: float
    vector_peak: float
    q: float | None
    skinny: float
    io_bytes: float
    bandwidth: float
    launch_s: float
    eager: bool
    host_issue: bool = True
    dequant_flops: float = 0.0
    #: Bytes read from the L2 cache instead of DRAM, and the L2 bandwidth in bytes/s (``perf.cache``).
    l2_bytes: float = 0.0
    l2_bandwidth: float = 0.0
    #: GPU launches of the kernel (``fusion.Kernel.launches``): each pays the kernel gap and launch
    #: overhead; the host issues them in one call.
    launches: int = 1
    #: Bytes of separate, serial memory passes (see the class doc), at the DRAM bandwidth.
    pass_bytes: float = 0.0
    #: A prompt in micro-batches whose last chunk is short: that chunk's share of the rows and the bytes it
    #: streams (one pass over the weights). When its math is shorter than that stream, the stream does not
    #: hide under the other chunks' math: it is timed as a serial pass (``time_from_terms``).
    rest_share: float = 0.0
    rest_bytes: float = 0.0
    nchw: bool | None = None  # None: as ``eager``


def kernel_terms(
    kernel: Kernel,
    records: list[OpRecord] | tuple[OpRecord, ...],
    target: HardwareTarget,
    precision: str,
    execution: str,
    p: Efficiency | None = None,
    tuning: Tuning | None = None,
    l2_bytes: int = 0,
) -> KernelTerms:
    """The ``KernelTerms`` of one kernel (``p``: the parameters whose tiles and units quantise it; default
    ``params_for(target)``; ``tuning``: a runtime's CUDA graphs and dequantisation work; ``l2_bytes``: bytes
    of its traffic served from L2, ``perf.cache.kernel_l2_bytes``, timed at the target's L2 bandwidth)."""
    p = p or params_for(target)
    main = records[kernel.main]
    cls = "attention" if kernel.kind == "attention" else op_class(main, execution)
    vector_peak = target.peak_flops("fp32" if target.has("fp32") else precision)
    q, skinny, clock, peak, shape, chunk = None, 0.0, 1.0, vector_peak, None, 0
    if cls not in ("vector", "depthwise"):
        peak, clock = target.peak_flops(precision), _clock_ratio(target, p)
        shape = gemm_shape(main)
        chunk = tuning.prefill_chunk_rows if tuning is not None and cls == "gemm" else 0
        if shape is not None:
            # a prompt in micro-batches runs chunk-sized GEMMs: their tiles, not the whole prompt's
            tiled = (shape[0], chunk, shape[2], shape[3]) if chunk and shape[1] > chunk else shape
            q = quantisation(tiled, p)
            # a skinny GEMM (LLM decode: M = the batch) is not run on a mostly padded 128-row tile:
            # libraries switch to GEMV / split-K kernels (small-M tensor-core MMAs, or the vector units)
            m = shape[1]
            skinny = m / (MMA_M * math.ceil(m / MMA_M)) if m < min(t[0] for t in p.tiles) else 0.0
    io_bytes = float(main.input_bytes + main.output_bytes) if cls == "conv_eager" else 0.0
    host_issue, dequant, launches = True, 0.0, kernel.launches
    own_bytes, pass_bytes, rest_share, rest_bytes = float(kernel.bytes), 0.0, 0.0, 0.0
    if tuning is not None:
        host_issue = tuning.host_issue
        if tuning.fp16_accumulate and precision == "fp16" and cls not in ("vector", "depthwise"):
            peak = max(peak, (target.fp16_accumulate_tflops or 0.0) * 1e12)
        rows = shape[0] * shape[1] if cls == "gemm" and shape is not None else 0  # tokens (leading dims)
        if chunk and rows > chunk and rows % chunk and main.weight_bytes:
            rest_share = (rows % chunk) / rows
            rest_bytes = main.weight_bytes / math.ceil(rows / chunk)  # its own pass over the weights
        if cls == "gemm" and main.weight_bytes:
            if tuning.int8_mmq_min_rows and rows >= tuning.int8_mmq_min_rows and shape is not None:
                # int8 MMA on weights unpacked in registers; the activations quantised by a kernel before
                peak = target.peak_flops("int8") * tuning.int8_mmq_peak_scale
                elements = shape[0] * shape[1] * shape[3]  # the GEMM's input: rows x K
                read, written = tuning.mmq_activation_bytes
                pass_bytes = elements * (read + written)
                own_bytes += elements * written - main.input_bytes
                launches += 1
            elif tuning.dequant_pass_min_rows and rows >= tuning.dequant_pass_min_rows:
                # a kernel of its own reads the quantised weights and writes the fp16 copy (serial: the
                # GEMM waits for it); the GEMM then reads the copy instead, no in-register dequantising; in
                # micro-batches (the weight bytes already once per chunk) only chunks above the threshold do
                share = 1.0
                if chunk and rows > chunk:
                    full, rest = divmod(rows, chunk)
                    big = full * (chunk >= tuning.dequant_pass_min_rows) + (
                        rest >= tuning.dequant_pass_min_rows
                    )
                    share = big / (full + (rest > 0))
                copy = main.weight_bytes * share * tuning.dequant_pass_bytes_per_weight_byte / 2
                if copy:
                    pass_bytes = main.weight_bytes * share + copy
                    own_bytes += copy - main.weight_bytes * share
                    launches += 1
            else:
                dequant = main.weight_bytes * tuning.dequant_flops_per_weight_byte
        if cls == "attention" and tuning.attention_score_bytes:
            scores = attention_scores(main)
            # the score matrix's round trips (GEMM output, conversions, softmax, the next GEMM's input) run
            # between the two GEMMs and add to their time; scores GEMM, softmax and output GEMM are three
            # kernels, not one
            pass_bytes = scores * tuning.attention_score_bytes
            launches += 2 if scores else 0
    return KernelTerms(
        cls, kernel.flops, own_bytes, peak, clock, vector_peak, q, skinny, io_bytes,
        target.bandwidth, target.launch_overhead_s, execution == "eager", host_issue, dequant,
        launches=launches, pass_bytes=pass_bytes, rest_share=rest_share, rest_bytes=rest_bytes,
        l2_bytes=float(min(l2_bytes, kernel.bytes)) if l2_bytes and target.l2_bandwidth_gbps else 0.0,
        l2_bandwidth=target.l2_bandwidth_gbps * 1e9 if l2_bytes and target.l2_bandwidth_gbps else 0.0,
        nchw=execution == "eager" and not main.channels_last,
    )  # fmt: skip


def attention_scores(record: OpRecord) -> int:
    """Score elements an attention op computes: its MACs over the query and value head sizes (SDPA's MACs
    are ``B*H*L*S*(E + Ev)``, ``costs.attention``; with causal pairs already counted, ``perf.llm``), 0 when
    the shapes do not say."""
    shapes = record.input_shapes
    if not record.macs or len(shapes) < 3 or not shapes[0] or not shapes[2]:
        return 0
    width = shapes[0][-1] + shapes[2][-1]
    return record.macs // width if width else 0


def time_from_terms(t: KernelTerms, p: Efficiency) -> KernelTime:
    """A kernel's calibrated ``KernelTime`` (module doc) from its terms and parameters ``p``."""
    bw = t.bandwidth * p.bandwidth
    extra = 0.0
    if t.cls in ("vector", "depthwise"):
        rate = t.vector_peak * p.vector
        if t.cls == "depthwise":
            bw *= p.depthwise_eager if (t.eager if t.nchw is None else t.nchw) else p.depthwise_compiled
    else:
        rate = t.peak * p.fraction(t.cls) * t.clock
        if t.q is not None:
            rate = max(rate * t.q, rate * t.skinny, t.vector_peak * p.vector)
        if t.cls == "conv_eager":  # NCHW <-> NHWC transforms around the tensor-core kernel, separate passes
            extra = p.nchw_passes * t.io_bytes / bw
    compute = t.flops / rate if t.flops and rate else 0.0
    if t.dequant_flops:  # weights dequantised in registers on the vector units (W4A16 and others) at the
        # fp32 peak (packed half2 ops reach up to twice it), overlapped with the tensor-core MMAs of the
        # same main loop (Marlin's pipelining): the longer of the two
        compute = max(compute, t.dequant_flops / t.vector_peak)
    if t.l2_bytes and t.l2_bandwidth:  # the cache-aware roofline: re-read activations at L2 bandwidth
        memory = (t.bytes - t.l2_bytes) / bw + t.l2_bytes / (t.l2_bandwidth * p.bandwidth) + extra
    else:
        memory = t.bytes / bw + extra
    passes = t.pass_bytes / bw  # separate memory passes: serial to the overlapped main loop
    if t.rest_bytes:  # a short last micro-batch streams the weights in less time than its math: exposed
        rest = t.rest_bytes / bw
        if compute * t.rest_share < rest <= memory:
            memory, passes = memory - rest, passes + rest
    device = max(compute, memory) + passes
    gpu = device + t.launches * (p.kernel_gap_us * 1e-6 + t.launch_s)
    host = (p.eager_op_us if t.eager else p.compiled_kernel_us) * 1e-6 if t.host_issue else 0.0
    overhead = max(gpu, host) - device
    memory += passes  # memory_s: every DRAM byte's time; bound: the longer of the two, as shown
    return KernelTime(
        compute, memory, overhead, bound_of_times(compute, memory, overhead, t.flops > 0), pass_s=passes
    )


def _clock_ratio(target: HardwareTarget, p: Efficiency) -> float:
    """``clock_for(target).ratio`` from parameters already looked up (one model's kernels share them)."""
    exponent = float(_data().get("power", {}).get("dvfs_exponent", DVFS_EXPONENT))
    return _clock_cached(target, p.tensor_pj_per_flop, exponent).ratio


@lru_cache(maxsize=256)
def _clock_cached(target: HardwareTarget, pj: float | None, exponent: float) -> ClockModel:
    return clock_model(target, pj, exponent)


def clock_for(target: HardwareTarget) -> ClockModel:
    """The sustained tensor-load clock of ``target`` (``metrics_core.perf.power``) with its generation's
    energy per FLOP and the DVFS exponent of ``data/efficiency.toml``."""
    data = _data()
    p = params_for(target)
    exponent = float(data.get("power", {}).get("dvfs_exponent", DVFS_EXPONENT))
    return clock_model(target, p.tensor_pj_per_flop, exponent)


def llm_validation_for(target: HardwareTarget, stack: str) -> str | None:
    """The published LLM serving measurements of ``stack`` on ``target`` that the LLM estimates were held
    against (``[validated_llm.ID]`` in the data file: per target, per stack), or None."""
    return _data().get("validated_llm", {}).get(target.id, {}).get(stack)


def weight_kind(weights: str) -> str:
    """The kernel family a weight format runs in, as ``[validated_llm_weights]`` names it: ``float16``
    (fp16 / bf16), ``float8``, ``int8``, ``int4`` (int4 with group scales, AWQ, GPTQ), ``gguf`` (llama.cpp's
    block formats, one set of MMVQ / MMQ kernels) or ``microscaling`` (NVFP4 / MXFP4);
    ``perf.quant.weight_format``'s family and its nominal width. ``UsageError`` for an unknown format."""
    from metrics_core.perf.quant import weight_format

    f = weight_format(weights)
    if f.family in ("gguf", "microscaling"):
        return f.family
    width = 16 if f.bits_per_weight >= 16 else 8 if f.bits_per_weight >= 8 else 4
    return f"{f.family}{width}"


def llm_weights_validated(target: HardwareTarget, stack: str) -> tuple[str, ...] | None:
    """The weight kinds (``weight_kind``) the published measurements of ``stack`` on ``target`` ran
    (``[validated_llm_weights.ID]``), None when the data file does not say (every kind counts)."""
    kinds = _data().get("validated_llm_weights", {}).get(target.id, {}).get(stack)
    return tuple(kinds) if kinds is not None else None


def llm_validations(target: HardwareTarget) -> dict[str, str]:
    """``{stack: what was measured}`` of every stack's LLM validation on ``target`` (``{}``: none)."""
    return dict(_data().get("validated_llm", {}).get(target.id, {}))


def validation_for(
    target: HardwareTarget, execution: str | None = None, precision: str | None = None
) -> str | None:
    """The published measurements this target's parameters were held against (``[validated]`` in the data
    file: per target id, what was measured and how well), or None: the parameters are physical estimates
    of its generation, not validated on this target. With ``execution`` (``eager`` / ``compiled``): only
    where that mode was measured (``[validated_execution]``: the modes per target; absent: every mode) —
    the RTX 3090 has eager files only, so its compiled estimates are physical. With ``precision`` (the
    compute path): likewise only where it was measured (``[validated_precision]``; timm's runs are AMP fp16,
    so fp32 / TF32 / int8 estimates are physical)."""
    data = _data()
    text = data.get("validated", {}).get(target.id)
    for value, table in ((execution, "validated_execution"), (precision, "validated_precision")):
        measured = data.get(table, {}).get(target.id)
        if value is not None and measured is not None and value not in measured:
            return None
    return text


def training_validation_for(target: HardwareTarget) -> str | None:
    """The published training measurements the training-step estimates were held against on ``target``
    (``[validated_training]`` in the data file: what was measured and the estimate's error), or None: the
    training estimate on this target is not validated."""
    return _data().get("validated_training", {}).get(target.id)


def provenance(
    target: HardwareTarget,
    efficiency: str,
    training: bool = False,
    execution: str | None = None,
    precision: str | None = None,
) -> dict[str, Any]:
    """What a (non-LLM) estimate on ``target`` rests on, for the context of every output: ``validated``
    (True when the estimates of that kind — a training step with ``training``, else vision inference —
    were held against published measurements on ``target``: ``training_validation_for``,
    ``validation_for`` under ``execution`` and ``precision``; False: physical estimates only) and, for
    calibrated estimates, ``efficiency_source`` (``built-in`` or ``user: PATH (parameters)``). LLM estimates:
    ``perf.llm.stack_validation``."""
    vision = validation_for(target, execution, precision)
    validation = training_validation_for(target) if training else vision
    if not builtin_calibration(target, efficiency):
        validation = None
    out: dict[str, Any] = {"validated": validation is not None}
    if efficiency == "calibrated":
        out["efficiency_source"] = efficiency_source(target)
    return out


def builtin_calibration(target: HardwareTarget, efficiency: str) -> bool:
    """True when an estimate on ``target`` uses the built-in calibrated parameters — the ones a
    ``[validated*]`` entry was measured with: ``efficiency`` ``calibrated`` and no ``[target.ID]`` table of
    the user efficiency file for it. The ideal roofline (datasheet peaks, no overheads) and the user's own
    parameters are not what was validated, so their estimates are not called validated (``provenance``,
    ``perf.roofline``, ``perf.llm.stack_validation``)."""
    return efficiency == "calibrated" and efficiency_source(target) == "built-in"
