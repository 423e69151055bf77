"""The comparison screen: one row per selected model, grouped metric columns, rankings below."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from metrics_core.common import units
from metrics_core.common.errors import model_error, row_error
from metrics_core.common.input_spec import describe_inputs
from metrics_core.common.name_filter import name_matches
from metrics_core.report.accuracy import accuracy_fields
from tui.app.screens.filtered_table import FilteredTableScreen
from tui.app.session import PER_MODEL, records_loaded
from tui.app.tables import (
    COMPARISON_TABLE,
    ESTIMATE_GROUP,
    MEASURED_COLUMNS,
    MEASURED_GROUP,
    MEMORY_GROUP,
    SEED_KEYS,
    SORTABLE_COMPARISON,
    column_of,
)
from tui.app.widgets.filter_input import FilterInput
from tui.app.widgets.footer import AppFooter
from tui.app.widgets.grid_table import ASCENDING_MARK, DESCENDING_MARK, GridColumn, GridRow, GridTable
from tui.app.widgets.rankings import RankingsPanel
from tui.app.widgets.status_bar import StatusBar

OK_MARK, PARTIAL_MARK, ERROR_MARK, PENDING_MARK = "✓", "!", "✗", "…"


def matches(name: str, text: str) -> bool:
    """Every word of the filter starts a token of the model name (``metrics_core.common.name_filter``)."""
    return name_matches(text, name)


#: The narrowest terminal whose comparison footer also shows the training view's key.
TRAIN_FOOTER_WIDTH = 100


class ComparisonScreen(FilteredTableScreen):
    """Compare the selected models."""

    BINDINGS = [
        Binding("enter", "layers", "Layers", tooltip="Per-layer drill-down of the highlighted model"),
        Binding(
            "s",
            "cycle_sort",
            "Sort",
            tooltip="Sort by the next seed key: params, flops, macs, memory, efficiency, ai",
        ),
        Binding("r", "reverse", "Reverse", show=False, tooltip="Reverse the sort direction"),
        Binding(
            "comma",
            "move_sort(-1)",
            "Sort ◂",
            show=False,
            tooltip="Sort by the column left of the sort column",
        ),
        Binding("full_stop", "move_sort(1)", "Sort ▸", show=False, tooltip="Sort by the column right of it"),
        Binding(
            "1",
            f"seed_sort('{SEED_KEYS[0]}')",
            "Sort by",
            show=False,
            key_display=f"1-{len(SEED_KEYS)}",
            tooltip="Sort by " + ", ".join(f"{i} {k}" for i, k in enumerate(SEED_KEYS, 1)),
        ),
        *(Binding(str(i), f"seed_sort('{k}')", "", show=False) for i, k in enumerate(SEED_KEYS, 1) if i > 1),
        Binding(
            "slash",
            "filter",
            "Filter",
            show=False,  # the footer has room for ten keys at 80 columns: b is the newer one
            tooltip="Filter models by name (Enter keeps it, Esc clears it)",
        ),
        Binding(
            "e",
            "export",
            "Export",
            show=False,  # ten keys fit the footer at 80 columns: f Pareto took its place (also ^p, ?)
            tooltip="Export the comparison to CSV, JSON or Markdown",
        ),
        Binding(
            "b",
            "app.bench",
            "Bench",
            tooltip="Measure latency on this machine (real forward passes; b again cancels)",
        ),
        Binding(
            "a",
            "app.add_custom",
            "Add model",
            show=False,
            tooltip="Add any model (timm:, hf:, pkg.mod:factory) with its inputs",
        ),
        Binding("x,delete", "remove", "Remove", show=False, tooltip="Remove the highlighted model"),
        Binding(
            "m",
            "llm",
            "LLM",
            tooltip="LLM serving view of the highlighted decoder model: prefill/decode, KV cache, TTFT/TPOT",
        ),
        Binding(
            "T",
            "train",
            "Train",
            tooltip="Training view of the selected models: step time by phase, MFU, memory, plans (est.)",
        ),
        Binding("t", "toggle_rankings", "Rankings", show=False, tooltip="Show or hide the rankings panel"),
        Binding(
            "D",
            "diff",
            "Diff",
            show=False,
            tooltip="Diff the highlighted model against the first other model (totals and per module)",
        ),
        Binding("escape", "back", "Clear filter", show=False),
    ]

    _shown_sort: str | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar("compare")
        yield GridTable(empty_text="No models selected: press c for the catalog, or a for a custom model.")
        yield FilterInput(placeholder="filter models: words in the name")
        yield Static(id="detail")
        yield RankingsPanel()
        yield AppFooter()

    # -- view ---------------------------------------------------------------------------------------
    def shown_columns(self) -> list:  # noqa: ANN201 (metrics_core.report.columns.Column)
        """``COMPARISON_TABLE`` less the optional groups with nothing to show: measured columns
        until a benchmark is started (``b``), peak memory when no analysis has it, active parameters
        when no model is a mixture of experts, the int8 size when the bytes already are int8."""
        s = self.app.session
        out = []
        for c in COMPARISON_TABLE:
            if c.key == "active_params" and not s.has_active_params():
                continue
            if c.group == MEASURED_GROUP and not s.bench:
                continue
            if c.group == MEMORY_GROUP and not s.has_memory():
                continue
            if c.key == "size_mb_int8" and s.analysed[0] == "int8":  # the same figure as Size MB int8
                continue
            out.append(c)
        return out

    def columns(self) -> list[GridColumn]:
        s = self.app.session
        groups = {
            ESTIMATE_GROUP: f"{s.target_label} peak {s.analysed[1]} (est., {s.modes_label})",
            MEASURED_GROUP: f"Measured on {self.app.bench_device or 'this machine'}",
        }
        cols = [
            GridColumn("model", "Model", numeric=False, max_width=30),
            GridColumn("status", "", numeric=False),
        ]
        for c in self.shown_columns():
            # the models' analysed dtype (a bf16 model with no dtype chosen: bf16); "per model": each
            # size cell names its own
            header = f"Size MB {s.analysed[0]}" if c.key == "size_mb" else c.header
            cols.append(GridColumn(c.key, header, groups.get(c.group, c.group), c.numeric))
        return cols

    def rows(self) -> list[GridRow]:
        s = self.app.session
        text = self.query_one(FilterInput).value
        shown = self.shown_columns()
        per_model = s.analysed[0] == PER_MODEL
        out = []
        for name in s.ordered():
            if text and not matches(name, text):
                continue
            report = s.reports.get(name)
            if report is None:
                out.append(GridRow(name, [name, PENDING_MARK], "pending", span="analysing…"))
                continue
            if report.error is not None or report.metrics is None:
                out.append(GridRow(name, [name, ERROR_MARK], "error", span=f"error: {report.error}"))
                continue
            if not records_loaded(report):
                self.app.ensure_records(name)  # estimates need the records: loaded in a worker
            estimate = s.estimate(name)
            cells = [name, OK_MARK if report.coverage.complete else PARTIAL_MARK]
            bench = self.bench_cells(name)
            for c in shown:
                if c.key in bench:
                    cells.append(bench[c.key])
                elif c.key.startswith("est_") and estimate is None:
                    cells.append(PENDING_MARK)
                elif c.key == "size_mb" and per_model:
                    cells.append(f"{c.fmt(s.value(name, c.key))} {report.dtype}")
                else:
                    cells.append(c.fmt(s.value(name, c.key)))
            styles = {"est_bound": estimate.bound} if estimate is not None else {}
            if not report.coverage.complete:
                styles["status"] = "memory"
            out.append(GridRow(name, cells, cell_styles=styles))
        return out

    def bench_cells(self, name: str) -> dict[str, str]:
        """Measured cells that say where a benchmark is instead of a value (queued, running, error)."""
        state = self.app.session.bench.get(name)
        if state is None or state.status == "done":
            return {}
        first, *rest = (c.key for c in MEASURED_COLUMNS)
        if state.status == "queued":
            text = "queued"
        elif state.status == "running":
            text = f"{state.phase}…"  # the status bar counts the passes
        else:
            text = "error"
        return {first: text, **dict.fromkeys(rest, "")}

    def refresh_view(self) -> None:
        if not self.ready:
            return
        s = self.app.session
        table = self.table
        table.set_columns(self.columns(), fixed=2)
        table.set_sort(column_of(s.sort_key), bool(s.sort_direction()))
        table.corner = self.sort_text()
        table.set_rows(self.rows())
        if s.sort_key != self._shown_sort:
            self._shown_sort = s.sort_key
            if s.sort_key is not None:
                self.call_after_refresh(table.scroll_to_column, column_of(s.sort_key))
        self.query_one(StatusBar).update(s, self.app.analysing)
        self.query_one(RankingsPanel).show(s.ok_reports())
        self._update_detail(table.cursor_key)

    def sort_text(self) -> str:
        """``sort: MACs ▲`` (the sort column may be scrolled out of view), or the selection order."""
        s = self.app.session
        if s.sort_key is None:
            return "order: as selected"
        from metrics_core.report.sorting import SEED_SORT_KEYS

        seed = {metric: key for key, (metric, _) in SEED_SORT_KEYS.items()}
        column = column_of(s.sort_key)
        header = next((c.header for c in self.table.columns if c.key == column), s.sort_key)
        name = seed.get(s.sort_key, header)  # the seed's names say "memory", not the column's "Total"
        return f"sort: {name} {DESCENDING_MARK if s.sort_direction() else ASCENDING_MARK}"

    def _update_detail(self, name: str | None) -> None:
        detail = self.query_one("#detail", Static)
        report = self.app.session.reports.get(name) if name else None
        bench = self.app.session.bench.get(name) if name else None
        failed = (report is not None and report.error is not None) or (bench is not None and bench.error)
        detail.set_class(bool(failed), "-error")  # errors wrap
        detail.update(self.detail_text(name))

    def detail_text(self, name: str | None) -> str:
        """One line about the highlighted model: error, benchmark, coverage, published figures."""
        s = self.app.session
        if name is None:
            return ""
        report = s.reports.get(name)
        if report is None:
            return f"{name}: analysing…"
        if report.error is not None:
            return f"{name}: error: {row_error(name, report.error)}"
        bench = s.bench.get(name)
        if bench is not None and bench.error is not None:
            return f"{name}: benchmark failed: {bench.error}"
        parts = [
            name,
            f"{report.family or report.task}",
            f"fed {describe_inputs(report.inputs)}"
            if report.inputs
            else units.human_shape([report.batch_size, *report.input_shape]),
        ]

        ref = report.reference or {}
        if ref.get("num_params") is not None:
            parts.append(f"published {units.human_params(ref['num_params'])} params")
        if ref.get("gmacs") is not None:
            parts.append(f"{units.fixed(ref['gmacs'])} GMACs")
        acc = accuracy_fields(report)
        if acc["acc1"] is not None:
            weights = (acc["acc_weights"] or "").rsplit(".", 1)[-1]
            parts.append(f"top-1 {acc['acc1']:.3f}% ({weights} at {acc['acc_resolution']} px)")
            if acc["acc_note"]:
                parts.append(acc["acc_note"].upper()[:1] + acc["acc_note"][1:])
        if report.coverage.complete:
            parts.append("coverage full")
        else:
            ops = ", ".join(f"{op} x{n}" for op, n in sorted(report.coverage.uncovered.items()))
            parts.append(f"PARTIAL coverage, no rule for {ops}")
        if bench is not None and bench.result is not None:
            r = bench.result
            threads = f", {r.threads} threads" if r.threads else ""
            parts.append(f"measured: median of {r.iters} passes on {r.device_name}{threads}")
        memory = report.extras.get("memory") or {}
        if memory.get("peak_module"):
            parts.append(f"peak memory at {memory['peak_module']} ({memory.get('peak_op')})")
        return " · ".join(parts)

    @on(GridTable.Highlighted)
    def _highlighted(self, message: GridTable.Highlighted) -> None:
        self._update_detail(message.key)

    @on(GridTable.Selected)
    def _selected(self, message: GridTable.Selected) -> None:
        self.open_layers(message.key)

    @on(GridTable.HeaderClicked)
    def _header_clicked(self, message: GridTable.HeaderClicked) -> None:
        if message.column in SORTABLE_COMPARISON:
            s = self.app.session
            if column_of(s.sort_key) == message.column:
                s.reverse = not s.reverse
            else:
                s.set_sort(message.column)
            self._sorted()

    # -- actions ------------------------------------------------------------------------------------
    def open_layers(self, name: str | None) -> None:
        from tui.app.screens.layers import LayersScreen

        if name is None:
            return
        report = self.app.session.reports.get(name)
        if report is None:
            self.notify(f"{name} is still being analysed", severity="warning")
        elif not report.ok:
            self.notify(model_error(name, report.error), title="No layers", severity="error")
        elif records_loaded(report) and not report.records:
            self.notify(f"{name}: no per-op records (engine {report.engine})", severity="warning")
        else:
            self.app.push_screen(LayersScreen(name))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``T`` shows in the footer from ``TRAIN_FOOTER_WIDTH`` columns (at 80 the ten other keys fill it:
        False leaves it out, and the app's own ``T``, not shown, answers the key at any width)."""
        if action == "train":
            return self.size.width >= TRAIN_FOOTER_WIDTH
        return True

    def on_resize(self) -> None:
        self.refresh_bindings()

    def action_train(self) -> None:
        self.app.action_train()

    def action_llm(self) -> None:
        self.app.action_llm(self.table.cursor_key)

    def action_diff(self) -> None:
        """The highlighted model against the first other model in the table's order (``DiffScreen``)."""
        from tui.app.screens.diff import DiffScreen

        current = self.table.cursor_key
        order = [n for n in self.app.session.ordered() if n != current]
        if current is None or not order:
            self.app.notify("Diff needs two analysed models: add another (c or a).", title="Diff", timeout=4)
            return
        self.app.push_screen(DiffScreen(order[0], current))

    def action_layers(self) -> None:
        self.open_layers(self.table.cursor_key)

    def _sorted(self) -> None:
        """After a sort change: the sort column in view and the cursor on the first row (scrolled up)."""
        self.refresh_view()
        if self.app.session.sort_key:
            self.table.scroll_to_column(column_of(self.app.session.sort_key))
        self.table.action_jump(0)

    def action_seed_sort(self, key: str) -> None:
        self.app.session.set_sort(key)
        self._sorted()

    def action_cycle_sort(self) -> None:
        """Next of the seed's sort keys (params, flops, macs, memory, efficiency, ai)."""
        from metrics_core.report.sorting import SEED_SORT_KEYS

        metrics = [SEED_SORT_KEYS[k][0] for k in SEED_KEYS]
        current = self.app.session.sort_key
        i = metrics.index(current) + 1 if current in metrics else 0
        self.action_seed_sort(SEED_KEYS[i % len(SEED_KEYS)])

    def action_move_sort(self, step: int) -> None:
        """Move the sort to the previous/next sortable column, in table order (estimates included)."""
        order = [c.key for c in self.table.columns if c.key in SORTABLE_COMPARISON]
        current = column_of(self.app.session.sort_key)
        i = order.index(current) + step if current in order else (0 if step > 0 else len(order) - 1)
        self.app.session.set_sort(order[i % len(order)])
        self._sorted()

    def action_reverse(self) -> None:
        s = self.app.session
        if s.sort_key is None:
            s.set_sort("model")
        s.reverse = not s.reverse
        self._sorted()

    def action_back(self) -> None:
        if self.clear_filter():
            self.refresh_view()

    def action_remove(self) -> None:
        name = self.table.cursor_key
        if name is not None:
            self.app.remove_model(name)
            self.notify(f"removed {name}")

    def show_measured(self) -> None:
        """Scroll the measured columns into view (a benchmark has started), as little as needed: they
        sit right of the estimates they are compared with."""
        self.table.scroll_to_column(MEASURED_COLUMNS[-1].key)

    def action_toggle_rankings(self) -> None:
        self.query_one(RankingsPanel).toggle_class("-hidden")

    def action_export(self) -> None:
        from tui.app.exporting import comparison_table
        from tui.app.screens.export import ExportScreen

        names = self.table.row_keys
        if not names:
            self.notify("nothing to export: select models first", severity="warning")
            return
        self.app.push_screen(
            ExportScreen(comparison_table(self.app.session, names), "modeltui-comparison.csv")
        )
