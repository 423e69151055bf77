"""``ReportDiff``: how one model differs from another, in totals and per module.

Modules are aligned **by path** when the two models share most module paths (variants of one
architecture: a fine-tuned head, a pruned or quantised copy, one changed block): a path in both is
``same`` or ``changed``, one only in the first is ``removed``, one only in the second ``added``. Otherwise
(two different architectures) they are aligned **by stage order**: the i-th top-level stage of one against
the i-th of the other. Every delta is ``second - first``; ``pct`` is the delta as a percentage of the
first (None when the first is 0).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from metrics_core.common import units
from metrics_core.common.errors import UsageError
from metrics_core.common.textable import text_table

if TYPE_CHECKING:
    from metrics_core.api.report import Report

#: Share of module paths the two models must have in common (of the union) to be aligned by path.
PATH_ALIGNMENT_MIN_SHARED = 0.5

#: Totals compared: (key in ``Report.totals``, label, formatter).
TOTALS: tuple[tuple[str, str, Any], ...] = (
    ("params", "params", units.human_params),
    ("macs", "MACs", units.human_count),
    ("flops", "FLOPs", units.human_count),
    ("weight_bytes", "weight bytes", units.human_bytes),
    ("memory_bytes", "memory traffic", units.human_bytes),
    ("peak_total_bytes", "peak memory", units.human_bytes),
    ("est_latency_s", "est. latency", units.human_time),
)

#: Per-module quantities compared (keys of ``Report.by_module`` rows).
MODULE_FIELDS: tuple[str, ...] = ("params", "macs", "bytes", "est_time_s")


def _delta(a: float | None, b: float | None) -> tuple[float | None, float | None]:
    if a is None or b is None:
        return None, None
    d = b - a
    return d, (100.0 * d / a if a else None)


class ReportDiff:
    """The difference ``second - first`` of two ``Report`` objects at a module ``depth``.

    ``aligned_by`` is ``"path"`` or ``"stage order"`` (module docstring). ``totals()`` and ``modules()``
    are lists of dicts; ``to_json()`` / ``to_csv()`` / ``to_pandas()`` export them; ``str()`` is the text
    of ``modeltui diff``. Estimated times are compared only when both reports carry an estimate.
    """

    def __init__(self, first: Report, second: Report, depth: int = 1) -> None:
        for r in (first, second):
            r._check_ok()
        self.first, self.second, self.depth = first, second, depth
        self._a = first.by_module(depth)
        self._b = second.by_module(depth)
        pa, pb = [r["module"] for r in self._a], [r["module"] for r in self._b]
        union = set(pa) | set(pb)
        shared = len(set(pa) & set(pb)) / len(union) if union else 1.0
        self.aligned_by = "path" if shared >= PATH_ALIGNMENT_MIN_SHARED else "stage order"
        #: Whether estimated times are compared: both reports carry an estimate.
        self.timed = first.estimate is not None and second.estimate is not None

    def time_basis(self) -> str | None:
        """What the compared times assume: one target, precision and mode for both, or each side's when
        they differ (a model on two machines is a fair question); None when times are not compared."""
        if not self.timed:
            return None

        from metrics_core.perf.efficiency import provenance
        from metrics_core.report.context import unvalidated_label

        def basis(r: Report) -> str:
            p = provenance(r.target, r.efficiency, execution=r.execution, precision=r.precision)
            source = p.get("efficiency_source")
            checked = "validated on this target" if p["validated"] else unvalidated_label(source)
            return f"{r.target.name} {r.precision} ({r.execution}, {r.efficiency} efficiency; {checked})"

        a, b = basis(self.first), basis(self.second)
        return (
            f"estimates on {a}"
            if a == b
            else f"estimates: {self.first.name} on {a}; {self.second.name} on {b}"
        )

    def totals(self) -> list[dict[str, Any]]:
        """One row per total (``TOTALS``): ``metric``, ``first``, ``second``, ``delta``, ``pct``."""
        ta, tb = self.first.totals, self.second.totals
        rows = []
        for key, _label, _fmt in TOTALS:
            if key not in ta or key not in tb or (key.startswith("est_") and not self.timed):
                continue
            d, pct = _delta(ta[key], tb[key])
            rows.append({"metric": key, "first": ta[key], "second": tb[key], "delta": d, "pct": pct})
        return rows

    def modules(self) -> list[dict[str, Any]]:
        """One row per aligned module: ``module`` (``first -> second`` when aligned by stage order and the
        paths differ), ``status`` (same, changed, added, removed) and per ``MODULE_FIELDS`` quantity
        ``first_<f>``, ``second_<f>`` and ``delta_<f>`` (None where a side has no such module)."""
        if self.aligned_by == "path":
            by_a = {r["module"]: r for r in self._a}
            by_b = {r["module"]: r for r in self._b}
            order = list(by_a) + [p for p in by_b if p not in by_a]
            pairs = [(p, by_a.get(p), by_b.get(p)) for p in order]
        else:
            n = max(len(self._a), len(self._b))
            pairs = []
            for i in range(n):
                a = self._a[i] if i < len(self._a) else None
                b = self._b[i] if i < len(self._b) else None
                names = [r["module"] for r in (a, b) if r is not None]
                label = names[0] if len(set(names)) == 1 else " -> ".join(names)
                pairs.append((label, a, b))
        rows = []
        for label, a, b in pairs:
            row: dict[str, Any] = {"module": label}
            if a is None or b is None:
                row["status"] = "added" if a is None else "removed"
            else:
                same = all(a.get(f) == b.get(f) for f in ("params", "macs", "bytes", "ops"))
                row["status"] = "same" if same else "changed"
            for f in MODULE_FIELDS:
                if f == "est_time_s" and not self.timed:
                    row[f"first_{f}"] = row[f"second_{f}"] = row[f"delta_{f}"] = None
                    continue
                va = a.get(f) if a is not None else None
                vb = b.get(f) if b is not None else None
                row[f"first_{f}"], row[f"second_{f}"] = va, vb
                row[f"delta_{f}"] = (vb or 0) - (va or 0) if (va is not None or vb is not None) else None
            rows.append(row)
        return rows

    # ------------------------------------------------------------------------------------ exports
    def to_dict(self) -> dict[str, Any]:
        """``{"first", "second", "depth", "aligned_by", "totals", "modules"}`` (JSON-compatible)."""
        return {
            "first": self.first.name,
            "second": self.second.name,
            "depth": self.depth,
            "aligned_by": self.aligned_by,
            "estimate": self.timed,
            "time_basis": self.time_basis(),
            "totals": self.totals(),
            "modules": self.modules(),
        }

    def to_json(self) -> str:
        """``to_dict()`` as JSON text, with the first report's ``context``."""
        from metrics_core.report.context import with_context
        from metrics_core.report.export import to_json

        context = self.first.context()
        context.pop("model", None)
        return with_context(to_json(self.to_dict()), "json", context)

    def to_csv(self) -> str:
        """The module rows as CSV text."""
        from metrics_core.report.export import to_csv

        rows = self.modules()
        return to_csv(rows, list(rows[0]) if rows else ["module"])

    def to_pandas(self) -> Any:  # noqa: ANN401 (pandas.DataFrame)
        """The module rows as a ``pandas.DataFrame`` (the ``pandas`` extra)."""
        try:
            import pandas as pd
        except ImportError:
            raise UsageError("to_pandas() needs pandas: pip install 'modeltui[pandas]'") from None
        return pd.DataFrame(self.modules())

    # ------------------------------------------------------------------------------------ display
    def _tables(self) -> tuple[str, list[str], list[list[str]], list[str], list[list[str]]]:
        fmt = {k: f for k, _, f in TOTALS}
        labels = {k: label for k, label, _ in TOTALS}
        title = (
            f"{self.second.name} vs {self.first.name} (delta = {self.second.name} - {self.first.name}; "
            f"modules aligned by {self.aligned_by}, depth {self.depth})"
        )
        if self.timed:
            title += f"; times are {self.time_basis()}"
        t_head = ["Total", self.first.name, self.second.name, "Delta", "Delta %"]
        t_body = []
        for r in self.totals():
            f = fmt[r["metric"]]
            d = r["delta"]
            sign = "+" if d is not None and d > 0 else ("-" if d is not None and d < 0 else "")
            t_body.append(
                [
                    labels[r["metric"]],
                    f(r["first"]),
                    f(r["second"]),
                    (sign + f(abs(d))) if d else "0",
                    units.pct(r["pct"]) if r["pct"] is not None else "-",
                ]
            )
        est = self.timed
        m_head = ["Module", "Status", "Params delta", "MACs delta", "Bytes delta"] + (
            ["Time delta"] if est else []
        )
        m_body = []
        for r in self.modules():
            cells = [r["module"], r["status"]]
            for f, form in (
                ("params", units.human_params),
                ("macs", units.human_count),
                ("bytes", units.human_bytes),
            ):
                d = r[f"delta_{f}"]
                cells.append(
                    "-" if d is None else ("0" if d == 0 else ("+" if d > 0 else "-") + form(abs(d)))
                )
            if est:
                d = r["delta_est_time_s"]
                cells.append(
                    "-"
                    if d is None
                    else ("0" if d == 0 else ("+" if d > 0 else "-") + units.human_time(abs(d)))
                )
            m_body.append(cells)
        return title, t_head, t_body, m_head, m_body

    def __str__(self) -> str:
        title, t_head, t_body, m_head, m_body = self._tables()
        return "\n".join(
            [
                title,
                text_table(t_head, t_body, [False, True, True, True, True]),
                "",
                text_table(m_head, m_body, [False, False, *[True] * (len(m_head) - 2)]),
            ]
        )

    def __repr__(self) -> str:
        names = f"{self.second.name!r} - {self.first.name!r}"
        return f"<ReportDiff {names}, by {self.aligned_by}, depth {self.depth}>"

    def _repr_html_(self) -> str:
        title, t_head, t_body, m_head, m_body = self._tables()

        def table(head: list[str], body: list[list[str]]) -> str:
            h = "".join(f"<th>{html.escape(c)}</th>" for c in head)
            b = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
            return f"<table><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>"

        return (
            f"<div><b>{html.escape(title)}</b>{table(t_head, t_body)}"
            f"<details><summary>{len(m_body)} modules</summary>{table(m_head, m_body)}</details></div>"
        )


def diff_reports(first: Report, second: Report, depth: int = 1) -> ReportDiff:
    """``ReportDiff(first, second, depth)``; ``UsageError`` when either report failed or ``depth`` < 1."""
    from metrics_core.api.report import Report

    if not isinstance(second, Report):
        raise UsageError(
            f"diff() takes another Report (from metrics_core.analyze), got a {type(second).__name__}"
        )
    return ReportDiff(first, second, depth)
