"""The worker client against a scripted fake worker process: the protocol, cancel escalation
(cooperative, SIGTERM, SIGKILL), a crash reported and a restart on the next job."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from sa_tui.worker_client import WorkerClient, WorkerEvent, WorkerProcessDied

FAKE = str(Path(__file__).with_name("fake_worker.py"))


class Recorder:
    """Stands in for the App: collects what the client posts."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    def post_message(self, message: Any) -> bool:
        self.messages.append(message)
        return True

    def kinds(self) -> list[str]:
        return [m.kind for m in self.messages if isinstance(m, WorkerEvent)]

    async def wait_for(self, predicate, timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out; got {self.kinds()}")
            await asyncio.sleep(0.02)


def client_for(mode: str, recorder: Recorder, tmp_path: Path, **options: Any) -> WorkerClient:
    return WorkerClient(recorder, (sys.executable, FAKE, mode), log_dir=tmp_path, **options)  # type: ignore[arg-type]


async def test_submit_and_cooperative_cancel(tmp_path: Path) -> None:
    recorder = Recorder()
    client = client_for("obedient", recorder, tmp_path)
    await client.start()
    assert client.versions == {"fake": "obedient"}
    job = await client.submit({"model": "m"})
    await recorder.wait_for(lambda: "progress" in recorder.kinds())
    await client.cancel(job)
    await recorder.wait_for(lambda: "cancelled" in recorder.kinds())
    assert client.active_job is None and client.alive
    await client.stop()
    assert not client.alive


async def test_stubborn_job_is_terminated_then_killed(tmp_path: Path) -> None:
    for mode in ("stubborn", "deaf"):
        await _cancel_escalates(mode, tmp_path)


async def _cancel_escalates(mode: str, tmp_path: Path) -> None:
    recorder = Recorder()
    client = client_for(mode, recorder, tmp_path, grace=0.3, kill_after=0.3)
    job = await client.submit({"model": "m"})
    await recorder.wait_for(lambda: "progress" in recorder.kinds())
    pid = client.pid
    await client.cancel(job)
    await recorder.wait_for(lambda: "cancelled" in recorder.kinds())
    cancelled = [
        m for m in recorder.messages if isinstance(m, WorkerEvent) and m.kind == "cancelled"
    ][0]
    assert cancelled.job_id == job and cancelled.data.get("forced")
    assert not client.alive
    assert not any(isinstance(m, WorkerProcessDied) for m in recorder.messages)
    # The next job starts a fresh worker.
    await client.submit({"model": "m"})
    assert client.pid != pid
    await client.stop()


async def test_crash_is_reported_and_worker_restarts(tmp_path: Path) -> None:
    recorder = Recorder()
    client = client_for("crash", recorder, tmp_path)
    job = await client.submit({"model": "m"})
    await recorder.wait_for(
        lambda: any(isinstance(m, WorkerProcessDied) for m in recorder.messages)
    )
    died = next(m for m in recorder.messages if isinstance(m, WorkerProcessDied))
    assert died.returncode == 3 and died.job_id == job
    assert "Segmentation fault" in died.stderr_tail
    first = client.pid
    client.command = (sys.executable, FAKE, "obedient")
    await client.submit({"model": "m"})
    assert client.alive and client.pid != first
    await client.stop()


async def test_junk_on_stdout_is_skipped(tmp_path: Path) -> None:
    recorder = Recorder()
    client = client_for("noisy", recorder, tmp_path)
    await client.submit({"model": "m"})
    await recorder.wait_for(lambda: "done" in recorder.kinds())
    logs = [m for m in recorder.messages if isinstance(m, WorkerEvent) and m.kind == "log"]
    assert logs and "not a JSON message" in logs[0].data["message"]
    await client.stop()
