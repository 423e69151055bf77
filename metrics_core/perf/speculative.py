"""Speculative decoding: a draft proposes k tokens, the target verifies them in one step of k + 1 tokens.

Leviathan, Kalman and Matias 2023 ("Fast Inference from Transformers via Speculative Decoding", eq. 1):
with each drafted token accepted with probability ``a`` (independently), a target step yields on average

    E[tokens] = (1 - a^(k + 1)) / (1 - a)        (k + 1 when a = 1)

tokens (the accepted prefix plus the target's own next token). Per target step the engine runs:

- the draft: k decode steps of the draft model for the batch at the context (a draft MODEL: its own
  ``perf.serving.StepModel``, same formats, TP and stack as the target, stated in the output); an
  ``ngram`` draft (prompt-lookup decoding, vLLM's ``[ngram]``) looks tokens up in the context on the
  host: no GPU time;
- the target's verification: one step of k + 1 tokens per sequence (every token's logits computed).

So ``TPOT = (k t_draft + t_verify) / E`` and the batch's tokens/s = ``B E / (k t_draft + t_verify)``; the
speed-up is the plain decode step's time over TPOT. Contexts: the mean decode context ``P + N / 2``.
A draft must share the target's vocabulary (its proposals are target token ids): another vocabulary is
refused with a one-line error.

**Memory.** A draft model is resident beside the target on the same GPUs (vLLM, SGLang, TensorRT-LLM): its
weights at the scenario's weight format (the target's: ``--weights``; there is no separate draft option)
split over the scenario's TP (as the target's), and its own KV cache for every sequence at ``P + N``
tokens in whole blocks (its KV precision: the target's ``--kv``; split by its KV heads).
``with_draft`` adds both to the target's ``resident_bytes`` and ``fits``, and solves ``max_batch_size``
with each sequence holding the target's KV plus the draft's. The draft's step activations (one decode
token per sequence) are not counted. Estimates; no torch here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from metrics_core.common.errors import UsageError
from metrics_core.perf.hardware import HardwareTarget
from metrics_core.perf.llm import (
    LlmEstimate,
    PhaseEstimate,
    Scenario,
    capture_weight_bytes_per_gpu,
    check_tp_heads,
    kv_heads_per_gpu,
    largest_batch,
)
from metrics_core.perf.serving import (
    Segment,
    StepModel,
    kv_bytes_per_user,
    layer_token_bytes,
    state_bytes,
    step_estimate,
    step_head_bytes,
)
from metrics_core.perf.stacks import Stack, get_stack

#: The draft that costs no GPU time: n-gram (prompt-lookup) proposals.
NGRAM = "ngram"
#: The longest draft analysed (tokens per target step).
MAX_DRAFT_TOKENS = 64


def expected_tokens(k: int, a: float) -> float:
    """Expected tokens per target step, ``(1 - a^(k+1)) / (1 - a)`` (module doc; ``k + 1`` at a = 1)."""
    check_draft(k, a)
    if a == 1.0:
        return float(k + 1)
    return (1.0 - a ** (k + 1)) / (1.0 - a)


def check_draft(k: int, a: float) -> None:
    """``UsageError`` (one line) for a draft length outside 1..64 or an acceptance rate outside [0, 1]."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_DRAFT_TOKENS:
        raise UsageError(f"--draft-tokens must be an integer from 1 to {MAX_DRAFT_TOKENS}, got {k!r}")
    if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0.0 <= a <= 1.0:
        raise UsageError(f"--acceptance must be a probability from 0 to 1, got {a!r}")


def check_vocabularies(target: StepModel, draft: StepModel) -> None:
    """``UsageError`` (one line) when the draft's vocabulary is not the target's."""
    tv, dv = target.capture.vocab_size, draft.capture.vocab_size
    if tv != dv:
        raise UsageError(
            f"--draft {draft.capture.model} has a vocabulary of {dv:,} tokens, {target.capture.model} has "
            f"{tv:,}: a draft model must share the target's tokenizer"
            if tv and dv
            else f"--draft {draft.capture.model}: its vocabulary size is not known; a draft must share the "
            "target's tokenizer"
        )


@dataclass(frozen=True)
class Speculative:
    """Speculative decoding of a batch (module doc)."""

    draft: str
    draft_tokens: int
    acceptance: float
    context: int
    expected_tokens: float
    draft_step: PhaseEstimate | None
    verify: PhaseEstimate
    plain: PhaseEstimate
    batch_size: int
    #: The draft model's formats and tensor-parallel degree (the scenario's: the target's); None for n-gram.
    draft_weights: str | None = None
    draft_kv: str | None = None
    draft_tp: int | None = None

    @property
    def cycle_s(self) -> float:
        """One target step with its drafts: ``k t_draft + t_verify``."""
        draft = self.draft_step.time_s if self.draft_step else 0.0
        return self.draft_tokens * draft + self.verify.time_s

    @property
    def tpot_s(self) -> float:
        return self.cycle_s / self.expected_tokens

    @property
    def tokens_per_s(self) -> float:
        return self.batch_size * self.expected_tokens / self.cycle_s

    @property
    def speedup(self) -> float:
        return self.plain.time_s / self.tpot_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "draft": self.draft,
            "draft_tokens": self.draft_tokens,
            "draft_weights_precision": self.draft_weights,
            "draft_kv_precision": self.draft_kv,
            "draft_tp": self.draft_tp,
            "acceptance": self.acceptance,
            "context_tokens": self.context,
            "expected_tokens_per_step": self.expected_tokens,
            "draft_step_s": self.draft_step.time_s if self.draft_step else 0.0,
            "verify_step_s": self.verify.time_s,
            "verify_bound": self.verify.bound,
            "cycle_s": self.cycle_s,
            "tpot_s": self.tpot_s,
            "tokens_per_s": self.tokens_per_s,
            "plain_tpot_s": self.plain.time_s,
            "speedup": self.speedup,
            "assumptions": "each drafted token accepted with probability a, independently (Leviathan et "
            "al. 2023): E = (1 - a^(k+1)) / (1 - a) tokens per target step; per step k draft decode steps "
            "(n-gram: none, host lookup) and one target verification of k + 1 tokens per sequence, at the "
            "mean decode context P + N/2",
            "estimate": True,
        }


def speculative(
    target_model: StepModel,
    draft_model: StepModel | None,
    target: HardwareTarget,
    scenario: Scenario,
    draft_tokens: int,
    acceptance: float,
    stack: Stack | None = None,
) -> Speculative:
    """Speculative decoding of ``scenario``'s batch with ``draft_model`` (None: n-gram), ``draft_tokens``
    = k and acceptance rate ``acceptance`` = a (module doc)."""
    check_draft(draft_tokens, acceptance)
    if draft_model is not None:
        check_vocabularies(target_model, draft_model)
    s = scenario.validated(target)
    b = s.batch_size
    context = s.prompt_tokens + s.generate_tokens // 2
    k = draft_tokens
    plain = step_estimate(target_model, target, s, [Segment(b, 1, context - 1)], stack)
    verify = step_estimate(target_model, target, s, [Segment(b, k + 1, context - 1, k + 1)], stack)
    draft_step = None
    if draft_model is not None:
        draft_step = step_estimate(draft_model, target, s, [Segment(b, 1, context - 1)], stack)
    return Speculative(
        draft=draft_model.capture.model if draft_model is not None else NGRAM,
        draft_tokens=k,
        acceptance=float(acceptance),
        context=context,
        expected_tokens=expected_tokens(k, acceptance),
        draft_step=draft_step,
        verify=verify,
        plain=plain,
        batch_size=b,
        draft_weights=s.weights_format if draft_model is not None else None,
        draft_kv=s.kv_format if draft_model is not None else None,
        draft_tp=s.tp if draft_model is not None else None,
    )


@dataclass(frozen=True)
class DraftMemory:
    """A draft model's memory beside the target (module doc), per GPU: ``weight_bytes`` at ``weights``
    (a weight format) over ``tp`` GPUs; ``kv_bytes_per_token`` (the whole draft, all GPUs, at ``kv``);
    ``kv_per_sequence_bytes`` one sequence's draft KV at ``context`` tokens in whole blocks;
    ``kv_cache_bytes`` the batch's."""

    model: str
    weights: str
    kv: str
    tp: int
    params: int
    context: int
    weight_bytes: int
    kv_bytes_per_token: float
    kv_per_sequence_bytes: float
    kv_cache_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "weights_precision": self.weights,
            "kv_precision": self.kv,
            "tp": self.tp,
            "params": self.params,
            "context_tokens": self.context,
            "weight_bytes": self.weight_bytes,
            "kv_bytes_per_token": self.kv_bytes_per_token,
            "kv_cache_bytes": self.kv_cache_bytes,
            "assumptions": "resident beside the target on the same GPUs: weights at the target's weight "
            "format and TP, its own KV cache for every sequence at P + N tokens in whole blocks at the "
            "target's KV format; its decode-step activations not counted",
            "estimate": True,
        }


def draft_memory(
    draft_model: StepModel, target: HardwareTarget, scenario: Scenario, stack: Stack | None = None
) -> DraftMemory:
    """``draft_model``'s memory per GPU under ``scenario`` (module doc). ``UsageError`` (one line) when
    the scenario's TP does not split the draft's attention heads."""
    s = scenario.validated(target)
    cap = draft_model.capture
    tp = s.tp
    check_tp_heads(cap.attention_heads, tp, f"the draft {cap.model}")
    stack = stack or get_stack(s.stack)
    block = s.kv_block_tokens if s.kv_block_tokens is not None else stack.kv_block_tokens
    per_layer = layer_token_bytes(cap, s)
    context = s.prompt_tokens + s.generate_tokens
    per_seq = (
        kv_bytes_per_user(cap, per_layer, context, block, state_bytes(cap, s))
        * kv_heads_per_gpu(cap.kv_heads, tp)
        / cap.kv_heads
    )
    return DraftMemory(
        model=cap.model,
        weights=s.weights_format,
        kv=s.kv_format,
        tp=tp,
        params=cap.params,
        context=context,
        weight_bytes=capture_weight_bytes_per_gpu(cap, step_head_bytes(cap), s, stack),
        kv_bytes_per_token=float(sum(per_layer)),
        kv_per_sequence_bytes=per_seq,
        kv_cache_bytes=round(s.batch_size * per_seq),
    )


def with_draft(est: LlmEstimate, draft: DraftMemory) -> LlmEstimate:
    """``est`` with ``draft`` resident beside it: its weights and the batch's draft KV in
    ``resident_bytes`` and ``fits``; ``max_batch_size`` solved with each sequence holding the target's and
    the draft's KV (``largest_batch`` over ``est``'s activation lines)."""
    free = est.capacity_bytes - est.weight_bytes - draft.weight_bytes
    lines = est.batch_lines or ((0.0, 0.0),)
    most = largest_batch(free, est.kv_per_sequence_bytes + draft.kv_per_sequence_bytes, lines)
    return replace(est, draft=draft, max_batch_size=most)
