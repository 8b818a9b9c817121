"""The model half of a run, with no store: load the run's model (and AMPLIFY's proxy), then run
the protocol through a given result cache. :func:`jobs.run.run_job` calls it with the store as the
cache; a Ray actor calls it with a cache proxy whose new records travel back to the driver."""

from __future__ import annotations

from collections.abc import Callable

from core.cache import ResultCache
from core.pipeline import MethodResult, RunResult, run_protocol
from core.progress import CancelToken, EventSink, ProgressCallback, no_events
from jobs.models import ModelSlot
from jobs.preflight import Prepared


def compute(
    prepared: Prepared,
    cache: ResultCache,
    run_id: str | None,
    models: ModelSlot,
    proxies: ModelSlot,
    *,
    progress: ProgressCallback,
    cancel: CancelToken,
    events: EventSink = no_events,
    on_method: Callable[[MethodResult], None] | None = None,
    on_loaded: Callable[[], None] | None = None,
) -> RunResult:
    """Load the models (``on_loaded`` once they are), then select, explain, build, evaluate."""
    config = prepared.config
    cancel.raise_if_cancelled()
    loaded = models.get(config, progress)
    proxy = None
    if "amplify" in config.methods and config.proxy_model:
        proxy = proxies.get(config, progress, ref=config.proxy_model)
    cancel.raise_if_cancelled()
    if on_loaded is not None:
        on_loaded()
    return run_protocol(
        config,
        prepared.dataset,
        loaded,
        cache=cache,
        run_id=run_id,
        progress=progress,
        cancel=cancel,
        events=events,
        on_method=on_method,
        proxy=proxy,
    )
