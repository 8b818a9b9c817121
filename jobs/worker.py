"""``python -m jobs.worker``: the long-lived process that owns the model (and the GPU).

It reads protocol messages (see :mod:`jobs.protocol`) on stdin and writes them on a private copy
of the original stdout; file descriptor 1 is pointed at stderr first, so a stray ``print`` from
a library can never corrupt the protocol stream. Library logs go to ``<data dir>/logs/worker.log``.

One job runs at a time, in a thread with its own :class:`~core.progress.CancelToken`; the main
thread keeps reading stdin, so a ``cancel`` arrives while the job works. The loaded model is kept
between jobs. Every job goes through :func:`jobs.run.run_job`, exactly as ``sa-tui run`` does.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from core.paths import logs_dir
from core.progress import CancelToken, Progress
from jobs import protocol
from jobs.logs import log_to_file
from jobs.models import ModelSlot
from jobs.protocol import message

if TYPE_CHECKING:
    from core.pipeline import RunResult
    from store.facade import Store

log = logging.getLogger("sa_tui.worker")

PROGRESS_INTERVAL = 0.1  # seconds: progress and streamed text are sent at most ~10 times a second


@dataclass
class Job:
    job_id: str
    config: dict[str, Any]
    cancel: CancelToken
    thread: threading.Thread | None = None
    run_id: str | None = None
    started: float = field(default_factory=time.monotonic)


class Channel:
    """The protocol output: whole lines under a lock, with rate-limited 'replaceable' messages.

    ``send`` writes at once. ``offer`` is for messages that supersede each other (progress of one
    stage, the partial text of one sample): at most one per key every PROGRESS_INTERVAL seconds
    is written, the newest one wins, and a flusher thread writes what is still pending."""

    def __init__(self, stream: IO[bytes], interval: float = PROGRESS_INTERVAL) -> None:
        self.stream = stream
        self.interval = interval
        self.lock = threading.RLock()
        self.pending: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.last_sent: dict[tuple[Any, ...], float] = {}
        self.closed = False
        self._stop = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_loop, name="protocol-flusher", daemon=True
        )
        self._flusher.start()

    def _write(self, msg: dict[str, Any]) -> None:
        if self.closed:
            return
        try:
            self.stream.write(protocol.encode(msg))
            self.stream.flush()
        except (BrokenPipeError, ValueError, OSError):
            # The client went away: nobody is listening; stop quietly (the reader sees EOF).
            self.closed = True

    def send(self, kind: str, /, *, replaces: tuple[Any, ...] | None = None, **fields: Any) -> None:
        with self.lock:
            if replaces is not None:
                self.pending.pop(replaces, None)
                self.last_sent[replaces] = time.monotonic()
            self._write(message(kind, **fields))

    def offer(self, key: tuple[Any, ...], kind: str, /, **fields: Any) -> None:
        with self.lock:
            now = time.monotonic()
            if now - self.last_sent.get(key, 0.0) >= self.interval:
                self.pending.pop(key, None)
                self.last_sent[key] = now
                self._write(message(kind, **fields))
            else:
                self.pending[key] = message(kind, **fields)

    def flush(self, *, older_than: float = 0.0) -> None:
        with self.lock:
            now = time.monotonic()
            for key in list(self.pending):
                if now - self.last_sent.get(key, 0.0) >= older_than:
                    self.last_sent[key] = now
                    self._write(self.pending.pop(key))

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.interval / 2):
            self.flush(older_than=self.interval)

    def close(self) -> None:
        self._stop.set()
        self.flush()


HINTS = {
    "ModelError": "Check the model on the Catalogue screen (v verifies it) or pick another model.",
    "DatasetError": "Check the dataset and its field mapping on the Catalogue screen, or pick another dataset.",
    "ConfigError": "Change that setting on the Build screen and start again.",
    "MemoryError": "Lower the batch size or the test limit, or use a smaller model.",
}


def one_sentence(error: BaseException) -> str:
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return first[:400]


def describe_error(error: BaseException) -> tuple[str, str]:
    """(what happened, what to do) for an exception raised by a job."""
    from core.errors import SaTuiError

    name = type(error).__name__
    if isinstance(error, MemoryError) or "OutOfMemoryError" in name:
        return "the worker ran out of memory", HINTS["MemoryError"]
    if isinstance(error, SaTuiError):
        for cls in type(error).__mro__:
            if cls.__name__ in HINTS:
                return one_sentence(error), HINTS[cls.__name__]
        return one_sentence(error), "Fix the cause above and start the build again."
    if isinstance(error, OSError):
        where = getattr(error, "filename", None)
        what = error.strerror or one_sentence(error)
        return (
            f"{what} ({where})" if where else what
        ), "Check free disk space and file permissions, then try again."
    from store.engine import default_db_path
    from store.guard import database_error_sentence, is_database_error

    if is_database_error(error):
        return database_error_sentence(error, default_db_path()), (
            "Nothing more was written; see `sa-tui db check`."
        )
    return (
        f"unexpected {name}: {one_sentence(error)}",
        f"This is a bug; the traceback is in {log_path()}. Try again, or report it with that file.",
    )


def log_path() -> str:
    return str(logs_dir() / "worker.log")


class Worker:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.job: Job | None = None
        self.lock = threading.Lock()
        self.models = ModelSlot()
        self.proxies = ModelSlot()  # AMPLIFY's proxy model, kept like the main one
        self._store: Store | None = None

    # ----------------------------------------------------------------- messages from the client
    def handle(self, msg: dict[str, Any]) -> bool:
        """Handle one message; return False when the worker should exit."""
        kind = msg["type"]
        if kind == protocol.PING:
            self.channel.send(protocol.PONG, job_id=self.job.job_id if self.job else None)
        elif kind == protocol.SUBMIT:
            self.submit(msg)
        elif kind == protocol.CANCEL:
            self.cancel(msg.get("job_id"))
        elif kind == protocol.SHUTDOWN:
            return False
        return True

    def submit(self, msg: dict[str, Any]) -> None:
        job_id = str(msg.get("job_id") or protocol.new_job_id())
        if msg.get("kind", "run") != "run":
            self.channel.send(
                protocol.ERROR,
                job_id=job_id,
                message=f"unknown job kind {msg.get('kind')!r}",
                hint="Only 'run' jobs exist in this version.",
            )
            return
        with self.lock:
            if self.job is not None:
                self.channel.send(
                    protocol.ERROR,
                    job_id=job_id,
                    message=f"the worker is busy with job {self.job.job_id}",
                    hint="Wait for it to finish, or cancel it first.",
                )
                return
            job = Job(job_id, dict(msg.get("config") or {}), CancelToken())
            job.thread = threading.Thread(
                target=self._run_job, args=(job,), name=f"job-{job_id}", daemon=True
            )
            self.job = job
        job.thread.start()

    def cancel(self, job_id: str | None) -> None:
        job = self.job
        if job is not None and (job_id is None or job_id == job.job_id):
            log.info("cancel requested for job %s", job.job_id)
            job.cancel.cancel()

    def wait(self, timeout: float) -> None:
        job = self.job
        if job is not None and job.thread is not None:
            job.thread.join(timeout)

    # ------------------------------------------------------------------------------- the job
    def store(self) -> Store:
        if self._store is None:
            from store.facade import Store

            self._store = Store.open()
        return self._store

    def _run_job(self, job: Job) -> None:
        final: dict[str, Any] = {
            "kind": protocol.ERROR,
            "job_id": job.job_id,
            "message": "the job stopped",
            "hint": "",
        }
        try:
            final = self._execute(job)
        finally:
            # Free the slot before the final message, so an immediate next submit is accepted.
            with self.lock:
                self.job = None
            self.channel.flush()
            kind = final.pop("kind")
            self.channel.send(kind, **final)

    def _execute(self, job: Job) -> dict[str, Any]:
        from core.config import RunConfig
        from core.errors import CancelledError
        from jobs.run import run_job

        try:
            config = RunConfig.from_dict(job.config)
            outcome = run_job(
                config,
                self.store(),
                models=self.models,
                proxies=self.proxies,
                progress=self._progress(job),
                cancel=job.cancel,
                events=self._events(job),
                on_started=lambda run_id: self._started(job, run_id),
                on_saved=lambda saved: self.channel.send(
                    protocol.SAVED, job_id=job.job_id, run_id=job.run_id, **saved.to_dict()
                ),
            )
            return {
                "kind": protocol.DONE,
                "job_id": job.job_id,
                "run_id": outcome.run_id,
                "results": summary(outcome.result),
                "seconds": round(outcome.result.seconds, 3),
            }
        except CancelledError:
            return {"kind": protocol.CANCELLED, "job_id": job.job_id, "run_id": job.run_id}
        except BaseException as error:  # every failure becomes one error message
            log.error("job %s failed:\n%s", job.job_id, traceback.format_exc())
            what, hint = describe_error(error)
            return {
                "kind": protocol.ERROR,
                "job_id": job.job_id,
                "run_id": job.run_id,
                "message": what,
                "hint": hint,
            }

    def _started(self, job: Job, run_id: str) -> None:
        job.run_id = run_id
        self.channel.send(protocol.STARTED, job_id=job.job_id, run_id=run_id)

    def _progress(self, job: Job) -> Callable[[Progress], None]:
        channel = self.channel

        def progress(report: Progress) -> None:
            fields = {
                "job_id": job.job_id,
                "stage": report.stage,
                "done": report.done,
                "total": report.total,
                "detail": report.detail,
            }
            key = ("progress", job.job_id, report.stage)
            if report.done == 0 or report.done >= report.total:
                channel.send(protocol.PROGRESS, replaces=key, **fields)
            else:
                channel.offer(key, protocol.PROGRESS, **fields)

        return progress

    def _events(self, job: Job) -> Callable[[str, dict[str, Any]], None]:
        channel = self.channel

        def events(kind: str, payload: dict[str, Any]) -> None:
            if kind == "text":
                key = ("text", job.job_id, payload.get("stage"), payload.get("sample_id"))
                if payload.get("final"):
                    channel.send(protocol.TEXT, replaces=key, job_id=job.job_id, **payload)
                else:
                    channel.offer(key, protocol.TEXT, job_id=job.job_id, **payload)
            elif kind == "tokens":
                channel.send(protocol.TOKENS, job_id=job.job_id, **payload)
            elif kind == "shots":
                channel.send(protocol.SHOTS, job_id=job.job_id, **payload)
            elif kind == "influence":
                channel.send(protocol.INFLUENCE, job_id=job.job_id, **payload)
            elif kind == "faithfulness":
                channel.send(protocol.FAITHFULNESS, job_id=job.job_id, **payload)

        return events

    def terminate(self) -> None:
        """SIGTERM: mark the running job's record as cancelled (best effort) and leave."""
        job = self.job
        if job is not None:
            job.cancel.cancel()
            from jobs.run import close_run

            close_run(self._store, job.run_id, "cancelled", "the worker was stopped")


def summary(result: RunResult) -> list[dict[str, Any]]:
    """The headline of each method (no contexts or per-item predictions: those are in the store)."""
    rows = []
    for method in result.methods:
        data = method.to_json()
        rows.append(
            {
                key: data[key]
                for key in ("method", "accuracy", "ci95", "n", "parse_failures", "seconds", "vs_io")
            }
        )
    return rows


def private_stdout() -> IO[bytes]:
    """Keep a private duplicate of fd 1 for the protocol and point fd 1 at fd 2."""
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "wb", buffering=0)


def prewarm() -> None:
    """Import the heavy libraries in the background so that the first job starts sooner."""
    try:
        import core.models.loading  # noqa: F401
        import core.pipeline  # noqa: F401
    except Exception:
        log.exception("prewarm failed")


def main(argv: list[str] | None = None) -> int:
    stream = private_stdout()
    log_to_file("worker.log")
    channel = Channel(stream)
    worker = Worker(channel)

    def on_term(signum: int, frame: Any) -> None:
        log.info("signal %s: stopping", signum)
        threading.Timer(3.0, lambda: os._exit(143)).start()
        worker.terminate()
        channel.close()
        os._exit(143)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in the terminal belongs to the UI
    from core.versions import library_versions

    channel.send(
        protocol.READY,
        pid=os.getpid(),
        versions=library_versions(),
        protocol=protocol.PROTOCOL_VERSION,
    )
    log.info("worker %s ready", os.getpid())
    if not os.environ.get("SA_TUI_NO_PREWARM"):
        threading.Thread(target=prewarm, name="prewarm", daemon=True).start()
    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline(protocol.MAX_LINE + 1)
        if not line:
            log.info("stdin closed: stopping")
            break
        if not line.strip():
            continue
        try:
            msg = protocol.decode(line)
        except protocol.ProtocolError as error:
            channel.send(
                protocol.ERROR,
                job_id=None,
                message=str(error),
                hint="The UI and the worker disagree; restart sa-tui.",
            )
            continue
        if not worker.handle(msg):
            log.info("shutdown requested")
            break
    worker.cancel(None)
    worker.wait(10.0)
    channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
