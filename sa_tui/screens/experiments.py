"""Experiments: the stored grids, one grid's cells with their state, and its report (a table and
an interval chart of each method's accuracy). **enter** on a cell opens its run on the Runs screen
(through the App: ``OpenRun``), and escape there comes back here.

On a short terminal the list of grids makes way for the opened grid; escape brings it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from sa_tui.data import CellView, ExperimentView, ReportView
from sa_tui.messages import OpenRun
from sa_tui.screens.experiment_rows import (
    EXPERIMENT_COLUMNS,
    STATE_COLOURS,
    cell_detail,
    cell_layout,
    chart_bars,
    chart_legend,
    experiment_heading,
    experiment_row,
    flexible_widths,
    list_status,
    no_report_text,
    reference_baseline,
    report_groups,
    report_header,
    report_row,
    report_summary,
    report_tones,
    shared_axes,
)
from sa_tui.widgets.interval_chart import IntervalChart
from sa_tui.widgets.navbar import NavBar
from sa_tui.widgets.openable_table import OpenableTable

if TYPE_CHECKING:
    from sa_tui.app import SaTuiApp

TABS = ("cells-pane", "report-pane")
SHORT_HEIGHT = 34  # below this, an opened grid takes the whole screen


class ExperimentsScreen(Screen[None]):
    TITLE = "Experiments"
    BINDINGS = [
        Binding("enter", "open", "Open", show=False),  # the palette's; tables show theirs
        Binding(
            "left_square_bracket,right_square_bracket",
            "switch_tab",
            "Cells/Report",
            key_display="[ ]",
        ),
        Binding("g", "next_group", "Group"),
        Binding("r,f5", "refresh", "Refresh"),
        Binding("escape", "back", "Back"),
    ]

    HELP_KEYS = [
        ("enter", "open the grid (list) or the cell's run (Cells); escape there comes back"),
        ("[ ]", "switch between the grid's Cells and its Report"),
        ("g", "the report's next group (model, dataset, strategy, shots)"),
    ]

    app: SaTuiApp

    def __init__(self) -> None:
        super().__init__()
        self.experiments: list[ExperimentView] = []
        self.listed = False  # the list was read at least once
        self.opened: ExperimentView | None = None
        self.cells: list[CellView] = []
        self.report: ReportView | None = None
        self.report_error = ""
        self.group_index = 0

    def compose(self) -> ComposeResult:
        yield NavBar()
        with Vertical(id="experiments-screen"):
            yield OpenableTable(id="experiments-table", cursor_type="row", zebra_stripes=True)
            with Vertical(id="experiment-detail"):
                yield Static("", id="experiment-heading")
                with TabbedContent(id="experiment-tabs", initial="cells-pane"):
                    with TabPane("Cells", id="cells-pane"):
                        yield Static("", id="cells-shared")
                        yield OpenableTable(id="cells-table", cursor_type="row", zebra_stripes=True)
                        yield Static("", id="cell-detail")
                    with TabPane("Report", id="report-pane"):
                        with VerticalScroll(id="report-scroll"):
                            yield Static("", id="report-summary")
                            yield DataTable(id="report-table", cursor_type="row")
                            yield IntervalChart(id="report-chart")
            yield Static("", id="experiments-status", classes="status-line")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#experiments-table", DataTable).focus()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.redraw())
        self.load_list()
        self.set_interval(5.0, self._poll)

    def on_screen_resume(self) -> None:
        self.load_list()

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.height < SHORT_HEIGHT, "-short")
        self.redraw()

    def _poll(self) -> None:
        """While a grid runs (in another process), keep its progress fresh."""
        if self.is_current and any(e.status == "running" for e in self.experiments):
            self.load_list()

    # ----------------------------------------------------------------------------------- data
    def _fail(self, what: str, error: Exception) -> None:
        self.app.call_from_thread(
            self.app.show_error,
            f"{what} could not be read ({error})",
            "Press r to try again; check the data directory if it persists.",
        )

    @work(thread=True, exclusive=True, group="experiments-list")
    def load_list(self) -> None:
        try:
            experiments = self.app.data.experiments()
        except Exception as error:
            self._fail("the experiments", error)
            return
        self.app.call_from_thread(self.show_list, experiments)

    @work(thread=True, exclusive=True, group="experiment-cells")
    def load_cells(self, experiment_id: str) -> None:
        try:
            cells = self.app.data.experiment_cells(experiment_id)
        except Exception as error:
            self._fail(f"the cells of experiment {experiment_id}", error)
            return
        self.app.call_from_thread(self.show_cells, experiment_id, cells)

    @work(thread=True, exclusive=True, group="experiment-report")
    def load_report(self, experiment_id: str) -> None:
        try:
            report = self.app.data.experiment_report(experiment_id)
        except Exception as error:  # e.g. inconsistent stored results: said in the pane
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self.show_report_error, experiment_id, str(error))
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.show_report, experiment_id, report)

    def show_list(self, experiments: list[ExperimentView]) -> None:
        if self.listed and experiments == self.experiments:
            return  # a poll that found nothing new: leave the tables as they are
        self.experiments, self.listed = experiments, True
        if self.opened is not None:
            fresh = next((e for e in experiments if e.id == self.opened.id), None)
            if fresh is not None and fresh != self.opened:
                self.opened = fresh
                self.reload_opened()
        self.redraw()

    def show_cells(self, experiment_id: str, cells: list[CellView]) -> None:
        if self.opened is not None and self.opened.id == experiment_id:
            self.cells = cells
            self.draw_cells()

    def show_report(self, experiment_id: str, report: ReportView) -> None:
        if self.opened is not None and self.opened.id == experiment_id:
            self.report, self.report_error = report, ""
            self.group_index = min(self.group_index, max(0, len(report_groups(report)) - 1))
            self.draw_report()

    def show_report_error(self, experiment_id: str, error: str) -> None:
        if self.opened is not None and self.opened.id == experiment_id:
            self.report, self.report_error = None, error
            self.draw_report()

    def reload_opened(self) -> None:
        if self.opened is not None:
            self.load_cells(self.opened.id)
            self.load_report(self.opened.id)

    # -------------------------------------------------------------------------------- drawing
    def _colour(self, state: str) -> str:
        variable = STATE_COLOURS.get(state, "")
        return "dim" if variable == "text-muted" else self.app.theme_variables.get(variable, "")

    def _state_cell(self, text: str, state: str) -> Text:
        return Text(text, style=self._colour(state))

    def _table_width(self) -> int:
        return max(40, self.size.width - 1)

    def _line_width(self) -> int:
        """The width of a one-line Static (1 column of padding on each side)."""
        return max(38, self.size.width - 2)

    def redraw(self) -> None:
        self.draw_list()
        if self.opened is not None:
            self.draw_cells()
            self.draw_report()

    def draw_list(self) -> None:
        table = self.query_one("#experiments-table", DataTable)
        keep = table.cursor_row
        table.clear(columns=True)
        table.add_columns(*EXPERIMENT_COLUMNS)
        models_width, datasets_width = flexible_widths(self.experiments, self._table_width())
        for experiment in self.experiments:
            cells: list[Any] = list(experiment_row(experiment, models_width, datasets_width))
            cells[1] = self._state_cell(cells[1], experiment.status)
            table.add_row(*cells, key=experiment.id)
        table.move_cursor(row=min(max(keep, 0), max(0, len(self.experiments) - 1)))
        self.query_one("#experiments-status", Static).update(Content(list_status(self.experiments)))
        if self.opened is not None:
            heading = Content.styled(experiment_heading(self.opened, self._line_width()), "bold")
            if self.opened.error:
                heading += Content.styled(f"\nerror: {self.opened.error}", "$error")
            self.query_one("#experiment-heading", Static).update(heading)

    def draw_cells(self) -> None:
        table = self.query_one("#cells-table", DataTable)
        layout = cell_layout(self.cells, self._table_width())
        shared = shared_axes(self.cells, layout.axes)
        shared_line = self.query_one("#cells-shared", Static)
        shared_line.update(Content.styled(f"every cell: {shared}", "$text-muted"))
        shared_line.display = bool(shared)
        keep = table.cursor_row
        table.clear(columns=True)
        table.add_columns(*layout.header())
        for index, cell in enumerate(self.cells):
            values: list[Any] = list(layout.row(cell))
            state = layout.state_column
            values[state] = self._state_cell(values[state], cell.state)
            for column in range(state + 2, len(values)):  # accuracies, right-aligned
                values[column] = Text(values[column], justify="right" if layout.methods else "left")
            table.add_row(*values, key=str(index))
        table.move_cursor(row=min(max(keep, 0), max(0, len(self.cells) - 1)))
        self.show_cell_detail(table.cursor_row)

    def show_cell_detail(self, index: int) -> None:
        detail = self.query_one("#cell-detail", Static)
        if 0 <= index < len(self.cells):
            detail.update(Content(cell_detail(self.cells[index])))
        else:
            detail.update(Content.styled("Loading the cells…", "$text-muted"))

    @on(DataTable.RowHighlighted, "#cells-table")
    def _cell_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_cell_detail(event.cursor_row)

    def draw_report(self) -> None:
        summary = self.query_one("#report-summary", Static)
        table = self.query_one("#report-table", DataTable)
        chart = self.query_one("#report-chart", IntervalChart)
        report = self.report
        if report is None or not report.rows:
            table.display = False
            chart.show([])
            summary.update(Content.styled(*no_report_text(report, self.report_error)))
            return
        groups = report_groups(report)
        rows = groups[self.group_index].rows
        summary.update(
            Content.styled(
                report_summary(report, self.group_index, len(groups), self._line_width()),
                "bold",
            )
        )
        if not table.display:
            table.display = True
            if self.focused is self.query_one("#report-scroll", VerticalScroll):
                table.focus()
        table.clear(columns=True)
        table.add_columns(*report_header(report.baselines))
        for row in rows:
            method, *figures = report_row(row, report.baselines)
            tones = report_tones(row, report.baselines)[1:]
            table.add_row(
                method,
                *(
                    Text(text, style=f"bold {self._colour(tone)}" if tone else "", justify="right")
                    for text, tone in zip(figures, tones, strict=True)
                ),
            )
        reference = reference_baseline(rows, report.baselines)
        reference_value = next((r.accuracy for r in rows if r.method == reference), None)
        chart.show(
            chart_bars(rows, report.baselines),
            reference=reference_value,
            legend=chart_legend(reference, report.alpha),
        )

    # -------------------------------------------------------------------------------- actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("switch_tab", "back"):
            return self.opened is not None
        if action == "next_group":
            return self.report is not None and len(report_groups(self.report)) > 1
        return True

    def action_refresh(self) -> None:
        self.load_list()
        self.reload_opened()

    def action_open(self) -> None:
        focused = self.focused
        if isinstance(focused, DataTable) and focused.id == "cells-table":
            self.open_cell(focused.cursor_row)
        else:
            self.open_experiment(self.query_one("#experiments-table", DataTable).cursor_row)

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.data_table.id == "experiments-table":
            self.open_experiment(event.cursor_row)
        elif event.data_table.id == "cells-table":
            self.open_cell(event.cursor_row)

    def open_experiment(self, index: int) -> None:
        if not 0 <= index < len(self.experiments):
            return
        experiment = self.experiments[index]
        if self.opened is None or self.opened.id != experiment.id:
            self.cells, self.report, self.report_error, self.group_index = [], None, "", 0
        self.opened = experiment
        self.add_class("-opened")
        self.redraw()
        self.reload_opened()
        self.focus_tab_table()
        self.refresh_bindings()

    def open_cell(self, index: int) -> None:
        if not 0 <= index < len(self.cells):
            return
        cell = self.cells[index]
        if not cell.run_id:
            self.notify("This cell has no run yet: it is pending.")
            return
        self.post_message(OpenRun(cell.run_id, back_to="experiments"))

    def action_back(self) -> None:
        if self.opened is None:
            return
        self.opened = None
        self.remove_class("-opened")
        self.query_one("#experiments-table", DataTable).focus()
        self.refresh_bindings()

    def action_switch_tab(self) -> None:
        tabs = self.query_one("#experiment-tabs", TabbedContent)
        tabs.active = TABS[(TABS.index(tabs.active) + 1) % len(TABS)] if tabs.active else TABS[0]
        self.focus_tab_table()

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_bindings()

    def focus_tab_table(self) -> None:
        tabs = self.query_one("#experiment-tabs", TabbedContent)
        if tabs.active != "report-pane":
            self.query_one("#cells-table", DataTable).focus()
        elif self.query_one("#report-table", DataTable).display:
            self.query_one("#report-table", DataTable).focus()
        else:  # no report yet: nothing to select, but the pane still scrolls
            self.query_one("#report-scroll", VerticalScroll).focus()

    def action_next_group(self) -> None:
        if self.report is None or not self.report.rows:
            return
        self.group_index = (self.group_index + 1) % len(report_groups(self.report))
        self.draw_report()
