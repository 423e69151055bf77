"""Helpers shared by the analysing verbs: hardware resolution, progress, estimates."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from metrics_core.common.errors import UsageError, model_error

#: What this run analysed, per model: ``{"dtype": ..., "precision": ...}`` (the analysed dtype of its
#: report, and the path of its estimate when there is one), for the output's context (``tui.cli.context_of``);
#: cleared when a verb starts.
ANALYSED: dict[str, dict[str, str]] = {}


def note_analysed(model: str, **fields: str) -> None:
    """Record what ``model`` was analysed in (``dtype``) and estimated on (``precision``)."""
    ANALYSED.setdefault(model, {}).update(fields)


def resolve_hardware(args: argparse.Namespace, dtype: str):  # noqa: ANN201
    """(target, precision) for ``--hardware``, or (None, None); errors before any analysis, among them
    estimate options (``--execution``, ``--efficiency``, ``--tf32``) given without ``--hardware``, and an
    empty ``--hardware ""`` (a shell variable left unset: it gave no estimates and exit 0)."""
    if getattr(args, "hardware", None) is not None and not args.hardware.strip():
        raise UsageError("--hardware '': give a target id (modeltui hardware lists them)")
    if not getattr(args, "hardware", None):
        given = [
            flag
            for flag, value in (("--execution", getattr(args, "execution", None)),
                                ("--efficiency", getattr(args, "efficiency", None)),
                                ("--tf32", getattr(args, "tf32", False) or None))
            if value is not None
        ]  # fmt: skip
        if given:
            raise UsageError(f"{' / '.join(given)} shape roofline estimates: give --hardware ID too")
        return None, None
    from metrics_core.perf.roofline import precision_for
    from tui.cli.commands.hardware import load_catalog_with_warnings

    target = load_catalog_with_warnings(args.hardware_file).get(args.hardware)
    return target, precision_for(target, dtype, use_tf32=args.tf32)


def estimates_for(reports, target, precision, modes: dict | None = None) -> dict:  # noqa: ANN001
    """Model name -> roofline estimate (only for analysed models and when a target is given); ``modes``:
    ``execution`` / ``efficiency`` (``tui.cli.commands.perfmode.modes_of``; None: the library's ideal)."""
    if target is None:
        return {}
    from metrics_core.perf.roofline import analysed_precision, estimate_model

    def own(r) -> str:  # noqa: ANN001
        return analysed_precision(target, r.dtype, precision)  # a bf16 model (no --dtype): its bf16 path

    out = {}
    for r in reports:
        if r.ok and r.records:
            out[r.model] = estimate_model(r, target, own(r), **(modes or {}))
            note_analysed(r.model, precision=out[r.model].precision)
    return out


def analyze_with_progress(names, options):  # noqa: ANN001, ANN201
    """Analyse, printing one progress line per model on stderr when it is a terminal."""
    from metrics_core.runtime.analyze import analyze_many

    if options.seq_len is not None:
        from contextlib import suppress

        from metrics_core.common.errors import ModeltuiError
        from metrics_core.sources.resolve import get_spec
        from tui.cli.commands.options import check_seq_len

        specs = {}
        for name in names:
            with suppress(ModeltuiError):  # an unknown name: the analysis reports it with its suggestions
                specs[name] = get_spec(name)
        check_seq_len(specs, options.seq_len)
    total = len(names)
    done = 0
    tty = sys.stderr.isatty()

    def progress(report) -> None:  # noqa: ANN001
        nonlocal done
        done += 1
        if tty:
            status = "error" if report.error else "ok"
            print(f"\r\x1b[K[{done}/{total}] {report.model} {status}", end="", file=sys.stderr, flush=True)

    reports = analyze_many(names, options, on_report=progress)
    for r in reports:
        if r.ok:
            note_analysed(r.model, dtype=r.dtype)
    if tty:
        print("\r\x1b[K", end="", file=sys.stderr, flush=True)
    raise_option_error(reports)
    return reports


def raise_option_error(reports) -> None:  # noqa: ANN001
    """When every model failed with the same usage error (a bad ``--inputs`` function, a ``--seq-len``
    longer than the model takes, a wrong ``--hf-class``: found only where the model is built), that is
    the run's one-line error, exit 2, rather than a table of failed rows."""
    from metrics_core.common.errors import UsageError

    errors = {(r.error, r.error_kind) for r in reports}
    if reports and len(errors) == 1:
        ((error, kind),) = errors
        if error is not None and kind == "usage":
            raise UsageError(error)


def refusals_only(failures: Sequence[tuple[str, str]]) -> None:
    """When nothing was analysed, the table formats print no empty tables: each model's reason is one
    line on stderr, ``modeltui: error: MODEL: reason``, as ``layers`` says it. ``failures`` is
    ``(model, reason)`` per model."""
    for model, reason in failures:
        print(f"modeltui: error: {model_error(model, reason)}", file=sys.stderr)


def exit_status(reports) -> int:  # noqa: ANN001
    """0 when every model was analysed; 2 when a name or option was wrong for some model (a custom
    module that cannot be imported, a bad ``--hf-class``: the others are still reported); else 1 (a
    model the analysis could not run)."""
    kinds = {r.error_kind for r in reports if r.error is not None}
    if not kinds:
        return 0
    return 2 if "usage" in kinds else 1


def layout_note(reports) -> str:  # noqa: ANN001
    """``', channels-last (NHWC)'`` for a table title when the reports were captured channels-last
    (``--memory-format channels-last``: ``extras["memory_format"]``); ``''`` for PyTorch's default NCHW
    layout, which titles leave unsaid (the JSON / CSV / Markdown context names it either way)."""
    from metrics_core.common.input_spec import MEMORY_FORMAT_LABELS

    formats = {r.extras.get("memory_format") for r in reports if r.ok}
    return f", {MEMORY_FORMAT_LABELS['channels_last']}" if "channels_last" in formats else ""
