"""Runs: lifecycle, heartbeat, and a run whose process is killed (-9) shown as interrupted,
then resumed without losing or duplicating what it wrote."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.cache import content_hash
from store.errors import StoreError
from store.facade import Store

# A child process that starts a run, stores some records, reports the run id, then waits to be killed.
CHILD = textwrap.dedent(
    """
    import sys, time
    from store.facade import Store
    store = Store.open()
    run = store.start_run({"model": "m", "dataset": "d"}, versions={"torch": "x"}, device="cpu")
    for i in range(5):
        store.put("selection", f"key{i}", {"sample_id": f"s{i}", "i": i}, run_id=run.id)
    store.update_progress(run.id, "select", 5, 10)
    print(run.id, flush=True)
    time.sleep(60)
    """
)


def test_lifecycle(store: Store) -> None:
    config = {"model": "m", "methods": ["io"], "seed": 0}
    run = store.start_run(config, kind="run", versions={"torch": "2.5"}, device="cuda:0")
    assert (run.status, run.pid, run.config, run.device) == (
        "running",
        os.getpid(),
        config,
        "cuda:0",
    )
    assert run.config_hash == content_hash(config)
    moved = store.update_progress(run.id, "evaluate:io", 3, 10)
    assert (moved.stage, moved.done, moved.total) == ("evaluate:io", 3, 10)
    assert moved.heartbeat_at is not None and moved.heartbeat_at >= run.heartbeat_at
    done = store.finish_run(run.id, "done")
    assert done.status == "done" and done.finished_at is not None and done.error is None
    # a late error path cannot undo a finished run
    assert store.finish_run(run.id, "failed", error="late").status == "done"
    assert store.get_run(run.id[:5]).id == run.id  # a unique prefix works
    with pytest.raises(StoreError, match="already finished"):
        store.resume_run(run.id)
    with pytest.raises(StoreError, match="finishes as one of"):
        store.finish_run(run.id, "paused")


def test_unknown_runs(store: Store) -> None:
    run = store.start_run({}, versions={}, device="cpu")
    with pytest.raises(StoreError, match="there is no run"):
        store.get_run("zzzzzzzz")
    with pytest.raises(StoreError, match=f"did you mean {run.id}"):
        store.resume_run(run.id[:-1] + ("0" if run.id[-1] != "0" else "1") + "x")
    with pytest.raises(StoreError, match="still running"):
        store.resume_run(run.id)  # our own live process
    with pytest.raises(StoreError, match="unknown run status"):
        store.list_runs("paused")


def test_killed_run_is_interrupted_then_resumed(_isolated_home: Path) -> None:
    Store.open().close()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    store = Store.open()
    try:
        assert store.get_run(run_id).status == "running"  # alive: not touched
        started = time.perf_counter()
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        marked = store.list_runs()  # listing notices the dead process
        seconds = time.perf_counter() - started
        record = next(r for r in marked if r.id == run_id)
        assert record.status == "interrupted" and "process stopped" in (record.error or "")
        assert (record.stage, record.done, record.total) == ("select", 5, 10)
        assert store.record_counts(run_id)["selection"] == 5  # nothing written is lost

        resumed = store.resume_run(run_id)
        assert (resumed.status, resumed.pid, resumed.resumes, resumed.error) == (
            "running",
            os.getpid(),
            1,
            None,
        )
        # the resumed run re-puts the same keys (cache hits): nothing is duplicated
        for i in range(10):
            store.put("selection", f"key{i}", {"sample_id": f"s{i}", "i": i}, run_id=run_id)
        assert store.count_records("selection") == 10
        assert store.finish_run(run_id, "done").status == "done"
        print(
            f"kill -9 -> interrupted in {seconds * 1000:.0f} ms; 5 records kept, 5 added on resume, 0 duplicated"
        )
    finally:
        store.close()


def test_a_long_silent_step_of_a_live_process_here_is_not_a_death(store: Store) -> None:
    """One KernelSHAP shot can take minutes without progress: its live process keeps it running
    (an experiment grid was shown as interrupted while it worked)."""
    run = store.start_run({}, versions={}, device="cpu")
    old = (datetime.now(timezone.utc) - timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(store.path) as connection:
        connection.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (old, run.id))
    assert store.mark_interrupted() == 0
    assert store.get_run(run.id).status == "running"


def test_a_silent_run_elsewhere_is_interrupted_and_its_owner_revives_it(store: Store) -> None:
    run = store.start_run({}, versions={}, device="cpu")
    old = (datetime.now(timezone.utc) - timedelta(minutes=3)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(store.path) as connection:
        connection.execute(
            "UPDATE runs SET heartbeat_at = ?, host = 'elsewhere' WHERE id = ?", (old, run.id)
        )
    assert store.mark_interrupted() == 1
    assert store.get_run(run.id).status == "interrupted"
    with sqlite3.connect(store.path) as connection:  # back on its own host and process
        connection.execute("UPDATE runs SET host = ? WHERE id = ?", (socket.gethostname(), run.id))
    assert store.heartbeat(run.id).status == "running"  # we are its process: it was only slow


def test_a_run_on_another_host_is_judged_by_its_heartbeat(store: Store) -> None:
    run = store.start_run({}, versions={}, device="cpu")
    with sqlite3.connect(store.path) as connection:
        connection.execute(
            "UPDATE runs SET host = 'elsewhere', pid = 999999999 WHERE id = ?", (run.id,)
        )
    assert store.mark_interrupted() == 0  # fresh heartbeat, pid not checkable here
    assert store.get_run(run.id).status == "running"


def test_list_runs_filters_and_orders(store: Store) -> None:
    first = store.start_run({"n": 1}, versions={}, device="cpu")
    second = store.start_run({"n": 2}, versions={}, device="cpu")
    store.finish_run(first.id, "failed", error="boom")
    assert [r.id for r in store.list_runs()] == [second.id, first.id]
    assert [r.id for r in store.list_runs("failed")] == [first.id]
    assert store.get_run(first.id).error == "boom"


def test_a_silent_run_whose_process_lives_cannot_be_resumed_twice(_isolated_home: Path) -> None:
    Store.open().close()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    assert child.stdout is not None
    try:
        run_id = child.stdout.readline().strip()
        with Store.open() as store:
            old = (datetime.now(timezone.utc) - timedelta(minutes=5)).strftime(
                "%Y-%m-%d %H:%M:%S.%f"
            )
            with sqlite3.connect(store.path) as connection:
                connection.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (old, run_id))
            assert store.mark_interrupted() == 0  # silent for 5 minutes, but alive here
            with pytest.raises(StoreError, match="is still running"):
                store.resume_run(run_id)
    finally:
        child.kill()
        child.wait()
    with Store.open() as store:
        assert store.resume_run(run_id).status == "running"  # now it can be taken over
