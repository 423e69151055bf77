"""Any forward step of a serving engine, priced from four decode-step captures; chunked prefill; a
steady-state continuous-batching (concurrency) view.

**The step model.** A step of a serving engine runs some sequences, each with ``tokens`` new tokens after
``offset`` tokens already in its KV cache (a decode: 1 token after C - 1; a prefill chunk: T tokens after
the earlier chunks; a speculative verification: k + 1 tokens). ``runtime.llm_steps`` captures a decode
step at two batch sizes (B = 1, 2; or 2, 3) and contexts c1 < c2; every op's FLOPs, MACs and bytes are
then exactly ``a + b B + c C + d B C`` (weights: constant but for the embedding rows a step gathers).
For a step ``StepModel.records`` sets, per op:

- ``b`` x the step's new tokens (linear layers, norms, activations, the KV write); for the logits
  (``lm_head``) the tokens whose logits are computed (decode and verification: every token; prefill: the
  last token of a finished prompt);
- ``d`` x the (query, key) pairs for attention FLOPs and the other context-dependent ops (masks), x the
  keys read for attention's input bytes (the KV cache is read once per sequence and step); pairs and keys
  per layer follow its sliding window;
- ``c`` x the longest context, ``a`` once.

A chunk of T tokens after o tokens attends ``T o + T (T + 1) / 2`` pairs (query i sees o + i keys; the
chunks of a prompt sum to ``P (P + 1) / 2``, as one causal prefill). The records then go through the same
performance model as ``perf.llm`` (weight format scales, tensor-parallel split, MoE experts read, the
stack's kernels, per-step overhead, all-reduces).

**Chunked prefill** (Sarathi-Serve, Agrawal et al. 2024; vLLM, SGLang, TensorRT-LLM): a prompt of P tokens
runs as ``ceil(P / chunk)`` steps of ``chunk`` tokens, each also decoding the ``running`` batch (one token
per sequence at context ``P + N / 2``); TTFT = the sum of those steps + the stack's per-request overhead;
the running batch's TPOT while the prompt is prefilled = the mean of those steps.

**Concurrency** (continuous batching, closed loop): N users, each sending a request of P prompt tokens and
O output tokens and a new one as soon as it completes (no think time). The running batch holds at most
R = min(N, the stack's ``max_batch``, the users whose KV at P + O in whole blocks fits beside the weights);
the others queue. A request takes ``s = ceil(P / chunk)`` prefill steps (1 without chunking) and O decode
steps; every step a user takes also carries the other R - 1 users' work in the steady-state mean: of
each, ``s / (s + O)`` prefilling a chunk of its prompt and ``O / (s + O)`` decoding at the mean context
``P + O / 2`` (the steps are shared, so these are shares of steps). With ``t_p`` the user's prefill step
(its own mean chunk plus that background) and ``t_d`` its decode step: TPOT = ``t_d``; a request's service
``c = s t_p + O t_d``; requests/s λ = R / c; output tokens/s = λ O; the queue's wait
``(N / R - 1) c`` (Little's law: N = λ x (wait + c)); TTFT = wait + ``s t_p`` + the per-request
overhead. The largest N meeting a TPOT / TTFT target is found by bisection (the step times grow with N).

Every figure is an estimate (``estimate: true``). No torch here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from metrics_core.common.errors import UsageError
from metrics_core.common.records import OpRecord
from metrics_core.perf.hardware import HardwareTarget
from metrics_core.perf.llm import (
    SDPA,
    LlmEstimate,
    PhaseEstimate,
    Scenario,
    allreduce_s,
    capture_weight_bytes_per_gpu,
    check_tp_heads,
    estimate_phase,
    expected_experts,
    kv_heads_per_gpu,
    largest_batch,
    mean_step_s,
    moe_decode_records,
    scale_weights,
    split_records,
)
from metrics_core.perf.paged_kv import paged_tokens, paging_bytes
from metrics_core.perf.roofline import dominant_bound
from metrics_core.perf.stacks import Stack, get_stack

#: The largest number of users the concurrency view analyses.
MAX_USERS = 1 << 16
#: What the concurrency view assumes, in words (text and JSON).
CONCURRENCY_ASSUMPTIONS = (
    "continuous batching, closed loop: N users each send a request of P prompt tokens and O output tokens "
    "and the next one as soon as it completes (no think time); at most the stack's max_batch sequences run "
    "(and as many as their KV at P + O in whole blocks fits beside the weights; step activations not "
    "counted), the others queue; a request takes s = ceil(P / chunk) prefill steps and O decode steps; "
    "every step also carries the other running users' work in the steady-state mean (of each, a share "
    "s / (s + O) prefilling a chunk, O / (s + O) decoding at the mean context P + O/2); TPOT = a decode "
    "step; TTFT = the queue's wait + s prefill steps + the stack's per-request overhead; tokens/s = "
    "running x O / (s x prefill step + O x TPOT), and N = requests/s x (wait + s x prefill step + O x "
    "TPOT) (Little's law)"
)


@dataclass
class StepCapture:
    """What ``runtime.llm_steps.capture_steps`` returns (picklable): model facts and the op records of the
    decode step at ``(batch, context)`` for batch 1, 2 and ``contexts``."""

    model: str
    params: int
    weight_bytes: int
    layers: int
    #: None: no attention layers (Mamba): any --tp passes the heads check.
    attention_heads: int | None
    kv_heads: int
    hidden_size: int
    vocab_size: int | None
    experts: int | None
    experts_per_token: int | None
    windows: list[int | None]
    contexts: tuple[int, int]
    steps: dict[tuple[int, int], list[OpRecord]]
    #: Module names of the output embedding (the logits GEMM).
    logits_modules: tuple[str, ...] = ()
    #: The element bits the bytes are priced at (``ElementBits``) and the MoE active parameters.
    bits: Any = None
    active_params: int | None = None
    #: Per decoder layer: chunk size of Llama-4 chunked attention (None: not chunked; empty: none is),
    #: what the layer keeps (``capture.kv_cache.LayerCache.kind``; empty: every layer attention), the
    #: layers with an attention op, in order (the k-th attention op of a step is layer
    #: ``attention_layers[k]``; empty: layer k), and the KV elements one token adds per layer (the MLA
    #: latent; 0 for SSM layers; empty: taken from the captured KV writes).
    chunks: Sequence[int | None] = ()
    layer_kinds: Sequence[str] = ()
    attention_layers: Sequence[int] = ()
    layer_token_elements: Sequence[int] = ()
    #: Constant state elements one sequence holds (SSM conv + recurrent states), at the activations'
    #: precision.
    state_elements: int = 0
    #: The assumptions the step model makes for this architecture, one line each.
    notes: Sequence[str] = ()
    #: The two batch sizes of ``steps`` (``(2, 3)`` for a model whose batch-1 step runs other ops: at
    #: batch 1 some reshapes are views that copy at any larger batch).
    batches: tuple[int, int] = (1, 2)
    #: Weight bytes (element bits) of the embedding tables other than the output head's weight, and of the
    #: one that is (tied; 0 when untied): ``capture.params.embedding_tables``.
    embedding_bytes: int = 0
    tied_embedding_bytes: int = 0

    def layer_of(self, k: int) -> int:
        """The decoder layer of a step's ``k``-th attention op."""
        return self.attention_layers[k] if k < len(self.attention_layers) else k

    def attention_windows(self) -> list[int | None]:
        """The sliding window of each layer with an attention op (SSM and cache-less layers have none)."""
        n = len(self.windows)
        keep = self.attention_layers if self.attention_layers else range(n)
        return [self.windows[i] if i < n else None for i in keep]

    def held_windows(self) -> list[int | None]:
        """Per layer, the most tokens it keeps: its sliding window or chunk (None: every token)."""
        n = max(self.layers, len(self.windows), len(self.chunks))
        w = [*self.windows, *[None] * n][:n]
        c = [*self.chunks, *[None] * n][:n]
        return [min(x for x in (a, b) if x) if (a or b) else None for a, b in zip(w, c, strict=True)]


def step_head_bytes(cap: StepCapture) -> int:
    """The output head's weight bytes as a step capture priced them: vocab x hidden at the weights'
    element bits (0 when the vocabulary is not known)."""
    if not cap.vocab_size or cap.bits is None:
        return 0
    return cap.vocab_size * cap.hidden_size * cap.bits.weights // 8


@dataclass(frozen=True)
class Segment:
    """``count`` sequences in one step, each with ``tokens`` new tokens after ``offset`` cached tokens,
    ``logits`` of them producing logits (``count`` may be fractional: a steady-state mean)."""

    count: float
    tokens: int
    offset: int
    logits: int = 1

    def pairs(self, window: int | None, chunk: int | None = None) -> float:
        """(query, key) pairs of the segment under ``window`` (None: full): query i of a sequence sees
        ``min(offset + i, window)`` keys; under chunked attention (``chunk``) the keys of its own chunk up
        to itself (``chunk_sum``)."""
        if chunk:
            return self.count * chunk_sum(self.offset, self.tokens, chunk)
        return self.count * window_sum(self.offset, self.tokens, window)

    def keys(self, window: int | None) -> float:
        """Keys read: each sequence's ``min(offset + tokens, window)`` cached tokens."""
        end = self.offset + self.tokens
        return self.count * (end if window is None else min(end, window))


def window_sum(offset: int, tokens: int, window: int | None) -> int:
    """``sum(min(j, window) for j in offset + 1 .. offset + tokens)``: the pairs of ``tokens`` queries
    after ``offset`` keys (``T o + T (T + 1) / 2`` without a window)."""
    lo, hi = offset + 1, offset + tokens
    if window is None or hi <= window:
        return (lo + hi) * tokens // 2
    if lo > window:
        return tokens * window
    return (lo + window) * (window - lo + 1) // 2 + (hi - window) * window


def chunk_sum(offset: int, tokens: int, chunk: int) -> int:
    """``sum(((j - 1) mod chunk) + 1 for j in offset + 1 .. offset + tokens)``: the pairs of ``tokens``
    queries after ``offset`` keys under chunked attention (Llama-4's ``attention_chunk_size``: query j,
    1-based, sees the keys of its own ``chunk``-token chunk up to itself). From the first ``n`` tokens'
    ``S(n) = q chunk (chunk + 1) / 2 + r (r + 1) / 2`` (``q, r = divmod(n, chunk)``, as
    ``perf.llm.attended_pairs``): ``S(offset + tokens) - S(offset)``."""

    def first(n: int) -> int:
        q, r = divmod(n, chunk)
        return q * chunk * (chunk + 1) // 2 + r * (r + 1) // 2

    return first(offset + tokens) - first(offset)


_ATTENTION_OPS = (SDPA, "mla_decode_attention")

_FIELDS = ("macs", "flops", "input_bytes", "output_bytes", "weight_bytes")


@dataclass
class _OpFit:
    template: OpRecord
    coef: dict[str, tuple[float, float, float, float]]
    #: Output then input shapes, each dim as ``(a, b, c)``: ``a + b x tokens + c x context`` (None: the
    #: shapes differ in rank between the captures; the template's are kept).
    shapes: list[list[tuple[float, float, float]]] | None
    attention_layer: int | None
    logits: bool


class StepModel:
    """Per-op coefficients ``a + b B + c C + d B C`` of a decoder's step (module doc) from a
    ``StepCapture``; ``records(segments)`` prices a step. ``ValueError`` when the four captures do not run
    the same ops (a model whose graph changes with the batch or the context)."""

    def __init__(self, cap: StepCapture) -> None:
        self.capture = cap
        c1, c2 = cap.contexts
        b1, b2 = cap.batches
        r11, r21, r12, r22 = (cap.steps[k] for k in ((b1, c1), (b2, c1), (b1, c2), (b2, c2)))
        if not same_ops(r11, r21, r12, r22):
            raise ValueError(
                f"{cap.model}: its decode step runs other ops at batch {b1} and {b2} or contexts {c1} and "
                f"{c2} (a data-dependent graph)"
            )
        self.fits: list[_OpFit] = []
        k = 0
        dc, db = c2 - c1, b2 - b1
        for a, b, c, d in zip(r11, r21, r12, r22, strict=True):
            coef = {}
            for f in _FIELDS:  # f = aa + bb B + cc C + dd B C through the four (B, C) points
                f11, f21, f12, f22 = (getattr(x, f) or 0 for x in (a, b, c, d))
                dd = ((f22 - f12) - (f21 - f11)) / (db * dc)
                bb = (f21 - f11) / db - dd * c1
                cc = (f12 - f11) / dc - dd * b1
                aa = f11 - bb * b1 - cc * c1 - dd * b1 * c1
                coef[f] = (aa, bb, cc, dd)
            layer = None
            if a.op in _ATTENTION_OPS:  # the k-th attention op: its decoder layer (SSM layers have none)
                layer, k = cap.layer_of(k), k + 1
            shapes = _shape_fit(*([x.output_shape, *x.input_shapes] for x in (a, b, c, d)), c1, dc, b1, db)
            self.fits.append(_OpFit(a, coef, shapes, layer, a.module in cap.logits_modules))

    def repriced(self, bits: Any) -> StepModel:
        """This step model with its bytes priced at other element bits (``ElementBits``) without a capture:
        weight bytes (the embedding tables' too) x the weights' ratio; the KV cache attention reads (its
        context terms) x the KV ratio; every other float activation byte x the activations' ratio (the
        capture prices the new token's K/V written by ``index_copy_`` as activations; integer ops and token
        ids keep their size, but for an ``index_copy_``'s 8-byte position). ``ValueError`` when the
        capture's bits are not known."""
        old = self.capture.bits
        if old is None:
            raise ValueError(f"{self.capture.model}: the step model's element bits are not known")
        act, w = bits.activations / old.activations, bits.weights / old.weights
        kv_read = bits.kv / old.kv
        out = object.__new__(StepModel)
        cap = self.capture
        out.capture = replace(
            cap,
            bits=bits,
            weight_bytes=cap.params * bits.weights // 8,
            embedding_bytes=cap.embedding_bytes * bits.weights // old.weights,
            tied_embedding_bytes=cap.tied_embedding_bytes * bits.weights // old.weights,
        )
        out.fits = []
        for fit in self.fits:
            coef = dict(fit.coef)
            coef["weight_bytes"] = tuple(x * w for x in coef["weight_bytes"])
            integer = fit.template.dtype.startswith(("int", "uint", "bool"))
            a, b, c, d = coef["input_bytes"]
            if fit.attention_layer is not None:
                coef["input_bytes"] = (a * act, b * act, c * kv_read, d * kv_read)
            elif not integer and fit.template.op != "embedding":  # an embedding reads token ids
                coef["input_bytes"] = (a * act, b * act, c * act, d * act)
            if not integer:
                coef["output_bytes"] = tuple(x * act for x in coef["output_bytes"])
            out.fits.append(replace(fit, coef=coef))
        return out

    def records(self, segments: Sequence[Segment]) -> list[OpRecord]:
        """The op records of one step running ``segments`` (module doc): FLOPs and bytes at any batch,
        tokens and context from the fit; weights as captured (the caller scales formats, experts, TP)."""
        windows, chunks = self.capture.windows, self.capture.chunks
        tokens = sum(s.count * s.tokens for s in segments)
        logit_tokens = sum(s.count * s.logits for s in segments)
        longest = max((s.offset + s.tokens for s in segments), default=0)
        pairs_full = sum(s.pairs(None) for s in segments)
        keys_full = sum(s.keys(None) for s in segments)
        out = []
        for fit in self.fits:
            layer = fit.attention_layer
            w = windows[layer] if layer is not None and layer < len(windows) else None
            ch = chunks[layer] if layer is not None and layer < len(chunks) else None
            # a chunked layer reads at most one chunk of K/V (its buffer), as a window of ``ch``
            pairs = pairs_full if w is None and ch is None else sum(s.pairs(w, ch) for s in segments)
            keys = keys_full if w is None and ch is None else sum(s.keys(w or ch) for s in segments)
            n = logit_tokens if fit.logits else tokens
            co = fit.coef

            def value(field: str, extent: float, co: dict = co, n: float = n) -> int:
                a, b, c, d = co[field]
                return max(0, round(a + b * n + c * longest + d * extent))

            t = fit.template
            shapes = fit.shapes
            if shapes is not None:
                dims = [[max(1, round(a + b * n + c * longest)) if (a or b or c) else 0 for a, b, c in shape]
                        for shape in shapes]  # fmt: skip
                out_shape, in_shapes = dims[0], dims[1:]
            else:
                out_shape, in_shapes = t.output_shape, t.input_shapes
            if layer is not None and t.op == SDPA:
                out_shape, in_shapes = attention_shapes(t, in_shapes, segments, tokens, keys)
            out.append(
                OpRecord(  # positional: thousands of ops per step (dataclasses.replace is slow)
                    t.index, t.module, t.module_type, t.op, t.category, in_shapes, out_shape, t.dtype,
                    value("macs", pairs), value("flops", pairs),
                    value("input_bytes", keys if layer is not None else pairs),
                    value("output_bytes", pairs), value("weight_bytes", pairs),
                    t.covered, t.live_bytes, t.reads_from,
                )
            )  # fmt: skip
        return out


def same_ops(*steps: Sequence[OpRecord]) -> bool:
    """Whether the step captures run the same ops in the same order (the fit needs it)."""
    return len({len(r) for r in steps}) == 1 and all(
        len({x.op for x in ops}) == 1 for ops in zip(*steps, strict=True)
    )


def attention_shapes(
    template: OpRecord, in_shapes: list, segments: Sequence[Segment], tokens: float, keys: float
) -> tuple[list[int], list]:
    """The shapes of a step's fused attention op (``(batch, heads, length, head dim)``, as SDPA takes
    them) from its segments: ``S`` sequences (the segments' counts), each with ``tokens / S`` queries
    against ``keys / S`` keys (the layer's windowed keys). A prefill of T tokens is then one sequence of T
    queries, as its capture is, not T sequences of one query each (what the decode captures' shape fit
    gives: their only token dimension is the batch), so the kernel is priced as the prefill's
    FlashAttention tile and not as T decode rows. Heads and head sizes are the template's; other inputs
    (a mask) keep the fitted shapes. The template's own shapes when they are not four-dimensional."""
    shapes = template.input_shapes
    if len(shapes) < 3 or any(len(x) != 4 for x in shapes[:3]) or len(template.output_shape) != 4:
        return template.output_shape, in_shapes
    seqs = max(1, round(sum(s.count for s in segments)))
    lq, lk = max(1, round(tokens / seqs)), max(1, round(keys / seqs))
    q, k, v = shapes[:3]
    out = [seqs, template.output_shape[1], lq, template.output_shape[3]]
    return out, [[seqs, q[1], lq, q[3]], [seqs, k[1], lk, k[3]], [seqs, v[1], lk, v[3]], *in_shapes[3:]]


def _shape_fit(
    s11: list, s21: list, s12: list, s22: list, c1: int, dc: int, b1: int = 1, db: int = 1
) -> list | None:
    """Each dim of each shape as ``(a, b, c)`` with ``dim = a + b B + c C`` from the four captures at
    batches ``b1``, ``b1 + db`` and contexts ``c1``, ``c1 + dc`` (a dim is a constant, a count of
    sequences or a context length); None when the ranks differ."""
    if not len(s11) == len(s21) == len(s12) == len(s22) or any(
        not len(w) == len(x) == len(y) == len(z) for w, x, y, z in zip(s11, s21, s12, s22, strict=True)
    ):
        return None
    out = []
    for w, x, y, z in zip(s11, s21, s12, s22, strict=True):
        dims = []
        for d11, d21, d12, _d22 in zip(w, x, y, z, strict=True):
            b = (d21 - d11) / db
            c = (d12 - d11) / dc
            dims.append((float(d11 - b * b1 - c * c1), float(b), float(c)))
        out.append(dims)
    return out


def step_estimate(
    model: StepModel,
    target: HardwareTarget,
    scenario: Scenario,
    segments: Sequence[Segment],
    stack: Stack | None = None,
) -> PhaseEstimate:
    """One serving step of ``segments`` on ``target`` (per GPU) under ``scenario``'s formats, TP, stack and
    performance model, as ``perf.llm.estimate_llm`` prices its phases: weight format scale, MoE experts
    reached by the step's tokens, tensor-parallel split (KV by heads), the stack's kernels, its per-step
    overhead and two all-reduces per layer of the step's tokens."""
    s = scenario.validated(target)
    stack = stack or get_stack(s.stack)
    cap = model.capture
    tp = s.tp
    check_tp_heads(cap.attention_heads, tp, cap.model)
    records = scale_weights(
        model.records(segments),
        s.weight_scale,
        s.head_weight_scale(stack),
        s.embedding_weight_scale(stack),
    )
    tokens = sum(x.count * x.tokens for x in segments)
    if cap.experts and cap.experts_per_token:
        records = moe_decode_records(records, cap.experts, cap.experts_per_token, max(1, round(tokens)))
    kv_share = kv_heads_per_gpu(cap.kv_heads, tp) / cap.kv_heads
    kv_read = sum(r.input_bytes for r in records if r.op == SDPA)  # MLA's latent: kv_heads 1, replicated
    per_gpu = split_records(records, tp, kv_share, kv_read)
    calibrated = s.efficiency == "calibrated"
    tuning = (
        stack.tuning(
            target, s.compute_precision, s.dequant_flops_per_weight_byte, s.dequantised_bytes_per_weight
        )
        if calibrated
        else None
    )
    comm = allreduce_s(replace(s, batch_size=1), target, cap.layers, cap.hidden_size, max(1, round(tokens)))
    return estimate_phase(
        per_gpu,
        sum(r.flops or 0 for r in per_gpu),
        target,
        s.compute_precision,
        comm,
        s.execution or stack.execution,
        s.efficiency,
        runtime_s=stack.step_overhead_s if calibrated else 0.0,
        tuning=tuning,
    )


def request_overhead_s(scenario: Scenario, stack: Stack | None = None) -> float:
    """The stack's per-request overhead (calibrated efficiency only, as ``perf.llm``)."""
    stack = stack or get_stack(scenario.stack)
    return stack.request_overhead_s if scenario.efficiency == "calibrated" else 0.0


def arrival_wait_s(step_s: float, in_system: float) -> float:
    """Mean time a request arriving at a request rate (open loop, Poisson arrivals) waits for the engine's
    step in flight to end before its own prefill is scheduled, seconds: a continuous-batching engine
    admits new requests only between steps.

    ``step_s``: the running batch's decode step (s, > 0 where there is one); ``in_system``: the mean
    number of requests in the engine (Little's law: rate x time in the system). Poisson arrivals see the
    time average (PASTA: Wolff, "Poisson Arrivals See Time Averages", Oper. Res. 30, 1982); an engine that
    serves every admitted request at once holds a Poisson-distributed number of them (M/G/infinity), so
    an arrival finds it busy with probability ``1 - exp(-in_system)``, and then lands at a uniformly random
    point of a step: the mean residual life of steps of equal length is half a step (Kleinrock, Queueing
    Systems vol. 1, 1975, sec. 5.2: E[T^2] / 2 E[T]). So ``(1 - exp(-in_system)) x step_s / 2``.
    ``ValueError`` for a negative or non-finite argument. A closed-loop client (``concurrency``) sends its
    next request when a step ends, so it does not wait this."""
    if not (math.isfinite(step_s) and math.isfinite(in_system)) or step_s < 0 or in_system < 0:
        raise ValueError(f"step_s and in_system must be finite and >= 0, got {step_s!r}, {in_system!r}")
    return (1.0 - math.exp(-in_system)) * step_s / 2.0


def chunk_size(scenario: Scenario, chunk: int | None, stack: Stack | None = None) -> int:
    """Prompt tokens per step: ``chunk`` when given (0: no chunking), else the stack's
    ``prefill_chunk_tokens``; 0 means the whole prompt in one step."""
    if chunk is None:
        chunk = (stack or get_stack(scenario.stack)).prefill_chunk_tokens
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 0:
        raise UsageError(f"--chunk must be a whole number of tokens (0: no chunking), got {chunk!r}")
    return chunk


def prompt_chunks(prompt: int, chunk: int) -> list[tuple[int, int]]:
    """``(tokens, offset)`` of each prefill step of a ``prompt``-token prompt in chunks of ``chunk``
    (0: one step)."""
    size = chunk or prompt
    return [(min(size, prompt - o), o) for o in range(0, prompt, size)]


# ------------------------------------------------------------------------------------ chunked prefill


def pairs_by_window(
    windows: Sequence[int | None], offset: int, tokens: int
) -> tuple[tuple[int | None, int, int], ...]:
    """``(window, layers, pairs)`` for each distinct attention window of ``windows`` (one entry per
    attention layer; None: full attention), in first-seen order: the (query, key) pairs ONE such layer
    attends for ``tokens`` queries after ``offset`` cached tokens (``window_sum``) and how many layers have
    that window. No windows (a model the capture found none for): one full-attention entry of 0 layers."""
    counts: dict[int | None, int] = {}
    for w in windows or [None]:
        counts[w] = counts.get(w, 0) + 1
    if not windows:
        counts = {None: 0}
    return tuple((w, n, window_sum(offset, tokens, w)) for w, n in counts.items())


def mean_layer_pairs(by_window: Sequence[tuple[int | None, int, int]]) -> int | float:
    """Attention pairs per attention layer: the pairs summed over the attention layers / their number
    (every layer's own count when they share one window; an int when whole)."""
    layers = sum(n for _w, n, _p in by_window)
    if not layers:
        return by_window[0][2] if by_window else 0
    total = sum(n * p for _w, n, p in by_window)
    return total // layers if total % layers == 0 else total / layers


@dataclass(frozen=True)
class ChunkStep:
    """One prefill chunk: its tokens, offset, attention pairs and the step estimate. ``pairs``: (query,
    key) pairs per attention layer, the mean over the attention layers (``mean_layer_pairs``: with one
    window for every layer, e.g. Mistral's 4,096 or none, each layer's exact count); ``by_window``: the
    exact pairs of one layer of each window, ``(window, layers, pairs)`` (``pairs_by_window``)."""

    tokens: int
    offset: int
    pairs: int | float
    step: PhaseEstimate
    by_window: tuple[tuple[int | None, int, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "offset": self.offset, "attention_pairs": self.pairs,
                "attention_pairs_by_window": [{"window": w, "layers": n, "pairs": p}
                                              for w, n, p in self.by_window],
                "time_s": self.step.time_s, "bound": self.step.bound}  # fmt: skip


@dataclass(frozen=True)
class ChunkedPrefill:
    """A prompt's prefill as chunks mixed with the running batch's decode steps (module doc)."""

    prompt_tokens: int
    chunk_tokens: int
    running: int
    running_context: int
    chunks: tuple[ChunkStep, ...]
    ttft_s: float
    #: The same prompt in one step with the running batch (no chunking).
    ttft_unchunked_s: float
    #: The running batch's step time while the prompt is prefilled (chunked: the mean chunk step; not
    #: chunked: the one long step), and without any prefill.
    running_tpot_s: float
    running_tpot_unchunked_s: float
    decode_only_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "chunk_tokens": self.chunk_tokens,
            "running_sequences": self.running,
            "running_context": self.running_context,
            "chunks": [c.to_dict() for c in self.chunks],
            "attention_pairs": sum(c.pairs for c in self.chunks),
            "ttft_s": self.ttft_s,
            "ttft_unchunked_s": self.ttft_unchunked_s,
            "running_tpot_s": self.running_tpot_s,
            "running_tpot_unchunked_s": self.running_tpot_unchunked_s,
            "running_decode_only_s": self.decode_only_s,
            "assumptions": "each chunk step also decodes the running batch (one token per sequence at the "
            "running context); attention pairs per chunk are exact with each layer's sliding window applied "
            "(query i of a chunk after o tokens attends min(o + i, window) keys); attention_pairs is per "
            "attention layer (the mean over the attention layers: each layer's own count when all share one "
            "window), attention_pairs_by_window gives one layer of each window and how many layers have it",
            "estimate": True,
        }


def chunked_prefill(
    model: StepModel,
    target: HardwareTarget,
    scenario: Scenario,
    chunk: int | None = None,
    running: int | None = None,
    stack: Stack | None = None,
) -> ChunkedPrefill:
    """``scenario``'s prompt prefilled in chunks (``chunk``: tokens, None: the stack's, 0: one step) with a
    running batch of ``running`` sequences (None: ``batch_size - 1``) decoding at context ``P + N / 2``."""
    s = scenario.validated(target)
    chunk = chunk_size(s, chunk, stack)
    running = s.batch_size - 1 if running is None else running
    p = s.prompt_tokens
    context = p + s.generate_tokens // 2
    decode = [Segment(running, 1, context - 1)] if running else []
    plan = prompt_chunks(p, chunk)
    steps = []
    for i, (t, o) in enumerate(plan):
        last = i == len(plan) - 1
        est = step_estimate(model, target, s, [Segment(1, t, o, 1 if last else 0), *decode], stack)
        by_window = pairs_by_window(model.capture.attention_windows(), o, t)
        steps.append(ChunkStep(t, o, mean_layer_pairs(by_window), est, by_window))
    whole = step_estimate(model, target, s, [Segment(1, p, 0, 1), *decode], stack)
    only = step_estimate(model, target, s, decode, stack).time_s if decode else 0.0
    request = request_overhead_s(s, stack)
    return ChunkedPrefill(
        prompt_tokens=p,
        chunk_tokens=min(chunk, p) if chunk else p,
        running=running,
        running_context=context,
        chunks=tuple(steps),
        ttft_s=sum(c.step.time_s for c in steps) + request,
        ttft_unchunked_s=whole.time_s + request,
        running_tpot_s=sum(c.step.time_s for c in steps) / len(steps),
        running_tpot_unchunked_s=whole.time_s,
        decode_only_s=only,
    )


# ---------------------------------------------------------------------------------------- concurrency


@dataclass(frozen=True)
class Concurrency:
    """The steady state of ``users`` under continuous batching (module doc)."""

    users: int
    prompt_tokens: int
    output_tokens: int
    chunk_tokens: int
    prefill_steps: int
    step: PhaseEstimate
    ttft_s: float
    tpot_s: float
    tokens_per_s: float
    requests_per_s: float
    decoding_users: float
    prefilling_users: float
    kv_bytes_per_user: float
    fits: bool
    max_users_fit: int
    #: Users in the running batch (at most the stack's ``max_batch`` and what fits), its limit, and the
    #: wait of the others in the queue before their prefill.
    running: int = 0
    max_running: int = 0
    queue_wait_s: float = 0.0
    #: Whether the weights alone fit in one GPU's memory (False: nothing can run, whatever the KV).
    weights_fit: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The JSON object; the speeds and step figures are null when not even one user's KV cache fits
        beside the weights (``max_users_fit`` 0: nothing can run)."""
        runs = self.max_users_fit > 0

        def speed(value: float) -> float | None:
            return value if runs else None

        return {
            "users": self.users,
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            "chunk_tokens": self.chunk_tokens,
            "prefill_steps": self.prefill_steps,
            "step_s": speed(self.step.time_s),
            "step_bound": self.step.bound if runs else None,
            "ttft_s": speed(self.ttft_s),
            "tpot_s": speed(self.tpot_s),
            "tokens_per_s": speed(self.tokens_per_s),
            "tokens_per_s_per_user": speed(self.tokens_per_s / self.users),
            "requests_per_s": speed(self.requests_per_s),
            "decoding_users": speed(self.decoding_users),
            "prefilling_users": speed(self.prefilling_users),
            "kv_bytes_per_user": self.kv_bytes_per_user,
            "fits": self.fits,
            "max_users_fit": self.max_users_fit,
            "running_users": self.running,
            "max_running_users": self.max_running,
            "queue_wait_s": speed(self.queue_wait_s),
            "weights_fit": self.weights_fit,
            "assumptions": CONCURRENCY_ASSUMPTIONS,
            "estimate": True,
        }


def kv_bytes_per_user(
    cap: StepCapture, layer_token_bytes: Sequence[float], context: int, block: int, state: float = 0.0
) -> float:
    """KV bytes one sequence holds at ``context`` in whole blocks of ``block`` tokens (all GPUs): per layer
    its bytes per token x the blocks of ``min(context, window or chunk)`` tokens, plus ``state``, the constant
    state bytes of its SSM layers (not paged)."""
    windows = cap.held_windows()
    return state + sum(
        b
        * paged_tokens(
            context if (w := windows[i] if i < len(windows) else None) is None else min(context, w), block
        )  # fmt: skip
        for i, b in enumerate(layer_token_bytes)
    )


def concurrency(
    model: StepModel,
    target: HardwareTarget,
    scenario: Scenario,
    users: int,
    chunk: int | None = None,
    stack: Stack | None = None,
) -> Concurrency:
    """``users`` users with ``scenario``'s prompt P and output O under continuous batching (module doc)."""
    s = scenario.validated(target)
    if isinstance(users, bool) or not isinstance(users, int) or not 1 <= users <= MAX_USERS:
        raise UsageError(f"--users must be an integer from 1 to {MAX_USERS:,}, got {users!r}")
    stack = stack or get_stack(s.stack)
    chunk = chunk_size(s, chunk, stack)
    p, o = s.prompt_tokens, s.generate_tokens
    limits = batch_limits(model, target, s, stack)
    capacity, most = limits.capacity, limits.fits
    running = min(users, capacity) if capacity >= 1 else users
    plan = prompt_chunks(p, chunk)
    sp = len(plan)
    cycle = sp + o
    prefilling, decoding = running * sp / cycle, running * o / cycle
    # the user's steps also carry the others' work, in the steady-state mean
    t_pre, step = steady_steps(model, target, s, running - 1, plan, stack)
    t = step.time_s
    cycle_s = sp * t_pre + o * t
    rate = running / cycle_s if cycle_s else 0.0
    wait = (users / running - 1.0) * cycle_s  # Little's law over the queue and the running batch
    per_user = limits.kv_bytes_per_user
    return Concurrency(
        users=users,
        prompt_tokens=p,
        output_tokens=o,
        chunk_tokens=min(chunk, p) if chunk else p,
        prefill_steps=sp,
        step=step,
        ttft_s=wait + sp * t_pre + request_overhead_s(s, stack),
        tpot_s=t,
        tokens_per_s=rate * o,
        requests_per_s=rate,
        decoding_users=decoding,
        prefilling_users=prefilling,
        kv_bytes_per_user=per_user,
        fits=users <= most,
        max_users_fit=most,
        running=running,
        max_running=capacity,
        queue_wait_s=wait,
        weights_fit=limits.weights_fit,
    )


@dataclass(frozen=True)
class BatchLimits:
    """How many sequences a continuous-batching engine can hold: ``kv_bytes_per_user`` the KV one sequence
    holds at P + O in whole blocks (bytes, all GPUs); ``fits`` the sequences whose KV fits beside the
    weights (step activations not counted); ``capacity`` the running batch's limit, the smaller of that and
    the stack's ``max_batch``; ``weights_fit``: whether the weights alone fit in one GPU's memory."""

    kv_bytes_per_user: float
    fits: int
    capacity: int
    weights_fit: bool = True


def batch_limits(model: StepModel, target: HardwareTarget, scenario: Scenario, stack: Stack) -> BatchLimits:
    """The running batch's limits for ``scenario``'s prompt P and output O on ``target`` (``BatchLimits``)."""
    cap = model.capture
    s = scenario
    kv_share = kv_heads_per_gpu(cap.kv_heads, s.tp) / cap.kv_heads
    block = s.kv_block_tokens if s.kv_block_tokens is not None else stack.kv_block_tokens
    per_layer = layer_token_bytes(cap, s)
    per_user = kv_bytes_per_user(
        cap, per_layer, s.prompt_tokens + s.generate_tokens, block, state_bytes(cap, s)
    )
    per_user *= kv_share
    weights = capture_weight_bytes_per_gpu(cap, step_head_bytes(cap), s, stack)
    most = largest_batch(target.memory_gb * 1e9 - weights, per_user, [(0.0, 0.0)])
    return BatchLimits(per_user, most, min(stack.max_batch, most), weights < target.memory_gb * 1e9)


def steady_steps(
    model: StepModel,
    target: HardwareTarget,
    scenario: Scenario,
    others: float,
    plan: Sequence[tuple[int, int]],
    stack: Stack,
) -> tuple[float, PhaseEstimate]:
    """A request's mean prefill step (seconds) and its decode step in the steady state of continuous
    batching, each also carrying ``others`` other requests' work (may be fractional: a mean): of each
    other request, a share ``s / (s + O)`` prefilling one of the ``s`` chunks of ``plan`` (``(tokens,
    offset)`` each) and ``O / (s + O)`` decoding at the mean context ``P + O / 2``."""
    s = scenario
    o = s.generate_tokens
    sp = len(plan)
    cycle = sp + o
    background = [
        Segment(others / cycle, tk, off, 1 if i == sp - 1 else 0) for i, (tk, off) in enumerate(plan)
    ]
    context = s.prompt_tokens + o // 2
    background.append(Segment(others * o / cycle, 1, context - 1))
    own_chunks = [Segment(1 / sp, tk, off, 1 if i == sp - 1 else 0) for i, (tk, off) in enumerate(plan)]
    t_pre = step_estimate(model, target, s, [*background, *own_chunks], stack).time_s
    step = step_estimate(model, target, s, [*background, Segment(1, 1, context - 1)], stack)
    return t_pre, step


def state_bytes(cap: StepCapture, scenario: Scenario) -> float:
    """The constant state one sequence holds (SSM conv + recurrent states), at the scenario's activation
    bits (as ``perf.llm``: serving engines keep it in the model's dtype)."""
    return cap.state_elements * scenario.bits.activations / 8


def layer_token_bytes(cap: StepCapture, scenario: Scenario) -> list[float]:
    """KV bytes per token per layer at the scenario's KV precision: the capture's per-layer elements per
    token (the MLA latent; 0 for SSM layers) x the KV bits / 8; for a capture without them, from its KV
    write: the ``index_copy_`` pair of each layer (K and V of the new token) per sequence, which the
    capture prices at its activations' bits (``StepModel.repriced``), so x the scenario's KV bits over
    the capture's activation bits (fp8 activations with an fp16 KV cache: x 2)."""
    if cap.layer_token_elements:
        return [e * scenario.bits.kv / 8 for e in cap.layer_token_elements]
    c1, b1 = cap.contexts[0], cap.batches[0]
    writes = [r.output_bytes / b1 for r in cap.steps[(b1, c1)] if r.op in ("index_copy_", "index_copy")]
    if len(writes) >= 2 * cap.layers:
        ratio = scenario.bits.kv / cap.bits.activations if cap.bits is not None else 1.0
        return [(writes[2 * i] + writes[2 * i + 1]) * ratio for i in range(cap.layers)]
    return list(cap_kv_fallback(cap))


def cap_kv_fallback(cap: StepCapture) -> list[float]:
    """Per-layer KV bytes per token when the KV writes are not visible as ``index_copy_``: the attention
    input bytes' growth with the context per sequence, per attention op."""
    c1, c2 = cap.contexts
    b1 = cap.batches[0]
    a = [r.input_bytes for r in cap.steps[(b1, c1)] if r.op == SDPA]
    b = [r.input_bytes for r in cap.steps[(b1, c2)] if r.op == SDPA]
    return [(y - x) / (c2 - c1) / b1 for x, y in zip(a, b, strict=True)]


@dataclass(frozen=True)
class UsersTarget:
    """The largest number of users meeting a TPOT / TTFT target (None: none does), and its state."""

    max_tpot_s: float | None
    max_ttft_s: float | None
    users: int | None
    at: Concurrency | None
    limited_by: str
    searched_to: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_tpot_s": self.max_tpot_s,
            "max_ttft_s": self.max_ttft_s,
            "max_users": self.users,
            "limited_by": self.limited_by,
            "searched_to": self.searched_to,
            "at": self.at.to_dict() if self.at else None,
            "estimate": True,
        }


def max_users(
    model: StepModel,
    target: HardwareTarget,
    scenario: Scenario,
    max_tpot_s: float | None = None,
    max_ttft_s: float | None = None,
    chunk: int | None = None,
    stack: Stack | None = None,
) -> UsersTarget:
    """The largest N (1 .. the running batch's limit: the stack's ``max_batch`` and the users whose KV
    fits) whose steady state meets ``max_tpot_s`` and ``max_ttft_s`` (seconds; None: no limit):
    bisection over N (the step time grows with N). ``limited_by``: ``tpot``, ``ttft``, ``memory`` /
    ``max_batch`` (every N up to that limit meets the targets) or ``none`` (not even one user meets
    them)."""
    if max_tpot_s is None and max_ttft_s is None:
        raise UsageError("give --max-tpot and/or --max-ttft (e.g. --max-tpot 50ms)")

    def ok(c: Concurrency) -> str | None:
        if max_tpot_s is not None and c.tpot_s > max_tpot_s:
            return "tpot"
        if max_ttft_s is not None and c.ttft_s > max_ttft_s:
            return "ttft"
        return None

    one = concurrency(model, target, scenario, 1, chunk, stack)
    top = min(MAX_USERS, one.max_running)
    if top < 1:
        return UsersTarget(max_tpot_s, max_ttft_s, None, None, "memory", 0)
    ceiling = "memory" if one.max_users_fit <= one.max_running else "max_batch"
    if (why := ok(one)) is not None:
        return UsersTarget(
            max_tpot_s, max_ttft_s, None, one, "none", 1, [f"one user misses the {why} target"]
        )
    best, lo, hi = one, 1, top
    last = concurrency(model, target, scenario, top, chunk, stack)
    if ok(last) is None:
        return UsersTarget(max_tpot_s, max_ttft_s, top, last, ceiling, top)
    why = ok(last) or "tpot"
    while hi - lo > 1:  # lo meets the targets, hi does not
        mid = (lo + hi) // 2
        c = concurrency(model, target, scenario, mid, chunk, stack)
        if (miss := ok(c)) is None:
            lo, best = mid, c
        else:
            hi, why = mid, miss
    return UsersTarget(max_tpot_s, max_ttft_s, lo, best, why, top)


# ------------------------------------------------------------------------- estimates from the steps


def with_overhead(ph: PhaseEstimate, extra_s: float) -> PhaseEstimate:
    """``ph`` with ``extra_s`` more runtime overhead (a request's, on TTFT): time, overhead, shares, bound."""
    if not extra_s:
        return ph
    t = ph.time_s
    by = {
        "compute": ph.compute_bound_time_pct * t / 100,
        "memory": ph.memory_bound_time_pct * t / 100,
        "overhead": ph.overhead_bound_time_pct * t / 100 + extra_s,
        "communication": ph.communication_bound_time_pct * t / 100,
    }
    total = t + extra_s
    return replace(
        ph,
        time_s=total,
        overhead_s=ph.overhead_s + extra_s,
        runtime_s=ph.runtime_s + extra_s,
        bound=dominant_bound(by),
        compute_bound_time_pct=100 * by["compute"] / total,
        memory_bound_time_pct=100 * by["memory"] / total,
        overhead_bound_time_pct=100 * by["overhead"] / total,
        communication_bound_time_pct=100 * by["communication"] / total,
    )


def estimate_from_steps(
    model: StepModel, target: HardwareTarget, scenario: Scenario, base: Any = None, stack: Stack | None = None
) -> LlmEstimate:
    """A decoder's ``perf.llm.LlmEstimate`` priced from its step model, with no capture at this batch,
    prompt or generation (``derived_from`` = ``step model``; the app shows it at once and replaces it by
    the captured one): prefill = one step of P tokens per sequence (KV written, the last token's logits)
    + the stack's per-request overhead; decode steps at P, P + N, the reported context and every sliding
    window between (TPOT: their ``mean_step_s``); KV in whole blocks at P + N; prefill activations from
    ``base`` (an ``LlmEstimate`` of the same model at another shape: its activations per sequence scaled
    by P over its prompt; None: not counted). ``ValueError`` when the step model was captured
    at other element bits than the scenario's."""
    s = scenario.validated(target)
    stack = stack or get_stack(s.stack)
    cap = model.capture
    if cap.bits is not None and cap.bits != s.bits:
        raise ValueError(f"{cap.model}: the step model is priced at {cap.bits} bits, not {s.bits}")
    b, p, n, tp = s.batch_size, s.prompt_tokens, s.generate_tokens, s.tp
    first, last = p, p + n
    from metrics_core.perf.llm import check_context

    context = check_context(s.context_tokens, first, last, f"{cap.model} at prompt {p:,}")
    prefill = with_overhead(
        step_estimate(model, target, s, [Segment(b, p, 0, 1)], stack), request_overhead_s(s, stack)
    )
    knots = sorted({first, last, *(w for w in cap.held_windows() if w is not None and first < w < last)})
    decodes = {c: step_estimate(model, target, s, [Segment(b, 1, c - 1)], stack) for c in {*knots, context}}
    kv_share = kv_heads_per_gpu(cap.kv_heads, tp) / cap.kv_heads
    per_layer = layer_token_bytes(cap, s)
    windows = cap.held_windows() + [None] * len(per_layer)
    held = sum(x * (last if windows[i] is None else min(last, windows[i])) for i, x in enumerate(per_layer))
    held += state_bytes(cap, s)
    block = s.kv_block_tokens if s.kv_block_tokens is not None else stack.kv_block_tokens
    paging = paging_bytes(per_layer, windows, last, block) * kv_share
    kv_per_seq = held * kv_share + paging
    weights = capture_weight_bytes_per_gpu(cap, step_head_bytes(cap), s, stack)
    lines: list[tuple[float, float]] = [(0.0, 0.0)]
    if base is not None:  # its prefill activations per sequence (all GPUs), scaled to P tokens
        bs = base.scenario
        per_seq = base.activation_bytes * bs.tp / bs.batch_size * p / bs.prompt_tokens
        lines = [(0.0, per_seq)]
    act = math.ceil(max(a + b * g for a, g in lines) / tp)
    gpu_lines = tuple((a / tp, g / tp) for a, g in lines)
    capacity = target.memory_gb * 1e9
    experts = None
    if cap.experts and cap.experts_per_token:
        experts = expected_experts(cap.experts, cap.experts_per_token, b)
    return LlmEstimate(
        model=cap.model,
        target=target,
        scenario=s,
        params=cap.params,
        active_params=cap.active_params,
        weight_bytes=weights,
        kv_bytes_per_token=sum(per_layer),
        kv_cache_bytes=round(b * kv_per_seq),
        activation_bytes=act,
        capacity_bytes=capacity,
        max_batch_size=largest_batch(capacity - weights, kv_per_seq, gpu_lines),
        prefill=prefill,
        decode_first=decodes[first],
        decode_last=decodes[last],
        experts_read_per_layer=experts,
        context_tokens=context,
        decode_at=decodes[context],
        tpot_mean_s=mean_step_s([(k, decodes[k].time_s) for k in knots]),
        stack=stack,
        kv_block_tokens=block,
        kv_paging_bytes=round(b * paging),
        derived_from="step model",
        kv_per_sequence_bytes=kv_per_seq,
        batch_lines=gpu_lines,
    )
