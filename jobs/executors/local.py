"""The local executor: every cell in this process, one after the other, through
:func:`jobs.run.run_job` (which writes the store as it goes); the model stays loaded between
cells that share it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from types import TracebackType

from core.progress import CancelToken, ProgressCallback
from jobs.experiment import Cell, CellOutcome, cell_state, resumable_run, reused_outcome
from jobs.models import ModelSlot
from jobs.ports import RunStore


class LocalExecutor:
    def __init__(self, models: ModelSlot | None = None) -> None:
        self.models = models or ModelSlot()
        self.proxies = ModelSlot()  # AMPLIFY's proxy model, kept like the main one

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        return None

    def describe(self) -> str:
        return "local: the cells one after the other in this process"

    def run(
        self,
        cells: Sequence[Cell],
        store: RunStore,
        *,
        cancel: CancelToken,
        progress: ProgressCallback,
        on_outcome: Callable[[CellOutcome], None],
    ) -> None:
        from jobs.run import run_job

        for cell in cells:
            cancel.raise_if_cancelled()
            latest = cell_state(store, cell)
            outcome = reused_outcome(cell, latest)
            if outcome is None:
                started = time.perf_counter()
                job = run_job(
                    cell.config,
                    store,
                    models=self.models,
                    proxies=self.proxies,
                    progress=progress,
                    cancel=cancel,
                    resume=resumable_run(latest),
                )
                outcome = CellOutcome(cell, job.run_id, False, time.perf_counter() - started)
            on_outcome(outcome)
