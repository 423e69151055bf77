"""The capture cache of ``modeltui llm`` and the app's LLM view: an LLM's phase captures
(``runtime.llm_capture.LlmCapture``, keyed by batch, prompt, generate, contexts, element bits and
attention) and its decode-step captures (``perf.serving.StepCapture``, keyed by element bits and
attention), in memory and on disk, so a repeated ``llm`` (and any change of hardware, stack, TP, efficiency
or the serving views' users, chunks and drafts) re-runs no capture: the estimates are pure functions of
the captures (``perf.llm``, ``perf.serving``).

Layout: ``cache_root()/llm/<model>-<kind>-<20 hex digits of sha256(key)>.pkl``: a pickled ``(key,
capture)``; the stored key and the capture's type (``KINDS``) are checked on read. A decoder's prefill
(kind ``prefill``, any generation) and decode steps (``decode``, by context) are also kept on their own:
another generation length or context re-captures only its new decode steps (``phase_capture``).
The key holds what a capture depends on, as ``runtime.cache`` does
for reports: the model's definition (an ``hf:`` model's whole config), the transformers / torch / modeltui
versions and the hash of the ``metrics_core`` sources. Custom ``module:factory`` models are not cached
(their code cannot be fingerprinted). Writes are atomic; an unreadable, corrupt or foreign entry is
ignored (one warning line) and rebuilt; ``modeltui cache clear`` removes the folder with the reports.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from metrics_core.common.paths import cache_root, write_atomic_bytes

SUFFIX = ".pkl"
#: What an entry of each kind holds (checked on read: anything else is a corrupt entry, rebuilt).
KINDS: dict[str, str] = {
    "phases": "LlmCapture",  # runtime.llm_capture: a generation's phase captures
    "prefill": "LlmCapture",  # the same, kept for its prefill part (any generation)
    "decode": "PhaseCapture",  # one decode step of a batch, prompt and context
    "steps": "StepCapture",  # perf.serving: the step model's four captures
}
#: Captures kept in this process (the app's LLM view asks again and again).
MEMORY_ENTRIES = 64
_memory: OrderedDict[str, Any] = OrderedDict()


def llm_dir() -> Path:
    """Where the LLM captures live (only ``*.pkl`` files here belong to the cache)."""
    return cache_root() / "llm"


def capture_key(name: str, kind: str, **shape: Any) -> dict[str, Any] | None:
    """The key of ``name``'s ``kind`` capture (``phases`` or ``steps``) of ``shape`` (batch, prompt, bits
    ...), or None when it must not be cached (a custom factory, a model that does not resolve)."""
    from metrics_core.common.errors import ModeltuiError
    from metrics_core.runtime.cache import _library_version, source_hash, versions
    from metrics_core.sources.resolve import get_spec

    try:
        spec = get_spec(name)
    except ModeltuiError:
        return None
    if getattr(spec, "is_custom", False):
        return None
    v = versions()
    return {
        "kind": kind,
        "model": spec.name,
        "definition": {"builder": str(spec.builder), "kwargs": spec.builder_kwargs, "task": spec.task},
        "library": _library_version(spec.source),
        "torch": v["torch"],
        "metrics_core": v["modeltui"],
        "source": source_hash(),
        "shape": {k: _plain(val) for k, val in shape.items()},
    }


def _plain(value: Any) -> Any:
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def entry_path(key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]
    slug = "".join(c if c.isalnum() or c in "._" else "_" for c in key["model"])[:60]
    return llm_dir() / f"{slug}-{key['kind']}-{digest}{SUFFIX}"


def lookup(key: dict[str, Any] | None) -> Any:  # noqa: ANN401
    """The capture of ``key`` from memory, else disk (then kept in memory); None when absent (a corrupt
    entry is removed with a warning: ``_load``)."""
    if key is None:
        return None
    digest = json.dumps(key, sort_keys=True, default=str)
    if digest in _memory:
        _memory.move_to_end(digest)
        return _memory[digest]
    value = _load(entry_path(key), key)
    if value is not None:
        _remember(digest, value)
    return value


def store(key: dict[str, Any] | None, value: Any) -> None:  # noqa: ANN401
    """Keep ``value`` as the capture of ``key`` in memory and on disk (atomically; a folder that cannot
    be written is one warning line). ``key`` None: nothing kept."""
    if key is None:
        return
    path = entry_path(key)
    try:
        write_atomic_bytes(path, pickle.dumps((key, value), protocol=pickle.HIGHEST_PROTOCOL))
    except OSError as exc:
        from metrics_core.runtime.cache import warn

        warn(f"LLM capture cache not written ({path}): {exc}")
    _remember(json.dumps(key, sort_keys=True, default=str), value)


def _remember(digest: str, value: Any) -> None:  # noqa: ANN401
    _memory[digest] = value
    _memory.move_to_end(digest)
    while len(_memory) > MEMORY_ENTRIES:
        _memory.popitem(last=False)


def cached(key: dict[str, Any] | None, compute: Callable[[], Any]) -> Any:
    """The capture of ``key`` from memory, else disk, else ``compute()`` (stored in both; never an error
    result: ``compute`` raises instead). ``key`` None: ``compute()``, not stored."""
    if key is None:
        return compute()
    value = lookup(key)
    if value is None:
        value = compute()
        store(key, value)
    return value


def _load(path: Path, key: dict[str, Any]) -> Any:
    """The entry at ``path`` if it holds ``key``; None when absent; a corrupt or foreign one is removed
    with a warning and None returned."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        stored, value = pickle.loads(data)  # noqa: S301 - our own cache folder, written by this module
        if json.dumps(stored, sort_keys=True, default=str) != json.dumps(key, sort_keys=True, default=str):
            raise ValueError("another key")
        if type(value).__name__ != KINDS.get(key.get("kind"), type(value).__name__):
            raise ValueError("another kind of capture")
    except Exception:  # noqa: BLE001 - any unreadable entry is rebuilt
        from metrics_core.runtime.cache import warn

        warn(f"ignored a corrupt LLM capture cache entry ({path.name}); it is rebuilt")
        path.unlink(missing_ok=True)
        return None
    return value


def clear_memory() -> None:
    """Forget the captures held in this process (tests)."""
    _memory.clear()


def clear() -> tuple[int, int]:
    """Delete every cached LLM capture; returns (entries, bytes) removed."""
    d = llm_dir()
    entries = total = 0
    if d.is_dir():
        for p in d.glob(f"*{SUFFIX}"):
            try:
                size = p.stat().st_size
                p.unlink()
            except OSError:
                continue
            entries += 1
            total += size
    clear_memory()
    return entries, total


def info() -> tuple[int, int]:
    """(entries, bytes) of the cached LLM captures."""
    d = llm_dir()
    entries = total = 0
    if d.is_dir():
        for p in d.glob(f"*{SUFFIX}"):
            try:
                total += p.stat().st_size
            except OSError:
                continue
            entries += 1
    return entries, total


def llm_estimates(
    name: str, target: Any, scenarios: list[Any], attention: str = "sdpa", timeout_s: float | None = None
) -> list[Any]:
    """``runtime.llm_capture.estimates_in_worker`` with the phase capture cached (module doc):
    ``perf.llm.estimate_llm`` of ``name`` for each of ``scenarios`` (same batch, prompt, generate and
    bits; they differ in context and performance-model settings)."""
    from metrics_core.common.errors import UsageError
    from metrics_core.perf.llm import estimate_llm

    checked = [s.validated(target) for s in scenarios]
    s = checked[0]
    shape = (s.batch_size, s.prompt_tokens, s.generate_tokens, s.bits)
    if any((o.batch_size, o.prompt_tokens, o.generate_tokens, o.bits) != shape for o in checked):
        raise UsageError("llm_estimates: the scenarios differ in more than their context")
    contexts = tuple(sorted({o.context_tokens for o in checked if o.context_tokens is not None}))
    key = capture_key(name, "phases", batch=s.batch_size, prompt=s.prompt_tokens, generate=s.generate_tokens,
                      bits=s.bits, attention=attention, contexts=contexts)  # fmt: skip
    capture = cached(key, lambda: phase_capture(name, *shape, attention, contexts, timeout_s))
    return [estimate_llm(capture, target, o) for o in checked]


def phase_capture(
    name: str,
    batch_size: int,
    prompt: int,
    generate: int,
    bits: Any,  # noqa: ANN401 (ElementBits)
    attention: str = "sdpa",
    contexts: tuple[int, ...] = (),
    timeout_s: float | None = None,
) -> Any:  # noqa: ANN401 (runtime.llm_capture.LlmCapture)
    """``runtime.llm_capture.capture_llm`` of these arguments, reusing what is cached: a decoder's capture
    at the same batch, prompt, bits and attention (any generation: its prefill, activations and cache
    layout are the same) and its decode steps by context, so that another generation length or context
    captures only the decode steps not captured yet (one worker call; ``capture_llm_decodes``: the same
    captures). Equal to ``capture_llm``'s result (tested). Stores the parts it captures."""
    from dataclasses import replace

    from metrics_core.runtime.llm_capture import capture_llm, capture_llm_decodes, decode_contexts, tpot_knots
    from metrics_core.runtime.pool import run_call

    part = {"batch": batch_size, "prompt": prompt, "bits": bits, "attention": attention}
    base_key = capture_key(name, "prefill", **part)
    base = lookup(base_key)
    if base is None or base.architecture != "decoder":
        cap = run_call(capture_llm, name, batch_size, prompt, generate, bits, attention, contexts,
                       timeout_s=timeout_s)  # fmt: skip
        if base_key is not None and cap.architecture == "decoder":
            store(base_key, cap)
            for ph in (cap.decode_first, cap.decode_last, *cap.decode_at.values()):
                store(capture_key(name, "decode", context=ph.context, **part), ph)
        return cap
    first, last = decode_contexts(base.architecture, prompt, generate)
    knots = tpot_knots(base.architecture, first, last, [*base.windows, *base.chunks])
    keys = {
        c: capture_key(name, "decode", context=c, **part)
        for c in dict.fromkeys([first, last, *knots, *contexts])
    }
    have = {c: lookup(k) for c, k in keys.items()}
    missing = tuple(c for c, v in have.items() if v is None)
    if missing:
        got = run_call(
            capture_llm_decodes, name, batch_size, prompt, bits, attention, missing, timeout_s=timeout_s
        )
        for c in missing:
            store(keys[c], got[c])
            have[c] = got[c]
    return replace(
        base,
        decode_first=have[first],
        decode_last=have[last],
        knots=knots,
        decode_at={c: have[c] for c in dict.fromkeys([*knots, *contexts]) if c not in (first, last)},
    )


def step_model(name: str, bits: Any, attention: str = "sdpa", timeout_s: float | None = None) -> Any:
    """``perf.serving.StepModel`` of ``name`` at ``bits`` (``ElementBits``), its decode-step captures run
    in a worker (``runtime.llm_steps.capture_steps``) and cached (module doc)."""
    from metrics_core.common.errors import UsageError
    from metrics_core.perf.serving import StepModel
    from metrics_core.runtime.llm_steps import capture_steps
    from metrics_core.runtime.pool import run_call

    key = capture_key(name, "steps", bits=bits, attention=attention)
    capture = cached(key, lambda: run_call(capture_steps, name, bits, attention, timeout_s=timeout_s))
    try:
        return StepModel(capture)
    except ValueError as exc:  # a graph that changes with the batch or the context: one line, no traceback
        raise UsageError(
            f"{exc}: the serving views (--chunk, --users, --draft) cannot price its steps"
        ) from None
