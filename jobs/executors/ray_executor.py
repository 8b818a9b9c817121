"""The Ray executor: a grid's cells on the actors of a Ray cluster, this process (the *driver*)
alone writing the store.

- The driver checks the store before dispatching: a cell whose run is done is reused without
  dispatching; any other cell gets its run record here (an unfinished run is resumed), and its
  task carries the checked configuration with its dataset and the snapshot of stored records the
  cell may reuse (:mod:`jobs.executors.records`).
- An actor (:class:`jobs.executors.cell_worker.CellWorker`; one GPU each when the cluster has GPUs,
  else one CPU) keeps its model loaded between cells and loads it itself: a hub id through its own
  Hugging Face cache, a local path or built-in model as found on its node. It streams back each
  method's result with the cache records computed for it.
- The driver writes those records, the prompt versions and scores (through
  :func:`jobs.recording.save_method_result`, as a local run does) as each method arrives, and
  finishes the run record when the cell's last message arrives.

A lost actor is restarted by Ray and its cell replayed (``max_restarts``, ``max_task_retries``):
the replay computes the same results from the same snapshot, and the messages the driver already
has are skipped (a repeated method is never saved twice). Cancel (Ctrl-C) first stores what has
arrived, then cancels the tasks and kills the actors; the unfinished runs are marked cancelled and
the same command finishes them.
"""

from __future__ import annotations

import logging
import signal
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import ray
import ray.exceptions

from core.config import RunConfig
from core.errors import CancelledError, ConfigError
from core.progress import CancelToken, Progress, ProgressCallback
from jobs.executors.cell_worker import CellWorker, MethodDone
from jobs.executors.records import SnapshotBook, write
from jobs.experiment import Cell, CellOutcome, cell_state, resumable_run, reused_outcome
from jobs.ports import RunStore
from jobs.preflight import preflight
from jobs.recording import save_method_result
from jobs.run import close_run, failure_reason, note_models_used, start_record

RESTARTS = 3  # how often Ray restarts a lost actor and replays the cell it was running
CPU_ACTORS = 2  # actors on a cluster without GPUs, unless --ray-actors says otherwise
POLL_SECONDS = 0.2  # how often the driver looks at the cancel token while cells run

RemoteWorker = ray.remote(CellWorker)


@dataclass
class _Flight:
    """A dispatched cell."""

    cell: Cell
    run_id: str
    slot: int  # the actor's index
    stream: Any  # the task's ObjectRefGenerator
    started: float
    saved: set[str] = field(default_factory=set)  # methods whose results are stored


class RayExecutor:
    """Connects on entry (``address``: a cluster's, or ``auto``; None: Ray's own rule, see the
    README), creates its actors when a grid has cells to run, and kills them on exit.
    ``on_dispatch(cell, actor)`` follows each dispatch (tests count and kill with it)."""

    def __init__(
        self,
        *,
        address: str | None = None,
        actors: int | None = None,
        cpu_only: bool = False,
        init_options: dict[str, Any] | None = None,
        on_dispatch: Callable[[Cell, Any], None] | None = None,
    ) -> None:
        self.address = address
        self.wanted = actors
        self.cpu_only = cpu_only  # the grid runs on the CPU (--device cpu): no GPU actors
        self.init_options = dict(init_options or {})
        self.on_dispatch = on_dispatch
        self.actors: list[Any] = []
        self._last_model: dict[int, str] = {}
        self._gpus = 0
        self._owns_ray = False

    def __enter__(self) -> RayExecutor:
        self.open()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        """Connect (or start Ray), and check that the cluster can hold the actors asked for."""
        if not ray.is_initialized():
            self._connect()
            self._owns_ray = True
        resources = ray.cluster_resources()
        self._gpus = 0 if self.cpu_only else int(resources.get("GPU", 0))
        room = self._gpus or int(resources.get("CPU", 0))
        if self.wanted and self.wanted > room:
            self.close()
            unit = "GPUs" if self._gpus else "CPUs"
            raise ConfigError(
                f"--ray-actors {self.wanted} is more than the {room} {unit} of the Ray cluster, "
                f"and an actor takes one; use --ray-actors {room} or fewer"
            )

    def close(self) -> None:
        self._kill_actors()
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        self._owns_ray = False

    def describe(self) -> str:
        if not ray.is_initialized():
            return "Ray (not connected)"
        where = ray.get_runtime_context().gcs_address
        nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
        cpus = int(ray.cluster_resources().get("CPU", 0))
        each = "one GPU" if self._gpus else "one CPU"
        return (
            f"Ray at {where} ({nodes} node{'s' if nodes != 1 else ''}, {cpus} CPUs, "
            f"{self._gpus} GPUs), up to {self.actor_count} actors with {each} each"
        )

    @property
    def actor_count(self) -> int:
        """--ray-actors, else one per GPU, else :data:`CPU_ACTORS`."""
        return self.wanted or self._gpus or CPU_ACTORS

    def run(
        self,
        cells: Sequence[Cell],
        store: RunStore,
        *,
        cancel: CancelToken,
        progress: ProgressCallback,
        on_outcome: Callable[[CellOutcome], None],
    ) -> None:
        waiting: list[tuple[Cell, str | None]] = []
        reused: list[CellOutcome] = []
        for cell in cells:  # every cell is looked at before anything is dispatched
            latest = cell_state(store, cell)
            outcome = reused_outcome(cell, latest)
            if outcome is not None:
                reused.append(outcome)
            else:
                waiting.append((cell, resumable_run(latest)))
        for outcome in reused:
            on_outcome(outcome)
        if not waiting:
            return
        cancel.raise_if_cancelled()
        if not ray.is_initialized():
            self.open()
        book = SnapshotBook(store, ray.put)
        self._start_actors(min(self.actor_count, len(waiting)))
        idle = list(range(len(self.actors)))
        flights: dict[int, _Flight] = {}  # by id() of the flight's stream
        try:
            while waiting or flights:
                cancel.raise_if_cancelled()
                while idle and waiting:
                    slot = idle.pop(0)
                    cell, resume = self._next_cell(waiting, slot)
                    flight = self._dispatch(cell, resume, slot, store, book, cells, progress)
                    flights[id(flight.stream)] = flight
                streams = [flight.stream for flight in flights.values()]
                ready, _ = ray.wait(streams, num_returns=1, timeout=POLL_SECONDS)
                for stream in ready:
                    flight = flights[id(stream)]
                    outcome = self._receive_or_fail(flight, flights, store, progress)
                    if outcome is not None:
                        del flights[id(stream)]
                        idle.append(flight.slot)
                        on_outcome(outcome)
        except CancelledError:
            self._stop(flights, store, progress, on_outcome, "cancelled by the user")
            raise
        except BaseException as error:
            reason = f"stopped because another cell failed: {failure_reason(error)}"
            self._stop(flights, store, progress, on_outcome, reason[:400])
            raise

    # ------------------------------------------------------------------------------ internals
    def _connect(self) -> None:
        options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
        if self.address is None:
            options["include_dashboard"] = False
        options.update(self.init_options)
        _route_ray_logs()
        try:
            _check_reachable(self.address)
            with _keep_signal_handlers():
                ray.init(address=self.address, **options)
        except (OSError, RuntimeError, ValueError) as error:  # ConnectionError is an OSError
            where = f"the Ray cluster {self.address}" if self.address else "Ray on this machine"
            raise ConfigError(
                f"could not reach {where} ({_first_line(error)}); start a cluster with "
                "`ray start --head`, or leave out --ray-address to start Ray here"
            ) from None
        _route_ray_logs()

    def _start_actors(self, count: int) -> None:
        resources = {"num_gpus": 1} if self._gpus else {"num_cpus": 1}
        while len(self.actors) < count:
            self.actors.append(
                RemoteWorker.options(
                    max_restarts=RESTARTS, max_task_retries=RESTARTS, **resources
                ).remote()
            )

    def _kill_actors(self) -> None:
        for actor in self.actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:
                logging.getLogger(__name__).debug("could not kill an actor", exc_info=True)
        self.actors.clear()
        self._last_model.clear()

    def _next_cell(
        self, waiting: list[tuple[Cell, str | None]], slot: int
    ) -> tuple[Cell, str | None]:
        """The first waiting cell of the model the actor has loaded, else the first one."""
        loaded = self._last_model.get(slot)
        for index, (cell, _) in enumerate(waiting):
            if cell.config.model == loaded:
                return waiting.pop(index)
        return waiting.pop(0)

    def _device(self, config: RunConfig) -> str:
        return config.device or ("cuda" if self._gpus else "cpu")

    def _dispatch(
        self,
        cell: Cell,
        resume: str | None,
        slot: int,
        store: RunStore,
        book: SnapshotBook,
        cells: Sequence[Cell],
        progress: ProgressCallback,
    ) -> _Flight:
        config = cell.config
        prepared = preflight(config)  # nothing is written for a configuration that fails it
        if resume:
            run_id = store.resume_run(resume).id
        else:
            run_id = start_record(store, config, device=self._device(config))
        actor = self.actors[slot]
        try:
            refs = book.refs_for(cell, cells, run_id)
            stream = actor.run_cell.options(num_returns="streaming").remote(prepared, run_id, *refs)
        except BaseException as error:
            close_run(store, run_id, "failed", failure_reason(error))
            raise
        self._last_model[slot] = config.model
        progress(Progress("methods", 0, len(config.methods), f"{cell.label}: dispatched"))
        if self.on_dispatch is not None:
            self.on_dispatch(cell, actor)
        return _Flight(cell, run_id, slot, stream, time.perf_counter())

    def _receive_or_fail(
        self,
        flight: _Flight,
        flights: dict[int, _Flight],
        store: RunStore,
        progress: ProgressCallback,
    ) -> CellOutcome | None:
        """The next message of a flight; a failed cell's run is marked failed, and its error
        (the worker's own, unwrapped) raised."""
        try:
            return self._receive(flight, store, progress)
        except BaseException as error:
            cause = _unwrap(error, flight.cell)
            close_run(store, flight.run_id, "failed", failure_reason(cause))
            flights.pop(id(flight.stream), None)
            raise cause from None

    def _receive(
        self, flight: _Flight, store: RunStore, progress: ProgressCallback
    ) -> CellOutcome | None:
        try:
            ref = next(flight.stream)
        except StopIteration:
            raise RuntimeError(
                f"the Ray worker ended {flight.cell.label} without a result"
            ) from None
        message = ray.get(ref)
        config = flight.cell.config
        write(store, flight.run_id, message.records)
        if isinstance(message, MethodDone):
            method = message.result.method
            if method not in flight.saved:  # a replayed stream never saves a method twice
                save_method_result(store, config, flight.run_id, message.result)
                flight.saved.add(method)
            done, total = len(flight.saved), len(config.methods)
            store.update_progress(flight.run_id, "methods", done, total)
            progress(Progress("methods", done, total, f"{flight.cell.label}: {method}"))
            return None
        store.finish_run(flight.run_id, "done")
        note_models_used(store, config)
        _end_of(flight.stream)
        return CellOutcome(flight.cell, flight.run_id, False, time.perf_counter() - flight.started)

    def _stop(
        self,
        flights: dict[int, _Flight],
        store: RunStore,
        progress: ProgressCallback,
        on_outcome: Callable[[CellOutcome], None],
        reason: str,
    ) -> None:
        """Store what has already arrived, cancel the tasks, kill the actors, and mark the
        unfinished runs cancelled."""
        for key, flight in list(flights.items()):
            try:
                while ray.wait([flight.stream], num_returns=1, timeout=0)[0]:
                    outcome = self._receive(flight, store, progress)
                    if outcome is not None:
                        del flights[key]
                        on_outcome(outcome)
                        break
            except Exception:  # a failed or dying cell: what arrived before is stored
                logging.getLogger(__name__).debug("while stopping", exc_info=True)
        for flight in flights.values():
            try:
                ray.cancel(flight.stream)
            except Exception:
                logging.getLogger(__name__).debug("could not cancel a task", exc_info=True)
        self._kill_actors()
        for flight in flights.values():
            close_run(store, flight.run_id, "cancelled", reason)
        flights.clear()


def _check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """A concrete ``host:port`` (or ``ray://host:port``) answers within ``timeout``: Ray itself
    would retry an unreachable address for minutes, printing warnings on the terminal."""
    if address is None or address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{address!r} is not host:port")
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
        pass


def _end_of(stream: Any) -> None:
    """Wait for the task to end (just after its last message), so that the actor is idle."""
    try:
        next(stream)
    except StopIteration:
        return
    except Exception:  # the results are all stored: a late failure changes nothing
        logging.getLogger(__name__).debug("after a cell's last message", exc_info=True)


def _unwrap(error: BaseException, cell: Cell) -> BaseException:
    """The worker's own exception (a one-sentence sa-tui error stays one sentence)."""
    if isinstance(error, ray.exceptions.RayTaskError) and isinstance(error.cause, BaseException):
        return error.cause
    if isinstance(error, ray.exceptions.RayActorError):
        return RuntimeError(
            f"the Ray actor running {cell.label} was lost more than {RESTARTS} times "
            f"({_first_line(error)})"
        )
    return error


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]


def _route_ray_logs() -> None:
    """Ray's logger writes to the terminal; send it to sa-tui's log file, like every library's."""
    logger = logging.getLogger("ray")
    logger.handlers.clear()
    logger.propagate = True


@contextmanager
def _keep_signal_handlers() -> Iterator[None]:
    """``ray.init`` installs its own SIGINT/SIGTERM handlers; keep sa-tui's (they cancel)."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            try:
                if handler is not None:
                    signal.signal(sig, handler)
            except ValueError:  # not the main thread: nothing can have been installed either
                pass
