"""What a job needs from the store, as a typed Protocol (the store's ``Store`` implements it).

Transports and tests pass any object with these methods; nothing in ``jobs`` types the store as
``Any``. The result cache half (``get``/``put``) is core's :class:`core.cache.ResultCache`.
"""

from __future__ import annotations

from typing import Any, Protocol

from core.cache import ResultCache
from store.domain import ExperimentRecord, PromptVersion, RecordRow, RunRecord, ScoreRecord


class RunStore(ResultCache, Protocol):
    """The run lifecycle, prompt versions and scores, and the model catalogue's last use."""

    def start_run(
        self,
        config: dict[str, Any],
        *,
        kind: str = "run",
        versions: dict[str, Any] | None = None,
        device: str = "",
    ) -> RunRecord: ...

    def get_run(self, run_id: str) -> RunRecord: ...

    def resume_run(self, run_id: str) -> RunRecord: ...

    def update_progress(self, run_id: str, stage: str, done: int, total: int) -> RunRecord: ...

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> RunRecord: ...

    def save_prompt_version(
        self, lineage: str, content: dict[str, Any], *, run_id: str | None = None
    ) -> PromptVersion: ...

    def save_score(
        self,
        prompt_version_id: int,
        *,
        run_id: str | None,
        metric: str,
        value: float,
        n: int,
        ci95: tuple[float, float] | None = None,
        parse_failures: int = 0,
        seconds: float | None = None,
        predictions: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> ScoreRecord: ...

    def ensure_builtins(self) -> bool: ...

    def touch_model(self, ref: str) -> bool: ...

    # experiments: a grid's record and each cell's newest run
    def start_experiment(
        self, config: dict[str, Any], *, cells: int
    ) -> tuple[ExperimentRecord, bool]: ...

    def update_experiment(
        self, experiment_id: str, *, status: str, cells_done: int, error: str | None = None
    ) -> ExperimentRecord: ...

    def latest_run_for(self, config: dict[str, Any]) -> RunRecord | None: ...

    def latest_run_for_hash(self, config_hash: str) -> RunRecord | None: ...

    def method_scores_for_run(self, run_id: str) -> dict[str, ScoreRecord]: ...

    # the cache records a run stored (a Ray executor sends them to the worker of a related cell)
    def records_for_run(self, run_id: str, kind: str, *, limit: int = 1000) -> list[RecordRow]: ...
