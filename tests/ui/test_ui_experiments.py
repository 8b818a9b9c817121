"""The Experiments screen (key 5): grids, a grid's cells, its report and chart; enter on a cell
opens its run through the App (``OpenRun``), and escape there comes back."""

from __future__ import annotations

from dataclasses import replace

from textual.message import Message
from textual.widgets import DataTable

from sa_tui.data import CellView, ReportView
from sa_tui.messages import OpenRun
from sa_tui.screens.experiment_rows import (
    accuracy_text,
    cell_layout,
    compact_numbers,
    delta_text,
    fit,
    fit_parts,
    report_header,
    report_row,
    report_summary,
)
from sa_tui.screens.experiments import ExperimentsScreen
from sa_tui.screens.run_detail import RunDetailScreen
from sa_tui.widgets.interval_chart import IntervalBar, IntervalChart, chart_lines, nice_scale
from tests.ui.fakes import FakeData, demo_cells, demo_report
from tests.ui.helpers import screen_text, settle


async def _open_first(pilot) -> None:
    await pilot.press("5")
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


async def test_lists_grids_opens_cells_and_switches_to_the_report(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await settle(pilot)
        assert isinstance(app.screen, ExperimentsScreen) and app.current_mode == "experiments"
        assert app.screen.query_one("#experiments-table", DataTable).row_count == 3
        text = screen_text(app)
        assert "x5e1f00d" in text and "✓ done" in text and "! interrupted" in text
        assert "3/3" in text and "0-2" in text  # cells done/total, seeds
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.query_one("#cells-table", DataTable).row_count == 3
        text = screen_text(app)
        assert "every cell: model smollm2-135m  dataset snarks" in text
        assert "run run0101dddd (enter opens it)" in text and "deeplift .430" in text
        assert "⏎ Open" in text and "esc Back" in text  # the footer shows the keys
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert app.screen.query_one("#report-table", DataTable).row_count == 7
        text = screen_text(app)
        assert "Δ io  p" in text and "+.103 .012*" in text and "-.067 <.001*" in text
        assert "0.450 ▲" in text and "0.280 ▼" in text  # the chart's markers, not colour only
        assert "├" in text and "●" in text and "┤" in text
        assert "differs from io (Holm p<0.05)" in text
        lines = text.splitlines()
        assert len(lines) == 24 and max(len(line) for line in lines) <= 80
        # the whole report fits: the last bar, the axis and the legend above the footer
        bar = next(i for i, line in enumerate(lines) if "auto_cot" in line and "┤" in line)
        assert "0.6" in lines[bar + 1] and "● mean" in lines[bar + 2] and bar + 2 < 23


async def test_a_grid_without_finished_cells_says_so(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await settle(pilot)
        await pilot.press("down", "enter")  # x77aa01b: running, no finished cell
        await settle(pilot)
        assert "▶ running" in screen_text(app) and "○ pending" in screen_text(app)
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert "No finished cells yet (0 of 2)" in screen_text(app)
        assert app.screen.query_one("#report-chart", IntervalChart).bars == []
        assert not app.screen.query_one("#report-table", DataTable).display


async def test_enter_on_a_cell_opens_its_run_and_escape_comes_back(make_app) -> None:
    requests: list[OpenRun] = []

    def hook(message: Message) -> None:  # called again as the message bubbles up
        if isinstance(message, OpenRun) and message not in requests:
            requests.append(message)

    app = make_app()
    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        await _open_first(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert [(r.run_id, r.back_to) for r in requests] == [("run0102eeee", "experiments")]
        assert isinstance(app.screen, RunDetailScreen) and app.screen.run_id == "run0102eeee"
        assert app.current_mode == "runs"
        assert "seed=1" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        assert app.current_mode == "experiments" and isinstance(app.screen, ExperimentsScreen)
        assert app.screen.query_one("#cells-table", DataTable).cursor_row == 1  # as left
        await pilot.press("3")  # the Runs list itself was left as it was
        await settle(pilot)
        assert not isinstance(app.screen, RunDetailScreen)


async def test_a_pending_cell_has_no_run_to_open(make_app) -> None:
    requests: list[Message] = []
    app = make_app()
    async with app.run_test(
        size=(80, 24), message_hook=lambda m: requests.append(m) if isinstance(m, OpenRun) else None
    ) as pilot:
        await pilot.press("5")
        await settle(pilot)
        await pilot.press("down", "down", "enter")  # x0c0ffee: its last cell is pending
        await settle(pilot)
        await pilot.press("down", "down", "down", "enter")
        await settle(pilot)
        assert requests == [] and isinstance(app.screen, ExperimentsScreen)
        assert "no run yet" in screen_text(app)


async def test_refresh_reloads_and_escape_goes_back_to_the_list(make_app) -> None:
    data = FakeData()
    app = make_app(data=data)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_first(pilot)
        assert data.report_calls == ["x5e1f00d"]
        assert not app.screen.query_one("#experiments-table", DataTable).display  # short screen
        data.cell_rows["x5e1f00d"][0] = replace(data.cell_rows["x5e1f00d"][0], state="failed")
        await pilot.press("r")
        await settle(pilot)
        assert data.report_calls == ["x5e1f00d", "x5e1f00d"]
        assert "✗ failed" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        screen = app.screen
        assert screen.opened is None and screen.query_one("#experiments-table").display
        assert isinstance(app.focused, DataTable) and app.focused.id == "experiments-table"
        assert "esc Back" not in screen_text(app)


async def test_a_tall_screen_keeps_the_list_above_the_opened_grid(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _open_first(pilot)
        assert app.screen.query_one("#experiments-table", DataTable).display
        text = screen_text(app)
        # wide enough for a column per method; the shared axes are on the line above
        assert "every cell: model smollm2-135m" in text
        assert "seed  state   run       zero_shot  io    deeplift" in text


async def test_g_cycles_the_report_groups(make_app) -> None:
    data = FakeData()
    two = demo_report()
    other = [replace(row, dataset="builtin:causal-judgment") for row in two.rows[:2]]
    data.experiment_report = lambda experiment_id: replace(two, rows=two.rows + other)  # type: ignore[method-assign]
    app = make_app(data=data)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_first(pilot)
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert "group 1/2 (g: next)" in screen_text(app) and "g Group" in screen_text(app)
        await pilot.press("g")
        await settle(pilot)
        assert "causal-judgment" in screen_text(app)
        assert app.screen.query_one("#report-table", DataTable).row_count == 2


async def test_the_fifth_screen_is_in_the_navbar_help_and_palette(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert " 5 Experiments" in screen_text(app).splitlines()[0]
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Go to Experiments" in titles
        await pilot.press("5")
        await settle(pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Experiments: Refresh" in titles and "Experiments: Cells/Report" in titles
        await pilot.press("question_mark")
        await settle(pilot)
        assert "Experiments" in screen_text(app) and "[ ]" in screen_text(app)


async def test_no_experiments_says_how_to_run_one(make_app) -> None:
    app = make_app(data=FakeData(empty=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await settle(pilot)
        assert "No experiments yet" in screen_text(app)
        await pilot.press("enter", "right_square_bracket")
        await settle(pilot)
        assert app.screen.opened is None


# ------------------------------------------------------------------------------ pure helpers
def test_fit_and_fit_parts_cut_visibly() -> None:
    assert fit("smollm2-135m", 8) == "smollm2…" and fit("io", 8) == "io"
    assert fit_parts(["a" * 10, "bb", "c" * 20, "dd"], 18) == "aaaaaaaaaa  bb  dd"
    assert fit_parts(["a" * 10, "bb"], 6) == "aaaaa…"
    assert compact_numbers([2, 0, 1]) == "0-2" and compact_numbers([0, 5]) == "0,5"


def test_accuracy_text_falls_back_to_the_best_method() -> None:
    accuracies = {"io": 0.347, "ph_cot": 0.5, "deeplift": 0.41}
    assert accuracy_text(accuracies, 60) == "io .347  ph_cot .500  deeplift .410"
    assert accuracy_text(accuracies, 32) == "io .35 ph_cot .50 deeplift .41"
    assert accuracy_text(accuracies, 20) == "best ph_cot .500 +2"
    assert accuracy_text({}, 20) == ""


def test_cell_layout_is_the_first_that_fits() -> None:
    cells = demo_cells()["x5e1f00d"]
    wide = cell_layout(cells, 139)
    assert wide.axes == ["model", "dataset", "strategy", "n"] and len(wide.methods) == 7
    medium = cell_layout(cells, 119)  # the axes every cell shares make way for the methods
    assert medium.axes == [] and len(medium.methods) == 7
    narrow = cell_layout(cells, 79)
    assert narrow.axes == [] and narrow.methods == [] and narrow.header()[-1] == "accuracy"
    assert narrow.row(cells[0])[:3] == ("0", "✓ done", "run0101d")
    mixed = demo_cells()["x0c0ffee"]
    assert cell_layout(mixed, 79).axes == ["dataset"]  # only the axis that varies
    pending = CellView("m", "d", "success", 2, 0, "pending")
    assert cell_layout([pending], 79).row(pending)[1:3] == ("○ pending", "—")


def test_report_rows_fit_in_80_columns() -> None:
    report = demo_report()
    header = report_header(report.baselines)
    assert header == ("method", "acc", "95% CI", "Δ io  p", "Δ 0-shot  p", "W/T/L", "unp", "s/seed")
    rows = [report_row(row, report.baselines) for row in report.rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) + 2 for i, h in enumerate(header)]
    assert sum(widths) <= 78
    ph_cot = next(r for r in rows if r[0] == "ph_cot")
    assert ph_cot[1:4] == ("0.280", "[.20,.36]", "-.067 <.001*") and ph_cot[6] == "44"
    io = next(r for r in rows if r[0] == "io")
    assert io[3] == "—" and io[5] == "—"
    assert delta_text(None) == "—"
    partial = replace(report, cells_finished=2, cells_total=3)
    assert "2 of 3 cells finished" in report_summary(partial, 0, 1, 120)


def test_chart_draws_whiskers_mean_and_reference_on_a_shared_scale() -> None:
    bars = [
        IntervalBar("io", 0.35, 0.25, 0.45, "0.350"),
        IntervalBar("ph_cot", 0.55, 0.5, 0.6, "0.550", "▲", "$success"),
    ]
    lines = [line.plain for line in chart_lines(bars, 60, reference=0.35)]
    assert len(lines) == 3 and all(len(line) <= 60 for line in lines)
    io, ph_cot, axis = lines
    assert io.startswith("io     ") and io.rstrip().endswith("0.350")
    assert ph_cot.rstrip().endswith("0.550 ▲") and "┊" in ph_cot
    assert io.index("├") < io.index("●") < io.index("┤") < ph_cot.index("├")
    assert ph_cot.index("┊") == io.index("●")  # the reference line sits at io's mean
    assert "0.2" in axis and "0.6" in axis
    scale = nice_scale([0.25, 0.6], 50)
    assert scale.low == 0.2 and scale.high == 0.6 and scale.column(0.2) == 0
    assert scale.column(0.6) == 49
    single = chart_lines([IntervalBar("a", 0.5, 0.5, 0.5, "0.500")], 40)[0].plain
    assert single.count("●") == 1 and "├" not in single


def test_an_empty_report_view_has_no_rows() -> None:
    assert ReportView("x1").rows == [] and ReportView("x1").baselines == ("io", "zero_shot")
