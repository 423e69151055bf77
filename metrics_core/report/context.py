"""The context of an output: what a table's numbers assume, carried by every export and ``--format`` output.

``run_context`` gathers it (batch, dtype of the bytes, target and its precision path, execution and
efficiency modes of the estimates, the modeltui and torch versions, whether estimates are present);
``with_context`` adds it to rendered text without changing what scripts rely on:

- JSON: a ``"context"`` key on every object of a top-level list (or on the top-level object); the list
  shape and the existing keys stay.
- CSV: one column per context field not already a column (``hardware``, ``precision``, ...), the same value
  on every row, so ``csv.DictReader`` and spreadsheets keep working.
- Markdown: a caption line above the table.

Versions are read from the installed package metadata, so torch is never imported for them.
"""

from __future__ import annotations

import csv
import io
import json
from functools import cache
from typing import Any


@cache
def installed_version(dist: str) -> str | None:
    """The installed version of distribution ``dist`` (package metadata, no import); None if absent."""
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def run_context(
    *,
    model: str | None = None,
    batch_size: int | list[int] | None = None,
    dtype: str | None = None,
    hardware: str | None = None,
    precision: str | None = None,
    execution: str | None = None,
    efficiency: str | None = None,
    estimate: bool = False,
    memory_format: str | None = None,
) -> dict[str, Any]:
    """The context fields that apply (None ones left out; ``model`` for one-model outputs such as a layer
    table), then ``estimate`` (True when the output holds roofline estimates) and the
    ``modeltui_version`` / ``torch_version`` of this installation. ``memory_format``: the layout of the
    model and its 4-D / 5-D inputs (``common.input_spec.MEMORY_FORMATS``), for the outputs of options that
    choose it (``--memory-format``)."""
    fields = {
        "model": model,
        "batch_size": batch_size,
        "dtype": dtype,
        "memory_format": memory_format,
        "hardware": hardware,
        "precision": precision,
        "execution": execution if hardware else None,
        "efficiency": efficiency if hardware else None,
    }
    out = {k: v for k, v in fields.items() if v is not None}
    out["estimate"] = estimate
    out["modeltui_version"] = installed_version("modeltui")
    out["torch_version"] = installed_version("torch")
    return out


def unvalidated_label(efficiency_source: str | None) -> str:
    """What an estimate that is not validated rests on, in words: the user's calibrated parameters
    (``efficiency_source`` ``user: PATH (names)``) or a physical estimate."""
    if efficiency_source and efficiency_source.startswith("user: "):
        return f"calibrated to your measurements ({efficiency_source.removeprefix('user: ')}), not validated"
    return "physical estimate, not validated"


def caption(context: dict[str, Any]) -> str:
    """``'modeltui 0.1.0 · torch 2.14.1 · batch 1 · bytes fp16 · NCHW (contiguous) layout · on
    h100-sxm5-80gb, peak fp16 · ...'``."""
    parts = [f"modeltui {context.get('modeltui_version')}", f"torch {context.get('torch_version')}"]
    if "model" in context:
        parts.insert(0, str(context["model"]))
    if "batch_size" in context:
        batch = context["batch_size"]
        parts.append(f"batch {','.join(map(str, batch)) if isinstance(batch, list) else batch}")
    if "dtype" in context:
        parts.append(f"bytes {context['dtype']}")
    if "memory_format" in context:
        from metrics_core.common.input_spec import MEMORY_FORMAT_LABELS

        fmt = context["memory_format"]
        parts.append(f"{MEMORY_FORMAT_LABELS.get(fmt, fmt)} layout")
    if "hardware" in context:
        parts.append(f"on {context['hardware']}, peak {context.get('precision', '?')}")
    if "stack" in context:
        parts.append(f"stack {context['stack']}")
    if "execution" in context:
        parts.append(f"{context['execution']} kernels, {context.get('efficiency')} efficiency")
    if "validated" in context:
        source = context.get("efficiency_source")
        parts.append("validated target" if context["validated"] else unvalidated_label(source))
    if context.get("estimate"):
        parts.append("roofline figures are estimates")
    return " · ".join(parts)


def with_context(
    text: str, fmt: str, context: dict[str, Any], per_model: dict[str, dict[str, Any]] | None = None
) -> str:
    """``text`` rendered as ``fmt`` (json, csv, markdown) with ``context`` added as the module docstring
    says; other formats, and text that does not parse as ``fmt``, are returned unchanged. ``per_model``:
    fields that differ by model (a bf16 model's ``dtype`` next to fp32 ones), replacing the context's on
    the JSON objects and CSV rows whose ``model`` names that model."""
    if fmt == "json":
        return _json(text, context, per_model or {})
    if fmt == "csv":
        return _csv(text, context, per_model or {})
    if fmt == "markdown" and text.strip():
        return f"_{caption(context)}_\n\n{text}"
    return text


def _json(text: str, context: dict[str, Any], per_model: dict[str, dict[str, Any]]) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if isinstance(data, dict):
        data.setdefault("context", context)
    elif isinstance(data, list) and all(isinstance(row, dict) for row in data):
        for row in data:
            own = per_model.get(row.get("model")) if isinstance(row.get("model"), str) else None
            row.setdefault("context", {**context, **own} if own else context)
    else:
        return text
    if isinstance(data, list) and data and text.count("\n") <= len(data) + 2:  # one object per line
        body = ",\n".join("  " + json.dumps(row, separators=(", ", ": "), allow_nan=False) for row in data)
        return "[\n" + body + "\n]\n"
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


def _csv(text: str, context: dict[str, Any], per_model: dict[str, dict[str, Any]]) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or any(len(r) != len(rows[0]) for r in rows):
        return text  # not one rectangular table: left as it is
    extra = [k for k in context if k not in rows[0]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*rows[0], *extra])
    at = rows[0].index("model") if "model" in rows[0] else None
    for row in rows[1:]:
        own = {**context, **per_model.get(row[at], {})} if at is not None else context
        writer.writerow([*row, *(_cell(own[k]) for k in extra)])
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value
