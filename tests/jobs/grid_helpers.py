"""The small grid the jobs tests share: one tiny model and dataset, two seeds, three methods."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.config import RunConfig
from jobs.experiment import Grid


def tiny_cell_config(model: Path, dataset: Path) -> RunConfig:
    """One cell's settings: seconds on the tiny model, every stage exercised (cloze scoring)."""
    return RunConfig(
        model=str(model),
        dataset=str(dataset),
        methods=("zero_shot", "io", "ph_cot"),
        strategy="random",
        shots=2,
        steps=1,
        test_limit=4,
        rationale_tokens=4,
        eval_tokens=4,
        answer_mode="cloze",
        batch_size=4,
        device="cpu",
    )


def tiny_grid(model: Path, dataset: Path, **changes: Any) -> Grid:
    """Seeds 0 and 1 of :func:`tiny_cell_config` (``changes`` replace any axis)."""
    values: dict[str, Any] = dict(
        models=(str(model),),
        datasets=(str(dataset),),
        strategies=("random",),
        shots=(2,),
        seeds=(0, 1),
        template=tiny_cell_config(model, dataset),
    )
    values.update(changes)
    return Grid(**values).validate()
