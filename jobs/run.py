"""``run_job``: the one wiring of a run configuration to the store, used by every transport.

preflight (nothing is written if it fails) -> run record -> dataset -> model -> last use ->
protocol -> prompt versions and scores -> run status. A failure once work has begun marks the run
``failed`` (resumable with ``--resume``); a cancel marks it ``cancelled``. Exceptions propagate
to the transport, which turns them into an exit code or a protocol message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from core.cache import MemoryCache, ResultCache
from core.config import RunConfig
from core.errors import CancelledError
from core.pipeline import MethodResult, RunResult
from core.progress import CancelToken, EventSink, Progress, ProgressCallback, no_events
from core.versions import library_versions
from jobs.compute import compute
from jobs.models import ModelSlot
from jobs.ports import RunStore
from jobs.preflight import Prepared, preflight
from jobs.recording import Heartbeat, SavedMethod, save_method_result

log = logging.getLogger(__name__)


@dataclass
class JobOutcome:
    run_id: str | None
    result: RunResult


def resume_config(store: RunStore, run_id: str) -> tuple[str, RunConfig]:
    """The full id and stored configuration of an unfinished run (read only)."""
    record = store.get_run(run_id)
    if record.status == "done":
        from core.errors import ConfigError

        raise ConfigError(f"run {record.id} is already done; start a new run instead")
    return record.id, RunConfig.from_dict(record.config)


def run_job(
    config: RunConfig,
    store: RunStore | None,
    *,
    models: ModelSlot | None = None,
    proxies: ModelSlot | None = None,
    progress: ProgressCallback,
    cancel: CancelToken,
    events: EventSink = no_events,
    resume: str | None = None,
    on_started: Callable[[str], None] | None = None,
    on_saved: Callable[[SavedMethod], None] | None = None,
    prepared: Prepared | None = None,
) -> JobOutcome:
    """Run (or, with ``resume``, finish) one configuration; see the module docstring.
    ``prepared``: the result of an earlier :func:`preflight` of ``config`` (not repeated)."""
    progress(Progress("dataset", 0, 1, config.dataset))
    if prepared is None or prepared.config != config:
        prepared = preflight(config)
    progress(
        Progress(
            "dataset",
            1,
            1,
            f"{len(prepared.dataset.pool)} pool / {len(prepared.dataset.test)} test",
        )
    )
    run_id: str | None = None
    if store is not None:
        run_id = store.resume_run(resume).id if resume else start_record(store, config)
        if on_started is not None:
            on_started(run_id)
    try:
        result = _execute(
            prepared,
            store,
            run_id,
            models or ModelSlot(),
            proxies or ModelSlot(),
            progress=progress,
            cancel=cancel,
            events=events,
            on_saved=on_saved,
        )
    except CancelledError:
        close_run(store, run_id, "cancelled", "cancelled by the user")
        raise
    except BaseException as error:
        close_run(store, run_id, "failed", failure_reason(error))
        raise
    if store is not None and run_id is not None:
        store.finish_run(run_id, "done")
    return JobOutcome(run_id, result)


def _execute(
    prepared: Prepared,
    store: RunStore | None,
    run_id: str | None,
    models: ModelSlot,
    proxies: ModelSlot,
    *,
    progress: ProgressCallback,
    cancel: CancelToken,
    events: EventSink,
    on_saved: Callable[[SavedMethod], None] | None,
) -> RunResult:
    config = prepared.config
    heartbeat = Heartbeat(store, run_id)

    def report(update: Progress) -> None:
        progress(update)
        heartbeat(update)

    def loaded() -> None:
        if store is not None:
            note_models_used(store, config)

    def save(method_result: MethodResult) -> None:
        if store is None:
            return
        saved = save_method_result(store, config, run_id, method_result)
        if on_saved is not None:
            on_saved(saved)

    cache: ResultCache = store if store is not None else MemoryCache()
    return compute(
        prepared,
        cache,
        run_id,
        models,
        proxies,
        progress=report,
        cancel=cancel,
        events=events,
        on_method=save,
        on_loaded=loaded,
    )


def start_record(store: RunStore, config: RunConfig, *, device: str | None = None) -> str:
    """A new run record of ``config`` (``device``: where it will run; default: here)."""
    if device is None:
        from core.models.loading import choose_device

        device = choose_device(config.device)
    record = store.start_run(config.to_dict(), versions=library_versions(), device=device)
    return record.id


def note_models_used(store: RunStore, config: RunConfig) -> None:
    """LAST USED in the catalogue for the run's model and, with amplify, its proxy (built-ins
    are catalogued on first use)."""
    refs = [config.model]
    if config.proxy_model and "amplify" in config.methods:
        refs.append(config.proxy_model)
    for ref in refs:
        try:
            store.ensure_builtins()
            store.touch_model(ref)
        except Exception:
            log.warning("could not record the use of %s", ref, exc_info=True)


def close_run(store: RunStore | None, run_id: str | None, status: str, reason: str) -> None:
    """Mark an unfinished run ``cancelled`` or ``failed`` (a store error is logged, not raised)."""
    if store is None or run_id is None:
        return
    try:
        store.finish_run(run_id, status, error=reason)
    except Exception:
        log.exception("could not mark run %s as %s", run_id, status)


def failure_reason(error: BaseException) -> str:
    """What a failed run's record says: one line."""
    if isinstance(error, MemoryError) or "OutOfMemoryError" in type(error).__name__:
        return "out of memory"
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return first[:400]
