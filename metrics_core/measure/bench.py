"""Measured forward-pass latency on this machine, next to the analysis and a roofline estimate.

How a model is measured (``bench_model``):

- Built on the device with weight initialisation skipped (``build.build_model``), then every floating
  parameter is filled cheaply: matrices/kernels ``normal(0, 1/sqrt(fan_in))``, 1-D ``*bias`` zeros,
  other 1-D parameters ones; buffers keep their constructed values (batch-norm statistics 0 / 1, index
  tables). Inputs are what the analysis feeds (``real_feed``): floating ones ``randn``, token ids and masks
  with the analysis' values. The values are random: latency, not accuracy, is measured.
- ``eval()`` + ``torch.inference_mode()``; ``warmup`` untimed passes, then ``iters`` timed passes, one
  forward each; outputs are dropped at once.
- CPU: wall time of each pass with ``time.perf_counter``; denormals are flushed to zero while measuring
  (random weights must not hit the slow denormal path). CUDA: CUDA events around each pass, then
  ``torch.cuda.synchronize``. fp32 on CUDA runs with TF32 off, or on with ``use_tf32`` (matching the
  precision path of the estimate).
- dtypes: fp32, fp16, bf16. int8 is refused (a float model does not run in int8; that needs a
  quantised model). fp16/bf16 on CPU are allowed: PyTorch runs them, often far slower than fp32 on
  CPUs without native half-precision units; that is what gets measured. A model that has no kernel for
  the dtype on the device gets a one-line error in its result.

Statistics (``BenchResult``): median latency; p90 by nearest rank (the ``ceil(0.9 n)``-th smallest
time); throughput = batch / median (samples/s); achieved FLOP/s = analysed FLOPs / median; latency
ratio = measured median / roofline-estimated latency (> 1: slower than the estimate); on CUDA, peak
memory ratio = ``torch.cuda.max_memory_allocated`` / estimated peak (activations + weights,
``metrics_core.capture.peak_memory``).

The roofline target: ``target`` when given; on CUDA otherwise the catalog target whose name matches
``torch.cuda.get_device_name()`` (``match_device_name``: when none matches, only the measured columns are
filled and ``target_note`` says why); on CPU ``this-machine`` (``metrics_core.perf.this_machine``). A
target given that is not the device measured (``target_on_device``: a GPU target for a CPU run, another
GPU than the one detected) is estimated as asked, and ``device_note`` says in one line that the ratio then
compares two devices.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metrics_core.common.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from metrics_core.common.records import ModelReport
    from metrics_core.perf.hardware import HardwareTarget
    from metrics_core.runtime.options import AnalysisOptions

DEVICES: tuple[str, ...] = ("cpu", "cuda")

#: Analysis dtype -> torch dtype name for the dtypes a float model can run in.
RUN_DTYPES: dict[str, str] = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}

#: Why a dtype cannot be benchmarked at all.
REFUSED_DTYPES: dict[str, str] = {
    "int8": "int8 cannot be benchmarked: the models are floating-point and int8 needs a quantised model "
    "(use fp32, fp16 or bf16)",
}

#: Words in device and target names that say nothing about the chip.
_VENDOR_WORDS = frozenset({"nvidia", "amd", "tesla", "geforce", "instinct", "radeon", "intel", "google"})

#: progress(model, phase, done, total): phase is "build", "warmup" or "measure".
Progress = Callable[[str, str, int, int], None]


@dataclass
class BenchResult:
    """One model measured on one device (times in seconds; definitions in the module docstring)."""

    model: str
    device: str
    device_name: str
    dtype: str
    batch_size: int
    input_shape: list[int]
    warmup: int
    iters: int
    threads: int | None = None
    times_s: list[float] = field(default_factory=list)
    flops: int | None = None
    target: str | None = None
    target_note: str | None = None
    precision: str | None = None
    estimated_latency_s: float | None = None
    estimated_peak_bytes: int | None = None
    measured_peak_bytes: int | None = None
    error: str | None = None
    #: Estimated energy of one pass (J): the target's board power x the estimated latency, an upper
    #: bound at board power (``metrics_core.perf.energy``); None without a target or its board power.
    estimated_energy_j: float | None = None
    board_power_w: float | None = None
    #: Measured energy of one pass (J) on CUDA: NVML's total-energy counter over a window of at least
    #: 1 s of back-to-back passes (``metrics_core.measure.nvml_energy``); ``energy_note`` says why there
    #: is none (CPU, no nvidia-ml-py, a GPU without the counter).
    measured_energy_j: float | None = None
    energy_window_s: float | None = None
    energy_passes: int | None = None
    measured_power_w: float | None = None
    energy_note: str | None = None
    #: How the model ran and was estimated: ``eager`` or ``compiled`` (``torch.compile``, default
    #: Inductor; compilation happens in the untimed warm-up, at least one pass), and the efficiency model
    #: of the estimate (``perf.roofline.estimate_records``).
    execution: str = "eager"
    efficiency: str = "ideal"
    #: Whether the estimate's target is the device measured (``target_on_device``): True, False (the
    #: latency ratio then compares two machines, ``device_note`` says so in one line), None (cannot tell).
    #: ``device_target``: the device's own target id (``this-machine`` on CPU, the one detected from the
    #: CUDA device name), None when unknown; a saved measurement is filed under it.
    target_on_device: bool | None = None
    device_target: str | None = None
    device_note: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.times_s)

    @property
    def median_s(self) -> float | None:
        """Median of the timed passes."""
        return statistics.median(self.times_s) if self.times_s else None

    @property
    def p90_s(self) -> float | None:
        """90th percentile by nearest rank: the ``ceil(0.9 n)``-th smallest time (>= the median)."""
        return nearest_rank(self.times_s, 90.0) if self.times_s else None

    @property
    def min_s(self) -> float | None:
        return min(self.times_s) if self.times_s else None

    @property
    def throughput_per_s(self) -> float | None:
        """Samples per second: batch size / median latency."""
        med = self.median_s
        return self.batch_size / med if med else None

    @property
    def achieved_flops_per_s(self) -> float | None:
        """Analysed FLOPs of one pass / median latency."""
        med = self.median_s
        return self.flops / med if med and self.flops is not None else None

    @property
    def latency_ratio(self) -> float | None:
        """Measured median latency / roofline-estimated latency (> 1: slower than the estimate)."""
        med = self.median_s
        if med is None or not self.estimated_latency_s:
            return None
        return med / self.estimated_latency_s

    @property
    def estimated_energy_per_sample_j(self) -> float | None:
        """Estimated energy of one pass / batch size (J, upper bound at board power)."""
        e = self.estimated_energy_j
        return e / self.batch_size if e is not None else None

    @property
    def measured_energy_per_sample_j(self) -> float | None:
        """Measured energy of one pass / batch size (J)."""
        e = self.measured_energy_j
        return e / self.batch_size if e is not None else None

    @property
    def peak_memory_ratio(self) -> float | None:
        """Measured CUDA peak allocated bytes / estimated peak bytes (activations + weights)."""
        if self.measured_peak_bytes is None or not self.estimated_peak_bytes:
            return None
        return self.measured_peak_bytes / self.estimated_peak_bytes

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible: the fields plus the derived statistics (``*_s`` seconds, bytes, FLOP/s)."""
        d = asdict(self)
        for name in (
            "median_s",
            "p90_s",
            "min_s",
            "throughput_per_s",
            "achieved_flops_per_s",
            "latency_ratio",
            "peak_memory_ratio",
            "estimated_energy_per_sample_j",
            "measured_energy_per_sample_j",
        ):
            d[name] = getattr(self, name)
        return d


def nearest_rank(values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile: the ``ceil(pct/100 * n)``-th smallest value (n >= 1)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


# ------------------------------------------------------------------------------------------ checks


def check_device(device: str) -> None:
    """``UsageError`` (one line) when ``device`` is unknown or CUDA is requested but not available."""
    if device not in DEVICES:
        raise UsageError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            why = (
                "this torch build has no CUDA support"
                if torch.version.cuda is None
                else "no CUDA device is visible"
            )
            raise UsageError(f"--device cuda: CUDA is not available ({why}); use --device cpu")


def check_dtype(dtype: str, device: str) -> None:
    """``UsageError`` when ``dtype`` cannot run a float model on ``device`` (int8, bf16 on old GPUs)."""
    if dtype in REFUSED_DTYPES:
        raise UsageError(REFUSED_DTYPES[dtype])
    if dtype not in RUN_DTYPES:
        raise UsageError(f"unknown dtype {dtype!r}; choose one of {', '.join(RUN_DTYPES)}")
    if device == "cuda" and dtype == "bf16":
        import torch

        if not torch.cuda.is_bf16_supported():
            raise UsageError(f"bf16 is not supported by {torch.cuda.get_device_name()}; use fp16 or fp32")


# ---------------------------------------------------------------------------------- device matching


def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", name.lower()) if t and t not in _VENDOR_WORDS]


#: CUDA device names the word matching cannot place (nvidia-smi names the H100 SXM5 by memory type).
DEVICE_NAME_ALIASES: dict[str, str] = {"NVIDIA H100 80GB HBM3": "h100-sxm5-80gb"}


#: Words of a target name that a device name must contain for the target to match: they tell apart
#: products sharing a model number (RTX 6000 Ada vs RTX PRO 6000 Blackwell vs its Max-Q edition).
DISTINGUISHING_WORDS: frozenset[str] = frozenset({"pro", "ada", "blackwell", "max", "q"})


def match_device_name(
    device_name: str, targets: Iterable[HardwareTarget], memory_gb: float | None = None
) -> tuple[HardwareTarget | None, str]:
    """The catalog target a CUDA device name denotes, and a one-line note on how it was chosen.

    ``DEVICE_NAME_ALIASES`` first. Otherwise names are split into lowercase words, vendor words dropped
    (``"NVIDIA A100-SXM4-80GB"`` -> ``a100 sxm4 80gb``); the chip is the device's first word with a digit
    (else its first word). Candidates are targets whose name contains the chip; the one sharing most
    words wins; a tie is broken by the memory size closest to ``memory_gb``; a tie left after that is
    ambiguous (None, with the candidates named). A target whose name has a ``DISTINGUISHING_WORDS`` word
    the device name lacks is no candidate.
    """
    targets = list(targets)
    alias = DEVICE_NAME_ALIASES.get(device_name.strip())
    for t in targets:
        if t.id == alias:
            return t, f"detected from device name {device_name!r}"
    words = _tokens(device_name)
    if not words:
        return None, f"cannot read a chip name from {device_name!r}; choose a target with --hardware"
    chip = next((w for w in words if any(c.isdigit() for c in w)), words[0])
    scored = []
    for t in targets:
        tw = set(_tokens(t.name))
        if chip in tw and not (tw & DISTINGUISHING_WORDS) - set(words):
            scored.append((len(tw & set(words)), t))
    if not scored:
        return None, f"no hardware target matches {device_name!r}; choose one with --hardware"
    best = max(s for s, _ in scored)
    top = [t for s, t in scored if s == best]
    if len(top) > 1 and memory_gb is not None:
        gap = min(abs(t.memory_gb - memory_gb) for t in top)
        top = [t for t in top if abs(t.memory_gb - memory_gb) == gap]
    if len(top) > 1:
        ids = ", ".join(t.id for t in top)
        return None, f"{device_name!r} matches several targets ({ids}); choose one with --hardware"
    return top[0], f"detected from device name {device_name!r}"


def detect_target(device: str, extra_files: Sequence[str] = ()) -> tuple[HardwareTarget | None, str]:
    """(target, note) for the device: matched by name on CUDA; on CPU the ``this-machine`` target derived at
    run time (``metrics_core.perf.this_machine``)."""
    if device != "cuda":
        from metrics_core.perf.this_machine import this_machine

        target = this_machine()
        return target, (
            f"CPU: estimates on this-machine ({target.peak_tflops.get('fp32', 0):g} TFLOP/s fp32, "
            f"{target.memory_bandwidth_gbps:g} GB/s measured copy; --hardware ID names another target)"
        )
    import torch

    from metrics_core.perf.hardware import hardware_targets

    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    return match_device_name(
        torch.cuda.get_device_name(), hardware_targets(extra_files), props.total_memory / 1e9
    )


#: Catalog ``kind``s a CUDA device never is (``torch.cuda`` runs NVIDIA GPUs, Jetson SoCs and, under ROCm,
#: AMD GPUs), and the one kind the CPU device is.
NOT_CUDA_KINDS: frozenset[str] = frozenset({"CPU", "TPU", "accelerator"})
CPU_KIND = "CPU"


def target_on_device(
    device: str, target: HardwareTarget, detected: HardwareTarget | None = None
) -> tuple[bool | None, str | None]:
    """(whether ``target`` is the ``device`` measured, the device's own target id) for a target named
    with ``--hardware``. ``detected``: on CUDA, the target matched from the device name
    (``match_device_name``; None: not matched). On CPU the device's own target is ``this-machine``: the
    target is it (True), a target of another kind (a GPU, a TPU: False) or a catalog CPU that may or may
    not be this one (None). On CUDA a CPU, TPU or Gaudi target is not the device (False); a GPU target is
    when it is the detected one (True), is not when another was detected (False), and None when nothing
    was detected."""
    if device != "cuda":
        from metrics_core.perf.this_machine import TARGET_ID

        if target.id == TARGET_ID:
            return True, TARGET_ID
        return (None if target.kind == CPU_KIND else False), TARGET_ID
    own = detected.id if detected is not None else None
    if target.kind in NOT_CUDA_KINDS:
        return False, own
    if detected is None:
        return None, own
    return detected.id == target.id, own


def device_mismatch_note(result: BenchResult, target: HardwareTarget) -> str:
    """The one line saying that ``result`` was measured on another device than ``target``, the estimate's."""
    own = f" (detected as {result.device_target})" if result.device == "cuda" and result.device_target else ""
    return (
        f"measured on {result.device} ({result.device_name}){own} but estimated for {target.id} "
        f"({target.name}, {target.kind}): two different devices, so Measured/est. is no check of the "
        f"estimate; drop --hardware to estimate the device measured"
    )


def device_name(device: str) -> str:
    """The CUDA device name, or the CPU model name (``/proc/cpuinfo``; ``platform`` elsewhere)."""
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "cpu"


# ------------------------------------------------------------------------------------------ measure


def fill_random(model: Any) -> None:
    """Cheap random weights (see the module docstring); ``model`` is an ``nn.Module`` on its device."""
    import torch

    with torch.no_grad():
        for name, p in model.named_parameters():
            if not p.is_floating_point():
                continue
            if p.dim() >= 2:
                p.normal_(0.0, 1.0 / math.sqrt(max(1, p[0].numel())))
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.fill_(1.0)


def real_feed(spec: Any, options: AnalysisOptions, model: Any, device: str, dtype: Any) -> tuple[tuple, dict]:
    """``(args, kwargs)`` on ``device`` for what the analysis feeds the model (``runtime.engines.feed_for``:
    ``--inputs``, ``--input``, ``--seq-len`` or the defaults): token ids and masks with the values the
    analysis used, other integer inputs 0, bool inputs True, floating ones ``randn`` in ``dtype``."""
    import torch

    from metrics_core.runtime.engines import feed_for

    feed = feed_for(spec, options, model)
    known = {id(meta): values for meta, values in feed.values}

    def real(t: Any) -> Any:
        if not isinstance(t, torch.Tensor):
            return t
        if id(t) in known:
            return known[id(t)].to(device)
        if t.is_floating_point():
            return torch.randn(tuple(t.shape), dtype=dtype, device=device)
        if t.dtype == torch.bool:
            return torch.ones(tuple(t.shape), dtype=torch.bool, device=device)
        return torch.zeros(tuple(t.shape), dtype=t.dtype, device=device)

    return tuple(real(a) for a in feed.args), {k: real(v) for k, v in feed.kwargs.items()}


def time_passes(
    model: Any,
    inputs: tuple,
    device: str,
    warmup: int,
    iters: int,
    on_step: Callable[[str, int, int], None] | None = None,
) -> list[float]:
    """Run ``warmup`` untimed then ``iters`` timed forward passes; the time of each timed pass (s)."""
    import torch

    step = on_step or (lambda _phase, _done, _total: None)
    cuda = device == "cuda"
    with torch.inference_mode():
        for i in range(warmup):
            model(*inputs)
            step("warmup", i + 1, warmup)
        if cuda:
            torch.cuda.synchronize()
        times = []
        for i in range(iters):
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                model(*inputs)
                end.record()
                torch.cuda.synchronize()
                times.append(start.elapsed_time(end) / 1e3)
            else:
                t0 = time.perf_counter()
                model(*inputs)
                times.append(time.perf_counter() - t0)
            step("measure", i + 1, iters)
    return times


class _Precision:
    """Context: TF32 for CUDA fp32 as requested, flush-to-zero denormals on CPU; restored on exit."""

    def __init__(self, device: str, use_tf32: bool) -> None:
        self.device, self.use_tf32 = device, use_tf32
        self.saved: tuple[bool, bool] | None = None

    def __enter__(self) -> _Precision:
        import torch

        if self.device == "cuda":
            self.saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
            torch.backends.cuda.matmul.allow_tf32 = self.use_tf32
            torch.backends.cudnn.allow_tf32 = self.use_tf32
        else:
            torch.set_flush_denormal(True)
        return self

    def __exit__(self, *exc: Any) -> None:
        import torch

        if self.saved is not None:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = self.saved
        else:
            torch.set_flush_denormal(False)


def bench_model(
    name: str,
    options: AnalysisOptions,
    device: str = "cpu",
    warmup: int = 10,
    iters: int = 50,
    target: HardwareTarget | None = None,
    use_tf32: bool = False,
    progress: Progress | None = None,
    report: ModelReport | None = None,
    hardware_files: Sequence[str] = (),
    execution: str = "eager",
    efficiency: str = "ideal",
) -> BenchResult:
    """Measure one model (catalog name or ``module:factory``) at ``options`` on ``device``.

    ``report``: the analysis of the same model and options (from ``analyze_many``); analysed here when
    None. ``target``: the roofline target for the estimate; detected on CUDA when None (among the
    catalog and ``hardware_files``), ``this-machine`` on CPU. ``execution``: ``eager`` or ``compiled``
    (the model runs under ``torch.compile`` and is estimated with fused kernels); ``efficiency``: the
    estimate's efficiency model. Device and dtype problems raise ``UsageError``; a model that fails
    to build or run gets ``error`` set instead.
    """
    options = options.validated()
    check_device(device)
    check_dtype(options.dtype, device)
    if warmup < 0 or iters < 1:
        raise UsageError(f"need warmup >= 0 and iters >= 1, got warmup={warmup}, iters={iters}")
    if report is None:
        from metrics_core.runtime.analyze import analyze_many

        report = analyze_many([name], options)[0]
    note, on_device, own = None, None, None
    if target is None:
        target, note = detect_target(device, hardware_files)
        on_device, own = (True, target.id) if target is not None else (None, None)
    else:
        detected = detect_target(device, hardware_files)[0] if device == "cuda" else None
        on_device, own = target_on_device(device, target, detected)
    result = BenchResult(
        model=report.model,
        device=device,
        device_name=device_name(device),
        dtype=options.dtype,
        batch_size=options.batch_size,
        input_shape=list(report.input_shape),
        warmup=warmup,
        iters=iters,
        target=target.id if target is not None else None,
        target_note=note,
        execution=execution,
        efficiency=efficiency,
        target_on_device=on_device,
        device_target=own,
    )
    if on_device is False and target is not None:
        result.device_note = device_mismatch_note(result, target)
    from metrics_core.perf.roofline import check_modes

    check_modes(execution, efficiency)
    _fill_estimates(result, report, target, use_tf32)
    result.error = memory_refusal(result.estimated_peak_bytes, available_memory(device), device)
    if result.error is not None:
        return result
    try:
        _measure(result, name, options, device, warmup, iters, use_tf32, progress)
    except (KeyboardInterrupt, UsageError):
        raise
    except Exception as exc:  # a model that cannot run here is a row error, not a crash
        from metrics_core.common.errors import one_line_error

        result.error = f"{options.dtype} on {device}: {one_line_error(exc)}"
        result.times_s = []
    return result


def available_memory(device: str) -> tuple[int, str] | None:
    """(bytes a new allocation can take now, where the figure comes from), or None when unknown: CPU
    ``MemAvailable`` of ``/proc/meminfo`` (the kernel's estimate of memory available without swapping),
    else ``sysconf`` available pages x page size; CUDA the free bytes of ``torch.cuda.mem_get_info``."""
    if device == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info()
        return int(free), "free on the GPU"
    try:
        text = Path("/proc/meminfo").read_text()
        kib = re.search(r"^MemAvailable:\s+(\d+) kB", text, re.MULTILINE)
        if kib:
            return int(kib.group(1)) * 1024, "available (MemAvailable)"
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "available (free pages)"
    except (ValueError, OSError, AttributeError):
        return None


def memory_refusal(peak_bytes: int | None, available: tuple[int, str] | None, device: str) -> str | None:
    """Why a model whose analysed peak memory (``peak_total_bytes``: weights + the largest set of live
    activations, ``capture.peak_memory``) is ``peak_bytes`` is not run on ``device`` with ``available``
    bytes free (``available_memory``): one line, or None when it fits or either figure is unknown. Refused
    up front, before the inputs and weights are allocated (ENOMEM, or the system's out-of-memory killer)."""
    if peak_bytes is None or available is None or peak_bytes <= available[0]:
        return None
    from metrics_core.common.units import human_bytes

    free, where = available
    return (
        f"not run: its analysed peak memory, {human_bytes(peak_bytes)}, is more than the "
        f"{human_bytes(free)} {where} on {device}; use a smaller --batch-size or input"
    )


def _fill_estimates(
    result: BenchResult, report: ModelReport, target: HardwareTarget | None, use_tf32: bool
) -> None:
    """Analysed FLOPs, estimated peak memory and (with a target) the roofline latency estimate."""
    if not report.ok:
        result.target_note = f"analysis failed ({report.error}); measured columns only"
        return
    result.flops = report.metrics.flops if report.metrics is not None else None
    memory = report.extras.get("memory") or {}
    result.estimated_peak_bytes = memory.get("peak_total_bytes")
    if target is None or not report.records:
        return
    from metrics_core.perf.roofline import estimate_model, precision_for

    precision = precision_for(target, report.dtype, use_tf32=use_tf32)
    result.precision = precision
    result.estimated_latency_s = estimate_model(
        report, target, precision, result.execution, result.efficiency
    ).latency_s
    from metrics_core.perf.energy import estimate_energy

    energy = estimate_energy(target, result.estimated_latency_s, report.batch_size)
    if energy is not None:
        result.estimated_energy_j = energy.energy_per_inference_j
        result.board_power_w = energy.board_power_w


def _measure(
    result: BenchResult,
    name: str,
    options: AnalysisOptions,
    device: str,
    warmup: int,
    iters: int,
    use_tf32: bool,
    progress: Progress | None,
) -> None:
    import torch

    from metrics_core.capture.layouts import to_memory_format
    from metrics_core.sources.build import build_model
    from metrics_core.sources.catalog import get_spec

    def step(phase: str, done: int, total: int) -> None:
        if progress is not None:
            progress(result.model, phase, done, total)

    step("build", 0, 1)
    spec = get_spec(name, options.input_shape)
    dtype = getattr(torch, RUN_DTYPES[options.dtype])
    cuda = device == "cuda"
    model = build_model(spec, device=device, input_shape=options.input_shape)
    try:
        fill_random(model)
        model = model.to(dtype=dtype).eval()
        inputs, kwargs = real_feed(spec, options, model, device, dtype)
        # the layout the analysis captured (--memory-format): the real model and inputs converted the same way
        inputs, kwargs = to_memory_format(model, inputs, kwargs, options.memory_format, name)
        if result.execution == "compiled":
            model = torch.compile(model)  # default Inductor; compiled by the first (untimed) pass
            warmup = max(1, warmup)
        if kwargs:  # keyword inputs (attention masks, decoder ids ...): bound once, passed on every pass
            model = functools.partial(model, **kwargs)
        if device == "cpu":
            result.threads = torch.get_num_threads()
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        step("build", 1, 1)
        with _Precision(device, use_tf32):
            result.times_s = time_passes(model, inputs, device, warmup, iters, step)
        if cuda:
            result.measured_peak_bytes = int(torch.cuda.max_memory_allocated())
            with _Precision(device, use_tf32), torch.inference_mode():
                _measure_energy(result, model, inputs, max(1, iters))
        else:
            from metrics_core.measure.nvml_energy import NOT_ON_CPU

            result.energy_note = NOT_ON_CPU
    finally:
        del model
        if cuda:
            torch.cuda.empty_cache()


def _measure_energy(result: BenchResult, model: Any, inputs: tuple, min_passes: int) -> None:
    """NVML energy of back-to-back passes on the current CUDA device (``nvml_energy``); a missing
    package, driver support or counter leaves ``energy_note`` instead of a figure."""
    import torch

    from metrics_core.measure import nvml_energy

    try:
        nvml = nvml_energy.load_nvml()
    except RuntimeError as exc:
        result.energy_note = str(exc)
        return
    try:
        index = torch.cuda.current_device()
        uuid = str(getattr(torch.cuda.get_device_properties(index), "uuid", "") or "")
        handle = nvml_energy.device_handle(nvml, uuid, index)
        m = nvml_energy.measure_energy(
            lambda: model(*inputs), torch.cuda.synchronize, handle, nvml, result.batch_size, min_passes
        )
    except Exception as exc:  # noqa: BLE001 - NVML errors: a note, never a failed benchmark
        result.energy_note = f"energy not measured: {type(exc).__name__}: {exc}"
        return
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()
    result.energy_note = m.note
    result.measured_energy_j = m.energy_per_pass_j
    result.energy_window_s = m.window_s or None
    result.energy_passes = m.passes or None
    result.measured_power_w = m.mean_power_w


# ----------------------------------------------------------------------------------- saved results

#: Saved bench measurements: ``cache_root()/bench/results.jsonl``, one JSON object per measured model and
#: run (``saved_record``), appended by every ``modeltui bench`` run unless ``--no-save``; ``modeltui
#: calibrate --from-bench`` reads them.
RESULTS_NAME = "results.jsonl"

#: Version of a saved record's fields (bumped when a field changes meaning).
RESULTS_FORMAT = 1


def results_path() -> Path:
    """``<cache dir>/bench/results.jsonl`` (``metrics_core.common.paths.cache_root``)."""
    from metrics_core.common.paths import cache_root

    return cache_root() / "bench" / RESULTS_NAME


def saved_record(result: BenchResult, options: AnalysisOptions, date: str | None = None) -> dict[str, Any]:
    """What is saved of one measured model: the model, device and its name, the target id of the device
    measured (the estimate's target, or the device's own when the estimate was for another device), dtype,
    batch, the input shape analysed (``input_shape``: the report's per-sample shape; ``analysis``: the
    options that reproduce the analysis), execution, median latency (s), throughput (samples/s), p90, the
    passes, TF32, the torch version and the date (UTC, ISO 8601)."""
    import datetime
    from importlib.metadata import PackageNotFoundError, version

    try:
        torch_version = version("torch")
    except PackageNotFoundError:  # pragma: no cover
        torch_version = "absent"
    when = date or datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    # a measurement is of the device it ran on: one estimated for another target (bench --hardware ID on
    # another machine) is filed under the device's own target, with no precision (the calibration derives
    # it), never under the other target, whose calibration it would corrupt
    other = result.target_on_device is False
    return {
        "format": RESULTS_FORMAT,
        "model": result.model,
        "device": result.device,
        "device_name": result.device_name,
        "target": result.device_target if other else result.target,
        "dtype": result.dtype,
        "precision": None if other else result.precision,
        "batch_size": result.batch_size,
        "input_shape": list(result.input_shape),
        "analysis": {
            "input_shape": list(options.input_shape) if options.input_shape else None,
            "inputs": [s.text() for s in options.inputs] if options.inputs else None,
            "inputs_fn": options.inputs_fn,
            "seq_len": options.seq_len,
            "hf_class": options.hf_class,
            "attention": options.attention,
            "memory_format": options.memory_format,
        },
        "execution": result.execution,
        "median_s": result.median_s,
        "p90_s": result.p90_s,
        "throughput_per_s": result.throughput_per_s,
        "warmup": result.warmup,
        "iters": result.iters,
        "threads": result.threads,
        "torch": torch_version,
        "date": when,
    }


def save_results(
    results: Iterable[BenchResult], options: AnalysisOptions, path: Path | None = None, tf32: bool = False
) -> tuple[Path, int]:
    """Append a ``saved_record`` of every successful result to ``path`` (default ``results_path()``),
    atomically (the file is rewritten through a temporary file). Returns ``(path, rows appended)``;
    ``OSError`` when it cannot be written."""
    import json

    from metrics_core.common.paths import write_atomic

    path = Path(path) if path is not None else results_path()
    lines = []
    for r in results:
        if r.ok:
            rec = saved_record(r, options)
            rec["tf32"] = tf32
            lines.append(json.dumps(rec, allow_nan=False))
    if not lines:
        return path, 0
    try:
        existing = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        existing = ""
    if existing and not existing.endswith("\n"):
        existing += "\n"
    write_atomic(path, existing + "\n".join(lines) + "\n")
    return path, len(lines)


def load_saved(path: Path | None = None) -> tuple[list[dict[str, Any]], int]:
    """The saved records of ``path`` (default ``results_path()``), oldest first, and the number of lines
    that were not a record (skipped). A missing file is ``([], 0)``."""
    import json

    path = Path(path) if path is not None else results_path()
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return [], 0
    out, bad = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):
            bad += 1
            continue
        if saved_record_ok(rec):
            out.append(rec)
        else:
            bad += 1
    return out, bad


def saved_record_ok(rec: Any) -> bool:
    """Whether ``rec`` has the fields ``calibrate --from-bench`` reads, of the types ``saved_record``
    writes: ``model`` and ``dtype`` non-empty text, ``batch_size`` an integer >= 1, ``throughput_per_s`` a
    finite number > 0, ``target``/``precision``/``execution``/``date`` text or absent/null, ``analysis`` an
    object or null. A line edited by hand or damaged is skipped (and counted), never a traceback."""
    if not isinstance(rec, dict):
        return False
    model, dtype, batch, rate = (rec.get(k) for k in ("model", "dtype", "batch_size", "throughput_per_s"))
    if not (isinstance(model, str) and model and isinstance(dtype, str) and dtype):
        return False
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        return False
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (0 < rate < math.inf):
        return False
    if any(
        rec.get(k) is not None and not isinstance(rec[k], str)
        for k in ("target", "precision", "execution", "date")
    ):
        return False
    return rec.get("analysis") is None or isinstance(rec["analysis"], dict)
