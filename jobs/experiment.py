"""Experiment grids: one run per (model, dataset, strategy, shots, seed) cell, recorded as one
experiment whose configuration names its cells. An executor runs the cells: the local one through
:func:`jobs.run.run_job` in this process, the Ray one on a cluster's actors
(:mod:`jobs.executors`).

Running the same grid again continues the same experiment: a cell whose run is done is reused
as it is, an unfinished run is resumed, and every stored intermediate result (selections,
attributions, rationales, predictions) is reused by the runs themselves. So a grid can be stopped
and started again until it is complete, and re-running a finished grid only reads the store.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from core.cache import content_hash
from core.config import RunConfig
from core.errors import CancelledError, ConfigError
from core.estimate import estimate
from core.progress import CancelToken, ProgressCallback
from core.report import CellResult
from jobs.models import ModelSlot
from jobs.ports import RunStore
from store.domain import ExperimentRecord, RunRecord, ScoreRecord

if TYPE_CHECKING:
    from jobs.executors import Executor

GRID_AXES = ("models", "datasets", "strategies", "shots", "seeds")


@dataclass(frozen=True)
class Grid:
    """The axes of a grid and the run settings every cell shares (``template``; its model,
    dataset, strategy, shots and seed are replaced per cell)."""

    models: tuple[str, ...]
    datasets: tuple[str, ...]
    strategies: tuple[str, ...]
    shots: tuple[int, ...]
    seeds: tuple[int, ...]
    template: RunConfig

    def validate(self) -> Grid:
        for axis in GRID_AXES:
            values = getattr(self, axis)
            if not values:
                raise ConfigError(f"the grid has no {axis}; give at least one")
            if len(set(values)) != len(values):
                raise ConfigError(f"a value is listed twice in the grid's {axis}")
        for cell in self.cells():
            cell.config.validate()
        return self

    def cells(self) -> list[Cell]:
        return [
            Cell(
                replace(
                    self.template,
                    model=model,
                    dataset=dataset,
                    strategy=strategy,
                    shots=shots,
                    seed=seed,
                )
            )
            for model, dataset, strategy, shots, seed in itertools.product(
                self.models, self.datasets, self.strategies, self.shots, self.seeds
            )
        ]

    def to_dict(self) -> dict[str, Any]:
        """What identifies the experiment: the axes, the shared settings, and the cells."""
        template = self.template.identity()
        for axis in ("model", "dataset", "strategy", "shots", "seed"):
            template.pop(axis, None)
        return {
            "models": list(self.models),
            "datasets": list(self.datasets),
            "strategies": list(self.strategies),
            "shots": list(self.shots),
            "seeds": list(self.seeds),
            "settings": template,
            "cells": [cell.to_dict() for cell in self.cells()],
        }


@dataclass(frozen=True)
class Cell:
    config: RunConfig

    @property
    def label(self) -> str:
        c = self.config
        return f"{c.model} {c.dataset} {c.strategy} n={c.shots} seed={c.seed}"

    @property
    def config_hash(self) -> str:
        return content_hash(self.config.to_dict())

    def to_dict(self) -> dict[str, Any]:
        c = self.config
        return {
            "model": c.model,
            "dataset": c.dataset,
            "strategy": c.strategy,
            "shots": c.shots,
            "seed": c.seed,
            "config_hash": self.config_hash,
        }


@dataclass
class CellOutcome:
    cell: Cell
    run_id: str | None
    reused: bool
    seconds: float
    accuracies: dict[str, float] = field(default_factory=dict)


def cell_state(store: RunStore, cell: Cell) -> RunRecord | None:
    """The cell's newest run (a finished one first), if any."""
    return store.latest_run_for(cell.config.to_dict())


def pending_cells(store: RunStore, cells: Sequence[Cell]) -> list[Cell]:
    """The cells whose newest run is not done."""
    return [cell for cell in cells if _status(cell_state(store, cell)) != "done"]


def plan_estimate(store: RunStore, cells: Sequence[Cell]) -> str:
    """One sentence: how many cells are done, how many will run, and the work they will do."""
    pending = pending_cells(store, cells)
    done = len(cells) - len(pending)
    if not pending:
        return f"{len(cells)} cells, all done: the grid only reads the store"
    guesses = [estimate(cell.config.to_dict()) for cell in pending]
    passes = sum(g.passes for g in guesses)
    steps = sum(g.steps for g in guesses)
    seconds = sum(g.seconds for g in guesses)
    minutes = max(1, round(seconds / 60))
    return (
        f"{len(cells)} cells: {done} done, {len(pending)} to run; about {passes:,} forward "
        f"passes and {steps:,} generation steps, roughly {minutes} min at an assumed CPU speed "
        "(less where stored results are reused)"
    )


def run_grid(
    grid: Grid,
    store: RunStore,
    *,
    cancel: CancelToken,
    progress: ProgressCallback,
    on_cell: Callable[[int, int, CellOutcome], None] | None = None,
    models: ModelSlot | None = None,
    executor: Executor | None = None,
) -> tuple[ExperimentRecord, list[CellOutcome]]:
    """Run every cell that is not done yet (see the module docstring) with ``executor``
    (default: the local one, with ``models`` as its model slot). ``on_cell(done, total, outcome)``
    follows each cell as it finishes; the outcomes come back in the grid's order."""
    from jobs.executors.local import LocalExecutor

    cells = grid.cells()
    runner: Executor = executor if executor is not None else LocalExecutor(models)
    experiment, _ = store.start_experiment(grid.to_dict(), cells=len(cells))
    outcomes: list[CellOutcome] = []

    def finished(outcome: CellOutcome) -> None:
        if outcome.run_id is not None:
            scores = store.method_scores_for_run(outcome.run_id)
            outcome.accuracies = {m: s.value for m, s in scores.items()}
        outcomes.append(outcome)
        store.update_experiment(experiment.id, status="running", cells_done=len(outcomes))
        if on_cell is not None:
            on_cell(len(outcomes), len(cells), outcome)

    try:
        runner.run(cells, store, cancel=cancel, progress=progress, on_outcome=finished)
    except CancelledError:
        store.update_experiment(
            experiment.id, status="cancelled", cells_done=len(outcomes), error="cancelled"
        )
        raise
    except BaseException as error:
        store.update_experiment(
            experiment.id, status="failed", cells_done=len(outcomes), error=str(error)[:400]
        )
        raise
    record = store.update_experiment(experiment.id, status="done", cells_done=len(cells))
    order = {cell.config_hash: index for index, cell in enumerate(cells)}
    return record, sorted(outcomes, key=lambda outcome: order[outcome.cell.config_hash])


def cell_results(store: RunStore, grid_config: dict[str, Any]) -> list[CellResult]:
    """The stored per-method outcomes of every finished cell of an experiment's configuration."""
    results: list[CellResult] = []
    for cell in grid_config.get("cells", []):
        run = store.latest_run_for_hash(cell["config_hash"])
        if run is None or run.status != "done":
            continue
        for method, score in store.method_scores_for_run(run.id).items():
            results.append(_cell_result(cell, method, score))
    return results


def _cell_result(cell: dict[str, Any], method: str, score: ScoreRecord) -> CellResult:
    predictions = score.predictions
    return CellResult(
        model=cell["model"],
        dataset=cell["dataset"],
        strategy=cell["strategy"],
        shots=int(cell["shots"]),
        seed=int(cell["seed"]),
        method=method,
        item_ids=[str(p["id"]) for p in predictions],
        correct=[bool(p["correct"]) for p in predictions],
        parse_failures=score.parse_failures,
        seconds=float(score.seconds or 0.0),
        generated_tokens=score.extra.get("generated_tokens"),
        forward_passes=score.extra.get("forward_passes"),
        dev_accuracy=score.extra.get("dev_accuracy"),
        comprehensiveness=_faithfulness(score, "comprehensiveness"),
        sufficiency=_faithfulness(score, "sufficiency"),
    )


def _faithfulness(score: ScoreRecord, name: str) -> float | None:
    """A keyword method's mean AOPC over its shots (core/faithfulness.py), None for others."""
    measured = score.extra.get("faithfulness")
    value = measured.get(name) if isinstance(measured, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _status(run: RunRecord | None) -> str | None:
    return run.status if run is not None else None


def reused_outcome(cell: Cell, latest: RunRecord | None) -> CellOutcome | None:
    """The outcome of a cell whose newest run is done (reused as it is), else None."""
    if latest is None or latest.status != "done":
        return None
    return CellOutcome(cell, latest.id, True, _duration(latest))


def resumable_run(run: RunRecord | None) -> str | None:
    """The id of the cell's unfinished run to finish (None: start one); one sentence when it
    is still running in another process."""
    if run is None:
        return None
    if run.status == "running":
        raise ConfigError(
            f"run {run.id} of this cell is still running in another process; wait for it "
            "or stop it, then start the grid again"
        )
    return run.id  # interrupted, cancelled or failed: finish it


def _duration(run: RunRecord) -> float:
    if run.finished_at is None:
        return 0.0
    return max(0.0, (run.finished_at - run.started_at).total_seconds())
