"""Plain-text rendering of ``modeltui llm``'s serving views (the CLI's table output and the app's LLM
view): the per-layer breakdown of prefill and a decode step, chunked prefill, speculative decoding and the
continuous-batching concurrency view, each saying what it assumes. Every figure is an estimate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from metrics_core.common import units
from metrics_core.common.textable import text_table, wrap_prose
from metrics_core.perf.llm_layers import PARTS, by_part, collapse_layers


def layers_text(r: Any, width: int | None = None) -> str:
    """The per-layer breakdown of ``r``'s prefill and decode step (an ``LlmEstimate``): per part summed
    over layers, then per layer (identical consecutive layers collapsed) each part's time and bound."""
    out = []
    for label, ph in (("prefill", r.prefill), (f"decode @ {r.context_tokens:,}", r.decode)):
        rows = ph.layers()
        totals = by_part(rows)
        table = text_table(
            ["part", "ops", "FLOPs", "bytes", "compute", "memory", "overhead", "time", "share", "bound"],
            [
                [
                    t.part,
                    str(t.ops),
                    units.human_count(t.flops),
                    units.human_bytes(t.bytes),
                    units.human_time(t.compute_s),
                    units.human_time(t.memory_s),
                    units.human_time(t.overhead_s),
                    units.human_time(t.time_s),
                    units.pct(100.0 * t.time_s / ph.time_s if ph.time_s else 0.0),
                    t.bound,
                ]
                for t in totals
            ],  # fmt: skip
            [False, True, True, True, True, True, True, True, True, False],
            width,
        )
        parts = [p for p in PARTS if any(x.part == p and x.layer is not None for x in rows)]
        layer_rows = []
        for name, members in collapse_layers(rows):
            if name == "model":
                continue
            by = {m.part: m for m in members}
            cells = [name]
            for p in parts:
                m = by.get(p)
                cells.append(f"{units.human_time(m.time_s)} {m.bound[:3]}" if m else "")
            cells.append(units.human_time(sum(m.time_s for m in members)))
            layer_rows.append(cells)
        per_layer = text_table(
            ["layers", *parts, "layer"], layer_rows, [False, *([True] * len(parts)), True], width
        )
        out.append(
            f"{label} by part (batch {r.scenario.batch_size}; runtime: the stack's per-step overhead)\n"
            f"{table}\n\n"
            f"{label} per layer (time and bound: com/mem/ove)\n{per_layer}"
        )
    return wrap_prose("\n\n".join(out), width)


def _window(w: int | None) -> str:
    return "full" if w is None else f"window {w:,}"


def pairs_note(cp: Any) -> str:
    """What the chunks' ``attn pairs`` column counts: per attention layer, sliding windows applied; with
    several windows, one layer of each and the mean the column shows."""
    by = [c.by_window for c in cp.chunks]
    kinds = by[0] if by and by[0] else ()
    total = sum(c.pairs for c in cp.chunks)
    if len(kinds) <= 1:
        where = f" ({_window(kinds[0][0])})" if kinds else ""
        return (
            f"attention pairs per attention layer{where}, exact with sliding windows applied: query i of a "
            f"chunk after o tokens attends min(o + i, window) keys ({total:,} pairs in all)"
        )
    parts = "; ".join(
        f"{n} layers at {_window(w)}: {sum(dict(((x, p) for x, _n, p in b)).get(w, 0) for b in by):,}"
        for w, n, _p in kinds
    )
    return (
        f"attention pairs per attention layer, exact with each layer's sliding window applied (query i of a "
        f"chunk after o tokens attends min(o + i, window) keys); the column is the mean over the attention "
        f"layers ({total:,.0f} in all); one layer's pairs in all chunks: {parts}"
    )


def chunked_text(cp: Any, width: int | None = None) -> str:
    """A ``perf.serving.ChunkedPrefill``: its chunks, TTFT chunked and not, the running batch's TPOT."""
    rows = [[str(i + 1), f"{c.tokens:,}", f"{c.offset:,}", f"{c.pairs:,.0f}", units.human_time(c.step.time_s),
             c.step.bound] for i, c in enumerate(cp.chunks)]  # fmt: skip
    shown = rows if len(rows) <= 12 else [*rows[:5], ["...", "", "", "", "", ""], *rows[-5:]]
    table = text_table(
        ["chunk", "tokens", "after", "attn pairs/layer", "step", "bound"],
        shown,
        [True, True, True, True, True, False],
        width,
    )
    running = (
        f"; the {cp.running:,} running sequences (context {cp.running_context:,}) step every "
        f"{units.human_time(cp.running_tpot_s)} during the prefill (one unchunked step: "
        f"{units.human_time(cp.running_tpot_unchunked_s)}; decode alone {units.human_time(cp.decode_only_s)})"
        if cp.running
        else ""
    )
    text = (
        f"chunked prefill: {cp.prompt_tokens:,} prompt tokens in chunks of {cp.chunk_tokens:,}, each step "
        f"also decoding the running batch (est.)\n{table}\n"
        f"TTFT {units.human_time(cp.ttft_s)} chunked vs {units.human_time(cp.ttft_unchunked_s)} in one "
        f"step{running}\n{pairs_note(cp)}"
    )
    return wrap_prose(text, width)


def speculative_text(sp: Any, width: int | None = None) -> str:
    """A ``perf.speculative.Speculative``: tokens per step, the step's parts, TPOT, tokens/s, speed-up."""
    draft = (
        f"draft {sp.draft} (weights {sp.draft_weights}, KV {sp.draft_kv}, TP {sp.draft_tp}): "
        f"{sp.draft_tokens} x {units.human_time(sp.draft_step.time_s)}"
        if sp.draft_step
        else "n-gram draft (host lookup, no GPU time)"
    )
    text = (
        f"speculative decoding (est.): k = {sp.draft_tokens} drafted tokens, acceptance a = "
        f"{sp.acceptance:g} -> {sp.expected_tokens:.3f} tokens per target step ((1 - a^(k+1)) / (1 - a), "
        f"Leviathan et al. 2023)\nper step at context {sp.context:,}: {draft} + verify "
        f"{sp.draft_tokens + 1} tokens "
        f"{units.human_time(sp.verify.time_s)} ({sp.verify.bound}) = {units.human_time(sp.cycle_s)}\n"
        f"TPOT {units.human_time(sp.tpot_s)} vs {units.human_time(sp.plain.time_s)} without (x"
        f"{sp.speedup:.2f}) · {sp.tokens_per_s:,.1f} tokens/s for batch {sp.batch_size}"
    )
    return wrap_prose(text, width)


def concurrency_text(
    rows: Sequence[Any], best: Any | None = None, width: int | None = None, assumptions: str = ""
) -> str:
    """``perf.serving.Concurrency`` rows (one per user count) and, when a target was given, the largest
    N meeting it (``perf.serving.UsersTarget``); then the model's assumptions. When not even one user's KV
    cache fits beside the weights, nothing can run: the speeds are shown as "-", not as figures of a
    configuration that cannot exist."""
    table = text_table(
        ["users", "TTFT", "TPOT", "tok/s", "tok/s/user", "req/s", "step bound", "KV fits"],
        [
            [
                f"{c.users:,}",
                *(
                    (
                        units.human_time(c.ttft_s),
                        units.human_time(c.tpot_s),
                        f"{c.tokens_per_s:,.1f}",
                        f"{c.tokens_per_s / c.users:,.1f}",
                        f"{c.requests_per_s:,.2f}",
                        c.step.bound,
                    )
                    if c.max_users_fit
                    else ("-",) * 6
                ),
                "yes" if c.fits else "NO",
            ]
            for c in rows
        ],  # fmt: skip
        [True, True, True, True, True, True, True, False, False],
        width,
    )
    c0 = rows[0] if rows else (best.at if best else None)
    head = (
        f"concurrency under continuous batching (est.): prompt {c0.prompt_tokens:,}, output "
        f"{c0.output_tokens:,}, prefill chunks of {c0.chunk_tokens:,}; the KV cache of up to "
        f"{c0.max_users_fit:,} users fits beside the weights (step activations not counted, unlike max "
        f"batch, which holds a whole batch's prefill), the running batch takes {c0.max_running:,} (the rest "
        "queue)"
        if c0
        else "concurrency under continuous batching (est.)"
    )
    if c0 and not c0.max_users_fit:
        head += "; " + _nothing_runs(c0)
    parts = [head]
    if rows:
        parts.append(table)
    if best is not None:
        goal = _goal(best)
        if best.users is None:
            why = "its KV does not fit" if best.limited_by == "memory" else "; ".join(best.notes)
            parts.append(f"largest number of users with {goal}: none ({why})")
        else:
            at = best.at
            limits = {"memory": "the KV memory", "tpot": "TPOT", "ttft": "TTFT"}
            limit = limits.get(best.limited_by, f"the stack's largest batch, {at.max_running:,}")
            parts.append(
                f"largest number of users with {goal}: {best.users:,} (limited by {limit}): TTFT "
                f"{units.human_time(at.ttft_s)}, TPOT {units.human_time(at.tpot_s)}, {at.tokens_per_s:,.1f} "
                "tokens/s"
            )
    if assumptions:
        parts.append(f"model: {assumptions}")
    return wrap_prose("\n".join(parts), width)


def _goal(best: Any) -> str:
    """``TPOT <= 50.00 ms and TTFT <= 2.00 s``: the targets a ``UsersTarget`` / ``RateTarget`` was asked."""
    return " and ".join(
        f"{k} <= {units.human_time(v)}"
        for k, v in (("TPOT", best.max_tpot_s), ("TTFT", best.max_ttft_s))
        if v
    )


def _nothing_runs(view: Any) -> str:
    """Why a serving view has no speeds: the weights alone exceed a GPU's memory, or no KV cache fits."""
    if not view.weights_fit:
        return "the weights alone do not fit in one GPU's memory: nothing can run, no speeds"
    return "not even one user's KV cache fits beside the weights: nothing can run, no speeds"


def _rps(x: float) -> str:
    """A request rate for the text: 4 significant digits, whole numbers from 1,000 (``49,505``, ``9.277``,
    ``20.05``)."""
    return f"{x:,.0f}" if x >= 1000 else f"{x:.4g}"


def rate_text(
    loads: Sequence[Any], best: Any | None = None, width: int | None = None, assumptions: str = ""
) -> str:
    """``perf.request_rate.RateLoad`` rows (one per request rate) and, when a target was given, the largest
    rate meeting it (``perf.request_rate.RateTarget``); then the model's assumptions. A rate at or above
    the largest sustainable one has no steady state: its speeds are "-" and the row says "overloaded"."""

    def full(x: Any) -> str:
        if not x.stable:
            return "overloaded" if x.max_running else "-"
        return f"{100 * x.batch_full:.0f} %"

    table = text_table(
        ["req/s", "in engine", "TTFT", "queue", "TPOT", "tok/s", "step bound", "batch full"],
        [
            [
                _rps(x.rate_rps),
                *(
                    (
                        f"{x.in_engine:,.1f}",
                        units.human_time(x.ttft_s),
                        units.human_time(x.queue_wait_s) if x.queue_wait_s >= 1e-9 else "0",
                        units.human_time(x.tpot_s),
                        f"{x.tokens_per_s:,.1f}",
                        x.step.bound,
                    )
                    if x.stable
                    else ("-",) * 6
                ),
                full(x),
            ]
            for x in loads
        ],  # fmt: skip
        [True, True, True, True, True, True, False, True],
        width,
    )
    x0 = loads[0] if loads else (best.at if best else None)
    if x0 is None:
        head = "requests at a rate, open loop (est.)"
    elif not x0.max_running:
        head = f"requests at a rate, open loop (est.): {_nothing_runs(x0)}"
    else:
        head = (
            f"requests at a rate, open loop, Poisson arrivals, continuous batching (est.): prompt "
            f"{x0.prompt_tokens:,}, output {x0.output_tokens:,}, prefill chunks of {x0.chunk_tokens:,}; the "
            f"running batch takes {x0.max_running:,}; the largest sustainable rate is "
            f"{_rps(x0.max_rate_rps)} requests/s (the full batch's throughput; above it the queue grows "
            "without bound); 'queue' is the mean wait for a place in the running batch (in TTFT), 'batch "
            "full' the chance a request has to wait for one; TTFT also holds the wait for the step in flight "
            "(JSON arrival_wait_s)"
        )
    parts = [head]
    if loads:
        parts.append(table)
    if best is not None:
        goal = _goal(best)
        if best.rate_rps is None:
            why = {
                "memory": "not even one user's KV cache fits",
                "tpot": "a request alone misses the TPOT target",
                "ttft": "a request alone misses the TTFT target",
            }[best.limited_by]
            parts.append(f"largest request rate with {goal}: none ({why})")
        else:
            at = best.at
            limit = {"tpot": "TPOT", "ttft": "TTFT"}.get(best.limited_by, "the largest sustainable rate")
            parts.append(
                f"largest request rate with {goal}: {_rps(best.rate_rps)} requests/s (limited by {limit}): "
                f"{at.in_engine:,.1f} in the engine, TTFT {units.human_time(at.ttft_s)}, TPOT "
                f"{units.human_time(at.tpot_s)}, {at.tokens_per_s:,.1f} tokens/s"
            )
    if assumptions:
        parts.append(f"model: {assumptions}")
    return wrap_prose("\n".join(parts), width)


def step_notes_text(notes: Sequence[str], width: int | None = None) -> str:
    """The step model's assumptions for the model's architecture (``perf.serving.StepCapture.notes``),
    one bullet each, wrapped to ``width``."""
    lines = ["serving views' step model for this architecture (est.):", *(f"- {n}" for n in notes)]
    return wrap_prose("\n".join(lines), width)
