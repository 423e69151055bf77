"""The efficiency rankings panel: lowest and highest model per ranked metric (seed's rankings)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from textual.widgets import Static

from metrics_core.common.records import ModelReport
from metrics_core.report.columns import ACCURACY_COLUMNS, COMPARISON_COLUMNS
from metrics_core.report.rankings import RANKINGS, efficiency_rankings

_COLUMNS = {c.key: c for c in COMPARISON_COLUMNS + ACCURACY_COLUMNS}
_HIGHEST = {title: highest for title, _metric, highest in RANKINGS}
#: Row label of each ranked metric (the memory column's header alone, "Total", says too little).
LABELS = {"memory_bytes": "Memory traffic", "acc1": "Top-1 % (published)"}


def rankings_table(reports: Sequence[ModelReport]) -> Table | None:
    """A table ``metric | lowest | highest`` over the analysed reports; None with fewer than two. Each
    cell is ``value model``: the value and its unit come first, so an ellipsis only ever cuts a name."""
    ok = [r for r in reports if r.ok]
    if len(ok) < 2:
        return None
    rows: dict[str, dict[bool, str]] = {}
    for rank in efficiency_rankings(ok):
        col = _COLUMNS[rank.metric]
        # the value (with its unit) first: a narrow panel cuts the model name, never the number
        rows.setdefault(rank.metric, {})[_HIGHEST[rank.title]] = f"[b]{col.fmt(rank.value)}[/] {rank.model}"
    table = Table(box=None, padding=(0, 1), show_edge=False, expand=False, header_style="bold")
    table.add_column("Rankings", style="dim", no_wrap=True)
    table.add_column("lowest", no_wrap=True, overflow="ellipsis")
    table.add_column("highest", no_wrap=True, overflow="ellipsis")
    for metric, cells in rows.items():
        label = LABELS.get(metric, _COLUMNS[metric].header)
        # a direction the seed does not rank (FLOPs/param and top-1: highest only) stays blank, not "-",
        # which would read as a missing value
        table.add_row(label, cells.get(False, ""), cells.get(True, ""))
    return table


class RankingsPanel(Static):
    """Shows ``rankings_table``; hidden while fewer than two models are analysed."""

    DEFAULT_CSS = """
    RankingsPanel {
        height: auto;
        max-height: 8;
        border-top: solid $primary 40%;
        padding: 0 1;
        &.-empty { display: none; }
        &.-hidden { display: none; }
    }
    """

    def show(self, reports: Sequence[ModelReport]) -> None:
        table = rankings_table(reports)
        self.set_class(table is None, "-empty")
        self.update(table if table is not None else "")
