"""How cache records travel between the driver, which alone writes the store, and a Ray worker.

Driver to worker: a *snapshot* of what the worker may reuse: the stored cache records of the
grid's runs that share the cell's model and dataset (the cell's own unfinished run among them),
each run's snapshot put once into Ray's object store (a finished run's records never change, so
its snapshot is kept for later cells). Worker to driver: every record the worker computed, with
the method result it belongs to; the driver stores them under the cell's run (:func:`write`).
Neither side needs the other's disk: this module imports neither Ray nor the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from core.cache import KINDS
from jobs.experiment import Cell, cell_state
from jobs.ports import RunStore

Record = tuple[str, str, dict[str, Any]]  # (kind, key, value) of one core.cache record
Snapshot = dict[tuple[str, str], dict[str, Any]]  # (kind, key) -> value

EVERY_RECORD = 10**9  # records_for_run's limit: all of them


def run_snapshot(store: RunStore, run_id: str) -> Snapshot:
    """Every cache record the run stored."""
    return {
        (kind, row.key_hash): row.payload
        for kind in KINDS
        for row in store.records_for_run(run_id, kind, limit=EVERY_RECORD)
    }


def related(cell: Cell, other: Cell) -> bool:
    """Whether ``other``'s records may serve ``cell`` (keys name the model and the samples)."""
    a, b = cell.config, other.config
    return a.model == b.model and a.dataset == b.dataset


class SnapshotBook:
    """The driver's side: references to the snapshots a cell's worker gets with its task.
    ``publish`` puts a snapshot where workers can fetch it (``ray.put``) and returns its ref."""

    def __init__(self, store: RunStore, publish: Callable[[Snapshot], Any]) -> None:
        self.store = store
        self.publish = publish
        self._finished: dict[str, Any] = {}  # run id -> ref of a done run's snapshot

    def refs_for(self, cell: Cell, cells: Sequence[Cell], run_id: str) -> list[Any]:
        runs: dict[str, bool] = {run_id: False}
        for other in cells:
            if related(cell, other):
                latest = cell_state(self.store, other)
                if latest is not None:
                    runs.setdefault(latest.id, latest.status == "done")
        refs = []
        for other_id, done in runs.items():
            ref = self._finished.get(other_id)
            if ref is None:
                snapshot = run_snapshot(self.store, other_id)
                if not snapshot:
                    continue
                ref = self.publish(snapshot)
                if done:
                    self._finished[other_id] = ref
            refs.append(ref)
        return refs


def write(store: RunStore, run_id: str, records: Sequence[Record]) -> None:
    """Store a worker's new records under the run (a key already stored keeps its value)."""
    for kind, key, value in records:
        store.put(kind, key, value, run_id=run_id)


class ProxyCache:
    """The worker's side: a :class:`core.cache.ResultCache` that answers from the driver's
    snapshots and from its own new records, and keeps the new ones for the driver (:meth:`take`).
    Append-only like the store: a key is never stored twice."""

    def __init__(self, snapshots: Sequence[Mapping[tuple[str, str], dict[str, Any]]]) -> None:
        self._snapshots = list(snapshots)
        self._new: Snapshot = {}
        self._outbox: list[Record] = []

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        found = self._new.get((kind, key))
        if found is not None:
            return found
        for snapshot in self._snapshots:
            found = snapshot.get((kind, key))
            if found is not None:
                return found
        return None

    def put(self, kind: str, key: str, value: dict[str, Any], *, run_id: str | None = None) -> None:
        if self.get(kind, key) is not None:
            return
        self._new[(kind, key)] = value
        self._outbox.append((kind, key, value))

    def take(self) -> list[Record]:
        """The records stored since the last call, in the order they were computed."""
        taken, self._outbox = self._outbox, []
        return taken
