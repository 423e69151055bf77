"""LLM inference on the roofline: prefill and decode, KV cache, TTFT/TPOT, what fits, tensor parallel.

Inputs are the phase captures of ``metrics_core.runtime.llm_capture`` (op records from the real module
graph, bytes priced per tensor class); everything here is a pure function of them and a target.

Definitions (all estimates, ``estimate: true``):

- **Compute precision** = the activations' precision: the arithmetic the kernels run (W4A16 dequantises
  to fp16 and computes in fp16; W8A8 computes in int8). The target must have that path.
- **Prefill** of P tokens (batch B): causal attention counts the lower triangle, ``L*(L+1)/2`` of the
  ``L*L`` scores (``flops``; ``flops_dense`` keeps the dense count). **Decode** of one token at context C:
  the new K/V written once, the cache of C tokens read once per layer (``capture.kv_cache``).
- **KV cache**: ``kv_bytes_per_token`` = K and V of one token in every decoder layer, at the KV
  precision (``2 x layers x kv_heads x head_dim x bytes``); ``kv_cache_bytes`` = what B sequences hold at
  the end of the generation: per layer ``min(context, window)`` tokens (sliding-window layers keep the last
  W tokens, as transformers' sliding static cache and serving engines do), plus, for an encoder-decoder,
  the cross-attention cache of the encoder's positions (``cross_kv_cache_bytes``).
- **Encoder-decoders** (T5, BART, Whisper): P is the encoder's input (T5/BART: source tokens; Whisper: its
  fixed 30 s window, ``max_source_positions`` = 1,500 positions) and the decoder starts from its start
  token. Prefill (TTFT) = the encoder over P plus the decoder's first step, which projects every layer's
  cross-attention K/V once; encoder attention is bidirectional (no causal halving). Decode contexts count
  decoder tokens: 1 after the start token to 1 + N; each step also reads the cross-attention cache
  (``cross_kv_bytes_per_token`` x P per sequence).
- **Context** C (``context_tokens``, ``--context``): the decode step reported as ``decode`` (default: the
  first, at P; encoder-decoders 1); it must lie within the generation, P <= C <= P + N.
- **Paged KV** (``perf.paged_kv``): each sequence holds whole blocks of ``kv_block_tokens`` tokens (the
  stack's: vLLM 16, TensorRT-LLM 64, per-token caches 1); ``kv_cache_bytes`` and the largest batch count
  the rounding (``kv_paging_bytes``).
- **Memory**: ``resident_bytes`` = weights + KV cache at context P + N + peak activations of prefill;
  ``fits`` when resident <= ``memory_gb`` x 1e9 (per GPU with ``tp``); ``max_batch_size`` = the largest B
  whose weights + B x KV per sequence + prefill's peak activations at B fit (the peak at any B from
  prefill captured at two batch sizes of at least 2: ``capture.peak_memory.batch_lines``; T5's position
  bias, for one, is shared by the batch).
- **Time**: ``ttft_s`` = prefill latency; ``tpot_s`` = decode latency averaged over the N steps: the step
  time between contexts P and P + N taken as linear between captured steps (a step's cost is linear in its
  context) at P, P + N, every sliding window W between them (past W a layer's step cost stops growing) and,
  for an encoder-decoder, the second step (``mean_step_s``);
  ``decode_tokens_per_s`` = B / ``tpot_s`` (aggregate; per sequence 1 / ``tpot_s``);
  ``generation_s`` = ``ttft_s`` + N x ``tpot_s``.
- **Mixture of experts**: a decode step of B tokens under uniform top-k routing reads the weights of
  ``E * (1 - (1 - k/E)^B)`` distinct experts per layer in expectation (each expert is missed by a token
  with probability 1 - k/E); prefill reads all experts. FLOPs are those of top-k routing (k experts per
  token; experts that transformers runs densely over all E are scaled to k/E at capture,
  ``capture.routed_experts``).
- **Tensor parallel** (Megatron-style, ``tp`` GPUs): every op's FLOPs and bytes split ``tp`` ways; the KV
  cache splits by KV heads, replicated when ``tp`` exceeds them (per GPU ``ceil(kv_heads / tp)`` heads);
  two all-reduces per layer of the ``B x T x hidden`` activations, each a ring all-reduce of
  ``2 (tp - 1)`` steps (``RING_STEP_LATENCY_S`` each) moving ``2 (tp - 1) / tp`` x the message at half
  the target's ``interconnect_gbps`` (one direction).
- **Sliding-window attention** (Mistral, Gemma-2's local layers): prefill counts the (query, key) pairs
  inside the window (``attended_pairs``); a decode step reads ``min(C, W)`` tokens of a sliding layer's
  cache, and the cache holds no more (``kv_cache_bytes``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from metrics_core.capture.routed_experts import is_routed_expert_module
from metrics_core.common.dtypes import PRECISION_BITS, ElementBits
from metrics_core.common.errors import UsageError
from metrics_core.common.records import OpRecord
from metrics_core.perf.comm import check_scale_up, collective_time, link_for
from metrics_core.perf.efficiency import DEFAULT_EFFICIENCY, Tuning
from metrics_core.perf.hardware import HardwareTarget
from metrics_core.perf.paged_kv import check_block, paging_bytes
from metrics_core.perf.quant import KV_FORMATS, WEIGHT_FORMATS, kv_format, weight_format
from metrics_core.perf.roofline import check_modes, dominant_bound, estimate_records
from metrics_core.perf.stacks import DEFAULT_STACK, Stack, get_stack, stack_ids

#: Weight formats (``perf.quant``: bits per weight with group scales / zero points, dequantisation work);
#: aliases (``int4`` = ``int4-g128``, ``awq``, ``gptq``, ``q4_k_m`` ...) are accepted too.
WEIGHT_PRECISIONS: tuple[str, ...] = WEIGHT_FORMATS
ACTIVATION_PRECISIONS: tuple[str, ...] = ("fp16", "bf16", "fp8", "int8", "fp4")
#: KV-cache formats (``perf.quant.KV_FORMATS``).
KV_PRECISIONS: tuple[str, ...] = KV_FORMATS
SDPA = "scaled_dot_product_attention"
#: The largest batch (as every verb: ``runtime.options.MAX_BATCH_SIZE``), prompt or generation (2**20
#: tokens: beyond any model's trained context) and tokens in flight, B x (P + N) (2**25: the integer
#: masks and positions of that many tokens are the largest whose values the capture computes,
#: ``capture.values.MAX_ELEMENTS``) that ``llm`` analyses.
MAX_BATCH_SIZE = 1 << 20
MAX_TOKENS = 1 << 20
MAX_TOKENS_IN_FLIGHT = 1 << 25
GROUPED_GEMMS = frozenset({"_grouped_mm", "_scaled_grouped_mm"})


@dataclass(frozen=True)
class Scenario:
    """One serving configuration: batch, prompt P and generated N tokens, precisions (weights: a
    ``perf.quant`` weight format; KV: a KV format), tensor parallel, serving stack and performance model."""

    batch_size: int = 1
    prompt_tokens: int = 512
    generate_tokens: int = 128
    #: None: the activations' own format — ``fp8`` / ``int8`` weights for fp8 / int8 activations (W8A8),
    #: ``nvfp4`` for fp4 (W4A4), else 16-bit weights in the activations' precision.
    weights: str | None = None
    activations: str = "fp16"
    #: None: the activations' 16-bit type (bf16 with bf16 activations, else fp16).
    kv: str | None = None
    tp: int = 1
    #: The kernel model of the phase estimates (``perf.roofline.estimate_records``); None: the stack's.
    execution: str | None = None
    efficiency: str = DEFAULT_EFFICIENCY
    #: The decode step reported as ``decode`` (None: the first one; see module docstring).
    context_tokens: int | None = None
    #: The serving stack (``perf.stacks``): its kernels, per-step and per-request overheads, collectives.
    stack: str = DEFAULT_STACK
    #: Tokens per KV-cache block (paged KV, ``perf.paged_kv``); None: the stack's ``kv_block_tokens``.
    kv_block_tokens: int | None = None

    def validated(self, target: HardwareTarget) -> Scenario:
        """These settings checked against ``target``, names made canonical (``int4`` -> ``int4-g128``,
        ``llama.cpp`` -> ``llama-cpp``, execution filled from the stack); ``UsageError`` (one line)
        otherwise."""
        if self.weights is None or self.kv is None:
            return replace(self, weights=self.weights_format, kv=self.kv_format).validated(target)
        try:
            weights, kv = weight_format(self.weights).name, kv_format(self.kv).name
        except ValueError as exc:
            flag = "--weights" if "weight" in str(exc).split(";")[0] else "--kv"
            raise UsageError(f"{flag}: {exc}") from None
        stack = get_stack(self.stack)
        fixed = replace(
            self, weights=weights, kv=kv, stack=stack.id, execution=self.execution or stack.execution
        )
        if fixed != self:
            return fixed.validated(target)
        if target.device_target:
            raise UsageError(
                f"{target.id} is several devices to software (each a {target.device_target}): a model is "
                f"served on devices, so use --hardware {target.device_target} (--tp N across several)"
            )
        if self.activations not in ACTIVATION_PRECISIONS:
            raise UsageError(
                f"--activations {self.activations!r}: choose one of {', '.join(ACTIVATION_PRECISIONS)}"
            )
        counts = [("--prompt", self.prompt_tokens), ("--generate", self.generate_tokens),
                  ("--batch-size", self.batch_size), ("--tp", self.tp)]  # fmt: skip
        if self.context_tokens is not None:
            counts.append(("--context", self.context_tokens))
        if self.kv_block_tokens is not None:
            check_block(self.kv_block_tokens)
        for what, value in counts:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"{what} must be a positive integer, got {value!r}")
        for what, value, limit in (
            ("--batch-size", self.batch_size, MAX_BATCH_SIZE),
            ("--prompt", self.prompt_tokens, MAX_TOKENS),
            ("--generate", self.generate_tokens, MAX_TOKENS),
        ):
            if value > limit:
                raise UsageError(f"{what} {value:,} is above the largest analysed, {limit:,}")
        in_flight = self.batch_size * (self.prompt_tokens + self.generate_tokens)
        if in_flight > MAX_TOKENS_IN_FLIGHT:
            raise UsageError(
                f"batch {self.batch_size:,} x {self.prompt_tokens + self.generate_tokens:,} tokens = "
                f"{in_flight:,} tokens in flight, above the largest analysed, {MAX_TOKENS_IN_FLIGHT:,}"
            )
        if not target.has(self.compute_precision):
            usable = [p for p in ACTIVATION_PRECISIONS if target.has(p)]
            raise UsageError(
                f"{target.name} has no {self.compute_precision} compute path; the kernels compute in the "
                f"activations' precision: choose --activations among {', '.join(usable) or 'none'}"
            )
        fmt = weight_format(self.weights)
        if (
            self.activations in ("fp8", "int8", "fp4")
            and fmt.family != "gguf"
            and fmt.native_compute != self.activations
        ):
            raise UsageError(
                f"--activations {self.activations} computes {self.activations} GEMMs from {self.activations} "
                f"weights (W8A8 / W4A4): --weights {self.weights} has no {self.activations} path; choose "
                f"--weights {_native_weights(self.activations)} or --activations fp16/bf16"
            )
        if fmt.family == "gguf" and self.activations not in ("fp16", "bf16"):
            raise UsageError(
                f"--weights {self.weights} (GGUF) runs llama.cpp's kernels, whose activations are fp16 or "
                "bf16 between layers (its int8 GEMMs quantise them to q8_1 inside, priced by the stack): "
                "--activations fp16 or bf16"
            )
        stack = get_stack(self.stack)
        try:
            stack.check(target, fmt, self.tp, self.kv, self.activations)
        except UsageError as exc:
            runs = []
            for other in stack_ids():
                try:
                    get_stack(other).check(target, fmt, self.tp, self.kv, self.activations)
                except UsageError:
                    continue
                runs.append(other)
            hint = (
                f" ({', '.join(runs)} run{'s' if len(runs) == 1 else ''} these settings here)" if runs else ""
            )
            raise UsageError(f"{exc}{hint}") from None
        check_modes(self.execution or "eager", self.efficiency)
        check_scale_up(target, self.tp, "--tp")
        return self

    @property
    def weights_format(self) -> str:
        """``weights``, or when None the activations' own format: fp8 / int8 / nvfp4 for fp8 / int8 / fp4
        activations (W8A8, W4A4), else the 16-bit type of the activations."""
        implied = {"fp8": "fp8", "int8": "int8", "fp4": "nvfp4", "bf16": "bf16"}
        return self.weights or implied.get(self.activations, "fp16")

    @property
    def kv_format(self) -> str:
        """``kv``, or when None the activations' 16-bit type (bf16 with bf16 activations, else fp16)."""
        return self.kv or ("bf16" if self.activations == "bf16" else "fp16")

    @property
    def bits(self) -> ElementBits:
        """Bits per element the capture prices each tensor class at: the activations' precision, the weight
        format's element bits (``weight_scale`` adds its scales) and the KV format's element bits."""
        return ElementBits(
            PRECISION_BITS[self.activations],
            weight_format(self.weights_format).element_bits,
            kv_format(self.kv_format).element_bits,
        )

    @property
    def weight_scale(self) -> float:
        """Bits per weight including scales / zero points over the element bits the capture priced: the
        factor on every weight byte (``int4-g128``: 4.15625 / 4)."""
        fmt = weight_format(self.weights_format)
        return fmt.bits_per_weight / fmt.element_bits

    @property
    def file_output(self) -> str | None:
        """The GGUF block type the weight format's files store ``output.weight`` in when it is not the
        format's own (``WeightFormat.file_output``), else None."""
        return weight_format(self.weights_format).file_output

    def head_weight_scale(self, stack: Any) -> float:
        """The factor on the output head's captured weight bytes: ``weight_scale`` where the head is in the
        weight format (16-bit float weights, a GGUF file type, or a stack that quantises it:
        ``Stack.quantized_head``), else 16 / the format's element bits (the head kept in 16 bits: the
        checkpoints AWQ, GPTQ, ModelOpt and vLLM's FP8 make). A GGUF block type whose files store the
        head in another type (``WeightFormat.file_output``: Q6_K for ``q4_0``, llama.cpp's quantize) takes
        that type's bits per weight over the format's element bits."""
        fmt = weight_format(self.weights_format)
        if fmt.family == "gguf" and fmt.file_output:
            return weight_format(fmt.file_output).bits_per_weight / fmt.element_bits
        if fmt.element_bits >= 16 or fmt.family == "gguf" or stack.quantized_head:
            return self.weight_scale
        return 16 / fmt.element_bits

    def embedding_weight_scale(self, stack: Any) -> float:
        """The factor on the embedding tables' captured weight bytes (``nn.Embedding``: the token table,
        learned positions): ``weight_scale`` where they are in the weight format (16-bit float weights, a
        GGUF file type: llama.cpp's quantize stores ``token_embd`` in the file type's type, or a stack that
        quantises them: ``Stack.quantized_embedding``), else 16 / the format's element bits (the tables kept
        in 16 bits: AWQ, GPTQ, ModelOpt, vLLM's FP8 and gpt-fast quantise linear layers only)."""
        fmt = weight_format(self.weights_format)
        if fmt.element_bits >= 16 or fmt.family == "gguf" or stack.quantized_embedding:
            return self.weight_scale
        return 16 / fmt.element_bits

    @property
    def native(self) -> bool:
        """True when the kernels compute in the weight format's own low-precision path because the
        activations are in it too (W8A8 int8 / fp8, W4A4 fp4); otherwise the weights are dequantised to the
        activations' precision in the GEMM (weight-only: W4A16, and llama.cpp's GGUF formats, whose prompt
        GEMMs dequantise to fp16 for the tensor cores; its int8 dot-product decode kernels are memory-bound
        either way)."""
        fmt = weight_format(self.weights_format)
        native = fmt.native_compute is not None and fmt.native_compute == self.activations
        return native and fmt.family != "gguf"

    @property
    def compute_precision(self) -> str:
        """The precision path the kernels run (see module docstring): the activations'."""
        return self.activations

    @property
    def dequantised_bytes_per_weight(self) -> float:
        """Bytes per weight of a quantised format the GEMMs dequantise to the activations' precision (the
        weight-only path: GGUF, W4A16 ...), 0 for 16-bit float weights or a native low-precision path."""
        fmt = weight_format(self.weights_format)
        if self.native or fmt.family == "float" and fmt.element_bits >= 16:
            return 0.0
        return fmt.bytes_per_weight

    @property
    def dequant_flops_per_weight_byte(self) -> float:
        """Vector FLOPs a GEMM spends per byte of weights it reads to dequantise them (``perf.quant``)."""
        fmt = weight_format(self.weights_format)
        flops = fmt.dequant_flops(native=self.native)
        return flops / fmt.bytes_per_weight if flops else 0.0


@dataclass(frozen=True)
class PhaseEstimate:
    """One phase on one target (per GPU): FLOPs, bytes, AI, latency and its three regimes, the bound.

    ``compute_s`` / ``memory_s`` / ``overhead_s``: the sums of its kernels' three parts
    (``perf.efficiency.KernelTime``); tensor-parallel communication (``allreduce_s``, a regime of its own)
    and the serving stack's per-step runtime overhead (``runtime_s``, in ``overhead_s``) are added to
    ``time_s``; ``bound``: ``compute``, ``memory``, ``overhead`` or ``communication``, whichever takes the
    largest share of ``time_s``."""

    flops: int
    flops_dense: int
    bytes: int
    time_s: float
    allreduce_s: float
    memory_bound_time_pct: float
    bound: str
    compute_s: float = 0.0
    memory_s: float = 0.0
    overhead_s: float = 0.0
    compute_bound_time_pct: float = 0.0
    overhead_bound_time_pct: float = 0.0
    runtime_s: float = 0.0
    #: Of ``memory_s``, the seconds in the stack's separate memory passes (a dequantisation copy, unfused
    #: attention's score round trips, q8_1 activations), serial to the kernels' math.
    pass_s: float = 0.0
    communication_bound_time_pct: float = 0.0
    #: The phase's per-op estimates (``perf.roofline.OpEstimate``), for its per-layer breakdown
    #: (``layers``); not compared, not in ``to_dict``.
    ops: tuple = field(default=(), compare=False, repr=False)

    def layers(self) -> list:
        """Per decoder layer and part (attention, MLP, norms, logits, ...) with their regimes and bounds,
        the per-step runtime overhead and all-reduces included (``perf.llm_layers.breakdown``)."""
        from metrics_core.perf.llm_layers import breakdown

        return breakdown(self.ops, self.runtime_s, self.allreduce_s)

    @property
    def ai(self) -> float | None:
        return self.flops / self.bytes if self.bytes else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "flops": self.flops,
            "flops_dense": self.flops_dense,
            "bytes": self.bytes,
            "ai": self.ai,
            "bound": self.bound,
            "memory_bound_time_pct": self.memory_bound_time_pct,
            "compute_bound_time_pct": self.compute_bound_time_pct,
            "overhead_bound_time_pct": self.overhead_bound_time_pct,
            "time_s": self.time_s,
            "compute_s": self.compute_s,
            "memory_s": self.memory_s,
            "overhead_s": self.overhead_s,
            "pass_s": self.pass_s,
            "allreduce_s": self.allreduce_s,
            "communication_bound_time_pct": self.communication_bound_time_pct,
            "runtime_s": self.runtime_s,
        }


def _native_weights(activations: str) -> str:
    """The weight formats whose native path computes in ``activations`` (for error messages)."""
    names = [n for n in WEIGHT_FORMATS if weight_format(n).native_compute == activations]
    names = [n for n in names if weight_format(n).family != "gguf"]
    return " / ".join(names[:3]) or "fp16"


def attended_pairs(tokens: int, window: int | None = None, chunk: int | None = None) -> int:
    """(query, key) pairs causal attention over ``tokens`` computes: query i (1-based) sees
    ``min(i, window)`` keys, so ``L (L + 1) / 2`` for full attention and, for a sliding window W < L,
    ``W (W + 1) / 2 + (L - W) W``. Chunked attention (Llama-4, chunk K): query i sees the keys of its own
    chunk up to itself, so ``n K (K + 1) / 2 + r (r + 1) / 2`` with ``n = L // K`` full chunks and
    ``r = L mod K`` tokens in the last."""
    if chunk is not None and chunk < tokens:
        n, r = divmod(tokens, chunk)
        return n * chunk * (chunk + 1) // 2 + r * (r + 1) // 2
    if window is None or window >= tokens:
        return tokens * (tokens + 1) // 2
    return window * (window + 1) // 2 + (tokens - window) * window


def unfused_pairs(tokens: int, micro_batch: int = 0) -> int:
    """(query, key) pairs an unfused attention computes over a prompt of ``tokens`` run in micro-batches of
    ``micro_batch`` tokens (0: one batch): each micro-batch's score GEMM multiplies its queries by every key
    in the cache so far and the softmax masks the future ones (llama.cpp without flash attention:
    ``ggml_mul_mat(k, q)`` over the ``n_kv`` cache view, then ``ggml_soft_max_ext`` with the causal mask),
    so a micro-batch of m queries ending at token e computes ``m * e`` scores, sliding windows included:
    ``sum over micro-batches of m * e``; ``L**2`` in one batch (the padding of ``n_kv`` to 32 cells left
    out)."""
    step = micro_batch if 0 < micro_batch < tokens else tokens
    return sum(min(step, tokens - start) * min(start + step, tokens) for start in range(0, tokens, step))


def causal_records(
    records: Sequence[OpRecord],
    tokens: int,
    windows: Sequence[int | None] = (),
    chunks: Sequence[int | None] = (),
    unfused_micro_batch: int | None = None,
) -> list[OpRecord]:
    """Prefill records with causal attention counted over the pairs it computes: the k-th SDPA op's MACs
    and score FLOPs scaled by ``attended_pairs(L, windows[k], chunks[k]) / L**2`` (L = ``tokens``, queries
    and keys the same length; ``windows`` / ``chunks``: per attention layer, in op order, see
    ``LlmCapture.windows`` and ``LlmCapture.chunks``; missing = full). A vision tower's attention
    (``capture.vision_prompt.in_vision``) is bidirectional and left whole, whatever its length.
    ``unfused_micro_batch`` (not None: a stack whose attention is not fused,
    ``Tuning.attention_score_bytes``): the pairs it computes instead, ``unfused_pairs(L,
    unfused_micro_batch)``, masked ones included."""
    from metrics_core.capture.vision_prompt import in_vision

    out = []
    k = 0
    for r in records:
        if (
            r.op == SDPA
            and not in_vision(r.module)
            and r.input_shapes
            and len(r.input_shapes[0]) >= 2
            and r.input_shapes[0][-2] == tokens > 1
        ):
            window = windows[k] if k < len(windows) else None
            chunk = chunks[k] if k < len(chunks) else None
            k += 1
            pairs = (
                attended_pairs(tokens, window, chunk)
                if unfused_micro_batch is None
                else unfused_pairs(tokens, unfused_micro_batch)
            )
            scale = pairs / (tokens * tokens)
            r = replace(r, macs=round(r.macs * scale), flops=round((r.flops or 0) * scale))
        out.append(r)
    return out


def attention_layer_windows(capture: Any) -> tuple[list[int | None], list[int | None]]:
    """``(windows, chunks)`` of the capture's attention layers only, in layer order (the prefill's SDPA
    ops are one per attention layer: state-space and cache-less layers have none)."""
    kinds = getattr(capture, "layer_kinds", None) or []
    n = len(capture.windows)
    chunks = getattr(capture, "chunks", None) or [None] * n
    keep = [i for i in range(n) if not kinds or kinds[i] not in ("ssm", "none")]
    return [capture.windows[i] for i in keep], [chunks[i] if i < len(chunks) else None for i in keep]


def expected_experts(experts: int, top_k: int, tokens: int) -> float:
    """Distinct experts per layer that ``tokens`` tokens reach under uniform top-k routing:
    ``E * (1 - (1 - k/E)^T)``."""
    return experts * (1.0 - (1.0 - top_k / experts) ** tokens)


def is_routed_expert_gemm(r: OpRecord) -> bool:
    """Whether ``r`` reads routed experts' weights: a grouped expert GEMM (``torch._grouped_mm``:
    Mixtral, Qwen-MoE, gpt-oss, DeepSeek in transformers) or any weight-reading op of a routed-experts
    module (a dotted name with an ``experts`` component, as ``capture.params.active_params`` counts them:
    Llama-4's batched ``bmm`` over all experts, ``capture.routed_experts``)."""
    return r.op in GROUPED_GEMMS or bool(r.weight_bytes and is_routed_expert_module(r.module))


def moe_decode_records(records: Sequence[OpRecord], experts: int, top_k: int, tokens: int) -> list[OpRecord]:
    """Decode records with the routed expert GEMMs (``is_routed_expert_gemm``) reading only the expected
    distinct experts' weights: weight bytes x ``expected_experts(E, k, tokens) / E``."""
    share = expected_experts(experts, top_k, tokens) / experts
    return [
        replace(r, weight_bytes=round(r.weight_bytes * share)) if is_routed_expert_gemm(r) else r
        for r in records
    ]


#: The ops that gather rows of an embedding table (``capture.dispatch.GATHER_READS``: charged for the rows
#: they read, B x hidden elements a decode step, not the table).
EMBEDDING_GATHERS: frozenset[str] = frozenset({"embedding", "embedding_bag"})


def scale_weights(
    records: Sequence[OpRecord],
    factor: float,
    head_factor: float | None = None,
    embedding_factor: float | None = None,
) -> list[OpRecord]:
    """Records with every weight byte x ``factor`` (a weight format's bits per weight over the element
    bits the capture priced: its group scales and zero points), the output head's (``lm_head``:
    ``perf.llm_layers.part_of`` "logits") x ``head_factor`` when given (``Scenario.head_weight_scale``:
    a head kept in 16 bits) and the embedding gathers' rows (``EMBEDDING_GATHERS``) x ``embedding_factor``
    when given (``Scenario.embedding_weight_scale``: tables kept in 16 bits)."""
    from metrics_core.perf.llm_layers import part_of

    head = factor if head_factor is None else head_factor
    embedding = factor if embedding_factor is None else embedding_factor
    if factor == 1.0 and head == 1.0 and embedding == 1.0:
        return list(records)

    def scaled(r: OpRecord) -> OpRecord:
        if embedding != factor and r.op in EMBEDDING_GATHERS:
            f = embedding
        elif head != factor and part_of(r.module) == "logits":
            f = head
        else:
            f = factor
        return replace(r, weight_bytes=round(r.weight_bytes * f))

    return [scaled(r) if r.weight_bytes else r for r in records]


def weight_bytes_per_gpu(
    weight_bytes: int,
    head_bytes: int,
    scenario: Scenario,
    stack: Any,
    embedding_bytes: int = 0,
    tied_embedding_bytes: int = 0,
) -> int:
    """The model's weights one GPU holds, bytes: the captured ``weight_bytes`` (the format's element bits)
    x ``weight_scale`` (its scales and zero points), the output head's ``head_bytes`` at
    ``head_weight_scale`` instead (a head kept in 16 bits) and the embedding tables' ``embedding_bytes``
    at ``embedding_weight_scale`` (tables kept in 16 bits), split over ``scenario.tp`` GPUs.

    ``tied_embedding_bytes``: the table shared with the head (tied word embeddings), counted once, with
    the head, where the head and the tables share a format (vLLM ties ``ParallelLMHead`` to the embedding:
    one 16-bit table; a GGUF file stores a tied ``token_embd`` once, in the output's type); where the stack
    quantises the head but not the tables (gpt-fast: its ``nn.Linear`` output is replaced by an int8 /
    int4 copy, its ``nn.Embedding`` stays), the 16-bit table is held besides the quantised head."""
    s = scenario
    ws, hs, es = s.weight_scale, s.head_weight_scale(stack), s.embedding_weight_scale(stack)
    extra = head_bytes * (hs - ws) + embedding_bytes * (es - ws)
    # a separate copy only where the stack quantises a copy of the head and keeps the table (gpt-fast)
    copy = stack.quantized_head and not stack.quantized_embedding
    if tied_embedding_bytes and copy and es != hs:
        extra += tied_embedding_bytes * es
    return math.ceil((weight_bytes * ws + extra) / s.tp)


def capture_weight_bytes_per_gpu(cap: Any, head_bytes: int, scenario: Scenario, stack: Any) -> int:
    """``weight_bytes_per_gpu`` of a capture (``runtime.llm_capture.LlmCapture`` or ``perf.serving.
    StepCapture``): its ``weight_bytes``, ``embedding_bytes`` and ``tied_embedding_bytes``."""
    return weight_bytes_per_gpu(
        cap.weight_bytes,
        head_bytes,
        scenario,
        stack,
        getattr(cap, "embedding_bytes", 0),
        getattr(cap, "tied_embedding_bytes", 0),
    )


def head_weight_bytes(records: Sequence[OpRecord]) -> int:
    """Weight bytes of the output head's ops (``part_of`` "logits"), as captured (the element bits)."""
    from metrics_core.perf.llm_layers import part_of

    return sum(r.weight_bytes for r in records if r.weight_bytes and part_of(r.module) == "logits")


def stack_validation(
    target: HardwareTarget, stack: str, execution: str | None, efficiency: str, weights: str | None = None
) -> str | None:
    """What ``stack``'s LLM estimates on ``target`` were held against (``perf.efficiency.
    llm_validation_for``: published measurements, the error), or None. The validation holds for the stack as
    it was validated — calibrated efficiency and the stack's own kernel model (``execution`` None or the
    stack's): the ideal roofline (no stack overheads, datasheet peaks) or another kernel model is a
    physical estimate, not the validated one; the user efficiency file's own values for the stack or the
    target (``perf.efficiency.builtin_calibration``) are not what was validated either, nor a ``weights``
    format whose kernels the measurements never ran (``perf.efficiency.llm_weights_validated``: vLLM's
    H100 rows are all 16-bit weights, so its GGUF or int4 estimates there are physical)."""
    from metrics_core.perf.efficiency import (
        builtin_calibration,
        llm_validation_for,
        llm_weights_validated,
        weight_kind,
    )

    own = get_stack(stack)
    if execution not in (None, own.execution) or own.origin != "built-in":
        return None  # another kernel model, or the user's own stack parameters
    if not builtin_calibration(target, efficiency):
        return None
    kinds = llm_weights_validated(target, own.id)
    if weights is not None and kinds is not None and weight_kind(weights) not in kinds:
        return None
    return llm_validation_for(target, own.id)


def check_tp_heads(heads: int | None, tp: int, who: str, flag: str = "--") -> None:
    """``UsageError`` (one line) when tensor parallelism ``tp`` does not split ``who``'s ``heads`` attention
    heads (Megatron splits whole heads: ``tp`` must divide them and not exceed them); None: no heads.
    ``flag`` prefixes the setting's name (``--tp`` on the command line, ``tp`` typed in the app)."""
    if heads is not None and (tp > heads or heads % tp):
        raise UsageError(f"{flag}tp {tp}: {who}'s {heads} attention heads do not split {tp} ways")


def prompt_steps(prompt_tokens: int, chunk_tokens: int) -> int:
    """Forward steps a prompt takes on a stack that prefills in chunks of ``chunk_tokens`` (llama.cpp's
    micro-batches, vLLM's token budget): ``ceil(P / chunk)``, 1 without chunking (0)."""
    return math.ceil(prompt_tokens / chunk_tokens) if chunk_tokens else 1


def per_chunk_weights(records: Sequence[OpRecord], steps: int) -> list[OpRecord]:
    """Prefill records of a prompt run in ``steps`` chunks: every GEMM streams its weights once per step
    (weight bytes x ``steps``; a stack that dequantises them first does that once per step too,
    ``perf.efficiency.Tuning``), while FLOPs and activation bytes stay those of the whole prompt (the
    chunks add up to it; attention's causal pairs as one prefill, ``perf.serving``)."""
    if steps <= 1:
        return list(records)
    return [
        replace(r, weight_bytes=r.weight_bytes * steps) if r.weight_bytes and r.macs else r for r in records
    ]


def kv_heads_per_gpu(kv_heads: int, tp: int) -> int:
    """KV heads each GPU holds: ``ceil(kv_heads / tp)`` (replicated when ``tp`` exceeds them)."""
    return math.ceil(kv_heads / tp)


def split_records(records: Sequence[OpRecord], tp: int, kv_share: float, kv_read: int) -> list[OpRecord]:
    """Per-GPU records: FLOPs and bytes / ``tp``; the ``kv_read`` bytes of attention at ``kv_share`` of
    the total instead (KV heads do not always split ``tp`` ways)."""
    if tp == 1:
        return list(records)
    out = []
    total_sdpa = sum(r.input_bytes for r in records if r.op == SDPA) or 1
    for r in records:
        extra = 0
        if r.op == SDPA and kv_read:
            mine = kv_read * r.input_bytes / total_sdpa  # this op's share of the cache reads
            extra = round(mine * kv_share - mine / tp)
        out.append(
            replace(
                r,
                macs=r.macs // tp,
                flops=(r.flops or 0) // tp,
                input_bytes=r.input_bytes // tp + extra,
                output_bytes=r.output_bytes // tp,
                weight_bytes=r.weight_bytes // tp,
            )
        )
    return out


#: Bytes per element of the tensor-parallel all-reduce: the residual stream's dtype, never below 16 bits.
#: W8A8 / W4A4 quantise a GEMM's *input* (FP8, INT8, FP4); the row-parallel GEMM writes its output, the
#: partial sums the all-reduce adds, in the model's 16-bit dtype (vLLM ``RowParallelLinear.forward``:
#: ``quant_method.apply`` returns the activations' dtype, then ``tensor_model_parallel_all_reduce``;
#: ``Fp8LinearMethod`` / ``torch._scaled_mm`` with ``out_dtype`` bf16; TensorRT-LLM's all-reduce plugin runs
#: in the model dtype, FP8 quantisation fused after it with the residual add and RMSNorm).
ALLREDUCE_MIN_BITS = 16


def allreduce_s(scenario: Scenario, target: HardwareTarget, layers: int, hidden: int, tokens: int) -> float:
    """Two all-reduces per layer of the ``B x tokens x hidden`` activations (Megatron-style tensor
    parallel) in the residual stream's dtype (``ALLREDUCE_MIN_BITS``: 16-bit under FP8 / INT8 / FP4
    activations), each timed by ``perf.comm.collective_time`` over the target's link (``interconnect_kind``,
    PCIe when not stated; ``interconnect_gbps``), with the stack's one-shot / two-shot custom all-reduce
    where it has one."""
    tp = scenario.tp
    if tp == 1 or not target.interconnect_gbps:
        return 0.0
    bits = max(ALLREDUCE_MIN_BITS, PRECISION_BITS[scenario.activations])
    message = scenario.batch_size * tokens * hidden * bits / 8
    link = link_for(target.interconnect_kind or "pcie", target.interconnect_gbps)
    custom = get_stack(scenario.stack).custom_allreduce
    return 2 * layers * collective_time("all_reduce", message, tp, link, custom_allreduce=custom).time_s


def estimate_phase(
    records: Sequence[OpRecord],
    dense_flops: int,
    target: HardwareTarget,
    precision: str,
    extra_s: float,
    execution: str = "eager",
    efficiency: str = "ideal",
    runtime_s: float = 0.0,
    tuning: Tuning | None = None,
) -> PhaseEstimate:
    """Estimate of one phase's (per-GPU) records under the performance model ``execution`` /
    ``efficiency`` (and a stack's ``tuning``), plus ``extra_s`` of communication and ``runtime_s`` of
    per-step runtime overhead (``runtime_s`` counted in ``overhead_s``; the communication is its own
    regime, ``allreduce_s``)."""
    est = estimate_records(
        records, target, precision, execution=execution, efficiency=efficiency, tuning=tuning
    )
    time_s = est.latency_s + extra_s + runtime_s
    by_bound = {b: sum(o.time_s for o in est.ops if o.bound == b) for b in ("compute", "memory", "overhead")}
    by_bound["overhead"] += runtime_s
    by_bound["communication"] = extra_s
    pct = {b: 100.0 * t / time_s if time_s else 0.0 for b, t in by_bound.items()}
    return PhaseEstimate(
        flops=est.flops,
        flops_dense=dense_flops,
        bytes=est.bytes,
        time_s=time_s,
        allreduce_s=extra_s,
        memory_bound_time_pct=pct["memory"],
        bound=dominant_bound(by_bound),
        compute_s=est.compute_s,
        memory_s=est.memory_s,
        overhead_s=est.overhead_s + runtime_s,
        pass_s=est.pass_s,
        compute_bound_time_pct=pct["compute"],
        overhead_bound_time_pct=pct["overhead"],
        runtime_s=runtime_s,
        communication_bound_time_pct=pct["communication"],
        ops=tuple(est.ops),
    )


@dataclass(frozen=True)
class LlmEstimate:
    """Everything ``modeltui llm`` reports for one model x scenario x target (see ``to_dict``)."""

    model: str
    target: HardwareTarget
    scenario: Scenario
    params: int
    active_params: int | None
    weight_bytes: int
    kv_bytes_per_token: float
    kv_cache_bytes: int
    activation_bytes: int
    capacity_bytes: float
    max_batch_size: int
    prefill: PhaseEstimate
    decode_first: PhaseEstimate
    decode_last: PhaseEstimate
    experts_read_per_layer: float | None
    #: "decoder" or "encoder-decoder"; the decode step at ``context_tokens`` (``decode`` in JSON).
    architecture: str = "decoder"
    context_tokens: int = 0
    decode_at: PhaseEstimate | None = None
    #: Encoder-decoders: encoder positions, cross-attention KV bytes per encoder position and what the
    #: B sequences' cross-attention caches hold (per GPU; part of ``kv_cache_bytes``).
    encoder_tokens: int = 0
    cross_kv_bytes_per_token: float = 0.0
    cross_kv_cache_bytes: int = 0
    #: TPOT: the mean step time over the generation (``mean_step_s`` of the captured knots).
    tpot_mean_s: float = 0.0
    #: The serving stack the estimate assumes (``perf.stacks``).
    stack: Stack | None = None
    #: Paged KV (``perf.paged_kv``): tokens per block, and the bytes the B sequences' blocks hold beyond
    #: their tokens (per GPU; part of ``kv_cache_bytes``).
    kv_block_tokens: int = 1
    kv_paging_bytes: int = 0
    #: ``capture``: the phases captured at this batch, prompt and generation; ``step model``: priced from
    #: the model's decode-step captures (``perf.serving.estimate_from_steps``), a faster approximation.
    derived_from: str = "capture"
    #: The decoder's cache layout (``runtime.llm_capture.LlmCapture.cache_facts``: layer kinds, what
    #: ``kv_bytes_per_token`` counts, transformers' full K/V where it differs, SSM state per sequence).
    cache: dict[str, Any] | None = None
    #: What ``max_batch_size`` was solved from (per GPU): one sequence's KV bytes at P + N (whole blocks)
    #: and the activation lines ``(shared, per sequence)`` (``largest_batch``).
    kv_per_sequence_bytes: float = 0.0
    batch_lines: tuple[tuple[float, float], ...] = ()
    #: Speculative decoding's draft model, resident beside the target (``perf.speculative.DraftMemory``):
    #: its weights and the B sequences' draft KV count in ``resident_bytes``, ``fits`` and
    #: ``max_batch_size`` (``perf.speculative.with_draft``); None: no draft model.
    draft: Any = None

    @property
    def clock_ratio(self) -> float:
        """The sustained tensor-load clock ratio the calibrated estimate used (``perf.power``)."""
        if self.scenario.efficiency != "calibrated":
            return 1.0
        from metrics_core.perf.efficiency import clock_for

        return clock_for(self.target).ratio

    @property
    def validation(self) -> str | None:
        """The published LLM measurements of this stack on this target the estimates were held against
        (``benchmarks/validate_llm.py``), or None: a physical estimate here (``stack_validation``: also
        under ``--efficiency ideal`` or an ``--execution`` other than the stack's own)."""
        s = self.scenario
        return stack_validation(self.target, s.stack, s.execution, s.efficiency, s.weights)

    @property
    def validated(self) -> bool:
        return self.validation is not None

    @property
    def efficiency_source(self) -> str | None:
        """Where the target's calibrated parameters come from (``perf.efficiency.efficiency_source``:
        ``built-in`` or ``user: PATH (names)``; the stack's own: ``stack_source``), None for ideal."""
        if self.scenario.efficiency != "calibrated":
            return None
        from metrics_core.perf.efficiency import efficiency_source

        return efficiency_source(self.target)

    @property
    def decode(self) -> PhaseEstimate:
        """The decode step at ``context_tokens``."""
        return self.decode_at or self.decode_first

    @property
    def resident_bytes(self) -> int:
        """Bytes held per GPU: weights + KV cache + activations (+ a draft model's weights and KV)."""
        draft = self.draft.weight_bytes + self.draft.kv_cache_bytes if self.draft is not None else 0
        return self.weight_bytes + self.kv_cache_bytes + self.activation_bytes + draft

    @property
    def fits(self) -> bool:
        return self.resident_bytes <= self.capacity_bytes

    @property
    def tpot_s(self) -> float:
        """Mean decode-step time over the generation (``mean_step_s``)."""
        return self.tpot_mean_s

    @property
    def generation_s(self) -> float:
        return self.prefill.time_s + self.scenario.generate_tokens * self.tpot_s

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: one per model x configuration (keys in the README)."""
        s = self.scenario
        tpot = self.tpot_s
        return {
            "model": self.model,
            "hardware": self.target.id,
            "architecture": self.architecture,
            "batch_size": s.batch_size,
            "prompt_tokens": s.prompt_tokens,
            "generate_tokens": s.generate_tokens,
            "context_tokens": self.context_tokens,
            "encoder_tokens": self.encoder_tokens if self.architecture == "encoder-decoder" else None,
            "weights_precision": s.weights,
            "activations_precision": s.activations,
            "kv_precision": s.kv,
            "compute_precision": s.compute_precision,
            "tp": s.tp,
            "stack": s.stack,
            "stack_name": self.stack.name if self.stack else None,
            "stack_source": self.stack.origin if self.stack else None,
            "efficiency_source": self.efficiency_source,
            "stack_mechanics": self.stack.mechanics(self.target, s) if self.stack else [],
            "execution": s.execution,
            "efficiency": s.efficiency,
            "weights_bits_per_weight": weight_format(s.weights).bits_per_weight,
            "clock_ratio": self.clock_ratio,
            "validated": self.validated,
            "validation": self.validation,
            "params": self.params,
            "active_params": self.active_params,
            "weight_bytes": self.weight_bytes,
            "kv_bytes_per_token": self.kv_bytes_per_token,
            "cross_kv_bytes_per_token": self.cross_kv_bytes_per_token if self.encoder_tokens else None,
            "kv_cache_bytes": self.kv_cache_bytes,
            "kv_block_tokens": self.kv_block_tokens,
            "kv_paging_bytes": self.kv_paging_bytes,
            "derived_from": self.derived_from,
            "cross_kv_cache_bytes": self.cross_kv_cache_bytes if self.encoder_tokens else None,
            "activation_bytes": self.activation_bytes,
            "resident_bytes": self.resident_bytes,
            "capacity_bytes": self.capacity_bytes,
            "fits": self.fits,
            "over_bytes": max(0, self.resident_bytes - round(self.capacity_bytes)),
            "max_batch_size": self.max_batch_size,
            "ttft_s": self.prefill.time_s,
            "tpot_s": tpot,
            "tpot_first_s": self.decode_first.time_s,
            "tpot_last_s": self.decode_last.time_s,
            "decode_tokens_per_s": s.batch_size / tpot if tpot else None,
            "decode_tokens_per_s_per_sequence": 1 / tpot if tpot else None,
            "generation_s": self.generation_s,
            "experts_read_per_layer": self.experts_read_per_layer,
            "draft": self.draft.to_dict() if self.draft is not None else None,
            "cache": self.cache,
            "prefill": self.prefill.to_dict(),
            "decode": self.decode.to_dict(),
            "decode_last": self.decode_last.to_dict(),
            "estimate": True,
        }


def largest_batch(free: float, kv_per_sequence: float, lines: Sequence[tuple[float, float]]) -> int:
    """The largest B with ``B x kv_per_sequence + max(shared + B x per_sequence)`` <= ``free`` bytes over
    the activation ``lines`` (``LlmCapture.activation_lines``): every line must fit, so B is the smallest
    of ``(free - shared) / (kv_per_sequence + per_sequence)``; 0 when none fits."""
    bounds = [
        (free - a) / (kv_per_sequence + g) if kv_per_sequence + g > 0 else math.inf if free >= a else -1.0
        for a, g in lines
    ]
    best = min(bounds, default=0.0)
    return 0 if best < 1 or best == math.inf else math.floor(best)


def mean_step_s(steps: Sequence[tuple[int, float]]) -> float:
    """Mean decode-step time over contexts ``steps[0][0]`` to ``steps[-1][0]`` from ``(context, time)``
    points sorted by context: the time taken as linear between neighbouring points (the trapezoid rule),
    exact when the knots are where the cost changes slope (``runtime.llm_capture.tpot_knots``)."""
    if len(steps) == 1 or steps[-1][0] == steps[0][0]:
        return steps[0][1]
    area = sum((t0 + t1) / 2 * (c1 - c0) for (c0, t0), (c1, t1) in zip(steps, steps[1:], strict=False))
    return area / (steps[-1][0] - steps[0][0])


def context_range(capture: Any, scenario: Scenario) -> tuple[int, int]:
    """``(first, last)`` decode contexts of ``scenario``'s generation for ``capture``'s architecture:
    ``(P, P + N)``, or ``(1, 1 + N)`` decoder tokens for an encoder-decoder."""
    start = 1 if capture.architecture == "encoder-decoder" else scenario.prompt_tokens
    return start, start + scenario.generate_tokens


def check_context(
    context: int | None, first: int, last: int, where: str = "this generation", encoder_decoder: bool = False
) -> int:
    """``context`` (None: ``first``) if ``first <= context <= last``, else ``UsageError`` (one line, naming
    ``where``, the model and prompt, and the flags that move the range: an encoder-decoder's decoder
    steps run from 1 whatever the prompt)."""
    if context is None:
        return first
    if not first <= context <= last:
        flags = "--generate" if encoder_decoder else "--prompt / --generate"
        raise UsageError(
            f"--context {context:,} is outside the decode steps of {where} ({first:,} to {last:,}): set "
            f"{flags} so that every context lies in every generation"
        )
    return context


def estimate_llm(
    capture: Any, target: HardwareTarget, scenario: Scenario, stack: Stack | None = None
) -> LlmEstimate:
    """``capture`` (a ``runtime.llm_capture.LlmCapture`` for ``scenario``'s batch, prompt and generate
    tokens, and its context) on ``target`` (see module docstring). ``stack``: the scenario's stack with
    other parameter values (``perf.llm_calibrate`` fits them; default ``get_stack(scenario.stack)``).
    ``UsageError`` for ``tp`` that does not split the attention heads, or a context outside the
    generation."""
    s = scenario.validated(target)
    tp = s.tp
    encoder_decoder = capture.architecture == "encoder-decoder"
    for heads in (capture.attention_heads, capture.encoder_heads if encoder_decoder else None):
        check_tp_heads(heads, tp, capture.model)
    first, last = context_range(capture, s)
    where = f"{capture.model} at prompt {s.prompt_tokens:,}"
    context = check_context(s.context_tokens, first, last, where, encoder_decoder)
    precision = s.compute_precision
    kv_share = kv_heads_per_gpu(capture.kv_heads, tp) / capture.kv_heads
    b, p = s.batch_size, s.prompt_tokens
    stack = stack or get_stack(s.stack)
    if stack.id != s.stack:
        raise ValueError(f"estimate_llm: stack {stack.id!r} is not the scenario's {s.stack!r}")
    calibrated = s.efficiency == "calibrated"  # ideal: the pure roofline, no stack kernels or overheads
    tuning = (
        stack.tuning(target, precision, s.dequant_flops_per_weight_byte, s.dequantised_bytes_per_weight)
        if calibrated
        else None
    )
    step_s = stack.step_overhead_s if calibrated else 0.0
    request_s = stack.request_overhead_s if calibrated else 0.0
    execution = s.execution or stack.execution

    if encoder_decoder:  # bidirectional encoder, one decoder token: nothing causal to halve
        prefill_records = list(capture.prefill.records)
        prefill_comm = allreduce_s(s, target, capture.encoder_layers, capture.hidden_size, p) + allreduce_s(
            s, target, capture.layers, capture.hidden_size, 1
        )
    else:
        unfused = stack.prefill_chunk_tokens if tuning is not None and tuning.attention_score_bytes else None
        prefill_records = causal_records(
            capture.prefill.records, p, *attention_layer_windows(capture), unfused_micro_batch=unfused
        )
        prefill_comm = allreduce_s(s, target, capture.layers, capture.hidden_size, p)
    prefill_tuning = tuning
    if calibrated and not encoder_decoder:
        prefill_records = per_chunk_weights(prefill_records, prompt_steps(p, stack.prefill_chunk_tokens))
        if tuning is not None and stack.prefill_chunk_tokens:  # each step: a chunk of every sequence
            prefill_tuning = replace(tuning, prefill_chunk_rows=b * stack.prefill_chunk_tokens)
    head_scale, embedding_scale = s.head_weight_scale(stack), s.embedding_weight_scale(stack)
    prefill = estimate_phase(
        split_records(
            scale_weights(prefill_records, s.weight_scale, head_scale, embedding_scale), tp, kv_share, 0
        ),
        sum(r.flops or 0 for r in capture.prefill.records) // tp,
        target,
        precision,
        prefill_comm,
        execution,
        s.efficiency,
        runtime_s=step_s + request_s,
        tuning=prefill_tuning,
    )
    experts_read = None
    decodes: dict[int, PhaseEstimate] = {}
    knots = [k for k in capture.knots if first <= k <= last]
    for c in dict.fromkeys((first, last, context, *knots)):
        try:
            ph = capture.decode_phase(c)
        except KeyError:
            raise UsageError(
                f"{capture.model}: no decode step at context {c:,} was captured (capture_llm's contexts)"
            ) from None
        records = scale_weights(ph.records, s.weight_scale, head_scale, embedding_scale)
        if capture.experts and capture.experts_per_token:
            records = moe_decode_records(records, capture.experts, capture.experts_per_token, b)
            experts_read = expected_experts(capture.experts, capture.experts_per_token, b)
        per_gpu = split_records(records, tp, kv_share, ph.kv_cache_bytes)
        decodes[c] = estimate_phase(
            per_gpu,
            sum(r.flops or 0 for r in per_gpu),
            target,
            precision,
            allreduce_s(s, target, capture.layers, capture.hidden_size, 1),
            execution,
            s.efficiency,
            runtime_s=step_s,
            tuning=tuning,
        )
    block = s.kv_block_tokens if s.kv_block_tokens is not None else stack.kv_block_tokens
    chunks = list(getattr(capture, "chunks", None) or [])
    held = [
        w or (chunks[i] if i < len(chunks) else None) for i, w in enumerate(capture.windows)
    ]  # chunked: one
    paging_per_seq_gpu = paging_bytes(capture.kv_layer_token_bytes, held, last, block) * kv_share
    kv_per_seq_gpu = capture.kv_held_per_sequence(last) * kv_share + paging_per_seq_gpu
    cross_per_seq_gpu = capture.encoder_tokens * capture.cross_kv_bytes_per_token * kv_share
    head = head_weight_bytes(capture.decode_phase(first).records)
    weight_gpu = capture_weight_bytes_per_gpu(capture, head, s, stack)
    act_gpu = math.ceil(capture.prefill.peak_activation_bytes / tp)
    capacity = target.memory_gb * 1e9
    lines = capture.activation_lines or [(0.0, capture.prefill.peak_activation_bytes / b)]
    gpu_lines = tuple((a / tp, g / tp) for a, g in lines)
    max_batch = largest_batch(capacity - weight_gpu, kv_per_seq_gpu, gpu_lines)
    return LlmEstimate(
        model=capture.model,
        target=target,
        scenario=s,
        params=capture.params,
        active_params=capture.active_params,
        weight_bytes=weight_gpu,
        kv_bytes_per_token=sum(capture.kv_layer_token_bytes),
        kv_cache_bytes=round(b * kv_per_seq_gpu),
        activation_bytes=act_gpu,
        capacity_bytes=capacity,
        max_batch_size=max_batch,
        prefill=prefill,
        decode_first=decodes[first],
        decode_last=decodes[last],
        experts_read_per_layer=experts_read,
        architecture=capture.architecture,
        context_tokens=context,
        decode_at=decodes[context],
        tpot_mean_s=mean_step_s([(k, decodes[k].time_s) for k in sorted({first, last, *knots})]),
        encoder_tokens=capture.encoder_tokens,
        cross_kv_bytes_per_token=capture.cross_kv_bytes_per_token,
        cross_kv_cache_bytes=round(b * cross_per_seq_gpu),
        stack=stack,
        kv_block_tokens=block,
        kv_paging_bytes=round(b * paging_per_seq_gpu),
        cache=capture.cache_facts() if hasattr(capture, "cache_facts") else None,
        kv_per_sequence_bytes=kv_per_seq_gpu,
        batch_lines=gpu_lines,
    )
