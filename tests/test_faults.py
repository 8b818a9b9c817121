"""The fault-injection suite (bench/faults.py) on the tiny random model: runs killed with SIGKILL
lose no completed record, leave a sound database and resume to the uninterrupted results; a full
disk and a locked database keep the data safe."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests import tiny

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "faults.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_faults", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _faults(model: Path, *args: str, timeout: float) -> tuple[int, dict[str, Any], str]:
    """Run the suite; its exit status, the figures of its one JSON line, and its stderr."""
    done = subprocess.run(
        [sys.executable, str(BENCH), "--model", str(model), "--json", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, (done.stdout, done.stderr)
    return done.returncode, json.loads(lines[0]), done.stderr


def _assert_nothing_lost(status: int, figures: dict[str, Any], trials: int) -> None:
    assert figures["trials"] == trials
    assert sum(figures["killed_in_stage"].values()) == trials
    assert figures["completed_records_lost"] == 0, figures["failed_trials"]
    assert figures["integrity_checks_failed"] == 0, figures["failed_trials"]
    assert figures["resumed_identical"] == trials, figures["failed_trials"]
    assert figures["scores_doubled"] == 0, figures["failed_trials"]
    assert status == 0 and figures["passed"] is True, figures


def test_killed_runs_lose_nothing_and_resume_to_the_same_results(tiny_model_dir: Path) -> None:
    # forked runs skip the ~5 s of imports each `python -m sa_tui` pays: well under a minute
    status, figures, stderr = _faults(
        tiny_model_dir,
        *("--trials", "3", "--faults", "kill", "--launcher", "fork", "--test-limit", "12"),
        timeout=300,
    )
    _assert_nothing_lost(status, figures, 3)
    assert figures["completed_records_checked"] >= 0
    assert figures["full_disk"] == figures["locked_database"] == {"skipped": "not in --faults kill"}
    assert figures["launcher"] == "fork" and figures["seconds"] > 0


@pytest.fixture(scope="module")
def disk_and_lock(tiny_model_dir: Path) -> tuple[int, dict[str, Any], str]:
    return _faults(
        tiny_model_dir,
        *("--trials", "0", "--faults", "full-disk,lock", "--launcher", "fork"),
        timeout=600,
    )


@pytest.mark.slow
def test_full_disk_and_locked_database_keep_the_data_safe(disk_and_lock) -> None:
    status, figures, stderr = disk_and_lock
    lock = figures["locked_database"]
    assert lock["outcome"] in ("waited, then completed", "failed cleanly"), lock
    assert lock["integrity_ok"] and lock["identical_to_reference"]
    assert not lock["traceback_on_stderr"] and lock["data_safe"], lock
    disk = figures["full_disk"]
    if "skipped" in disk:
        assert os.geteuid() != 0 or "mount" in disk["skipped"], disk
        assert status == 0, (figures, stderr)
        return
    assert disk["filled_mid_run"], disk
    assert disk["exit_status"] != 0 and disk["error_lines"] == 1, disk
    assert disk["integrity_ok"] and disk["records_lost"] == 0 and disk["resumed_identical"], disk
    assert disk["scores_doubled"] == 0 and status == 0, (figures, stderr)


@pytest.mark.slow
def test_a_full_disk_fails_without_a_traceback(disk_and_lock) -> None:
    disk = disk_and_lock[1]["full_disk"]
    if "skipped" in disk:
        pytest.skip(disk["skipped"])
    assert disk["clean_failure"] and not disk["traceback_on_stderr"], disk


@pytest.mark.slow
def test_fifty_kills_of_real_processes(tiny_model_dir: Path) -> None:
    """The whole suite as documented: `python -m sa_tui` for every run (about 15 minutes)."""
    status, figures, stderr = _faults(tiny_model_dir, "--trials", "50", timeout=3600)
    _assert_nothing_lost(status, figures, 50)
    stages = figures["killed_in_stage"]  # "model (complete)": killed while selecting shots
    for stage in ("model (complete)", "rationales:", "evaluate:"):
        assert any(name.startswith(stage) for name in stages), stages


def _scores(database: Path) -> int:
    try:
        with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
            return int(connection.execute("SELECT COUNT(*) FROM scores").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


@pytest.mark.slow
def test_a_resumed_run_saves_each_score_once(tmp_path: Path, tiny_model_dir: Path) -> None:
    faults = _bench()
    data = tiny.write_dataset(tmp_path / "data", pool=12, test=16)
    launcher, home = faults.ExecLauncher(), tmp_path / "home"
    database = home / faults.DB_NAME
    child = launcher.start(home, faults.run_arguments(str(tiny_model_dir), str(data), 16))
    while child.poll() is None and _scores(database) == 0:  # io's score, the first of three
        time.sleep(0.02)
    assert child.poll() is None, "the run ended before it could be killed"
    os.kill(child.pid, signal.SIGKILL)
    child.finish()
    state = faults.run_state(database)
    resumed = faults.run_to_end(launcher, home, ["run", "--resume", state.run_id])
    assert resumed.returncode == 0, resumed.stderr
    assert faults.doubled_scores(database) == 0
