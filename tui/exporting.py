"""What the export modal writes: the table on screen as rows for ``metrics_core.export.render``.

The comparison exports like ``modeltui compare``: JSON rows are ``ModelReport.summary_dict()`` with a
``roofline`` object (the estimate on the selected target); CSV/Markdown rows flatten the estimate into
``est_*`` columns. Layer tables export their rows as shown (filtered, sorted, maybe per module).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from metrics_core.columns import COMPARISON_COLUMNS, Column
from metrics_core.export import render
from tui.session import Session
from tui.tables import ESTIMATE_COLUMNS


@dataclass
class ExportTable:
    """Rows ready for each format: ``flat`` for CSV/Markdown, ``nested`` for JSON."""

    flat: list[dict[str, Any]]
    nested: list[dict[str, Any]]
    columns: Sequence[Column]
    first: str
    what: str

    def text(self, fmt: str) -> str:
        if fmt == "json":
            return render(self.nested, self.columns, "json", first=self.first)
        return render(self.flat, self.columns, fmt, first=self.first)


def comparison_table(session: Session, names: Sequence[str]) -> ExportTable:
    """The comparison of ``names`` (in that order) with estimates on the session's target."""
    flat, nested = [], []
    for name in names:
        report = session.reports.get(name)
        if report is None:
            continue
        row = report.summary_dict()
        estimate = session.estimate(name)
        if estimate is not None:
            est = estimate.to_dict()
            nested.append({**row, "roofline": est})
            row = {**row, **{f"est_{k}": v for k, v in est.items() if not isinstance(v, (dict, list))}}
        else:
            nested.append(row)
        flat.append(row)
    return ExportTable(flat, nested, (*COMPARISON_COLUMNS, *ESTIMATE_COLUMNS), "model", "comparison")


def layer_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[Column], first: str, what: str
) -> ExportTable:
    """A layer table as shown; JSON rows carry every raw field."""
    return ExportTable(list(rows), list(rows), columns, first, what)
