"""The UI side of the worker: starts ``python -m jobs.worker``, speaks the protocol, posts messages.

The client belongs to the App (not to a screen), runs on the App's event loop, and turns every
protocol line into a :class:`WorkerEvent` posted to its target. Cancelling is cooperative first
(a ``cancel`` message), then SIGTERM after ``grace`` seconds, then SIGKILL. A worker that dies is
reported with :class:`WorkerProcessDied` and started again on the next job.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from textual.message import Message
from textual.message_pump import MessagePump

from jobs import protocol

DEFAULT_COMMAND = (sys.executable, "-m", "jobs.worker")


class WorkerEvent(Message):
    """One message from the worker (``kind`` is its protocol type)."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__()
        self.data = data
        self.kind: str = str(data.get("type"))
        self.job_id: str | None = data.get("job_id")


class WorkerProcessState(Message):
    """The worker process changed state: stopped, starting, ready, busy, cancelling."""

    def __init__(self, state: str, detail: str = "") -> None:
        super().__init__()
        self.state = state
        self.detail = detail


class WorkerProcessDied(Message):
    """The worker process ended without being asked to (crash, OOM kill, ...)."""

    def __init__(self, returncode: int | None, job_id: str | None, stderr_tail: str) -> None:
        super().__init__()
        self.returncode = returncode
        self.job_id = job_id
        self.stderr_tail = stderr_tail


class WorkerClient:
    """Owns one worker subprocess at a time."""

    def __init__(
        self,
        target: MessagePump,
        command: Sequence[str] = DEFAULT_COMMAND,
        *,
        grace: float = 8.0,
        kill_after: float = 3.0,
        env: dict[str, str] | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.target = target
        self.command = tuple(command)
        self.grace = grace
        self.kill_after = kill_after
        self.env = env
        self.log_dir = log_dir
        self.process: asyncio.subprocess.Process | None = None
        self.state = "stopped"
        self.versions: dict[str, str] = {}
        self.pid: int | None = None
        self.active_job: str | None = None
        self._reader: asyncio.Task[None] | None = None
        self._escalation: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._starting: asyncio.Lock | None = None
        self._stopping = False
        self._cancel_before_send = False
        self._terminated_job: str | None = None
        self._stderr: IO[bytes] | None = None
        self._stderr_path: Path | None = None

    # ------------------------------------------------------------------------------ lifecycle
    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def _set_state(self, state: str, detail: str = "") -> None:
        self.state = state
        self.target.post_message(WorkerProcessState(state, detail))

    def _open_stderr(self) -> IO[bytes] | int:
        """Worker stderr (where stray prints end up) goes to a file, never to our terminal."""
        try:
            if self.log_dir is None:
                from core.paths import logs_dir

                self.log_dir = logs_dir()
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._stderr_path = self.log_dir / "worker.stderr.log"
            self._stderr = self._stderr_path.open("ab")
            return self._stderr
        except OSError:
            return asyncio.subprocess.DEVNULL

    async def start(self) -> None:
        """Start the worker if it is not running; return once it has said ``ready``."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self.alive:
                return
            self._stopping = False
            self._ready = asyncio.Event()
            self._set_state("starting")
            stderr = self._open_stderr()
            env = dict(os.environ if self.env is None else self.env)
            env.setdefault("PYTHONIOENCODING", "utf-8")
            self.process = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env=env,
                limit=protocol.MAX_LINE,
                start_new_session=True,  # Ctrl+C in the terminal reaches the UI only
            )
            self.pid = self.process.pid
            self._reader = asyncio.create_task(self._read(self.process))
        await self._ready.wait()

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while True:
            try:
                line = await process.stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                continue  # an over-long line: skip it
            if not line:
                break
            try:
                data = protocol.decode(line)
            except protocol.ProtocolError as error:
                self.target.post_message(
                    WorkerEvent(protocol.message(protocol.LOG, level="warning", message=str(error)))
                )
                continue
            self._on_message(data)
        returncode = await process.wait()
        self._ready.set()  # release anyone waiting for a worker that will not come
        if process is not self.process:
            return
        job = self.active_job
        self.active_job = None
        if self._escalation is not None:
            self._escalation.cancel()
            self._escalation = None
        if self._terminated_job is not None:
            # We stopped it ourselves to cancel a job that did not stop in time.
            self.target.post_message(
                WorkerEvent(
                    protocol.message(
                        protocol.CANCELLED, job_id=self._terminated_job, run_id=None, forced=True
                    )
                )
            )
            self._terminated_job = None
            self._set_state("stopped", "stopped to cancel the job; it restarts on the next build")
        elif self._stopping:
            self._set_state("stopped")
        else:
            self._set_state("stopped", f"the worker exited with code {returncode}")
            self.target.post_message(WorkerProcessDied(returncode, job, self.stderr_tail()))

    def _on_message(self, data: dict[str, Any]) -> None:
        kind = data.get("type")
        if kind == protocol.READY:
            self.versions = dict(data.get("versions") or {})
            self.pid = data.get("pid", self.pid)
            self._ready.set()
            self._set_state("busy" if self.active_job else "ready")
        elif (
            kind in protocol.FINAL_TYPES
            and data.get("job_id")
            and data.get("job_id") == self.active_job
        ):
            self.active_job = None
            if self._escalation is not None:
                self._escalation.cancel()
                self._escalation = None
            self._set_state("ready")
        self.target.post_message(WorkerEvent(data))

    def stderr_tail(self, lines: int = 8) -> str:
        if self._stderr_path is None or not self._stderr_path.is_file():
            return ""
        try:
            with self._stderr_path.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - 4000))
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    async def _send(self, msg: dict[str, Any]) -> None:
        if not self.alive or self.process is None or self.process.stdin is None:
            raise ConnectionError("the worker is not running")
        self.process.stdin.write(protocol.encode(msg))
        await self.process.stdin.drain()

    # ---------------------------------------------------------------------------------- jobs
    async def submit(self, config: dict[str, Any], *, job_id: str | None = None) -> str:
        """Send a run job (starting or restarting the worker first); return its job id."""
        if self.active_job is not None:
            raise RuntimeError("a job is already running; cancel it first")
        job_id = job_id or protocol.new_job_id()
        self.active_job = job_id
        self._cancel_before_send = False
        try:
            await self.start()
        except BaseException:
            self.active_job = None
            raise
        if self._cancel_before_send or not self.alive:
            self.active_job = None
            if self._cancel_before_send:
                self.target.post_message(
                    WorkerEvent(protocol.message(protocol.CANCELLED, job_id=job_id, run_id=None))
                )
                self._set_state("ready")
                return job_id
            raise ConnectionError("the worker stopped while starting")
        self._set_state("busy")
        try:
            await self._send(
                protocol.message(protocol.SUBMIT, job_id=job_id, kind="run", config=config)
            )
        except (ConnectionError, BrokenPipeError, ConnectionResetError):
            self.active_job = None
            raise
        return job_id

    async def cancel(self, job_id: str | None = None) -> None:
        """Ask the job to stop; escalate to SIGTERM, then SIGKILL, if it does not."""
        job_id = job_id or self.active_job
        if job_id is None or job_id != self.active_job:
            return
        if not self.alive or self.state == "starting":
            self._cancel_before_send = True  # submit() has not sent it yet
            return
        self._set_state("cancelling")
        with contextlib.suppress(ConnectionError, BrokenPipeError, ConnectionResetError):
            await self._send(protocol.message(protocol.CANCEL, job_id=job_id))
        if self._escalation is None:
            self._escalation = asyncio.create_task(self._escalate(job_id))

    async def _escalate(self, job_id: str) -> None:
        process = self.process
        if process is None:
            return
        await asyncio.sleep(self.grace)
        if self.active_job != job_id or process.returncode is not None:
            return
        self._terminated_job = job_id
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        await asyncio.sleep(self.kill_after)
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()

    async def ping(self) -> None:
        await self._send(protocol.message(protocol.PING))

    async def stop(self, timeout: float = 2.0) -> None:
        """Shut the worker down: a polite message, then SIGTERM, then SIGKILL."""
        process = self.process
        self._stopping = True
        if process is None or process.returncode is not None:
            self._close_stderr()
            return
        with contextlib.suppress(Exception):
            if self.active_job is not None:
                await self._send(protocol.message(protocol.CANCEL, job_id=self.active_job))
            await self._send(protocol.message(protocol.SHUTDOWN))
            if process.stdin is not None:
                process.stdin.close()
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(sig)
            try:
                await asyncio.wait_for(process.wait(), timeout)
                break
            except asyncio.TimeoutError:
                continue
        if self._reader is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._reader, 1.0)
        self._close_stderr()

    def _close_stderr(self) -> None:
        if self._stderr is not None:
            with contextlib.suppress(OSError):
                self._stderr.close()
            self._stderr = None
