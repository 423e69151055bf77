"""The settings of an LLM estimate that ``modeltui llm`` and the Python API (``metrics_core.llm``) share, so
that both give the same numbers for the same options, defaults included: the default prompt and
generation, the activations a weight-format alias implies, a model's prompt lengths (a speech model's
fixed window, a vision-language model's image tokens) and the checks made before any model is built."""

from __future__ import annotations

from typing import Any

from metrics_core.common.errors import UsageError

#: Prompt tokens when none is given (a vision-language model: these text tokens after its image's).
DEFAULT_PROMPT = 512
#: Generated tokens when none is given.
DEFAULT_GENERATE = 128
#: Weight-format aliases that name their activations too (W8A8, W4A4): alias -> activations.
IMPLIED_ACTIVATIONS: dict[str, str] = {
    "w8a8": "int8",
    "w8a8-int8": "int8",
    "smoothquant": "int8",
    "w8a8-fp8": "fp8",
    "w4a4-nvfp4": "fp4",
    "w4a4-mxfp4": "fp4",
}


def resolve_activations(target: Any, weights: str | None, activations: str | None) -> str:  # noqa: ANN401
    """The activations of an estimate: the ones given; else the ones a W8A8 / W4A4 alias of ``weights``
    names; else fp16, or bf16 on a target without an fp16 path (TPU, Gaudi). ``UsageError`` (one line)
    when the given activations contradict the alias."""
    implied = IMPLIED_ACTIVATIONS.get((weights or "").lower())
    if activations is None:
        return implied or ("bf16" if not target.has("fp16") and target.has("bf16") else "fp16")
    if implied and activations != implied:
        plain = "int8" if implied == "int8" else weights
        raise UsageError(
            f"--weights {weights} names {implied} activations; --activations {activations} contradicts it "
            f"(drop --activations, or use --weights {plain} --activations {implied})"
        )
    return activations


def power_limited(target: Any, watts: float) -> tuple[Any, str | None]:  # noqa: ANN401
    """``target`` under a board power limit of ``watts`` (``perf.power.with_power_limit``) and the note a
    limit that changes nothing or meets the model's clock floor gets (None otherwise); a limit the power
    model cannot apply (below the board's minimum) is a ``UsageError``, one line."""
    from metrics_core.perf.efficiency import clock_for
    from metrics_core.perf.power import power_limit_note, with_power_limit

    limited = with_power_limit(target, watts)
    try:
        note = power_limit_note(target, watts, clock_for(limited))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return limited, note


def prompts_for(spec: Any, given: list[int] | None) -> list[int]:  # noqa: ANN401 (ModelSpec)
    """The prompt lengths of one model: ``given``, else ``DEFAULT_PROMPT``; a speech encoder-decoder's is
    its fixed window (``given`` refused unless it is that: ``UsageError``); a vision-language model's
    default is ``DEFAULT_PROMPT`` text tokens after its image's."""
    from metrics_core.runtime.llm_capture import SPEECH_TASK, speech_encoder_tokens

    if spec.source == "hf" and spec.task == SPEECH_TASK:
        fixed = speech_encoder_tokens(spec.builder_kwargs.get("config", {}))
        if given not in (None, [fixed]):
            raise UsageError(
                f"{spec.name} encodes a fixed 30 s audio window ({fixed:,} encoder positions): leave "
                f"--prompt out (or give {fixed})"
            )
        return [fixed]
    if given is None and spec.source == "hf" and spec.task == "image-text-to-text":
        from metrics_core.runtime.llm_capture import vlm_image

        return [DEFAULT_PROMPT + vlm_image(spec).prompt_tokens]
    return given or [DEFAULT_PROMPT]


def check_llm_model(
    spec: Any,  # noqa: ANN401 (ModelSpec)
    tp: int,
    prompts: list[int],
    generate: int,
    contexts: list[int],
) -> None:
    """One model's settings, before any model is built: a language model, TP splitting its heads, prompt
    and generation within its positions, contexts within the generation (``UsageError``, one line)."""
    from metrics_core.perf.llm import check_context
    from metrics_core.runtime.llm_capture import (
        DECODER_TASKS,
        ENCODER_DECODER_TASKS,
        architecture_of,
        check_image_prompt,
        check_model_limits,
        not_a_language_model,
    )

    name = spec.name
    if spec.source in ("torchvision", "timm") or (
        spec.source == "hf" and spec.task not in DECODER_TASKS | ENCODER_DECODER_TASKS
    ):
        raise not_a_language_model(name, spec.task)
    encoder_decoder = spec.source == "hf" and architecture_of(spec.task) == "encoder-decoder"
    check_model_limits(spec, tp, prompts, generate)
    for p in prompts:
        check_image_prompt(spec, p)
        first = 1 if encoder_decoder else p
        for c in contexts:
            where = f"{name}'s decoder" if encoder_decoder else name
            check_context(c, first, first + generate, f"{where} at prompt {p:,}", encoder_decoder)


def is_encoder_decoder(spec: Any) -> bool:  # noqa: ANN401 (ModelSpec)
    """Whether ``spec`` is an ``hf:`` encoder-decoder (T5, Whisper): the serving views model decoders."""
    return spec.source == "hf" and spec.task in ("seq2seq-lm", "speech-seq2seq")
