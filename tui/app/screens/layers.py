"""Per-layer drill-down: every op of one model with its roofline estimate, sortable and filterable,
or the same summed per module (``m``); Enter on a module opens its ops (Escape comes back).

Cached reports load their per-op records lazily (``metrics_core.runtime.cache``); the screen says "loading…"
while the app loads them in a worker, never on the UI thread."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from metrics_core.common import units
from metrics_core.report.columns import Column
from tui.app.layerdata import (
    aggregate_by_kernel,
    aggregate_by_module,
    filter_rows,
    has_live_bytes,
    in_module,
    module_depth,
    op_rows,
    sort_rows,
)
from tui.app.screens.filtered_table import FilteredTableScreen
from tui.app.session import records_loaded
from tui.app.tables import (
    ESTIMATE_GROUP,
    LAYER_ASCENDING,
    LAYER_FIXED,
    LAYER_OPTIONAL,
    LAYER_SORT_CYCLE,
    LAYER_TABLE,
    MODULE_FIXED,
    MODULE_TABLE,
)
from tui.app.widgets.filter_input import FilterInput
from tui.app.widgets.footer import AppFooter
from tui.app.widgets.grid_table import ASCENDING_MARK, DESCENDING_MARK, GridColumn, GridRow, GridTable
from tui.app.widgets.status_bar import StatusBar

FILTER_KEYS = ("module", "module_type", "op", "category", "bound")
#: Module path depth the per-module view starts at (``layer1.0``, ``features.3``).
DEFAULT_DEPTH = 2


class LayersScreen(FilteredTableScreen):
    """The ops of ``model`` on the selected target; with ``module`` (a module path and the depth it
    was grouped at), only the ops summed into that module's row of the per-module view."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open_module", "Ops", tooltip="Per-module view: the ops of the highlighted module"),
        Binding(
            "s", "cycle_sort", "Sort", tooltip="Sort by the next of: index, time, FLOPs, MACs, bytes, AI"
        ),
        Binding("r", "reverse", "Reverse", show=False),
        Binding("comma", "move_sort(-1)", "Sort ◂", show=False),
        Binding("full_stop", "move_sort(1)", "Sort ▸", show=False),
        Binding("slash", "filter", "Filter"),
        Binding("m", "toggle_modules", "Modules", tooltip="One row per op, or summed per module"),
        Binding(
            "K",
            "toggle_kernels",
            "Kernels",
            tooltip="Compiled execution: one row per fused/library kernel (Enter: its ops)",
        ),
        Binding("minus", "depth(-1)", "Coarser modules", show=False),
        Binding("plus,equals_sign", "depth(1)", "Finer modules", show=False),
        Binding("w", "roofline", "Roofline", tooltip="Roofline chart of this model's ops"),
        Binding("e", "export", "Export"),
        Binding("c", "app.catalog", "Catalog", show=False),
        # still the app's hardware picker; left out of this footer, which has no room for it at 80 columns
        Binding("h", "app.hardware", "Hardware", show=False),
    ]

    def __init__(
        self, model: str, module: tuple[str, int | None] | None = None, kernel: int | None = None
    ) -> None:
        super().__init__()
        self.model = model
        self.module = module
        #: the kernel (index into the compiled estimate's kernels) whose ops this screen lists
        self.kernel = kernel
        self._live = True
        self.by_module = False
        #: per-kernel view (compiled execution only)
        self.by_kernel = False
        #: module path depth of the per-module view (None: each op's own module)
        self.depth: int | None = DEFAULT_DEPTH
        self._max_depth = 1
        self.sort_key = "index"
        self.descending = False
        self._rows: list[dict[str, Any]] = []
        self._shown: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        where = f"{self.model} › {self.module[0]}" if self.module else self.model
        if self.kernel is not None:
            where = f"{self.model} › kernel k{self.kernel}"
        yield StatusBar(f"layers: {where}")
        yield Static(id="layers-summary")
        yield GridTable(empty_text="No op matches the filter.")
        yield FilterInput(placeholder="filter ops: words in module, type, op, category or bound")
        yield AppFooter()

    # -- data ---------------------------------------------------------------------------------------
    def column_layout(self) -> tuple[tuple[Column, ...], tuple[Column, ...]]:
        """(fixed columns, scrollable columns) for the current mode; optional columns only when the
        records carry them."""
        grouped = self.by_module or self.by_kernel
        fixed, cols = (MODULE_FIXED, MODULE_TABLE) if grouped else (LAYER_FIXED, LAYER_TABLE)
        if not self._live:
            cols = tuple(c for c in cols if c.key not in LAYER_OPTIONAL)
        return fixed, cols

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Enter opens a module only in the per-module view; a module's own op list has no modules."""
        if action == "open_module":
            return self.by_module or self.by_kernel
        if action in ("toggle_modules", "depth"):
            return self.module is None and self.kernel is None
        if action == "toggle_kernels":
            return self.module is None and self.kernel is None
        return True

    def export_columns(self) -> tuple[str, tuple[Column, ...]]:
        """(first key, other columns) as ``metrics_core.report.export.render`` wants them."""
        fixed, cols = self.column_layout()
        return fixed[0].key, (*fixed[1:], *cols)

    def refresh_view(self) -> None:
        """Recompute rows (target, precision or the report may have changed) and redraw."""
        if not self.ready:
            return
        s = self.app.session
        report = s.reports.get(self.model)
        self.query_one(StatusBar).update(s, self.app.analysing)
        state = None
        if report is None:
            state = "analysing…"  # re-analysing with new options: say so, keep the screen
        elif not report.ok:
            state = f"error: {report.error}"
        elif self.model in self.app.records_errors:
            state = f"error: {self.app.records_errors[self.model]}"
        elif not records_loaded(report):
            state = "loading…"
            self.app.ensure_records(self.model)
        if state is not None:
            self.query_one("#layers-summary", Static).update(f"{self.model}: {state}")
            self._rows = []
            self.table.empty_text = state
            self._redraw()
            return
        what = "kernel" if self.by_kernel else "module" if self.by_module else "op"
        self.table.empty_text = f"No {what} matches the filter."
        estimate = s.estimate(self.model)
        self._live = has_live_bytes(report.records)
        rows = op_rows(report.records, estimate)
        self._max_depth = module_depth(rows)
        depth = None if self.depth is None or self.depth >= self._max_depth else self.depth
        m = report.metrics
        if self.kernel is not None:
            rows = [r for r in rows if r.get("kernel") == self.kernel]
            self._rows = rows
            summary = f"{len(rows)} of {len(report.records)} ops, in kernel k{self.kernel} (compiled)"
            if estimate is not None and self.kernel < len(estimate.kernels):
                k = estimate.kernels[self.kernel]
                summary += (
                    f" · {k.kind} kernel: {units.human_bytes(k.bytes)} traffic after fusion,"
                    f" est. {units.human_time(k.time_s)}, {k.bound}-bound"
                )
        elif self.module is not None:
            rows = in_module(rows, *self.module)
            self._rows = rows
            summary = f"{len(rows)} of {len(report.records)} ops, in module {self.module[0]}"
            if estimate is not None and rows:
                # the module's row of the per-module view: summed times and shares (layerdata)
                (group,) = aggregate_by_module(rows, self.module[1])
                time, share = units.human_time(group["time_s"]), units.pct(group["share"])
                summary += f" · est. {time} ({share} of the model)"
        else:
            compiled = estimate is not None and estimate.execution == "compiled"
            if self.by_kernel and compiled:
                self._rows = aggregate_by_kernel(rows, estimate)
            else:
                self._rows = aggregate_by_module(rows, depth) if self.by_module else rows
            summary = (
                f"{len(report.records)} ops · {units.human_count(m.macs)} MACs · "
                f"{units.human_count(m.flops)} FLOPs · {units.human_bytes(m.memory_bytes)} traffic"
            )
        if estimate is not None and self.module is None and self.kernel is None:
            summary += (
                f" · est. {units.human_time(estimate.latency_s)} {estimate.bound}-bound"
                f" ({estimate.execution}, {estimate.efficiency} efficiency; {_checked(estimate)})"
            )
        memory = report.extras.get("memory") or {}
        if memory.get("peak_activation_bytes") is not None and self.module is None:
            summary += f" · peak activations {units.human_bytes(memory['peak_activation_bytes'])}"
        if self.by_kernel and self.module is None and self.kernel is None:
            if estimate is not None and estimate.execution == "compiled":
                summary = f"{len(self._rows)} kernels (Enter: a kernel's ops) · " + summary
            else:
                summary = "kernels: choose compiled execution in the settings (o) · " + summary
        elif self.by_module:
            level = "each op's module" if depth is None else f"depth {depth} of {self._max_depth}"
            summary = f"{len(self._rows)} modules ({level}, -/+ to change) · " + summary
        if not report.coverage.complete:
            summary += " · PARTIAL coverage"
        self.query_one("#layers-summary", Static).update(summary)
        self._redraw()

    def on_screen_resume(self) -> None:
        self.refresh_view()

    def pinned_layout(self) -> tuple[tuple[Column, ...], tuple[Column, ...]]:
        """``column_layout`` with the sort column moved into the fixed columns (after the module), so
        that scrolling sideways never takes it out of sight (``]`` to the last group in the per-module
        view sorted by time still shows each row's time)."""
        fixed, cols = self.column_layout()
        pinned = next((c for c in cols if c.key == self.sort_key), None)
        if pinned is None:
            return fixed, cols
        return (*fixed, pinned), tuple(c for c in cols if c is not pinned)

    def _redraw(self) -> None:
        s = self.app.session
        fixed, cols = self.pinned_layout()
        report = s.reports.get(self.model)
        path = s.precision_of(report) if report is not None else s.precision  # its analysed dtype's path
        group = f"{s.target_label} peak {path} (est.)"
        grid = [
            GridColumn(
                c.key,
                "Kernel" if self.by_kernel and c.key == "module" else c.header,
                "" if i < len(fixed) else (group if c.group == ESTIMATE_GROUP else c.group),
                c.numeric,
                max_width=36 if c.key == "module" else None,
                # module paths keep their end (the leaf); kernel names their start (kNN and the parent)
                truncate_left=c.key == "module" and not self.by_kernel,
            )
            for i, c in enumerate((*fixed, *cols))
        ]
        table = self.table
        table.set_columns(grid, fixed=len(fixed))
        table.set_sort(self.sort_key, self.descending)
        header = next((c.header for c in table.columns if c.key == self.sort_key), self.sort_key)
        table.corner = f"sort: {header} {DESCENDING_MARK if self.descending else ASCENDING_MARK}"
        text = self.query_one(FilterInput).value
        shown = filter_rows(self._rows, text, FILTER_KEYS)
        self._shown = sort_rows(shown, self.sort_key, self.descending)
        all_cols = (*fixed, *cols)
        out = []
        for row in self._shown:
            cells = [c.fmt(row.get(c.key)) for c in all_cols]
            styles = {"bound": row["bound"]} if row.get("bound") else {}
            out.append(
                GridRow(
                    str(row["module"] if self.by_module or self.by_kernel else row["index"]),
                    cells,
                    cell_styles=styles,
                )
            )
        table.set_rows(out)

    def refilter(self) -> None:
        self._redraw()

    @property
    def shown_rows(self) -> list[dict[str, Any]]:
        """The rows on screen, in order (filtered and sorted)."""
        return list(self._shown)

    # -- actions ------------------------------------------------------------------------------------
    def action_back(self) -> None:
        if self.clear_filter():
            self._redraw()
            return
        self.app.pop_screen()

    def _set_sort(self, key: str) -> None:
        self.sort_key = key
        self.descending = key not in LAYER_ASCENDING
        self._redraw()
        self.table.scroll_to_column(key)
        self.table.action_jump(0)  # the top rows of the new order in view

    def action_cycle_sort(self) -> None:
        cycle = [k for k in LAYER_SORT_CYCLE if k != "index" or not self.by_module]
        i = cycle.index(self.sort_key) + 1 if self.sort_key in cycle else 0
        self._set_sort(cycle[i % len(cycle)])

    def action_move_sort(self, step: int) -> None:
        keys = [c.key for c in (*self.column_layout()[0], *self.column_layout()[1])]  # the unpinned order
        i = keys.index(self.sort_key) + step if self.sort_key in keys else 0
        self._set_sort(keys[i % len(keys)])

    def action_reverse(self) -> None:
        self.descending = not self.descending
        self._redraw()
        self.table.action_jump(0)

    def action_toggle_modules(self) -> None:
        self.by_module = not self.by_module
        self.by_kernel = False
        keys = {c.key for c in (*self.column_layout()[0], *self.column_layout()[1])}
        if self.sort_key not in keys:
            self.sort_key, self.descending = ("time_s", True) if self.by_module else ("index", False)
        self.refresh_view()
        self.refresh_bindings()  # Enter opens a module only in the per-module view

    def action_toggle_kernels(self) -> None:
        """One row per kernel of the compiled execution, or back to one row per op (eager execution runs
        one kernel per op: the op rows are its kernels, and a notification says how to see fused ones)."""
        estimate = self.app.session.estimate(self.model)
        if not self.by_kernel and (estimate is None or estimate.execution != "compiled"):
            self.notify(
                "eager execution runs one kernel per op (the rows here); for fused kernels choose compiled "
                "execution in the settings (o)",
                title="Kernels",
                timeout=4,
            )
            return
        self.by_kernel = not self.by_kernel
        self.by_module = False
        keys = {c.key for c in (*self.column_layout()[0], *self.column_layout()[1])}
        if self.sort_key not in keys:
            self.sort_key, self.descending = ("time_s", True) if self.by_kernel else ("index", False)
        self.refresh_view()
        self.refresh_bindings()

    def action_depth(self, step: int) -> None:
        """Coarser (-1) or finer (+1) module grouping in the per-module view."""
        if not self.by_module:
            self.notify("press m for the per-module view first", timeout=3)
            return
        current = self._max_depth if self.depth is None else min(self.depth, self._max_depth)
        new = max(1, min(current + step, self._max_depth))
        self.depth = None if new >= self._max_depth else new
        self.refresh_view()

    def action_roofline(self) -> None:
        self.app.action_roofline(self.model)

    def action_open_module(self) -> None:
        """The highlighted module's ops, in a screen of their own (Escape comes back here)."""
        key = self.table.cursor_key
        if self.by_kernel and key is not None:
            row = next((r for r in self._rows if r["module"] == key), None)
            if row is not None and row.get("kernel") is not None:
                self.app.push_screen(LayersScreen(self.model, kernel=row["kernel"]))
            return
        if not self.by_module or key is None:
            return
        depth = None if self.depth is None or self.depth >= self._max_depth else self.depth
        self.app.push_screen(LayersScreen(self.model, module=(key, depth)))

    @on(GridTable.Selected)
    def _selected(self) -> None:
        self.action_open_module()

    @on(GridTable.HeaderClicked)
    def _header_clicked(self, message: GridTable.HeaderClicked) -> None:
        if message.column == self.sort_key:
            self.action_reverse()
        else:
            self._set_sort(message.column)

    def action_export(self) -> None:
        from tui.app.exporting import layer_table, session_context
        from tui.app.screens.export import ExportScreen

        first, cols = self.export_columns()
        what = "modules" if self.by_module else "ops"
        context = {"model": self.model, **session_context(self.app.session)}
        table = layer_table(self._shown, cols, first, f"{self.model} {what}", context)
        name = f"modeltui-{self.model.replace(':', '-').replace('.', '-')}-{what}.csv"
        self.app.push_screen(ExportScreen(table, name))


def _checked(estimate) -> str:  # noqa: ANN001 (perf.roofline.ModelEstimate)
    """``validated on this target``, or what an estimate that is not rests on (``report.context.
    unvalidated_label``: the user's calibrated parameters or a physical estimate)."""
    from metrics_core.report.context import unvalidated_label

    if estimate.validated:
        return "validated on this target"
    return unvalidated_label(estimate.efficiency_source)
