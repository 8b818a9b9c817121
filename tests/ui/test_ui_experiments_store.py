"""The Experiments data of ``StoreSource`` against a real Store: a grid record with no finished
cell (the report says so, nothing crashes), then one cell finished with scored predictions."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from textual.widgets import DataTable

from core.cache import content_hash
from sa_tui.screens.experiments import ExperimentsScreen
from sa_tui.store_source import StoreSource
from store.facade import Store
from tests.ui.helpers import screen_text, settle

MODEL, DATASET = "builtin:smollm2-135m", "builtin:snarks"
METHODS = ["io", "ph_cot"]


def _run_config(seed: int) -> dict[str, Any]:
    return {
        "model": MODEL,
        "dataset": DATASET,
        "strategy": "success",
        "shots": 2,
        "seed": seed,
        "methods": METHODS,
        "test_limit": 4,
    }


def grid_config(seeds: tuple[int, ...] = (0, 1)) -> dict[str, Any]:
    """An experiment configuration in the shape ``jobs.experiment.Grid.to_dict`` writes."""
    return {
        "models": [MODEL],
        "datasets": [DATASET],
        "strategies": ["success"],
        "shots": [2],
        "seeds": list(seeds),
        "settings": {"methods": METHODS, "test_limit": 4},
        "cells": [
            {
                "model": MODEL,
                "dataset": DATASET,
                "strategy": "success",
                "shots": 2,
                "seed": seed,
                "config_hash": content_hash(_run_config(seed)),
            }
            for seed in seeds
        ],
    }


def finish_cell(store: Store, seed: int, outcomes: dict[str, list[bool]]) -> str:
    """A done run of the cell with ``seed``, each method scored on the same items."""
    run = store.start_run(_run_config(seed))
    for method, correct in outcomes.items():
        version = store.save_prompt_version(
            f"smollm2-135m.snarks.{method}.success.n2",
            {"method": method, "model": MODEL, "dataset": DATASET, "context": f"{method} {seed}"},
            run_id=run.id,
        )
        predictions = [
            {"id": f"t{i}", "gold": "(a)", "pred": "(a)" if ok else "(b)", "correct": ok}
            for i, ok in enumerate(correct)
        ]
        store.save_score(
            version.id,
            run_id=run.id,
            metric="accuracy",
            value=sum(correct) / len(correct),
            n=len(correct),
            parse_failures=1 if method == "ph_cot" else 0,
            seconds=2.0,
            predictions=predictions,
        )
    store.finish_run(run.id, "done")
    return run.id


def _grid_store(path: Path) -> tuple[Store, str]:
    store = Store.open(path)
    experiment, created = store.start_experiment(grid_config(), cells=2)
    assert created
    store.update_experiment(experiment.id, status="running", cells_done=0)
    return store, experiment.id


def test_a_grid_without_finished_cells(tmp_path: Path) -> None:
    store, experiment_id = _grid_store(tmp_path / "sa-tui.db")
    source = StoreSource(tmp_path / "sa-tui.db")
    [view] = source.experiments()
    assert view.id == experiment_id and view.status == "running"
    assert (view.cells, view.cells_done, view.seeds, view.methods) == (
        2,
        0,
        (0, 1),
        ("io", "ph_cot"),
    )
    cells = source.experiment_cells(experiment_id[:5])  # a prefix is enough
    assert [(c.seed, c.state, c.run_id, c.accuracies) for c in cells] == [
        (0, "pending", "", {}),
        (1, "pending", "", {}),
    ]
    report = source.experiment_report(experiment_id)
    assert report.rows == [] and (report.cells_finished, report.cells_total) == (0, 2)
    store.close()


def test_a_finished_cell_gives_cells_and_a_report(tmp_path: Path) -> None:
    store, experiment_id = _grid_store(tmp_path / "sa-tui.db")
    run_id = finish_cell(
        store, 0, {"io": [True, False, False, True], "ph_cot": [True, True, True, False]}
    )
    store.update_experiment(experiment_id, status="interrupted", cells_done=1)
    source = StoreSource(tmp_path / "sa-tui.db")
    assert source.experiments()[0].status == "interrupted"
    first, second = source.experiment_cells(experiment_id)
    assert (first.state, first.run_id) == ("done", run_id)
    assert first.accuracies == {"io": 0.5, "ph_cot": 0.75}
    assert second.state == "pending"
    report = source.experiment_report(experiment_id)
    assert (report.cells_finished, report.cells_total) == (1, 2)
    by_method = {row.method: row for row in report.rows}
    assert set(by_method) == {"io", "ph_cot"}
    ph_cot = by_method["ph_cot"]
    assert (ph_cot.accuracy, ph_cot.seeds, ph_cot.items, ph_cot.unparsed_total) == (0.75, 1, 4, 1)
    assert ph_cot.ci_low <= 0.75 <= ph_cot.ci_high
    assert ph_cot.comparisons["io"].mean_difference == 0.25
    assert "zero_shot" not in ph_cot.comparisons  # not run in this grid
    store.close()


async def test_the_screen_on_a_real_store_says_no_finished_cells_yet(make_app, tmp_path) -> None:
    store, experiment_id = _grid_store(tmp_path / "sa-tui.db")
    store.close()
    app = make_app(data=StoreSource(tmp_path / "sa-tui.db"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await settle(pilot)
        assert isinstance(app.screen, ExperimentsScreen)
        assert experiment_id in screen_text(app) and "0/2" in screen_text(app)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.query_one("#cells-table", DataTable).row_count == 2
        assert "seed 0  ○ pending  no run yet" in screen_text(app)
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert "No finished cells yet (0 of 2)" in screen_text(app)


VISIT_THE_REPORT = textwrap.dedent(
    """
    import asyncio, sys
    from sa_tui.app import SaTuiApp

    async def main():
        app = SaTuiApp(start_worker=False, remember=False)
        async with app.run_test(size=(120, 40)) as pilot:
            for key in ("5", "enter", "right_square_bracket"):
                await pilot.press(key)
                await app.workers.wait_for_complete()
                await pilot.pause()
            assert app.screen.report is not None and app.screen.report.rows, app.screen.report
        print("HEAVY", [m for m in ("torch", "transformers", "captum", "shap") if m in sys.modules])

    asyncio.run(main())
    """
)


def test_the_report_is_computed_without_the_heavy_libraries(tmp_path: Path) -> None:
    store, _ = _grid_store(tmp_path / "sa-tui.db")
    finish_cell(store, 0, {"io": [True, False], "ph_cot": [True, True]})
    store.close()
    result = subprocess.run(
        [sys.executable, "-c", VISIT_THE_REPORT],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SA_TUI_HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "HEAVY []" in result.stdout, result.stdout
