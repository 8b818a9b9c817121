"""A grid cell computed away from the store: the body of a Ray actor (the driver wraps
:class:`CellWorker` with ``ray.remote``; this module never imports Ray, so it runs anywhere).

The actor keeps its model loaded between cells. A cell streams one :class:`MethodDone` per method
(the method's result and the cache records computed for it) and then one :class:`CellDone`, always
``len(methods) + 1`` messages, so that Ray can replay the stream of a restarted actor and skip
what the driver already has.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from core.pipeline import MethodResult
from core.progress import CancelToken, no_progress
from jobs.compute import compute
from jobs.executors.records import ProxyCache, Record
from jobs.models import ModelSlot
from jobs.preflight import Prepared


@dataclass
class MethodDone:
    result: MethodResult
    records: list[Record]  # computed since the previous message (selection, rationales, ...)


@dataclass
class CellDone:
    records: list[Record]
    device: str
    seconds: float


CellMessage = MethodDone | CellDone


class CellWorker:
    def __init__(self) -> None:
        self.models = ModelSlot()
        self.proxies = ModelSlot()  # AMPLIFY's proxy model, kept like the main one

    def ping(self) -> int:
        return os.getpid()

    def run_cell(
        self, prepared: Prepared, run_id: str, *snapshots: Mapping[tuple[str, str], dict[str, Any]]
    ) -> Iterator[CellMessage]:
        """Compute the cell with the driver's ``snapshots`` as the cache (``run_id``: the
        driver's run record, for the records' sake only)."""
        cache = ProxyCache(snapshots)
        messages: queue.Queue[CellMessage | BaseException] = queue.Queue()
        started = time.perf_counter()

        def on_method(result: MethodResult) -> None:
            messages.put(MethodDone(result, cache.take()))

        def work() -> None:
            try:
                result = compute(
                    prepared,
                    cache,
                    run_id,
                    self.models,
                    self.proxies,
                    progress=no_progress,
                    cancel=CancelToken(),
                    on_method=on_method,
                )
                messages.put(CellDone(cache.take(), result.device, time.perf_counter() - started))
            except BaseException as error:  # handed to the generator, which raises it
                messages.put(error)

        # the protocol reports a method through a callback; a thread lets each be yielded at once
        threading.Thread(target=work, name="sa-tui-cell", daemon=True).start()
        while True:
            message = messages.get()
            if isinstance(message, BaseException):
                raise message
            yield message
            if isinstance(message, CellDone):
                return
