"""Kill -9 in the middle of `sa-tui run`, then `--resume`: same results, nothing lost or doubled."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import tiny

ROOT = Path(__file__).resolve().parent.parent
TIMING = {"seconds", "eval_seconds", "rationale_seconds", "run_id"}


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _sa_tui(home: Path, *args: str, wait: bool = True):
    env = {**os.environ, "SA_TUI_HOME": str(home)}
    command = [sys.executable, "-m", "sa_tui", *args]
    if not wait:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _predictions(home: Path) -> int:
    database = home / "sa-tui.db"
    if not database.exists():
        return 0
    with sqlite3.connect(database, timeout=30) as connection:
        try:
            return int(connection.execute("select count(*) from predictions").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def _versions(home: Path) -> list[tuple[str, int, str]]:
    listing = json.loads(_sa_tui(home, "prompts", "list", "--format", "json").stdout)
    return sorted((v["lineage"], v["version"], v["content_hash"]) for v in listing)


@pytest.fixture
def run_args(tmp_path: Path, tiny_model_dir: Path) -> list[str]:
    data = tiny.write_dataset(tmp_path / "data", pool=12, test=40)
    return [
        "run",
        "--model",
        str(tiny_model_dir),
        "--dataset",
        str(data),
        "--method",
        "io,ph_cot",
        "--strategy",
        "random",
        "--shots",
        "2",
        "--steps",
        "1",
        "--test-limit",
        "40",
        "--seed",
        "0",
        "--rationale-tokens",
        "6",
        "--eval-tokens",
        "16",
        "--batch-size",
        "1",
    ]


def test_kill_and_resume_gives_the_uninterrupted_results(
    tmp_path: Path, run_args: list[str]
) -> None:
    reference_home, killed_home = tmp_path / "reference", tmp_path / "killed"
    reference = _sa_tui(reference_home, *run_args, "--json", str(tmp_path / "reference.json"))
    assert reference.returncode == 0, reference.stderr
    expected_predictions = _predictions(reference_home)
    assert expected_predictions == 40 * 2

    process = _sa_tui(killed_home, *run_args, "--json", str(tmp_path / "killed.json"), wait=False)
    deadline = time.monotonic() + 300
    while _predictions(killed_home) < 48 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed; make it longer"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    written_before = _predictions(killed_home)
    assert 0 < written_before < expected_predictions

    listing = _sa_tui(killed_home, "runs", "list", "--format", "json")
    assert listing.returncode == 0, listing.stderr
    runs = json.loads(listing.stdout)
    assert [r["status"] for r in runs] == ["interrupted"]
    run_id = runs[0]["id"]

    resumed = _sa_tui(
        killed_home, "run", "--resume", run_id, "--json", str(tmp_path / "resumed.json")
    )
    assert resumed.returncode == 0, resumed.stderr
    assert _predictions(killed_home) == expected_predictions  # nothing lost, nothing doubled
    after = json.loads(_sa_tui(killed_home, "runs", "show", run_id, "--format", "json").stdout)
    assert after["status"] == "done"

    want = _strip(json.loads((tmp_path / "reference.json").read_text()))
    got = _strip(json.loads((tmp_path / "resumed.json").read_text()))
    assert got["results"] == want["results"]


def test_second_identical_run_reuses_everything(tmp_path: Path, run_args: list[str]) -> None:
    home = tmp_path / "home"
    first = _sa_tui(home, *run_args)
    assert first.returncode == 0, first.stderr
    versions = _versions(home)
    records = _predictions(home)
    second = _sa_tui(home, *run_args)
    assert second.returncode == 0, second.stderr
    assert _versions(home) == versions  # no new prompt version; the run adds only its scores
    assert _predictions(home) == records
    assert len(json.loads(_sa_tui(home, "runs", "list", "--format", "json").stdout)) == 2
