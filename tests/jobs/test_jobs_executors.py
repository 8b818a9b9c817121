"""What runs without Ray: the executor choice and its one-sentence refusals, the cache proxy a
Ray worker computes with, and the worker's cell stream (run in this process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import jobs.executors
from core.cache import PREDICTION, SELECTION
from core.errors import ConfigError
from jobs.executors import ExecutorChoice
from jobs.executors.cell_worker import CellDone, CellWorker, MethodDone
from jobs.executors.records import ProxyCache
from jobs.preflight import preflight
from tests.jobs.grid_helpers import tiny_cell_config

ROOT = Path(__file__).resolve().parents[2]


def test_the_executor_choice_is_checked_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ExecutorChoice().validate().kind == "local"
    with pytest.raises(ConfigError, match="unknown executor 'dask'"):
        ExecutorChoice("dask").validate()
    with pytest.raises(ConfigError, match="need --executor ray"):
        ExecutorChoice("local", address="auto").validate()
    with pytest.raises(ConfigError, match="need --executor ray"):
        ExecutorChoice("local", actors=2).validate()
    monkeypatch.setattr(jobs.executors, "ray_installed", lambda: True)
    with pytest.raises(ConfigError, match="at least 1"):
        ExecutorChoice("ray", actors=0).validate()
    assert ExecutorChoice("ray", "auto", 3).validate().actors == 3
    monkeypatch.setattr(jobs.executors, "ray_installed", lambda: False)
    with pytest.raises(ConfigError) as refused:
        ExecutorChoice("ray").validate()
    assert 'pip install -e ".[ray]"' in str(refused.value)


def test_the_proxy_cache_answers_from_snapshots_and_keeps_new_records() -> None:
    cache = ProxyCache([{(SELECTION, "a"): {"x": 1}}, {(PREDICTION, "b"): {"y": 2}}])
    assert cache.get(SELECTION, "a") == {"x": 1} and cache.get(PREDICTION, "b") == {"y": 2}
    assert cache.get(PREDICTION, "a") is None
    cache.put(SELECTION, "a", {"x": 9})  # stored already: kept as it was, nothing to send
    cache.put(PREDICTION, "c", {"z": 3}, run_id="r1")
    cache.put(PREDICTION, "c", {"z": 4})
    assert cache.get(SELECTION, "a") == {"x": 1} and cache.get(PREDICTION, "c") == {"z": 3}
    assert cache.take() == [(PREDICTION, "c", {"z": 3})]
    assert cache.take() == []


def test_a_cell_streams_one_message_per_method_and_reuses_a_snapshot(
    tiny_model_dir: Path, tiny_dataset_dir: Path
) -> None:
    config = tiny_cell_config(tiny_model_dir, tiny_dataset_dir)
    prepared = preflight(config)
    worker = CellWorker()
    first = list(worker.run_cell(prepared, "run-1"))
    assert [type(m) for m in first] == [MethodDone, MethodDone, MethodDone, CellDone]
    assert [m.result.method for m in first if isinstance(m, MethodDone)] == list(config.methods)
    computed = [record for message in first for record in message.records]
    assert {kind for kind, _, _ in computed} == {"selection", "rationale", "prediction"}
    assert len({(kind, key) for kind, key, _ in computed}) == len(computed)

    # the same cell with everything in the snapshot: nothing new to send, the same results
    snapshot = {(kind, key): value for kind, key, value in computed}
    again = list(worker.run_cell(prepared, "run-1", snapshot))
    assert all(message.records == [] for message in again)
    assert [m.result.to_json()["predictions"] for m in again if isinstance(m, MethodDone)] == [
        m.result.to_json()["predictions"] for m in first if isinstance(m, MethodDone)
    ]


def _cli(*args: str, home: Path, block_ray: bool = False) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys\nsys.modules['ray'] = None\n" if block_ray else "import sys\n"
    ) + "from sa_tui.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env={**os.environ, "SA_TUI_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_ray_flags_are_refused_in_one_sentence_before_any_work(
    tiny_model_dir: Path, tiny_dataset_dir: Path, _isolated_home: Path
) -> None:
    base = ["experiment", "--model", str(tiny_model_dir), "--dataset", str(tiny_dataset_dir)]
    base += ["--method", "io", "--test-limit", "2", "--seeds", "0"]
    cases = {
        "ray not installed": ([*base, "--executor", "ray"], True, 'pip install -e ".[ray]"'),
        "an address without ray": ([*base, "--ray-address", "auto"], False, "--executor ray"),
        "no actors": ([*base, "--executor", "ray", "--ray-actors", "0"], False, "at least 1"),
    }
    for name, (argv, block, expected) in cases.items():
        process = _cli(*argv, home=_isolated_home, block_ray=block)
        errors = [line for line in process.stderr.splitlines() if line.startswith("error:")]
        assert process.returncode == 2, (name, process.stderr[-2000:])
        assert len(errors) == 1 and expected in errors[0], (name, process.stderr)
        assert "Traceback" not in process.stderr, name
    assert not (_isolated_home / "sa-tui.db").exists()  # nothing was written
