"""``sa-tui experiment``: a grid without the UI: every cell checked before anything is written,
a cost estimate, one line per cell, then the report (Markdown on stdout; Markdown, CSV and JSON
in ``--report DIR``). Stopped with Ctrl-C, the same command continues where it stopped.
Exit codes as ``sa-tui run`` (see :mod:`jobs.headless`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from core.errors import SaTuiError
from core.progress import CancelToken, Progress
from jobs.executors import ExecutorChoice
from jobs.experiment import CellOutcome, Grid
from jobs.headless import EXIT_OK, guarded_main
from jobs.outputs import check_creatable, check_output_file, write_output

if TYPE_CHECKING:
    from store.facade import Store

REPORT_FILES = {"md": "report.md", "csv": "report.csv", "json": "report.json"}


def run_experiment_headless(
    grid: Grid, *, report_dir: Path | None = None, executor: ExecutorChoice | None = None
) -> int:
    choice = executor or ExecutorChoice()
    return guarded_main(
        "experiment.log",
        lambda console, cancel, started: _run(grid, report_dir, choice, console, cancel),
        resume_hint="",
    )


def show_report(experiment_id: str, *, report_dir: Path | None = None) -> int:
    """The report of a stored experiment (finished cells only), without running anything."""

    def body(console: Console, cancel: CancelToken, started: list[str]) -> int:
        from store.facade import Store

        if report_dir is not None:
            check_report_dir(report_dir)
        with Store.open() as store:
            experiment = store.get_experiment(experiment_id)
            _report(store, experiment.config, report_dir, console)
        return EXIT_OK

    return guarded_main("experiment.log", body, resume_hint="")


def _run(
    grid: Grid,
    report_dir: Path | None,
    choice: ExecutorChoice,
    console: Console,
    cancel: CancelToken,
) -> int:
    from jobs.experiment import pending_cells, plan_estimate, run_grid
    from jobs.preflight import preflight
    from store.facade import Store

    grid.validate()
    choice.validate()
    cells = grid.cells()
    for cell in cells:  # every cell's inputs are checked before anything is written
        preflight(cell.config)
    if report_dir is not None:
        check_report_dir(report_dir)
    with Store.open() as store:
        console.print(plan_estimate(store, cells), highlight=False, soft_wrap=True)
        if choice.kind == "ray" and not pending_cells(store, cells):
            choice = ExecutorChoice()  # nothing to compute: Ray is not even started
        cpu_only = (grid.template.device or "").startswith("cpu")
        with choice.build(cpu_only=cpu_only) as executor, CellStatus(console) as status:
            if choice.kind == "ray":
                console.print(f"executor: {executor.describe()}", highlight=False, soft_wrap=True)
            record, _ = run_grid(
                grid,
                store,
                cancel=cancel,
                progress=status.progress,
                on_cell=status.cell_done,
                executor=executor,
            )
        console.print(f"experiment {record.id}: {record.cells} cells done", highlight=False)
        _report(store, record.config, report_dir, console)
    return EXIT_OK


def _report(
    store: Store, config: dict[str, Any], report_dir: Path | None, console: Console
) -> None:
    from core.report import build_report, to_csv, to_json, to_markdown
    from jobs.experiment import cell_results

    results = cell_results(store, config)
    if not results:
        console.print("no finished cells yet: nothing to report", highlight=False)
        return
    report = build_report(results)
    markdown = to_markdown(report)
    Console().print(markdown, markup=False, highlight=False, soft_wrap=True)
    if report_dir is not None:
        texts = {
            "md": markdown,
            "csv": to_csv(report),
            "json": json.dumps(to_json(report), indent=2) + "\n",
        }
        for kind, target in zip(REPORT_FILES, check_report_dir(report_dir), strict=True):
            write_output(target, f"report-{kind}", texts[kind])
        console.print(f"wrote the report to {report_dir.resolve()}", highlight=False)


def check_report_dir(folder: Path) -> list[Path]:
    """The report files' paths, refused (one sentence) before any work when one of them is not
    sa-tui's to replace or the folder cannot be made."""
    if folder.exists() and not folder.is_dir():
        raise SaTuiError(f"--report {folder} is a file; give a folder")
    targets = [
        check_output_file(folder / name, f"report-{kind}", "--report")
        for kind, name in REPORT_FILES.items()
    ]
    check_creatable(folder, "--report")
    return targets


class CellStatus:
    """One line per finished cell; on a terminal, a live line for the cell at work."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = console.status("", spinner="dots") if console.is_terminal else None
        self.index = 1

    def __enter__(self) -> CellStatus:
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def progress(self, report: Progress) -> None:
        if self.live is not None:
            detail = f" {report.detail}" if report.detail else ""
            self.live.update(
                f"cell {self.index}: {report.stage} {report.done}/{report.total}{detail[:50]}"
            )

    def cell_done(self, index: int, total: int, outcome: CellOutcome) -> None:
        self.index = index + 1
        how = "reused" if outcome.reused else f"{outcome.seconds:.0f} s"
        scores = " ".join(f"{m} {a:.3f}" for m, a in outcome.accuracies.items())
        self.console.print(
            f"[{index}/{total}] {outcome.cell.label}: {how}, run {outcome.run_id}; {scores}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
