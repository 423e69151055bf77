"""Plain-text rendering of ``modeltui llm`` results (the CLI's table output and the app's LLM view):
a block per configuration, a batch table with a tokens/s bar chart for a sweep, and the phases on the
target's roofline. Every figure is an estimate and says so."""

from __future__ import annotations

from metrics_core.common import units
from metrics_core.common.textable import text_table


def text_report(results: list, width: int | None = None, color: bool | None = False) -> str:
    """Per model and prompt length: a block per configuration (one batch size), or a batch table and a
    tokens/s chart for a batch sweep; then the phases on the target's roofline."""
    import shutil

    width = width or max(60, min(shutil.get_terminal_size((80, 24)).columns, 120))
    by_model: dict[tuple[str, int], list] = {}
    for r in results:
        by_model.setdefault((r.model, r.scenario.prompt_tokens), []).append(r)
    parts = []
    for rs in by_model.values():
        parts.append(phase_block(rs[0]) if len(rs) == 1 else sweep_text(rs))
        parts.append(roofline_text(rs, width, color))
    return "\n\n".join(parts)


def roofline_text(rs: list, width: int, color: bool | None = False) -> str:
    """Prefill and decode points (per batch size) on the roofline of the target."""
    from metrics_core.perf.roofline_plot import RooflinePoint, render_roofline

    points = []
    for r in rs:
        tag = f" B={r.scenario.batch_size}" if len(rs) > 1 else ""
        for label, ph in (("prefill", r.prefill), (f"decode@{r.scenario.prompt_tokens}", r.decode_first)):
            if ph.time_s and ph.ai:
                points.append(RooflinePoint(f"{label}{tag}", ph.ai, ph.flops / ph.time_s))
    title = f"{rs[0].model}: phases on {rs[0].target.name} ({rs[0].scenario.compute_precision}, est.)"
    return render_roofline(
        rs[0].target, rs[0].scenario.compute_precision, points, width, 18, title=title, color=color
    )


def _header(r) -> str:  # noqa: ANN001
    s = r.scenario
    return (
        f"== {r.model} on {r.target.name} ==\n"
        f"estimates ({s.execution}, {s.efficiency} efficiency) · prompt {s.prompt_tokens} + generate "
        f"{s.generate_tokens} tokens · "
        f"TP {s.tp}\nweights {s.weights} · activations {s.activations} · KV {s.kv} · compute "
        f"{s.compute_precision}"
    )


def _memory_line(r) -> str:  # noqa: ANN001
    per_gpu = " per GPU" if r.scenario.tp > 1 else ""
    over = units.human_bytes(r.resident_bytes - r.capacity_bytes)
    verdict = "fits" if r.fits else f"DOES NOT FIT (over by {over})"
    total = r.scenario.prompt_tokens + r.scenario.generate_tokens
    return (
        f"memory{per_gpu}: weights {units.human_bytes(r.weight_bytes)} + KV cache "
        f"{units.human_bytes(r.kv_cache_bytes)} + activations {units.human_bytes(r.activation_bytes)}\n"
        f"  = {units.human_bytes(r.resident_bytes)} of {units.human_bytes(r.capacity_bytes)}: {verdict}\n"
        f"KV {r.kv_bytes_per_token:,.0f} B/token (whole model); max batch at {total} tokens: "
        f"{r.max_batch_size}"
    )


def phase_block(r) -> str:  # noqa: ANN001
    """One configuration: header, memory line, the phase table (prefill, decode at P and P + N), TTFT,
    TPOT and tokens/s."""
    s = r.scenario
    rows = []
    for label, ph in (
        (f"prefill ({s.prompt_tokens} tokens)", r.prefill),
        (f"decode @ {s.prompt_tokens}", r.decode_first),
        (f"decode @ {s.prompt_tokens + s.generate_tokens}", r.decode_last),
    ):
        rows.append(
            [label, units.human_count(ph.flops), units.human_bytes(ph.bytes), units.fixed(ph.ai, digits=1),
             ph.bound, units.pct(ph.memory_bound_time_pct), units.human_time(ph.time_s)]
        )  # fmt: skip
    headers = [f"phase (batch {s.batch_size})", "FLOPs", "bytes", "AI", "bound", "mem time", "time"]
    table = text_table(headers, rows, [False, True, True, True, False, True, True])
    tpot = r.tpot_s
    moe = ""
    if r.experts_read_per_layer is not None:
        moe = (
            f"\nMoE: {units.human_count(r.active_params)} of {units.human_count(r.params)} params active per "
            f"token;\na decode step reads {r.experts_read_per_layer:.2f} experts per layer (uniform top-k)"
        )
    summary = (
        f"TTFT {units.human_time(r.prefill.time_s)} · TPOT {units.human_time(tpot)} (mean of "
        f"@{s.prompt_tokens} and @{s.prompt_tokens + s.generate_tokens}) · generation "
        f"{units.human_time(r.generation_s)}\ndecode {1 / tpot:,.1f} tokens/s per sequence, "
        f"{s.batch_size / tpot:,.1f} aggregate"
    )
    return "\n".join([_header(r), _memory_line(r), "", table, "", summary]) + moe


def sweep_text(rs: list) -> str:
    """Several batch sizes of one model: a table per batch and the tokens/s bar chart."""
    rows = []
    for r in rs:
        rows.append(
            [str(r.scenario.batch_size), "yes" if r.fits else "NO", units.human_bytes(r.resident_bytes),
             units.human_time(r.prefill.time_s), units.human_time(r.tpot_s),
             f"{r.scenario.batch_size / r.tpot_s:,.1f}", f"{1 / r.tpot_s:,.1f}", r.decode_first.bound,
             units.fixed(r.decode_first.ai, digits=1)]
        )  # fmt: skip
    headers = [
        "batch",
        "fits",
        "resident",
        "TTFT",
        "TPOT",
        "tok/s",
        "tok/s/seq",
        "bound@P",
        "AI@P",
    ]
    table = text_table(headers, rows, [True, False, True, True, True, True, True, False, True])
    largest = f"largest batch that fits at the full context: {rs[0].max_batch_size}"
    legend = "tok/s: all sequences; bound@P, AI@P: the decode step at the prompt length"
    return "\n".join([_header(rs[0]), largest, "", "rows by batch size", table, legend, "", _bars(rs)])


def _bars(rs: list, width: int = 24) -> str:
    """Aggregate decode tokens/s per batch size as bars (the curve from memory- to compute-bound), the
    largest swept batch that fits marked."""
    rates = [r.scenario.batch_size / r.tpot_s for r in rs]
    top = max(rates) or 1.0
    fitting = [r.scenario.batch_size for r in rs if r.fits]
    largest = max(fitting) if fitting else None
    lines = ["decode tokens/s (aggregate) by batch size:"]
    for r, rate in zip(rs, rates, strict=True):
        b = r.scenario.batch_size
        bar = "#" * max(1, round(width * rate / top))
        mark = "  <- largest fitting" if b == largest else ("  (no fit)" if not r.fits else "")
        lines.append(f"  B={b:<5} {bar:<{width}} {rate:>10,.1f}  TPOT {units.human_time(r.tpot_s)}{mark}")
    return "\n".join(lines)
