"""Serving stacks: how a runtime (vLLM, TensorRT-LLM, SGLang, llama.cpp, torch.compile, transformers eager)
changes the LLM estimate on a target.

Each stack is a small set of per-stack parameters in ``data/stacks.toml`` (with their sources and fit there),
never per model or per GPU:

- its kernels: ``execution`` (one kernel per aten op, or fused kernels: ``perf.fusion``), ``cuda_graphs``
  (no per-kernel host issue time), ``kernel_gap_us``, the share of the DRAM bandwidth its decode kernels
  reach per memory type (``bandwidth``: llama.cpp's GEMV kernels stream GDDR near its peak but reach half
  of HBM), its GEMM efficiency per compute precision (``gemm_scale`` x the generation's ``gemm``) and its
  attention kernels' (``attention_scale``): applied as ``perf.efficiency.Tuning`` to every kernel;
- its runtime: ``step_overhead_us`` per forward step (scheduling, sampling, detokenisation, Python: added to
  each decode step and to prefill) and ``request_overhead_us`` per request (added to TTFT);
- its collectives: ``custom_allreduce`` (one-shot / two-shot all-reduce for small messages, ``perf.comm``);
- ``max_batch``: the default largest batch (a max-throughput estimate takes the smaller of it and what fits);
- what it serves (``Stack.check``): vendors and kinds of hardware, weight-format families and formats, formats
  it runs only on their native path (TensorRT-LLM's NVFP4: W4A4 on FP4 tensor cores) or only weight-only
  (llama.cpp's MXFP4 / NVFP4: int8 kernels, 16-bit activations), KV formats (some only on targets with a
  compute path: TensorRT-LLM's NVFP4 KV on Blackwell), tensor-parallel degree.

``DEFAULT_STACK`` (vLLM) is what ``modeltui llm`` assumes unless told otherwise; every output names it. No
torch here.

User overrides: ``[stack.ID]`` tables of the user efficiency file (``perf.efficiency.user_efficiency_file``,
written by ``modeltui calibrate --llm``) replace the ``FIT_RANGES`` parameters of a stack:
``step_overhead_us``, ``request_overhead_us``, ``bandwidth.<hbm|gddr|lpddr|ddr>`` and
``gemm_scale.<precision>`` (dotted keys or sub-tables), each within its range. ``get_stack`` applies them
and the stack says so (``Stack.origin``: ``built-in`` or ``user: PATH (names)``); a broken table (an unknown
stack or parameter, a value out of range) is ignored with one warning line on stderr, the others apply.
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from metrics_core.common.dtypes import PRECISION_BITS
from metrics_core.common.errors import UsageError
from metrics_core.perf.efficiency import (
    EXECUTIONS_OF_STACKS,
    Tuning,
    params_for,
    user_efficiency_file,
    warn_user_file,
)
from metrics_core.perf.hardware import MEMORY_TYPES, HardwareTarget

DATA_FILE = Path(__file__).parent / "data" / "stacks.toml"

#: Bytes of one fp16 element (the copy a dequantisation pass writes and the GEMM reads back).
FP16_BYTES = 2

#: The stack ``modeltui llm`` and the app's LLM view assume by default: a modern serving engine.
DEFAULT_STACK = "vllm"

#: The stack parameters a user file may override and ``modeltui calibrate --llm`` fits, with their
#: physically plausible ranges (inclusive; ``bandwidth`` and ``gemm_scale`` per memory type / precision:
#: ``bandwidth.hbm``, ``gemm_scale.fp8``): a decode kernel's share of the DRAM peak 0.3-0.95; a stack's
#: large-GEMM efficiency 0.15-1.2 x the generation's; per-step runtime overhead 0-5 ms (hf-eager's Python
#: step is ~1 ms); per-request overhead 0-20 ms.
FIT_RANGES: dict[str, tuple[float, float]] = {
    "bandwidth": (0.3, 0.95),
    "gemm_scale": (0.15, 1.2),
    "step_overhead_us": (0.0, 5000.0),
    "request_overhead_us": (0.0, 20000.0),
}
#: The keys of each per-kind parameter (``bandwidth.<memory type>``, ``gemm_scale.<precision>``).
PARAM_KEYS: dict[str, tuple[str, ...]] = {"bandwidth": MEMORY_TYPES, "gemm_scale": tuple(PRECISION_BITS)}


@dataclass(frozen=True)
class Stack:
    """One serving stack's parameters (fields as in ``data/stacks.toml``; times in microseconds)."""

    id: str
    name: str
    execution: str
    cuda_graphs: bool
    kernel_gap_us: float
    step_overhead_us: float
    request_overhead_us: float
    custom_allreduce: bool
    max_batch: int
    source: str
    bandwidth: dict[str, float] = field(default_factory=dict)
    gemm_scale: dict[str, float] = field(default_factory=dict)
    attention_scale: float = 1.0
    vendors: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    weight_families: tuple[str, ...] = ()
    max_tp: int | None = None
    kv_formats: tuple[str, ...] = ()
    weights_excluded: tuple[str, ...] = ()
    #: Weight formats the stack serves only on their native low-precision path (activations in the format's
    #: ``native_compute``, on a target with that tensor-core path): TensorRT-LLM's NVFP4 is W4A4 on
    #: Blackwell's FP4 tensor cores, with no weight-only (W4A16) kernel.
    weights_native_only: tuple[str, ...] = ()
    #: Weight formats the stack serves only dequantised for 16-bit activations (its quantised GEMMs quantise
    #: the activations inside: llama.cpp's MMQ / MMVQ), never with the format's native activations.
    weights_weight_only: tuple[str, ...] = ()
    #: KV formats the stack keeps only on targets with this compute path (``{format: precision}``):
    #: TensorRT-LLM's NVFP4 KV cache needs Blackwell (``fp4``).
    kv_needs: dict[str, str] = field(default_factory=dict)
    #: Tokens per KV-cache block (paged KV, ``perf.paged_kv``; 1: per token) and prompt tokens per forward
    #: step under chunked prefill (0: the whole prompt in one step, ``perf.serving``), with their source.
    kv_block_tokens: int = 1
    prefill_chunk_tokens: int = 0
    paging_source: str = ""
    #: fp16 GEMMs accumulate in fp16 (cuBLAS ``CUBLAS_COMPUTE_16F``): the target's fp16-accumulate tensor
    #: peak applies where it has one (``perf.efficiency.Tuning.fp16_accumulate``).
    fp16_accumulate: bool = False
    #: Prompt GEMMs of at least this many tokens dequantise quantised weights to fp16 in a kernel of their
    #: own before an fp16 GEMM (0: never; ``Tuning.dequant_pass_min_rows``).
    dequant_pass_min_tokens: int = 0
    #: DRAM bytes per attention-score element of unfused attention (0: flash attention;
    #: ``Tuning.attention_score_bytes``).
    attention_score_bytes: float = 0.0
    #: Prompt GEMMs of at least this many tokens with quantised weights run as int8 kernels (llama.cpp's
    #: MMQ: int8 tensor-core MMA) on targets whose int8 peak is above their fp16 one; 0: never
    #: (``Tuning.int8_mmq_min_rows``). ``mmq_activation_bytes``: bytes per activation element the pass
    #: that quantises the GEMM's input reads and writes first, (read, written).
    int8_mmq_min_tokens: int = 0
    mmq_activation_bytes: tuple[float, float] = (0.0, 0.0)
    #: What the stack's kernels are when its execution mode alone does not say it (printed first among
    #: ``mechanics``), e.g. llama.cpp's ggml kernels priced with the fusion rules of compiled execution.
    kernel_note: str = ""
    #: One-time cost of a fresh process's first prompt (memory-pool growth, first library calls), in
    #: microseconds: not in a warm engine's TTFT, so ``llm`` leaves it out; ``benchmarks/validate_llm.py``
    #: adds it to published rows measured as a process's first prompt (their ``cold_start`` column).
    cold_start_overhead_us: float = 0.0
    #: True: a quantised weight format covers the output head (``lm_head``) too (gpt-fast quantises every
    #: ``nn.Linear``; a GGUF file type's published bits per weight include its output tensor). False: the
    #: head stays in 16 bits under int4 / int8 / fp8 / fp4 weights, as the checkpoints these engines serve
    #: keep it (AutoAWQ and GPTQ quantise the decoder layers' linears only; ModelOpt's FP8 / NVFP4 configs
    #: disable ``*lm_head*``; vLLM's online FP8 leaves its ``ParallelLMHead`` unquantised).
    quantized_head: bool = False
    #: True: a quantised weight format covers the embedding tables (``nn.Embedding``: the token table) too.
    #: False: they stay in 16 bits (AutoAWQ, GPTQ, ModelOpt, AMD Quark and gpt-fast quantise linear layers
    #: only; vLLM's quantisation configs return no method for ``VocabParallelEmbedding``). A GGUF file
    #: quantises ``token_embd`` whatever this says (``perf.llm.Scenario.embedding_weight_scale``). True
    #: requires ``quantized_head`` (a tied table is one tensor, priced with the head).
    quantized_embedding: bool = False
    #: The stack whose parameters this one takes unless it states its own (``inherits`` in the data file).
    inherits: str = ""
    #: ``kernel_gap_us`` on one vendor's hardware where the stack's kernels there have a floor of their own
    #: (``{vendor: us}``; a kernel of almost no work still takes this long): vLLM V0's ROCm kernels on AMD.
    kernel_gap_us_by_vendor: dict[str, float] = field(default_factory=dict)

    def check(
        self,
        target: HardwareTarget,
        weights: Any,
        tp: int,
        kv: str | None = None,
        activations: str | None = None,
    ) -> None:
        """``UsageError`` (one line) when this stack does not run on ``target`` (its vendor or kind), does
        not keep the KV format ``kv`` (on this target), does not serve the weight format ``weights`` (a
        ``perf.quant.WeightFormat``; with ``activations``: not with those activations, ``weights_native_only``
        / ``weights_weight_only``) or this tensor-parallel degree."""
        if self.vendors and target.vendor not in self.vendors:
            raise UsageError(f"{self.name.split(' (')[0]} runs on {', '.join(self.vendors)} hardware, not "
                             f"{target.name}: choose another --stack")  # fmt: skip
        if self.devices and not any(d.lower() in target.kind.lower() for d in self.devices):
            raise UsageError(f"{self.name.split(' (')[0]} runs on {' / '.join(self.devices)} targets, not "
                             f"{target.name} ({target.kind}): choose another --stack")  # fmt: skip
        if kv is not None and self.kv_formats and kv not in self.kv_formats:
            raise UsageError(f"{self.name.split(' (')[0]} keeps no {kv} KV cache: choose --kv among "
                             f"{', '.join(self.kv_formats)}")  # fmt: skip
        if (self.weight_families and weights.family not in self.weight_families) or (
            weights.name in self.weights_excluded
        ):
            raise UsageError(f"{self.name.split(' (')[0]} does not serve {weights.name} weights "
                             f"({weights.family} formats): choose another --weights or --stack")  # fmt: skip
        need = self.kv_needs.get(kv or "")
        if need is not None and not target.has(need):
            raise UsageError(f"{self.name.split(' (')[0]} keeps a {kv} KV cache only on GPUs with {need} "
                             f"tensor cores (Blackwell), not {target.name}: choose --kv fp8")  # fmt: skip
        if activations is not None:
            self._check_path(target, weights, activations)
        if self.max_tp is not None and tp > self.max_tp:
            raise UsageError(f"{self.name.split(' (')[0]} has no tensor parallelism beyond {self.max_tp} "
                             "(it splits layers across GPUs): --tp 1")  # fmt: skip

    def _check_path(self, target: HardwareTarget, weights: Any, activations: str) -> None:
        """``UsageError`` when the stack serves ``weights`` only on its native path and ``activations`` are
        not in it (or the target has no such path), or only weight-only and they are."""
        name, native = self.name.split(" (")[0], weights.native_compute
        if weights.name in self.weights_native_only and activations != native:
            if not target.has(native):
                alternative = "fp8 --activations fp8" if target.has("fp8") else "int8 --activations int8"
                raise UsageError(
                    f"{name} runs {weights.name} weights only on {native} tensor cores (Blackwell), which "
                    f"{target.name} lacks: choose --weights {alternative} or int4-awq (weight-only)"
                )
            raise UsageError(f"{name} runs {weights.name} weights only with {native} activations on its "
                             f"{native} tensor cores: --activations {native}")  # fmt: skip
        if weights.name in self.weights_weight_only and activations == native:
            raise UsageError(f"{name} runs {weights.name} weights with 16-bit activations (its quantised "
                             "GEMMs quantise them inside): --activations fp16 or bf16")  # fmt: skip

    #: Where the ``FIT_RANGES`` parameters come from: ``built-in`` (``data/stacks.toml``) or ``user: PATH
    #: (names)`` when the user efficiency file overrides some (module doc).
    origin: str = "built-in"

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def step_overhead_s(self) -> float:
        return self.step_overhead_us * 1e-6

    @property
    def request_overhead_s(self) -> float:
        return self.request_overhead_us * 1e-6

    def tuning(
        self,
        target: HardwareTarget,
        precision: str,
        dequant_flops_per_weight_byte: float = 0.0,
        dequantised_bytes_per_weight: float = 0.0,
    ) -> Tuning:
        """The ``Tuning`` of this stack's kernels on ``target`` computing in ``precision``: its kernel gap,
        bandwidth share on the target's memory type, GEMM and attention fractions (the generation's x its
        scales), CUDA graphs, fp16 accumulation, unfused attention, and the weight format's dequantisation
        work: in registers (``dequant_flops_per_weight_byte``) or, for prompt GEMMs of a stack with a
        dequantisation pass, a pass writing and re-reading an fp16 copy (2 + 2 bytes per weight over
        ``dequantised_bytes_per_weight``, the quantised format's bytes per weight; 0: weights not
        dequantised)."""
        p = params_for(target)
        overrides: dict[str, float] = {"kernel_gap_us": self.kernel_gap_for(target.vendor)}
        if target.memory_type in self.bandwidth:
            # the share was fitted on NVIDIA parts; a generation whose streaming kernels reach a measured
            # lower share of its DRAM peak (CDNA) scales it (``Efficiency.stack_bandwidth_scale``)
            overrides["bandwidth"] = self.bandwidth[target.memory_type] * p.stack_bandwidth_scale
        scale = self.gemm_scale_for(precision, target.vendor)
        if scale != 1.0:
            overrides["gemm"] = min(1.0, p.gemm * scale)
        if self.attention_scale != 1.0:
            overrides["attention"] = min(1.0, p.attention * self.attention_scale)
        passes = self.dequant_pass_min_tokens if dequantised_bytes_per_weight else 0
        # int8 kernels where the target's int8 path is faster than its fp16 one: int8 tensor cores (Turing and
        # newer, CDNA's MFMA) or a CPU's int8 dot products (VNNI, AMX, sdot: ggml's CPU kernels quantise the
        # activations too); a V100's int8 is dp4a at half its fp16 tensor rate, so llama.cpp runs cuBLAS
        int8_cores = (
            target.has("int8")
            and target.has("fp16")
            and target.peak_flops("int8") > target.peak_flops("fp16")
        )
        mmq = self.int8_mmq_min_tokens if dequantised_bytes_per_weight and int8_cores else 0
        return Tuning(
            overrides=tuple(sorted(overrides.items())),
            host_issue=not self.cuda_graphs,
            dequant_flops_per_weight_byte=dequant_flops_per_weight_byte,
            fp16_accumulate=self.fp16_accumulate,
            dequant_pass_min_rows=passes,
            dequant_pass_bytes_per_weight_byte=2 * FP16_BYTES / dequantised_bytes_per_weight
            if passes
            else 0.0,
            attention_score_bytes=self.attention_score_bytes,
            int8_mmq_min_rows=mmq,
            int8_mmq_peak_scale=self.gemm_scale_for("int8", target.vendor) / scale if mmq else 1.0,
            mmq_activation_bytes=self.mmq_activation_bytes if mmq else (0.0, 0.0),
        )

    def mechanics(self, target: HardwareTarget | None = None, scenario: Any = None) -> list[str]:
        """Short phrases naming the kernel mechanics this stack's estimates assume beyond its fractions
        (every output prints them): its kernels, a vendor's kernel floor (``kernel_gap_us_by_vendor``),
        fp16 accumulation, a dequantisation pass, unfused attention, int8 GEMMs, prompt chunks, a 16-bit
        output head and embedding. With ``target`` and ``scenario`` (a ``perf.llm.Scenario``), only those
        that apply to that run: the kernel note under the stack's own execution, the kernel floor on that
        vendor's hardware, fp16 accumulation when it computes in fp16 on a target with an fp16-accumulate
        peak of its own, the dequantisation pass and int8 GEMMs when its weights are quantised and the
        target takes that path (``tuning``), the 16-bit head and embedding when the weights are quantised
        and the stack keeps them so."""
        tuning = None
        if target is not None and scenario is not None:
            s = scenario
            tuning = self.tuning(target, s.compute_precision, s.dequant_flops_per_weight_byte,
                                 s.dequantised_bytes_per_weight)  # fmt: skip
        own = scenario is None or (scenario.execution or self.execution) == self.execution
        out = [self.kernel_note] if self.kernel_note and own else []
        for vendor, gap in self.kernel_gap_us_by_vendor.items():  # its own floor on that vendor's parts
            if target is None or target.vendor == vendor:
                out.append(f"a {gap:g} us gap per kernel on {vendor} hardware (this stack's floor there)")
        if (
            self.fp16_accumulate
            and (scenario is None or scenario.compute_precision == "fp16")
            and (target is None or target.fp16_accumulate_tflops)  # the peak it changes (GeForce parts)
        ):
            out.append("fp16-accumulate GEMMs")
        if self.dequant_pass_min_tokens and (tuning is None or tuning.dequant_pass_min_rows):
            out.append(f"quantised weights dequantised to fp16 for >= {self.dequant_pass_min_tokens} tokens")
        if self.attention_score_bytes:
            out.append(f"unfused attention ({self.attention_score_bytes:g} B per score)")
        if self.int8_mmq_min_tokens and (tuning is None or tuning.int8_mmq_min_rows):
            out.append(
                f"quantised weights in int8 GEMMs for >= {self.int8_mmq_min_tokens} tokens, activations to "
                "q8_1 first"
            )
        if self.prefill_chunk_tokens:
            out.append(f"prompts in {self.prefill_chunk_tokens:,}-token chunks")
        if scenario is not None:
            head = scenario.head_weight_scale(self) != scenario.weight_scale
            embedding = scenario.embedding_weight_scale(self) != scenario.weight_scale
            if head and embedding:
                out.append(
                    "token embedding and output head (lm_head) kept in 16 bits, as the served checkpoints "
                    "keep them"
                )
            elif embedding:  # a head kept in 16 bits keeps the embedding so too (``_embedding_flag``)
                out.append("token embedding kept in 16 bits (only the linear layers are quantised)")
            elif head and scenario.file_output:
                out.append(
                    f"output head (output.weight) in {scenario.file_output}, as llama.cpp quantize stores it"
                )
        return out

    def kernel_gap_for(self, vendor: str) -> float:
        """The gap (us) each of this stack's kernels pays on ``vendor``'s hardware: its own value there
        (``kernel_gap_us_by_vendor``), else ``kernel_gap_us``."""
        return self.kernel_gap_us_by_vendor.get(vendor, self.kernel_gap_us)

    def gemm_scale_key(self, precision: str, vendor: str) -> str:
        """The ``gemm_scale`` key that prices ``precision`` GEMMs on ``vendor``'s hardware:
        ``<precision>@<vendor>`` where the stack states one (a backend with GEMM kernels of its own, e.g.
        llama.cpp's Metal backend on Apple GPUs against its cuBLAS path), else ``<precision>``."""
        own = f"{precision}@{vendor}"
        return own if own in self.gemm_scale else precision

    def gemm_scale_for(self, precision: str, vendor: str) -> float:
        """This stack's large-GEMM efficiency in ``precision`` on ``vendor``'s hardware as a multiple of the
        generation's (``gemm_scale_key``; 1 where the stack states none)."""
        return self.gemm_scale.get(self.gemm_scale_key(precision, vendor), 1.0)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the stack an estimate assumed."""
        return {
            "id": self.id,
            "name": self.name,
            "execution": self.execution,
            "cuda_graphs": self.cuda_graphs,
            "kernel_gap_us": self.kernel_gap_us,
            **(
                {"kernel_gap_us_by_vendor": dict(self.kernel_gap_us_by_vendor)}
                if self.kernel_gap_us_by_vendor
                else {}
            ),
            "step_overhead_us": self.step_overhead_us,
            "request_overhead_us": self.request_overhead_us,
            "custom_allreduce": self.custom_allreduce,
            "max_batch": self.max_batch,
            "kv_block_tokens": self.kv_block_tokens,
            "prefill_chunk_tokens": self.prefill_chunk_tokens,
            "bandwidth": dict(self.bandwidth),
            "gemm_scale": dict(self.gemm_scale),
            "fp16_accumulate": self.fp16_accumulate,
            "dequant_pass_min_tokens": self.dequant_pass_min_tokens,
            "attention_score_bytes": self.attention_score_bytes,
            "int8_mmq_min_tokens": self.int8_mmq_min_tokens,
            "mechanics": self.mechanics(),
            "cold_start_overhead_us": self.cold_start_overhead_us,
            "quantized_head": self.quantized_head,
            "quantized_embedding": self.quantized_embedding,
            "origin": self.origin,
        }


def _number_table(value: Any, where: str, hi: float, what: str, zero_ok: bool = False) -> dict[str, float]:
    """A data-file table of numbers in ``(0, hi]`` (``[0, hi]`` with ``zero_ok``); ``ValueError`` naming
    ``where`` and the range for anything else."""
    if not isinstance(value, dict) or not all(
        isinstance(v, (int, float))
        and not isinstance(v, bool)
        and (v > 0 or (zero_ok and v == 0))
        and v <= hi
        for v in value.values()
    ):
        raise ValueError(f"{where}: must be a table of {what} in {'[' if zero_ok else '('}0, {hi:g}]")
    return {str(k): float(v) for k, v in value.items()}


def _fractions(value: Any, where: str) -> dict[str, float]:
    return _number_table(value, where, 2.0, "name = number")


def _stack(sid: str, e: dict[str, Any]) -> Stack:
    where = f"{DATA_FILE.name}: stack '{sid}'"
    if e.get("execution") not in EXECUTIONS_OF_STACKS:
        raise ValueError(f"{where}: execution must be one of {', '.join(EXECUTIONS_OF_STACKS)}")
    return Stack(
        id=sid,
        name=str(e["name"]),
        execution=str(e["execution"]),
        cuda_graphs=bool(e["cuda_graphs"]),
        kernel_gap_us=float(e["kernel_gap_us"]),
        step_overhead_us=float(e["step_overhead_us"]),
        request_overhead_us=float(e["request_overhead_us"]),
        custom_allreduce=bool(e["custom_allreduce"]),
        max_batch=int(e["max_batch"]),
        source=str(e["source"]),
        bandwidth=_fractions(e.get("bandwidth", {}), f"{where}: bandwidth"),
        gemm_scale=_fractions(e.get("gemm_scale", {}), f"{where}: gemm_scale"),
        attention_scale=float(e.get("attention_scale", 1.0)),
        vendors=tuple(e.get("vendors", ())),
        devices=tuple(e.get("devices", ())),
        weight_families=tuple(e.get("weight_families", ())),
        max_tp=int(e["max_tp"]) if "max_tp" in e else None,
        kv_formats=tuple(e.get("kv_formats", ())),
        weights_excluded=tuple(e.get("weights_excluded", ())),
        weights_native_only=tuple(e.get("weights_native_only", ())),
        weights_weight_only=tuple(e.get("weights_weight_only", ())),
        kv_needs={str(k): str(v) for k, v in e.get("kv_needs", {}).items()},
        kv_block_tokens=_count(e.get("kv_block_tokens", 1), f"{where}: kv_block_tokens", 1),
        prefill_chunk_tokens=_count(e.get("prefill_chunk_tokens", 0), f"{where}: prefill_chunk_tokens", 0),
        paging_source=str(e.get("paging_source", "")),
        fp16_accumulate=bool(e.get("fp16_accumulate", False)),
        dequant_pass_min_tokens=_count(
            e.get("dequant_pass_min_tokens", 0), f"{where}: dequant_pass_min_tokens", 0
        ),
        attention_score_bytes=_bytes(e.get("attention_score_bytes", 0), f"{where}: attention_score_bytes"),
        kernel_note=str(e.get("kernel_note", "")),
        int8_mmq_min_tokens=_count(e.get("int8_mmq_min_tokens", 0), f"{where}: int8_mmq_min_tokens", 0),
        mmq_activation_bytes=_byte_pair(
            e.get("mmq_activation_bytes", (0.0, 0.0)), f"{where}: mmq_activation_bytes"
        ),
        cold_start_overhead_us=float(e.get("cold_start_overhead_us", 0.0)),
        quantized_head=bool(e.get("quantized_head", False)),
        quantized_embedding=_embedding_flag(e, where),
        inherits=str(e.get("inherits", "")),
        kernel_gap_us_by_vendor=_gaps(
            e.get("kernel_gap_us_by_vendor", {}), f"{where}: kernel_gap_us_by_vendor"
        ),
    )


def _gaps(value: Any, where: str) -> dict[str, float]:
    """``{vendor: microseconds}`` in [0, 1000]; ``ValueError`` otherwise."""
    return _number_table(value, where, 1000.0, "vendor = microseconds", zero_ok=True)


def _embedding_flag(e: dict[str, Any], where: str) -> bool:
    """``quantized_embedding``; ``ValueError`` when it is true and ``quantized_head`` is not (a tied table,
    one tensor, would need two formats)."""
    flag = bool(e.get("quantized_embedding", False))
    if flag and not e.get("quantized_head", False):
        raise ValueError(f"{where}: quantized_embedding = true requires quantized_head = true")
    return flag


def _byte_pair(value: Any, where: str) -> tuple[float, float]:
    """A ``[read, written]`` pair of byte counts (``ValueError`` naming ``where`` otherwise)."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{DATA_FILE.name}: {where} must be [bytes read, bytes written], got {value!r}")
    return (_bytes(value[0], where), _bytes(value[1], where))


def _bytes(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 64:
        raise ValueError(f"{where}: must be a number of bytes in 0-64")
    return float(value)


def _resolved(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each stack table with the keys of the stack it ``inherits`` filled in (its own keys win; nested
    tables such as ``bandwidth`` merge key by key). ``ValueError`` for an unknown parent or a cycle."""
    tables = data["stack"]
    out: dict[str, dict[str, Any]] = {}

    def resolve(sid: str, seen: tuple[str, ...]) -> dict[str, Any]:
        if sid in out:
            return out[sid]
        if sid not in tables:
            raise ValueError(f"{DATA_FILE.name}: stack {seen[-1]!r} inherits unknown stack {sid!r}")
        if sid in seen:
            raise ValueError(f"{DATA_FILE.name}: stacks inherit in a cycle: {' -> '.join((*seen, sid))}")
        own = tables[sid]
        merged = dict(own)
        if own.get("inherits"):
            parent = resolve(own["inherits"], (*seen, sid))
            merged = {**parent, **own}
            for key, value in parent.items():
                if isinstance(value, dict) and isinstance(own.get(key), dict):
                    merged[key] = {**value, **own[key]}
        out[sid] = merged
        return merged

    for sid in tables:
        resolve(sid, ())
    return out


def _count(value: Any, where: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{where}: must be an integer >= {least}")
    return value


@lru_cache(maxsize=1)
def stacks() -> dict[str, Stack]:
    """Every stack of the data file, by id, in file order."""
    data = tomllib.loads(DATA_FILE.read_text(encoding="utf-8"))
    return {sid: _stack(sid, e) for sid, e in _resolved(data).items()}


#: The stack ids, in the data file's order.
def stack_ids() -> tuple[str, ...]:
    return tuple(stacks())


def canonical_id(stack_id: str) -> str:
    """``stack_id`` as the data file spells ids: lower case, ``.`` and ``_`` as ``-``."""
    return stack_id.strip().lower().replace(".", "-").replace("_", "-")


def get_stack(stack_id: str) -> Stack:
    """The stack ``stack_id`` (case-insensitive; ``llama.cpp`` = ``llama-cpp``) with the user file's
    overrides applied (module doc); ``UsageError`` (one line, with suggestions and the known ids)
    otherwise."""
    key = canonical_id(stack_id)
    known = stacks()
    if key in known:
        overrides = user_stack_overrides().get(key)
        if not overrides:
            return known[key]
        origin = f"user: {user_efficiency_file()} ({', '.join(sorted(overrides))})"
        return replace(with_params(known[key], overrides), origin=origin)
    close = difflib.get_close_matches(key, list(known), n=2, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise UsageError(f"unknown serving stack {stack_id!r}{hint} (choose one of {', '.join(known)})")


# ------------------------------------------------------------------------------- stack parameters


def check_param(name: str) -> tuple[str, str | None]:
    """``(field, key)`` of a fittable parameter name (``step_overhead_us`` -> ``(step_overhead_us, None)``,
    ``bandwidth.hbm`` -> ``(bandwidth, hbm)``); ``ValueError`` naming the known ones otherwise."""
    field_name, _, key = name.partition(".")
    if field_name not in FIT_RANGES or bool(key) != (field_name in PARAM_KEYS):
        raise ValueError(
            f"{name!r} is not a stack parameter (step_overhead_us, request_overhead_us, "
            f"bandwidth.<{'|'.join(MEMORY_TYPES)}>, gemm_scale.<{'|'.join(PRECISION_BITS)}>)"
        )
    base, _, vendor = key.partition("@") if field_name == "gemm_scale" else (key, "", "")
    if key and (base not in PARAM_KEYS[field_name] or (vendor == "" and key.endswith("@"))):
        raise ValueError(f"{name!r}: {key!r} is not one of {', '.join(PARAM_KEYS[field_name])}"
                         + (" (optionally @VENDOR)" if field_name == "gemm_scale" else ""))  # fmt: skip
    return field_name, key or None


def param_range(name: str) -> tuple[float, float]:
    """The ``FIT_RANGES`` range of a parameter name (``bandwidth.hbm``: ``bandwidth``'s)."""
    return FIT_RANGES[check_param(name)[0]]


def get_param(stack: Stack, name: str) -> float | None:
    """The stack's value of parameter ``name`` (``check_param``); None for a per-kind entry the stack does
    not set (``bandwidth.hbm`` absent: the generation's bandwidth share; ``gemm_scale.fp8`` absent: 1)."""
    field_name, key = check_param(name)
    if key is None:
        return float(getattr(stack, field_name))
    value = getattr(stack, field_name).get(key)
    return None if value is None else float(value)


def with_params(stack: Stack, values: dict[str, float | None]) -> Stack:
    """``stack`` with parameters replaced (``{name: value}``, names as ``check_param``; None removes a
    per-kind entry, so the generation's value applies)."""
    changes: dict[str, Any] = {}
    for name, value in values.items():
        field_name, key = check_param(name)
        if key is None:
            changes[field_name] = float(value) if value is not None else getattr(stack, field_name)
        else:
            table = dict(changes.get(field_name, getattr(stack, field_name)))
            if value is None:
                table.pop(key, None)
            else:
                table[key] = float(value)
            changes[field_name] = table
    return replace(stack, **changes)


def parse_stack_table(stack_id: str, table: Any, label: str) -> dict[str, float]:
    """The flat ``{parameter: value}`` of one user ``[stack.ID]`` table (nested ``bandwidth`` /
    ``gemm_scale`` tables flattened to ``bandwidth.hbm`` ...). ``ValueError`` (one line naming ``label``,
    the table and the key) for an unknown stack, a key that is not a stack parameter, a value that is not
    a number or is outside its ``FIT_RANGES`` range."""
    where = f"{label}: [stack.{stack_id}]"
    if canonical_id(stack_id) not in stacks():
        close = difflib.get_close_matches(canonical_id(stack_id), list(stacks()), n=2, cutoff=0.5)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ValueError(f"{where}: unknown serving stack{hint} (one of {', '.join(stacks())})")
    if not isinstance(table, dict):
        raise ValueError(f"{where} is not a table")
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    out: dict[str, float] = {}
    for name, value in flat.items():
        try:
            check_param(name)
        except ValueError as exc:
            raise ValueError(f"{where} {exc}") from None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{where} {name} = {value!r}: expected a number")
        lo, hi = param_range(name)
        if not lo <= value <= hi:
            raise ValueError(f"{where} {name} = {value}: outside its range {lo:g}-{hi:g}")
        out[name] = float(value)
    return out


def user_stack_overrides() -> dict[str, dict[str, float]]:
    """``{stack id: {parameter: value}}`` of the user efficiency file's ``[stack.ID]`` tables (module doc),
    ``{}`` when there is none; re-read when the file changes. A file that is not TOML is ignored with the
    same one warning ``perf.efficiency`` prints; a broken table alone with one warning of its own."""
    path = user_efficiency_file()
    try:
        st = os.stat(path)
    except OSError:
        return {}
    return _load_user_stacks(str(path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=8)
def _load_user_stacks(path: str, mtime_ns: int, size: int) -> dict[str, dict[str, float]]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        warn_user_file((path, mtime_ns), f"{path}: {exc} (user efficiency file ignored)")
        return {}
    except tomllib.TOMLDecodeError as exc:  # the message of perf.efficiency's reader: one warning for both
        warn_user_file((path, mtime_ns), f"{path}: not valid TOML: {exc} (user efficiency file ignored)")
        return {}
    tables = data.get("stack", {})
    if not isinstance(tables, dict):
        warn_user_file((path, mtime_ns, "stack"), f"{path}: 'stack' is not a table ([stack.ID] ignored)")
        return {}
    out: dict[str, dict[str, float]] = {}
    for sid, table in tables.items():
        try:
            values = parse_stack_table(sid, table, path)
        except ValueError as exc:
            warn_user_file((path, mtime_ns, "stack", sid), f"{exc} (this stack table ignored)")
            continue
        if values:
            out[canonical_id(sid)] = values
    return out
