"""``metrics_core.llm`` and ``metrics_core.llm_serving``: ``modeltui llm`` from Python, the same numbers for
the same options, defaults included (the settings both take: ``runtime.llm_setup``).

- ``llm("hf:meta-llama/Llama-3.1-8B", hardware="h100-sxm5-80gb", batch_size=8, prompt=2048)`` ->
  ``perf.llm.LlmEstimate``: prefill and decode phases (compute, memory and overhead times, bound), KV cache,
  what fits, TTFT / TPOT / tokens/s (``to_dict()``: the CLI's JSON row).
- ``llm_serving(name, hardware=..., users=32)`` / ``rate=2.0`` / ``max_tpot_s=0.05``: the serving views
  (continuous batching closed loop, requests at a rate, the largest number of users or rate meeting a
  target) -> ``ServingViews``, whose ``to_dict()`` holds the CLI JSON's ``concurrency`` / ``max_users`` /
  ``rates`` / ``max_rate``.

The captures run in a worker process unless torch is already imported here (``runtime.pool``), and are
cached (``runtime.llm_cache``), as the CLI's. Models are named as on the command line (``hf:ORG/NAME``, a
local ``hf:path/config.json``, a catalog name, ``pkg.mod:factory``); the estimate options are the CLI's
flags as keywords. Every figure is an estimate.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from metrics_core.common.errors import UsageError
from metrics_core.perf.efficiency import DEFAULT_EFFICIENCY
from metrics_core.perf.stacks import DEFAULT_STACK
from metrics_core.runtime.llm_setup import DEFAULT_GENERATE
from metrics_core.runtime.pool import DEFAULT_TIMEOUT_S


def _positive_int(value: Any, name: str) -> int:  # noqa: ANN401
    """``value`` as an int (numpy integers too) if it is a whole number >= 1; else ``UsageError``."""
    import operator

    try:
        number = operator.index(value) if not isinstance(value, bool) else None
    except TypeError:
        number = None
    if number is None or number < 1:
        raise UsageError(f"{name} must be a positive whole number, got {value!r}")
    return number


def _names(**values: Any) -> None:  # noqa: ANN401
    """``UsageError`` for an option that must be a name (a string) or None and is not."""
    for name, value in values.items():
        if value is not None and not isinstance(value, str):
            raise UsageError(f"{name} must be a name (a string, e.g. 'fp8'), got {value!r}")


def _check_common(attention: Any, timeout_s: Any) -> None:  # noqa: ANN401
    """``attention`` (``sdpa`` / ``eager``) and ``timeout_s`` (seconds > 0, or None), as the CLI's flags."""
    if attention not in ("sdpa", "eager"):
        raise UsageError(f"attention must be 'sdpa' or 'eager', got {attention!r}")
    if timeout_s is not None and (
        isinstance(timeout_s, bool)
        or not isinstance(timeout_s, int | float)
        or not math.isfinite(timeout_s)
        or timeout_s <= 0
    ):
        raise UsageError(f"timeout_s must be a positive number of seconds (or None), got {timeout_s!r}")


def _setup(
    model: Any,  # noqa: ANN401
    hardware: Any,  # noqa: ANN401
    batch_size: int,
    prompt: int | None,
    generate: int,
    context: int | None,
    weights: str | None,
    activations: str | None,
    kv: str | None,
    tp: int,
    stack: str,
    execution: str | None,
    efficiency: str | None,
    block_size: int | None,
    power_limit: float | None,
) -> tuple[Any, Any, Any]:  # noqa: ANN401
    """(spec, target, the validated ``Scenario``) for these options, checked as the CLI checks them
    before any model is built (``UsageError``, one line)."""
    from metrics_core.api.report import _target
    from metrics_core.perf.llm import Scenario
    from metrics_core.runtime.llm_setup import check_llm_model, prompts_for, resolve_activations
    from metrics_core.sources.resolve import get_spec

    if not isinstance(model, str):
        raise UsageError(
            "llm() takes a model name as the command line does (hf:ORG/NAME, hf:path/config.json, a "
            f"catalog name, pkg.mod:factory), got a {type(model).__name__}"
        )
    if hardware is None:
        raise UsageError("llm() needs hardware= (a target id of modeltui hardware, e.g. 'h100-sxm5-80gb')")
    _names(weights=weights, activations=activations, kv=kv, execution=execution, efficiency=efficiency)
    if not isinstance(stack, str):
        raise UsageError(f"stack must be a stack name (modeltui llm --help lists them), got {stack!r}")
    target = _target(hardware)
    if power_limit is not None:
        target = power_limited(target, power_limit)
    batch_size = _positive_int(batch_size, "batch_size")
    generate = _positive_int(generate, "generate")
    tp = _positive_int(tp, "tp")
    if block_size is not None:
        block_size = _positive_int(block_size, "block_size")
    spec = get_spec(model)
    given = [_positive_int(prompt, "prompt")] if prompt is not None else None
    (p,) = prompts_for(spec, given)
    contexts = [_positive_int(context, "context")] if context is not None else []
    check_llm_model(spec, tp, [p], generate, contexts)
    scenario = Scenario(
        batch_size,
        p,
        generate,
        weights,
        resolve_activations(target, weights, activations),
        kv,
        tp,
        context_tokens=context,
        execution=execution,  # None: the stack's kernels
        efficiency=efficiency or DEFAULT_EFFICIENCY,
        stack=stack,
        kv_block_tokens=block_size,
    ).validated(target)
    return spec, target, scenario


def power_limited(target: Any, watts: float) -> Any:  # noqa: ANN401
    """``target`` under a board power limit of ``watts`` (``runtime.llm_setup.power_limited``); its note,
    when it has one, as a ``UserWarning`` (the CLI prints the same note). ``UsageError`` for a limit that
    is not a positive number or that the power model cannot apply."""
    import warnings

    from metrics_core.runtime.llm_setup import power_limited as limit

    if (
        isinstance(watts, bool)
        or not isinstance(watts, int | float)
        or not math.isfinite(watts)
        or watts <= 0
    ):
        raise UsageError(f"power_limit must be a positive number of watts, got {watts!r}")
    limited, note = limit(target, watts)
    if note:
        warnings.warn(note, UserWarning, stacklevel=3)
    return limited


def llm(
    model: str,
    *,
    hardware: Any,  # noqa: ANN401 (a target id or HardwareTarget)
    batch_size: int = 1,
    prompt: int | None = None,
    generate: int = DEFAULT_GENERATE,
    context: int | None = None,
    weights: str | None = None,
    activations: str | None = None,
    kv: str | None = None,
    tp: int = 1,
    stack: str = DEFAULT_STACK,
    execution: str | None = None,
    efficiency: str | None = None,
    block_size: int | None = None,
    power_limit: float | None = None,
    attention: str = "sdpa",
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
) -> Any:  # noqa: ANN401 (perf.llm.LlmEstimate)
    """``modeltui llm MODEL --hardware ID`` with these options -> ``perf.llm.LlmEstimate`` (one batch size,
    prompt and context; the CLI's lists are a loop here).

    Options as the flags: ``batch_size`` sequences in flight (1); ``prompt`` tokens (512; a speech model's
    fixed window; a vision-language model's image tokens + 512); ``generate`` tokens (128); ``context``:
    the decode step reported (P <= C <= P + N; default the first step); ``weights`` / ``activations`` /
    ``kv`` formats (default: fp16, or bf16 on targets without fp16; aliases such as ``w8a8`` name their
    activations); ``tp`` GPUs; ``stack`` (``modeltui llm --help`` lists them; default vLLM); ``execution``
    (None: the stack's kernels) and ``efficiency`` (``calibrated`` by default, or ``ideal``);
    ``block_size`` paged-KV block tokens (the stack's); ``power_limit`` watts; ``attention`` for ``hf:``
    models (``sdpa`` / ``eager``); ``timeout_s`` for the capture.

    Raises ``UsageError`` (one line, with suggestions) for a bad option, hardware id or a setting the model
    cannot take; ``UnknownModelError`` for an unknown name; ``ModelCodeError`` when the model's code fails.
    """
    from metrics_core.runtime.llm_cache import llm_estimates

    _check_common(attention, timeout_s)
    _, target, scenario = _setup(model, hardware, batch_size, prompt, generate, context, weights, activations,
                                 kv, tp, stack, execution, efficiency, block_size, power_limit)  # fmt: skip
    (estimate,) = llm_estimates(model, target, [scenario], attention, timeout_s)
    return estimate


@dataclass(frozen=True)
class ServingViews:
    """The serving views of one model and scenario: closed-loop ``concurrency`` rows (one per user count;
    ``perf.serving.Concurrency``) and ``max_users`` (``perf.serving.UsersTarget``); open-loop ``rates``
    (one per request rate; ``perf.request_rate.RateLoad``) and ``max_rate``
    (``perf.request_rate.RateTarget``); empty / None where not asked."""

    concurrency: list[Any] = field(default_factory=list)
    max_users: Any = None
    rates: list[Any] = field(default_factory=list)
    max_rate: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The keys of the CLI's JSON row that hold these views (only those asked)."""
        out: dict[str, Any] = {}
        if self.concurrency or self.max_users is not None:
            out["concurrency"] = [c.to_dict() for c in self.concurrency]
        if self.max_users is not None:
            out["max_users"] = self.max_users.to_dict()
        if self.rates:
            out["rates"] = [x.to_dict() for x in self.rates]
        if self.max_rate is not None:
            out["max_rate"] = self.max_rate.to_dict()
        return out


def _listed(value: Any) -> list[Any]:  # noqa: ANN401
    """A value or a sequence of them (lists, tuples, numpy arrays) as a list."""
    if value is None:
        return []
    if isinstance(value, str | bytes):
        return [value]
    try:
        return list(value)
    except TypeError:
        return [value]


def llm_serving(
    model: str,
    *,
    hardware: Any,  # noqa: ANN401
    users: int | Sequence[int] | None = None,
    rate: float | Sequence[float] | None = None,
    max_tpot_s: float | None = None,
    max_ttft_s: float | None = None,
    chunk: int | None = None,
    prompt: int | None = None,
    generate: int = DEFAULT_GENERATE,
    weights: str | None = None,
    activations: str | None = None,
    kv: str | None = None,
    tp: int = 1,
    stack: str = DEFAULT_STACK,
    execution: str | None = None,
    efficiency: str | None = None,
    block_size: int | None = None,
    power_limit: float | None = None,
    attention: str = "sdpa",
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
) -> ServingViews:
    """``modeltui llm MODEL --users N[,N...] --rate R[,R...] --max-tpot T --max-ttft T --chunk C`` ->
    ``ServingViews`` (decoders; the step model: ``perf.serving``, ``perf.request_rate``). As the CLI:
    ``max_tpot_s`` / ``max_ttft_s`` (seconds) give the largest number of users, or with ``rate`` the
    largest rate, or with both ``users`` and ``rate`` each. The other options are ``llm()``'s.

    Raises ``UsageError`` when no view is asked, for an encoder-decoder (the views model decoders) and
    for what ``llm()`` refuses."""
    from metrics_core.perf.request_rate import at_rate, check_rate, max_rate
    from metrics_core.perf.serving import concurrency, max_users
    from metrics_core.runtime.llm_cache import step_model
    from metrics_core.runtime.llm_setup import is_encoder_decoder

    _check_common(attention, timeout_s)
    counts = [_positive_int(n, "users") for n in _listed(users)]
    rates = [check_rate(float(r) if isinstance(r, numbers.Real) and not isinstance(r, bool) else r)
             for r in _listed(rate)]  # fmt: skip
    for name, v in (("max_tpot_s", max_tpot_s), ("max_ttft_s", max_ttft_s)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not v > 0):
            raise UsageError(f"{name} must be a positive time in seconds, e.g. 0.05, got {v!r}")
    targets = max_tpot_s is not None or max_ttft_s is not None
    if not (counts or rates or targets):
        raise UsageError("llm_serving() needs users=, rate= or max_tpot_s= / max_ttft_s=")
    if chunk is not None:
        chunk = 0 if chunk == 0 and not isinstance(chunk, bool) else _positive_int(chunk, "chunk")
    spec, target, s = _setup(model, hardware, 1, prompt, generate, None, weights, activations, kv, tp, stack,
                             execution, efficiency, block_size, power_limit)  # fmt: skip
    if is_encoder_decoder(spec):
        raise UsageError(
            f"{spec.name} is an encoder-decoder: the serving views (users, rate, max_tpot_s / max_ttft_s) "
            "model decoder LLMs"
        )
    steps = step_model(model, s.bits, attention, timeout_s)
    views = ServingViews()
    if counts or (targets and not rates):
        views.concurrency.extend(concurrency(steps, target, s, n, chunk) for n in counts)
        if targets:
            views = _with(views, max_users=max_users(steps, target, s, max_tpot_s, max_ttft_s, chunk))
    if rates:
        views.rates.extend(at_rate(steps, target, s, r, chunk) for r in rates)
        if targets:
            views = _with(views, max_rate=max_rate(steps, target, s, max_tpot_s, max_ttft_s, chunk))
    return views


def _with(views: ServingViews, **changes: Any) -> ServingViews:  # noqa: ANN401
    from dataclasses import replace

    return replace(views, **changes)
