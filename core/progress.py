"""Progress reporting and cooperative cancellation shared by every step."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import CancelledError


@dataclass(frozen=True)
class Progress:
    """One progress report: ``done`` of ``total`` units of ``stage``."""

    stage: str
    done: int
    total: int
    detail: str = ""


ProgressCallback = Callable[[Progress], None]


def no_progress(_: Progress) -> None:
    """A progress callback that ignores every report."""


class CancelToken:
    """Set from another thread (or a signal handler); checked by steps between batches."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise CancelledError("cancelled by the user")


EventSink = Callable[[str, dict[str, Any]], None]
"""Live output for a watcher (the TUI): ``("tokens", {...})`` heatmaps, ``("text", {...})``
rationales and answers as they are written, ``("shots", {...})`` the chosen shots."""


def no_events(kind: str, payload: dict[str, Any]) -> None:
    """An event sink that drops everything."""
