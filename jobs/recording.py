"""Writing one run's results to the store: each finished method's context as a prompt version
of its lineage with its score (:func:`save_method_result`), and progress into the run record at
most once a second (:class:`Heartbeat`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from core.config import RunConfig
from core.pipeline import MethodResult, lineage_name
from core.progress import Progress
from jobs.ports import RunStore


@dataclass(frozen=True)
class SavedMethod:
    """What was stored for one method: its prompt version and headline score."""

    method: str
    lineage: str
    version: int
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
    store: RunStore, config: RunConfig, run_id: str | None, method_result: MethodResult
) -> SavedMethod:
    """Store a method's context as a prompt version (de-duplicated by content) and its score."""
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
        extra={
            "test_ids": [p.id for p in score.predictions],
            "answer_mode": config.answer_mode,
            "method": method_result.method,
            "dev_accuracy": method_result.dev_accuracy,
            "forward_passes": score.forward_passes,
            "generated_tokens": score.generated_tokens,
            # --influence: per shot, leave-one-out dev accuracy (absent without it, so the
            # identity of other scores is unchanged)
            **({"influence": method_result.influence} if method_result.influence else {}),
            # keyword methods: the rationales' faithfulness (core/faithfulness.py); measured
            # alongside, not part of the score's identity (store.prompts.MEASURED_EXTRA)
            **({"faithfulness": method_result.faithfulness} if method_result.faithfulness else {}),
        },
    )
    return SavedMethod(
        method=method_result.method,
        lineage=version.lineage,
        version=version.version,
        prompt_version_id=str(version.id),
        accuracy=float(score.accuracy),
        n=int(score.n),
    )


class Heartbeat:
    """Progress into the run record: at most once a second, and whenever a stage completes."""

    def __init__(self, store: RunStore | None, run_id: str | None, interval: float = 1.0) -> None:
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
