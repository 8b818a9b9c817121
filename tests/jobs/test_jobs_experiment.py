"""Experiment grids on a tiny model: one run per cell, finished cells reused, a stopped grid
continued, the report built from the store, and the CLI's refusals before any work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import CancelledError, ConfigError
from core.progress import CancelToken
from core.report import build_report, to_markdown
from jobs.experiment import Grid, cell_results, plan_estimate, run_grid
from jobs.models import ModelSlot
from store.facade import Store
from tests.jobs.grid_helpers import tiny_grid

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(_isolated_home: Path):
    opened = Store.open()
    yield opened
    opened.close()


def _run(grid: Grid, store: Store, slot: ModelSlot, **kwargs):
    return run_grid(
        grid, store, cancel=CancelToken(), progress=lambda _: None, models=slot, **kwargs
    )


def test_a_grid_runs_each_cell_once_and_reuses_finished_cells(
    store: Store, tiny_model_dir: Path, tiny_dataset_dir: Path
) -> None:
    grid = tiny_grid(tiny_model_dir, tiny_dataset_dir)
    assert [c.config.seed for c in grid.cells()] == [0, 1]
    assert plan_estimate(store, grid.cells()).startswith("2 cells: 0 done, 2 to run")
    slot = ModelSlot()
    record, outcomes = _run(grid, store, slot)
    assert record.status == "done" and record.cells == record.cells_done == 2
    assert [o.reused for o in outcomes] == [False, False]
    assert all(set(o.accuracies) == {"zero_shot", "io", "ph_cot"} for o in outcomes)
    runs = store.list_runs(limit=50)
    assert len(runs) == 2 and all(run.status == "done" for run in runs)

    # the same grid again: the same experiment, every cell reused, no new run
    assert plan_estimate(store, grid.cells()).startswith("2 cells, all done")
    again, outcomes = _run(grid, store, slot)
    assert again.id == record.id and all(o.reused for o in outcomes)
    assert len(store.list_runs(limit=50)) == 2
    assert [e.id for e in store.list_experiments()] == [record.id]

    results = cell_results(store, again.config)
    assert {(r.seed, r.method) for r in results} == {
        (seed, method) for seed in (0, 1) for method in ("zero_shot", "io", "ph_cot")
    }
    assert all(len(r.correct) == 4 and len(r.item_ids) == 4 for r in results)
    report = build_report(results)
    assert {row.method for row in report.rows} == {"zero_shot", "io", "ph_cot"}
    markdown = to_markdown(report)
    assert "ph_cot" in markdown and "io" in markdown


def test_a_stopped_grid_continues_where_it_stopped(
    store: Store, tiny_model_dir: Path, tiny_dataset_dir: Path
) -> None:
    grid = tiny_grid(tiny_model_dir, tiny_dataset_dir, seeds=(0, 1, 2))
    cancel = CancelToken()
    with pytest.raises(CancelledError):
        run_grid(
            grid,
            store,
            cancel=cancel,
            progress=lambda _: None,
            on_cell=lambda index, total, outcome: cancel.cancel() if index == 1 else None,
        )
    stopped = store.list_experiments()[0]
    assert stopped.status == "cancelled" and stopped.cells_done == 1
    record, outcomes = _run(grid, store, ModelSlot())
    assert record.id == stopped.id and record.status == "done"
    assert [o.reused for o in outcomes] == [True, False, False]


def test_a_grid_refuses_empty_or_repeated_axes(tiny_model_dir: Path, tiny_dataset_dir: Path):
    with pytest.raises(ConfigError, match="listed twice in the grid's seeds"):
        tiny_grid(tiny_model_dir, tiny_dataset_dir, seeds=(0, 0))
    with pytest.raises(ConfigError, match="no shots"):
        tiny_grid(tiny_model_dir, tiny_dataset_dir, shots=())
    with pytest.raises(ConfigError, match="--shots must be at least 1"):
        tiny_grid(tiny_model_dir, tiny_dataset_dir, shots=(0,))


def _cli(*args: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sa_tui", *args],
        cwd=ROOT,
        env={**os.environ, "SA_TUI_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_experiment_command_end_to_end(
    tiny_model_dir: Path, tiny_dataset_dir: Path, tmp_path: Path, _isolated_home: Path
) -> None:
    report_dir = tmp_path / "report"
    args = ["experiment", "--model", str(tiny_model_dir), "--dataset", str(tiny_dataset_dir)]
    args += ["--method", "zero_shot,io", "--strategy", "random", "--shots", "2"]
    args += ["--seeds", "0,1", "--answer-mode", "cloze", "--test-limit", "4", "--device", "cpu"]
    first = _cli(*args, "--report", str(report_dir), home=_isolated_home)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Traceback" not in first.stderr and "Warning" not in first.stderr
    lines = [line for line in first.stderr.splitlines() if line.startswith("[")]
    assert len(lines) == 2 and lines[0].startswith("[1/2]") and "seed=0" in lines[0]
    assert "| io" in first.stdout or "io" in first.stdout
    data = json.loads((report_dir / "report.json").read_text())
    assert data and (report_dir / "report.md").is_file() and (report_dir / "report.csv").is_file()

    second = _cli(*args, "--report", str(report_dir), home=_isolated_home)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "all done" in second.stderr and second.stderr.count("reused") == 2

    listing = _cli("experiments", "list", "--format", "json", home=_isolated_home)
    experiments = json.loads(listing.stdout)
    assert len(experiments) == 1 and experiments[0]["status"] == "done"
    shown = _cli("experiments", "show", experiments[0]["id"][:5], home=_isolated_home)
    assert shown.returncode == 0 and "zero_shot" in shown.stdout


def test_bad_experiment_input_is_refused_before_any_work(
    tiny_model_dir: Path, tiny_dataset_dir: Path, tmp_path: Path, _isolated_home: Path
) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "report.md").write_text("my own notes")
    base = ["experiment", "--model", str(tiny_model_dir), "--dataset", str(tiny_dataset_dir)]
    base += ["--method", "io", "--test-limit", "2"]
    cases = {
        "seeds not numbers": [*base, "--seeds", "a,b"],
        "repeated seed": [*base, "--seeds", "1,1"],
        "unknown method": [*base[:-4], "--method", "io,cot", "--test-limit", "2"],
        "too many test items": [*base[:-2], "--test-limit", "500"],
        "missing model": [
            "experiment",
            "--model",
            str(tmp_path / "none"),
            "--dataset",
            str(tiny_dataset_dir),
            "--method",
            "io",
        ],
        "a report folder sa-tui did not write": [*base, "--report", str(foreign)],
    }
    for name, argv in cases.items():
        process = _cli(*argv, home=_isolated_home)
        errors = [line for line in process.stderr.splitlines() if line.startswith("error:")]
        assert process.returncode == 2, (name, process.stderr[-2000:])
        assert len(errors) == 1 and "Traceback" not in process.stderr, (name, process.stderr)
    assert (foreign / "report.md").read_text() == "my own notes"
    listing = _cli("experiments", "list", "--format", "json", home=_isolated_home)
    assert json.loads(listing.stdout) == []
    runs = _cli("runs", "list", "--format", "json", home=_isolated_home)
    assert json.loads(runs.stdout) == []
