"""``Report``: one analysed model, and optionally its estimate on a hardware target, as data.

The object ``metrics_core.analyze`` returns, for a model name or an ``nn.Module`` instance. Its tables are
the CLI's tables (one implementation: ``metrics_core.report.rows``): ``by_op()`` is ``modeltui layers``,
``to_json()`` is ``modeltui compare --format json`` for this model, both with the same ``context``.
Estimates use the same defaults as every verb and the app (eager execution, calibrated efficiency, the
target's precision path for the analysis dtype) and say they are estimates.

Attributes of the underlying ``ModelReport`` (``metrics``, ``records``, ``coverage``, ``extras``,
``inputs``, ``error`` ...) are readable on the ``Report`` itself.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from metrics_core.common import units
from metrics_core.common.errors import UsageError
from metrics_core.common.records import ModelReport
from metrics_core.common.textable import text_table
from metrics_core.perf.efficiency import DEFAULT_EFFICIENCY, DEFAULT_EXECUTION
from metrics_core.report.context import run_context, with_context
from metrics_core.report.export import to_csv, to_json
from metrics_core.report.rows import layer_csv_keys, layer_rows, summary_row

if TYPE_CHECKING:
    from metrics_core.api.diff import ReportDiff
    from metrics_core.perf.hardware import HardwareTarget
    from metrics_core.perf.roofline import ModelEstimate

#: The tables a ``Report`` exports: ``summary`` (one row: compare's schema), ``layers`` (one row per op:
#: layers' schema), ``modules`` (one row per module path: ``by_module``).
TABLES: tuple[str, ...] = ("summary", "layers", "modules")


class Report:
    """One model's analysis (``raw``: the ``ModelReport``) and, when a target is set, its roofline estimate.

    Build it with ``metrics_core.analyze(...)``; ``on(hardware)`` gives the same analysis estimated on
    another target. Every method is cheap (no re-analysis). Raises ``UsageError`` (one line) for an
    unknown table name, hardware id or estimate mode.
    """

    def __init__(
        self,
        raw: ModelReport,
        hardware: str | HardwareTarget | None = None,
        precision: str | None = None,
        execution: str | None = None,
        efficiency: str | None = None,
    ) -> None:
        from metrics_core.perf.roofline import check_modes

        self.raw = raw
        self.execution = execution or DEFAULT_EXECUTION
        self.efficiency = efficiency or DEFAULT_EFFICIENCY
        if hardware is None and (execution or efficiency or precision):
            raise UsageError(
                "execution / efficiency / precision shape roofline estimates: give hardware= too"
            )
        check_modes(self.execution, self.efficiency)
        self.target = _target(hardware)
        self.precision = None
        if self.target is not None:
            from metrics_core.perf.roofline import precision_for

            self.precision = precision or precision_for(self.target, raw.dtype)
            if self.precision not in self.target.peak_tflops:
                have = ", ".join(self.target.peak_tflops)
                raise UsageError(f"{self.target.id} has no {self.precision!r} peak; choose one of {have}")

    # ------------------------------------------------------------------------------------ identity
    def __getattr__(self, name: str) -> Any:  # noqa: ANN401
        if name.startswith("__") or name == "raw":
            raise AttributeError(name)
        return getattr(self.raw, name)

    @property
    def name(self) -> str:
        """The model's name (catalog name, or the instance's class name unless one was given)."""
        return self.raw.model

    def on(
        self,
        hardware: str | HardwareTarget,
        precision: str | None = None,
        execution: str | None = None,
        efficiency: str | None = None,
    ) -> Report:
        """This analysis estimated on ``hardware`` (a target id of ``modeltui hardware`` or a
        ``HardwareTarget``); the modes default to the CLI's (eager, calibrated)."""
        return Report(self.raw, hardware, precision, execution, efficiency)

    # ------------------------------------------------------------------------------------ results
    @cached_property
    def estimate(self) -> ModelEstimate | None:
        """The roofline estimate on the target (``perf.roofline.ModelEstimate``: latency, three regimes,
        bound, per-op estimates), or None without a target or for a failed analysis."""
        if self.target is None or not (self.raw.ok and self.raw.records):
            return None
        from metrics_core.perf.roofline import estimate_model

        return estimate_model(self.raw, self.target, self.precision, self.execution, self.efficiency)

    @property
    def memory(self) -> dict[str, Any]:
        """Peak memory of the forward pass (bytes): ``weight_bytes``, ``peak_activation_bytes``,
        ``peak_total_bytes``, where the peak is (``peak_op_index``, ``peak_module``) ...; {} if unknown."""
        return dict(self.raw.extras.get("memory", {}))

    @property
    def totals(self) -> dict[str, Any]:
        """The model-level metrics (README "Metrics": params, MACs, FLOPs, bytes, AI ...), peak memory, and
        with a target the estimate's ``est_latency_s``, ``est_bound`` and regime times (estimates)."""
        self._check_ok()
        out = self.raw.metrics.to_dict()
        out["peak_total_bytes"] = self.memory.get("peak_total_bytes")
        est = self.estimate
        if est is not None:
            out.update(
                est_latency_s=est.latency_s,
                est_compute_s=est.compute_s,
                est_memory_s=est.memory_s,
                est_overhead_s=est.overhead_s,
                est_bound=est.bound,
                est_throughput_per_s=est.throughput_per_s,
            )
        return out

    def by_op(self) -> list[dict[str, Any]]:
        """One row per recorded op, in execution order: the rows of ``modeltui layers`` (counts, and with a
        target ``est_*`` times and the bound)."""
        self._check_ok()
        return layer_rows(self.raw.records, self.estimate)

    def by_module(self, depth: int = 1) -> list[dict[str, Any]]:
        """Ops grouped by module path cut at ``depth`` levels (``layer1.0.conv1`` at depth 2 is
        ``layer1.0``; ops of the model's own forward are ``(model)``), in order of first use: the rows of
        ``modeltui layers --by-module DEPTH`` and of the app's module view (``perf.module_sums``).

        Each row (``perf.module_sums.MODULE_KEYS``): class, depth, op count, first op, parameters held
        under the path and not under a deeper row (rows sum to the model's parameters; None when
        unknown), MACs and their share of the model's (``macs_pct``, percent), FLOPs, bytes read and
        written, AI, the largest live activation bytes, ops without a cost rule; with a target
        ``est_time_s`` (sum of the ops' estimated times, seconds), ``share_pct`` of the latency and
        ``bound`` (the regime with most time). ``UsageError`` for a depth below 1."""
        from metrics_core.perf.module_sums import module_rows

        self._check_ok()
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise UsageError(f"depth must be a positive integer, got {depth!r}")
        rows = module_rows(self.raw.records, self.estimate, depth, self.raw.extras.get("modules"))
        for row in rows:
            if self.estimate is not None:
                row["estimate"] = True
        return rows

    def split(self, gpus: int | None = None) -> Any:  # noqa: ANN401 (perf.inference_split.InferenceSplit)
        """The model split layer-wise over ``gpus`` GPUs of the target (None: the fewest whose balanced
        split fits), per-stage weights, activations, memory and time (``perf.inference_split``; estimates).
        ``UsageError`` without a target, or for a ``gpus`` the model cannot use."""
        from metrics_core.perf.inference_split import split_inference

        self._check_ok()
        if self.estimate is None:
            raise UsageError("split() places the model on a target's GPUs: analyse it with hardware= first")
        return split_inference(self.raw, self.estimate, self.target, gpus)

    # ------------------------------------------------------------------------------------ exports
    def context(self) -> dict[str, Any]:
        """What the numbers assume (``report.context.run_context``): batch, dtype of the bytes, the memory
        format of the model and its 4-D / 5-D inputs (``memory_format``), and with a
        target its id, precision path and modes, that estimates are present, and as the CLI's context
        ``validated`` and ``efficiency_source`` (``perf.efficiency.provenance``)."""
        context = run_context(
            model=self.name,
            batch_size=self.raw.batch_size,
            dtype=self.raw.dtype,
            hardware=self.target.id if self.target is not None else None,
            precision=self.precision,
            execution=self.execution,
            efficiency=self.efficiency,
            estimate=self.estimate is not None,
            memory_format=self.raw.extras.get("memory_format"),  # None (left out): record()'s real tensors
        )
        if self.target is not None:
            from metrics_core.perf.efficiency import provenance

            context.update(provenance(self.target, self.efficiency, False, self.execution, self.precision))
        return context

    def rows(self, table: str = "summary") -> list[dict[str, Any]]:
        """The rows of ``table`` (``TABLES``): ``summary``, ``layers`` or ``modules`` (depth 1)."""
        if table not in TABLES:
            raise UsageError(f"unknown table {table!r}; choose one of {', '.join(TABLES)}")
        if table == "layers":
            return self.by_op()
        if table == "modules":
            return self.by_module(1)
        energy = None
        if self.estimate is not None and self.estimate.latency_s > 0:
            from metrics_core.perf.energy import estimate_energy

            energy = estimate_energy(self.target, self.estimate.latency_s, self.estimate.batch_size)
        return [summary_row(self.raw, self.estimate, energy)]

    def to_json(self, table: str = "summary") -> str:
        """``table`` as JSON text, every row with the ``context`` object (the CLI's ``--format json``)."""
        rows = self.rows(table)
        return with_context(to_json(rows, compact_rows=table != "summary"), "json", self.context())

    def to_csv(self, table: str = "layers") -> str:
        """``table`` as CSV text with the context columns (the CLI's ``--format csv``)."""
        rows = self.rows(table)
        if table == "layers":
            keys = layer_csv_keys(rows)
        elif table == "modules":
            from metrics_core.perf.module_sums import MODULE_EST_KEYS, MODULE_KEYS

            keys = [*MODULE_KEYS, *(MODULE_EST_KEYS if rows and "bound" in rows[0] else ())]
        else:
            keys = [k for k, v in rows[0].items() if not isinstance(v, (dict, list))]
        return with_context(to_csv(rows, keys), "csv", self.context())

    def to_pandas(self, table: str = "layers") -> Any:  # noqa: ANN401 (pandas.DataFrame)
        """``table`` as a ``pandas.DataFrame`` (install the ``pandas`` extra: ``pip install
        'modeltui[pandas]'``); ``UsageError`` naming the extra when pandas is missing."""
        try:
            import pandas as pd
        except ImportError:
            raise UsageError("to_pandas() needs pandas: pip install 'modeltui[pandas]'") from None
        return pd.DataFrame(self.rows(table))

    def diff(self, other: Report, depth: int = 1) -> ReportDiff:
        """Totals and per-module deltas ``other - self`` (``metrics_core.api.diff``)."""
        from metrics_core.api.diff import diff_reports

        return diff_reports(self, other, depth)

    # ------------------------------------------------------------------------------------ display
    def summary_lines(self) -> list[str]:
        """The short text summary: counts, memory, coverage and (with a target) the estimate."""
        if not self.raw.ok:
            return [f"{self.name}: not analysed: {self.raw.error}"]
        m = self.raw.metrics
        lines = [
            f"{self.name}: {units.human_params(m.params)} params, {units.human_count(m.macs)} MACs, "
            f"{units.human_count(m.flops)} FLOPs, {units.human_bytes(m.memory_bytes)} traffic, "
            f"AI {units.fixed(m.aggregate_ai, 1)} FLOP/B "
            f"(batch {self.raw.batch_size}, bytes {self.raw.dtype})"
        ]
        peak = self.memory.get("peak_total_bytes")
        if peak is not None:
            lines.append(f"peak memory (weights + live activations): {units.human_bytes(peak)}")
        cov = self.raw.coverage
        failed = {k: v for k, v in cov.uncovered.items() if k in cov.rule_errors}
        missing = {k: v for k, v in cov.uncovered.items() if k not in cov.rule_errors}
        if missing:
            lines.append(
                "PARTIAL coverage: no cost rule for " + ", ".join(f"{k} x{v}" for k, v in missing.items())
            )
        for op, n in failed.items():
            lines.append(f"PARTIAL coverage: the cost rule of {op} (x{n}) failed: {cov.rule_errors[op]}")
        est = self.estimate
        if est is not None:
            from metrics_core.report.context import unvalidated_label

            source = est.efficiency_source
            valid = f"validated: {est.validation}" if est.validated else unvalidated_label(source)
            lines.append(
                f"estimate on {self.target.name} ({self.precision}, {est.execution}, {est.efficiency} "
                f"efficiency): {units.human_time(est.latency_s)}, {est.bound}-bound "
                f"(compute {units.human_time(est.compute_s)}, memory {units.human_time(est.memory_s)}, "
                f"overhead {units.human_time(est.overhead_s)}); {valid}"
            )
        return lines

    def _module_table(self, depth: int = 1) -> tuple[list[str], list[list[str]], list[bool]]:
        rows = self.by_module(depth)
        headers = ["Module", "Type", "Ops", "Params", "MACs", "MACs %", "Bytes"]
        numeric = [False, False, True, True, True, True, True]
        est = self.estimate is not None
        if est:
            headers += ["Est. time", "Bound"]
            numeric += [True, False]
        body = []
        for r in rows:
            cells = [
                r["module"],
                r["module_type"],
                str(r["ops"]),
                units.human_params(r["params"]),
                units.human_count(r["macs"]),
                f"{r['macs_pct']:.1f}",
                units.human_bytes(r["bytes"]),
            ]
            if est:
                cells += [units.human_time(r["est_time_s"]), r["bound"]]
            body.append(cells)
        return headers, body, numeric

    def __str__(self) -> str:
        lines = self.summary_lines()
        if self.raw.ok:
            headers, body, numeric = self._module_table(1)
            lines += ["", text_table(headers, body, numeric)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        where = f", on {self.target.id} {self.precision}" if self.target is not None else ""
        failed = f", not analysed: {self.raw.error}" if not self.raw.ok else ""
        return f"<Report {self.name!r}: batch {self.raw.batch_size}, {self.raw.dtype}{where}{failed}>"

    def _repr_html_(self) -> str:
        """Jupyter: the summary, the bound, and a collapsible module table."""
        parts = [f"<div><b>{html.escape(self.name)}</b>"]
        parts += [f"<div>{html.escape(line)}</div>" for line in self.summary_lines()]
        if self.raw.ok:
            headers, body, numeric = self._module_table(1)
            head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
            trs = "".join(
                "<tr>"
                + "".join(
                    f"<td style='text-align:{'right' if n else 'left'}'>{html.escape(c)}</td>"
                    for c, n in zip(cells, numeric, strict=True)
                )
                + "</tr>"
                for cells in body
            )
            parts.append(
                f"<details><summary>{len(body)} modules (depth 1)</summary>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table></details>"
            )
        parts.append("</div>")
        return "".join(parts)

    def _check_ok(self) -> None:
        if not self.raw.ok:
            raise UsageError(f"{self.name} was not analysed: {self.raw.error}")


def _target(hardware: Any) -> HardwareTarget | None:  # noqa: ANN401
    from metrics_core.perf.hardware import HardwareTarget

    if hardware is None or isinstance(hardware, HardwareTarget):
        return hardware
    if not isinstance(hardware, str):
        raise UsageError(
            "hardware must be a target id (modeltui hardware) or a HardwareTarget, "
            f"got a {type(hardware).__name__}"
        )
    from metrics_core.perf.hardware import get_target

    return get_target(hardware)


def wrap_all(reports: Sequence[ModelReport], **estimate: Any) -> list[Report]:  # noqa: ANN401
    """``Report`` objects for ``reports`` with the same estimate options."""
    return [Report(r, **estimate) for r in reports]
