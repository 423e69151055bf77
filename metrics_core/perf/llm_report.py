"""Plain-text rendering of ``modeltui llm`` results (the CLI's table output and the app's LLM view):
a block per configuration, a batch table with a tokens/s bar chart for a sweep, and the phases on the
target's roofline. Every figure is an estimate and says so."""

from __future__ import annotations

from metrics_core.common import units
from metrics_core.common.textable import text_table, wrap_prose


def text_report(results: list, width: int | None = None, color: bool | None = False) -> str:
    """Per model and prompt length: the phase block of the first configuration; then a batch table and a
    tokens/s chart per context for a batch sweep, or a context table for a context sweep; then the
    phases on the target's roofline."""
    import shutil

    width = width or max(60, min(shutil.get_terminal_size((80, 24)).columns, 120))
    groups: dict[tuple[str, int], list] = {}
    for r in results:
        groups.setdefault((r.model, r.scenario.prompt_tokens), []).append(r)
    parts = []
    for rs in groups.values():
        batches = sorted({r.scenario.batch_size for r in rs})
        contexts = sorted({r.context_tokens for r in rs})
        if len(batches) == 1:
            parts.append(phase_block(rs[0]))
            if len(contexts) > 1:
                parts.append(context_text(rs))
        else:
            parts.append(sweep_text([r for r in rs if r.context_tokens == contexts[0]]))
            if len(contexts) > 1:
                parts.append(steps_by_batch_text(rs))
        parts.append(roofline_text(rs, width, color))
    return "\n\n".join(parts)


def _encdec(r) -> bool:  # noqa: ANN001
    return r.architecture == "encoder-decoder"


def roofline_text(rs: list, width: int, color: bool | None = False) -> str:
    """Prefill and decode points (per batch size and context) on the roofline of the target."""
    from metrics_core.perf.roofline_plot import RooflinePoint, render_roofline

    points = []
    batches = len({r.scenario.batch_size for r in rs}) > 1
    seen_prefill: set[int] = set()
    for r in rs:
        tag = f" B={r.scenario.batch_size}" if batches else ""
        phases = [(f"decode@{r.context_tokens}", r.decode)]
        if r.scenario.batch_size not in seen_prefill:  # one prefill per batch size (contexts share it)
            seen_prefill.add(r.scenario.batch_size)
            phases.insert(0, ("prefill", r.prefill))
        for label, ph in phases:
            if ph.time_s and ph.ai:
                points.append(RooflinePoint(f"{label}{tag}", ph.ai, ph.flops / ph.time_s))
    title = f"{rs[0].model}: phases on {rs[0].target.name} ({rs[0].scenario.compute_precision}, est.)"
    return render_roofline(
        rs[0].target, rs[0].scenario.compute_precision, points, width, 18, title=title, color=color
    )


def _error_of(validation: str) -> str:
    """`` (median |error| 44 % on rows never fitted)``: the error a validation line states, in brackets
    (empty when it states none), so that the text header says how good "validated" is."""
    import re

    m = re.search(r"median \|error\| \d+ %[^;:(]*", validation)
    return f" ({m.group(0).strip()})" if m else ""


def _header(r) -> str:  # noqa: ANN001
    s = r.scenario
    if _encdec(r):
        tokens = (
            f"encoder {r.encoder_tokens:,} positions + decoder start token, generate {s.generate_tokens:,}"
        )
    else:
        tokens = f"prompt {s.prompt_tokens:,} + generate {s.generate_tokens:,} tokens"
    from metrics_core.perf.quant import weight_format

    stack = r.stack.name.split(" (")[0] if r.stack else s.stack
    held = r.target.board_power_source or ""
    limit = f" at {r.target.board_power_w:g} W" if held.startswith("board power limited to") else ""
    clock = f" · clock x{r.clock_ratio:.2f} (power-limited{limit})" if r.clock_ratio < 1 else ""
    from metrics_core.perf.efficiency import llm_validation_for, llm_weights_validated

    origin = r.stack.origin if r.stack else "built-in"
    source = r.efficiency_source or "built-in"  # the target's parameters (None under ideal efficiency)
    own = s.efficiency == "calibrated" and (origin.startswith("user") or source.startswith("user"))
    if r.validated:
        error = _error_of(r.validation)
        checked = f"{s.stack} on this target validated against published measurements{error}"
    elif own:  # the user file's parameters: the built-in validation does not hold for them
        checked = "calibrated to your measurements (the user file), not validated here"
    elif llm_validation_for(r.target, s.stack):  # validated, but not with these settings
        kinds = llm_weights_validated(r.target, s.stack)
        weights = f", {' / '.join(kinds)} weights" if kinds else ""
        checked = (
            f"physical estimate ({s.stack} on this target is validated with calibrated efficiency, "
            f"its own kernels{weights} only)"
        )
    else:
        checked = f"physical estimate ({s.stack} on this target not validated)"
    user = f"\nstack parameters from the user file: {origin[len('user: ') :]}" if origin != "built-in" else ""
    if source != "built-in":
        user += f"\ntarget parameters from the user file: {source[len('user: ') :]}"
    mech = r.stack.mechanics(r.target, s) if r.stack and s.efficiency == "calibrated" else []
    mechanics = f"\nstack kernels: {'; '.join(mech)}" if mech else ""
    return (
        f"== {r.model} on {r.target.name} ==\n"
        f"estimates: {stack} stack ({s.execution} kernels, {s.efficiency} efficiency){clock} · {checked}"
        f"{user}{mechanics}\n"
        f"{r.architecture} · {tokens} · TP {s.tp}\n"
        f"weights {s.weights} ({weight_format(s.weights).bits_per_weight:g} bits/weight) · activations "
        f"{s.activations} · KV {s.kv} · compute {s.compute_precision}"
    )


def _memory_line(r) -> str:  # noqa: ANN001
    per_gpu = " per GPU" if r.scenario.tp > 1 else ""
    over = units.human_bytes(r.resident_bytes - r.capacity_bytes)
    verdict = "fits" if r.fits else f"DOES NOT FIT (over by {over})"
    s = r.scenario
    if _encdec(r):
        rate = (
            f"KV {r.kv_bytes_per_token:,.0f} B per decoder token + {r.cross_kv_bytes_per_token:,.0f} B per "
            f"encoder position (whole model);\ncross-attention "
            f"{units.human_bytes(r.cross_kv_cache_bytes)} of the KV cache; max batch at "
            f"{1 + s.generate_tokens:,} decoder tokens: "
        )
    else:
        total = s.prompt_tokens + s.generate_tokens
        rate = f"KV {r.kv_bytes_per_token:,.0f} B/token (whole model); max batch at {total:,} tokens: "
    paged = (
        f" (paged: {r.kv_block_tokens}-token blocks, {units.human_bytes(r.kv_paging_bytes)} of it rounding)"
        if getattr(r, "kv_block_tokens", 1) > 1
        else ""
    )
    d = getattr(r, "draft", None)
    draft = (
        f" + draft {d.model} (weights {d.weights}, KV {d.kv}, TP {d.tp}): weights "
        f"{units.human_bytes(d.weight_bytes)} + KV cache {units.human_bytes(d.kv_cache_bytes)}"
        if d is not None
        else ""
    )
    if d is not None:
        rate = rate.replace("max batch at", "max batch (target + draft KV per sequence) at")
    return (
        f"memory{per_gpu}: weights {units.human_bytes(r.weight_bytes)} + KV cache "
        f"{units.human_bytes(r.kv_cache_bytes)}{paged} + activations "
        f"{units.human_bytes(r.activation_bytes)}{draft}\n"
        f"  = {units.human_bytes(r.resident_bytes)} of {units.human_bytes(r.capacity_bytes)}: {verdict}\n"
        f"{rate}{r.max_batch_size:,}{_cache_lines(r)}"
    )


def _cache_lines(r) -> str:  # noqa: ANN001
    """The decoder's cache layout where it is not plain attention (``LlmEstimate.cache``): layer kinds,
    the MLA latent beside the full K/V, SSM state per sequence, chunks and windows, the image's tokens."""
    c = getattr(r, "cache", None) or {}
    kinds = c.get("layer_kinds") or {}
    out = []
    if set(kinds) - {"attention"}:
        out.append("layers: " + " + ".join(f"{n} {k}" for k, n in kinds.items()))
    if "mla" in kinds:
        out.append(
            f"KV is the MLA latent (serving engines): {c['kv_bytes_per_token']:,} B/token; full per-head K/V "
            f"would be {c['kv_bytes_per_token_full_kv']:,} B/token"
        )
    if c.get("state_bytes_per_sequence"):
        out.append(
            f"SSM state {units.human_bytes(c['state_bytes_per_sequence'])} per sequence (conv "
            f"{units.human_bytes(c['conv_state_bytes_per_sequence'])} + recurrent "
            f"{units.human_bytes(c['ssm_state_bytes_per_sequence'])}), in the KV cache figure"
        )
    if c.get("chunk_tokens"):
        out.append(
            "chunked attention: chunks of " + ", ".join(f"{t:,}" for t in c["chunk_tokens"]) + " tokens"
        )
    if c.get("image_tokens"):
        size = c.get("image_size")
        pixels = f"one {size[0]}x{size[1]} image: " if size else "image: "
        out.append(
            f"{pixels}{c['image_tokens']:,} of the prompt's tokens from the vision tower "
            f"({units.human_count(c['vision_flops'])} FLOPs of the prefill)"
        )
    return "".join(f"\n{line}" for line in out)


def _phase_row(label: str, ph, comm: bool = False) -> list[str]:  # noqa: ANN001
    return [label, units.human_count(ph.flops), units.human_bytes(ph.bytes), units.fixed(ph.ai, digits=1),
            ph.bound, units.human_time(ph.compute_s), units.human_time(ph.memory_s),
            units.human_time(ph.overhead_s), *([units.human_time(ph.allreduce_s)] if comm else []),
            units.human_time(ph.time_s)]  # fmt: skip


def phase_block(r, width: int | None = None) -> str:  # noqa: ANN001
    """One configuration: header, memory line, the phase table (prefill, decode at the first and last
    contexts and at the reported one), TTFT, TPOT and tokens/s; folded to ``width`` columns (default: the
    CLI's output width, ``textable.set_width``)."""
    s = r.scenario
    first, last = r.decode_first, r.decode_last
    start = 1 if _encdec(r) else s.prompt_tokens
    prefill = (
        f"prefill (encoder {r.encoder_tokens:,} + 1)"
        if _encdec(r)
        else f"prefill ({s.prompt_tokens:,} token{'s' if s.prompt_tokens > 1 else ''})"
    )
    steps = [(start, first), (start + s.generate_tokens, last)]
    if r.context_tokens not in (start, start + s.generate_tokens):
        steps.insert(1, (r.context_tokens, r.decode))
    comm = s.tp > 1  # tensor parallel: the all-reduces are a regime of their own
    rows = [_phase_row(prefill, r.prefill, comm)]
    rows += [_phase_row(f"decode @ {c:,}", ph, comm) for c, ph in steps]
    headers = [f"phase (batch {s.batch_size})", "FLOPs", "bytes", "AI", "bound", "compute", "memory",
               "overhead", *(["all-reduce"] if comm else []), "time"]  # fmt: skip
    numeric = [False, True, True, True, False, True, True, True, *([True] if comm else []), True]
    table = text_table(headers, rows, numeric, width)
    tpot = r.tpot_s
    moe = ""
    if r.experts_read_per_layer is not None:
        moe = (
            f"\nMoE: {units.human_params(r.active_params)} of {units.human_params(r.params)} params "
            f"active per token;\na decode step reads {r.experts_read_per_layer:.2f} experts per layer "
            "(uniform top-k)"
        )
    where = "decoder context" if _encdec(r) else "context"
    summary = (
        f"TTFT {units.human_time(r.prefill.time_s)} · TPOT {units.human_time(tpot)} (mean step, {where} "
        f"{start:,} to {start + s.generate_tokens:,})\n"
        f"generation {units.human_time(r.generation_s)} · "
        f"decode {1 / tpot:,.1f} tokens/s per sequence, {s.batch_size / tpot:,.1f} aggregate"
    )
    return wrap_prose("\n".join([_header(r), _memory_line(r), "", table, "", summary]) + moe, width)


def context_text(rs: list, width: int | None = None) -> str:
    """Several contexts of one model and batch: the decode step at each (bytes, AI, bound, step time,
    tokens/s)."""
    rows = []
    for r in sorted(rs, key=lambda r: r.context_tokens):
        ph = r.decode
        rows.append(
            [f"{r.context_tokens:,}", units.human_bytes(ph.bytes), units.fixed(ph.ai, digits=1), ph.bound,
             units.pct(ph.memory_bound_time_pct), units.human_time(ph.time_s),
             f"{r.scenario.batch_size / ph.time_s:,.1f}", f"{1 / ph.time_s:,.1f}"]
        )  # fmt: skip
    headers = ["context", "bytes", "AI", "bound", "mem time", "step", "tok/s", "tok/s/seq"]
    table = text_table(headers, rows, [True, True, True, False, True, True, True, True], width)
    legend = f"one decode step at each context (batch {rs[0].scenario.batch_size}); tok/s: all sequences"
    return wrap_prose("\n".join(["decode by context (rows by context)", table, legend]), width)


def steps_by_batch_text(rs: list, width: int | None = None) -> str:
    """A batch sweep at several contexts: the decode step's time and bound at each context (columns) for
    each batch size (rows)."""
    contexts = sorted({r.context_tokens for r in rs})
    by = {(r.scenario.batch_size, r.context_tokens): r for r in rs}
    headers = ["batch"]
    for c in contexts:
        headers += [f"step@{c}", f"bound@{c}"]
    rows = []
    for b in sorted({r.scenario.batch_size for r in rs}):
        row = [str(b)]
        for c in contexts:
            r = by.get((b, c))
            row += [units.human_time(r.decode.time_s), r.decode.bound] if r else ["", ""]
        rows.append(row)
    table = text_table(headers, rows, [True] + [True, False] * len(contexts), width)
    legend = "step@C: one decode step at context C (TPOT above is the mean over the generation)"
    title = "decode step by batch and context (rows by batch size)"
    return wrap_prose("\n".join([title, table, legend]), width)


def sweep_text(rs: list, width: int | None = None) -> str:
    """Several batch sizes of one model at one context: a table per batch and the tokens/s bar chart."""
    c = rs[0].context_tokens
    rows = []
    for r in rs:
        rows.append(
            [str(r.scenario.batch_size), "yes" if r.fits else "NO", units.human_bytes(r.resident_bytes),
             units.human_time(r.prefill.time_s), units.human_time(r.tpot_s),
             f"{r.scenario.batch_size / r.tpot_s:,.1f}", f"{1 / r.tpot_s:,.1f}", r.decode.bound,
             units.fixed(r.decode.ai, digits=1)]
        )  # fmt: skip
    headers = ["batch", "fits", "resident", "TTFT", "TPOT", "tok/s", "tok/s/seq", f"bound@{c}", f"AI@{c}"]
    numeric = [True, False, True, True, True, True, True, False, True]
    if rs[0].decode is not rs[0].decode_first:
        headers.append(f"step@{c}")
        numeric.append(True)
        for row, r in zip(rows, rs, strict=True):
            row.append(units.human_time(r.decode.time_s))
    table = text_table(headers, rows, numeric, width)
    largest = f"largest batch that fits at the full context: {rs[0].max_batch_size:,}"
    legend = (
        f"tok/s: all sequences (from TPOT, the mean step); bound@{c}, AI@{c}: the decode step at "
        f"context {c:,}"
    )
    text = "\n".join([_header(rs[0]), largest, "", "rows by batch size", table, legend, "", _bars(rs, width)])
    return wrap_prose(text, width)


def _bars(rs: list, width: int | None = None) -> str:
    """Aggregate decode tokens/s per batch size as bars (the curve from memory- to compute-bound), the
    largest swept batch that fits marked; each line at most ``width`` columns (default: the output
    width, else 80)."""
    from metrics_core.common.textable import output_width

    limit = width or output_width() or 80
    bar_w = max(8, min(24, limit - 56))
    rates = [r.scenario.batch_size / r.tpot_s for r in rs]
    top = max(rates) or 1.0
    fitting = [r.scenario.batch_size for r in rs if r.fits]
    largest = max(fitting) if fitting else None
    lines = ["decode tokens/s (aggregate) by batch size:"]
    for r, rate in zip(rs, rates, strict=True):
        b = r.scenario.batch_size
        bar = "#" * max(1, round(bar_w * rate / top))
        mark = " <- largest fitting" if b == largest else (" (no fit)" if not r.fits else "")
        lines.append(f"  B={b:<5} {bar:<{bar_w}} {rate:>10,.1f}  TPOT {units.human_time(r.tpot_s)}{mark}")
    return "\n".join(lines)
