"""``models pull``: a hub model into the Hugging Face cache, then into the catalogue.

The one wiring used by the CLI and the TUI: ask the hub for the plan, fetch the files (each
placed file is recorded at once, so prune knows what sa-tui downloaded even if the pull is
cancelled later), then inspect the snapshot as ``models add`` does and catalogue it with its
commit hash and checksums. A failure before the last step leaves the catalogue unchanged; a
cancel (:class:`store.hub_pull.PullCancelled`) keeps finished files and the partial one, so the
same pull resumes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from store import model_files
from store.domain import ModelEntry
from store.hub_plan import PullPlan, parse_hub_ref, plan_pull
from store.hub_pull import ProgressSink, PullCancelled, PullOutcome, PullProgress, pull_files

if TYPE_CHECKING:
    from store.facade import Store

__all__ = ["PullCancelled", "PullProgress", "PullResult", "pull_model"]


@dataclass(frozen=True)
class PullResult:
    entry: ModelEntry
    outcome: PullOutcome

    @property
    def plan(self) -> PullPlan:
        return self.outcome.plan


def pull_model(
    store: Store,
    source: str,
    *,
    name: str | None = None,
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
    on_plan: Callable[[PullPlan], None] | None = None,
    on_progress: ProgressSink | None = None,
    cancel: threading.Event | None = None,
) -> PullResult:
    """Pull ``source`` (``owner/name[@revision]``) and catalogue it (see the module docstring)."""
    repo, revision = parse_hub_ref(source)
    plan = plan_pull(repo, revision, allow_pickle=allow_pickle)
    if on_plan is not None:
        on_plan(plan)
    outcome = pull_files(
        plan, on_progress=on_progress, on_file=store.record_pulled_file, cancel=cancel
    )
    info = model_files.inspect_hub(
        repo,
        revision,
        cache_dir=plan.cache_dir,
        download=False,
        allow_pickle=allow_pickle,
        trust_remote_code=trust_remote_code,
    )
    entry = store.add_model_info(model_files.fill_checksums(info), name=name)
    return PullResult(entry, outcome)
