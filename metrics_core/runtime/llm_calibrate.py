"""The captures behind ``modeltui calibrate --llm`` (``metrics_core.perf.llm_calibrate`` fits on them): each
distinct shape of the measurement rows (model, batch, prompt and output tokens, element bits) captured once
by ``runtime.llm_capture.capture_llm`` in a worker process (``pool.run_call``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from metrics_core.common.errors import ModeltuiError
from metrics_core.perf.hardware import HardwareTarget
from metrics_core.perf.llm_calibrate import LlmMeasurement, PreparedLlmRow, scenario_of
from metrics_core.runtime.llm_capture import capture_llm


def prepare_rows(
    rows: Sequence[LlmMeasurement],
    target_of: Callable[[str], HardwareTarget],
    timeout_s: float | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[list[PreparedLlmRow], list[str]]:
    """``(prepared rows, failures)``: every row with its target, validated scenario and capture, and one
    line ``ROW: why`` per row whose scenario, capture or estimate failed (a model that is not a language
    model, a worker that timed out, a TP that does not split the model's attention heads ...).
    ``progress(done, total, model)`` is called before each capture."""
    from metrics_core.runtime.pool import run_call

    failed: list[str] = []
    todo: list[tuple[LlmMeasurement, HardwareTarget, Any]] = []
    for r in rows:
        try:
            target = target_of(r.hardware)
            todo.append((r, target, scenario_of(r).validated(target)))
        except ModeltuiError as exc:
            failed.append(f"{r.id}: {exc}")
    shapes: dict[tuple, Any] = {}
    for r, _t, s in todo:
        shapes.setdefault((r.model, s.batch_size, s.prompt_tokens, s.generate_tokens, s.bits), None)
    captures: dict[tuple, Any] = {}
    for i, key in enumerate(shapes):
        if progress is not None:
            progress(i, len(shapes), key[0])
        try:
            captures[key] = run_call(capture_llm, *key, timeout_s=timeout_s)
        except ModeltuiError as exc:
            captures[key] = exc
        except Exception as exc:  # noqa: BLE001 - in-process runs (no workers): the model's code, one line
            captures[key] = ModeltuiError(
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            )
    prepared = []
    for r, t, s in todo:
        cap = captures[(r.model, s.batch_size, s.prompt_tokens, s.generate_tokens, s.bits)]
        if isinstance(cap, Exception):
            failed.append(f"{r.id}: {cap}")
            continue
        row = PreparedLlmRow(r, t, s, cap)
        try:  # what only the capture tells (a TP that does not split the model's heads): a failure too
            row.times()
        except ModeltuiError as exc:
            failed.append(f"{r.id}: {exc}")
            continue
        prepared.append(row)
    return prepared, failed
