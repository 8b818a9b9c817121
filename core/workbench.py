"""What every step of the method works with: the model, how prompts are rendered for it, where
results are kept, and how progress, live output and cancellation flow."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.cache import ResultCache
from core.lm import LanguageModel
from core.progress import CancelToken, EventSink, ProgressCallback, no_events, no_progress
from core.prompts import PromptRenderer


@dataclass(frozen=True)
class Workbench:
    lm: LanguageModel
    renderer: PromptRenderer
    model_key: str  # content hash of the model's identity: part of every cache key
    cache: ResultCache
    versions: dict[str, str] = field(default_factory=dict)  # library versions that change numbers
    run_id: str | None = None
    progress: ProgressCallback = no_progress
    cancel: CancelToken | None = None
    events: EventSink = no_events

    def check_cancelled(self) -> None:
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()
