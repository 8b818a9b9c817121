"""Writing one run's results to the store: shared by ``sa-tui run`` (headless) and the worker.

The pipeline reports each finished method through ``on_method``; :func:`save_method_result`
stores its context as a prompt version of the method's lineage and its score. :class:`Heartbeat`
forwards progress to the run record at most once a second (and at the end of each stage).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from core.config import RunConfig
from core.progress import Progress


@dataclass(frozen=True)
class SavedMethod:
    """What was stored for one method: its prompt version and headline score."""

    method: str
    lineage: str
    version: int | None
    prompt_version_id: str
    accuracy: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "lineage": self.lineage,
            "version": self.version,
            "prompt_version_id": self.prompt_version_id,
            "accuracy": self.accuracy,
            "n": self.n,
        }


def save_method_result(
    store: Any, config: RunConfig, run_id: str | None, method_result: Any
) -> SavedMethod:
    """Store a method's context as a prompt version (de-duplicated by content) and its score."""
    from core.pipeline import lineage_name

    lineage = lineage_name(config, method_result.method)
    version = store.save_prompt_version(lineage, method_result.context, run_id=run_id)
    score = method_result.score
    store.save_score(
        version.id,
        run_id=run_id,
        metric="accuracy",
        value=score.accuracy,
        n=score.n,
        ci95=score.ci95,
        parse_failures=score.parse_failures,
        seconds=round(score.seconds + method_result.rationale_seconds, 3),
        predictions=[p.to_dict() for p in score.predictions],
        extra={"test_ids": [p.id for p in score.predictions], "answer_mode": config.answer_mode},
    )
    number = getattr(version, "version", None)
    return SavedMethod(
        method=method_result.method,
        lineage=str(getattr(version, "lineage", lineage) or lineage),
        version=int(number) if isinstance(number, int) else None,
        prompt_version_id=str(version.id),
        accuracy=float(score.accuracy),
        n=int(score.n),
    )


def start_run(store: Any, config: RunConfig) -> str:
    """Create the run record (config, library versions, device); return its id."""
    from core.models.loading import choose_device
    from core.versions import library_versions

    record = store.start_run(
        config.to_dict(), versions=library_versions(), device=choose_device(config.device)
    )
    return str(record.id)


class Heartbeat:
    """Progress into the run record: at most once a second, and whenever a stage completes."""

    def __init__(self, store: Any, run_id: str | None, interval: float = 1.0) -> None:
        self.store = store
        self.run_id = run_id
        self.interval = interval
        self.last = 0.0

    def __call__(self, report: Progress) -> None:
        if self.store is None or self.run_id is None:
            return
        now = time.monotonic()
        if now - self.last > self.interval or report.done >= report.total:
            self.last = now
            self.store.update_progress(self.run_id, report.stage, report.done, report.total)
