"""The Ray executor on a real local Ray cluster (2 CPUs) and the tiny model: the same records as
the local executor, a killed actor replayed to the same results, a cancel that stops every actor
and that the same command then finishes, finished cells reused without any dispatch, a cell that
fails on its worker, and the command line's refusals.

Timings (``seconds``) are never compared. With one actor the cells run in the local order, each
reusing the records of the cells before it, and every stored value is bit-identical to the local
executor's. With two actors, cells that run side by side compute the records that the local order
would have reused; a batch then holds other items, which moves log-likelihoods in the sixth
decimal, so those runs compare every prediction, prompt and record, floats to 1e-4."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")

from core.config import RunConfig  # noqa: E402
from core.errors import CancelledError, ConfigError, ModelError  # noqa: E402
from core.progress import CancelToken, Progress  # noqa: E402
from jobs.executors.local import LocalExecutor  # noqa: E402
from jobs.executors.ray_executor import RayExecutor  # noqa: E402
from jobs.executors.records import run_snapshot  # noqa: E402
from jobs.experiment import Cell, run_grid  # noqa: E402
from store.facade import Store  # noqa: E402
from tests.jobs.grid_helpers import tiny_grid  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
Summary = dict[str, dict[str, Any]]  # cell config hash -> method -> what was stored
TOLERANCE = 1e-4  # cells side by side: log-likelihoods move in the sixth decimal (see above)


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One local cluster for the module; its workers get their own data directory."""
    home = tmp_path_factory.mktemp("ray-workers-home")
    with pytest.MonkeyPatch.context() as patch:  # the workers inherit this environment
        patch.setenv("SA_TUI_HOME", str(home))
        patch.setenv("OMP_NUM_THREADS", "1")
        ray.init(  # "local": a new instance, whatever RAY_ADDRESS or `ray start` say
            address="local",
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local_reference(
    tiny_model_dir: Path, tiny_dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Summary, dict[tuple[str, str], Any]]:
    """What the local executor stores for the grid: per cell and method, and every record."""
    folder = tmp_path_factory.mktemp("local-reference")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SA_TUI_HOME", str(folder))
        with Store.open(folder / "local.db") as store:
            _, outcomes = run_grid(
                tiny_grid(tiny_model_dir, tiny_dataset_dir),
                store,
                cancel=CancelToken(),
                progress=lambda _: None,
                executor=LocalExecutor(),
            )
            return _stored(store, [o.run_id for o in outcomes if o.run_id])


def _stored(store: Store, run_ids: list[str]) -> tuple[Summary, dict[tuple[str, str], Any]]:
    summary: Summary = {}
    records: dict[tuple[str, str], Any] = {}
    for run_id in run_ids:
        run = store.get_run(run_id)
        assert run.status == "done"
        methods = {}
        for method, score in store.method_scores_for_run(run_id).items():
            version = store.get_prompt_version(score.prompt_version_id)
            methods[method] = {
                "content_hash": version.content_hash,
                "predictions": score.predictions,
                "accuracy": score.value,
                "n": score.n,
                "parse_failures": score.parse_failures,
            }
        summary[Cell(RunConfig.from_dict(run.config)).config_hash] = methods
        records.update(run_snapshot(store, run_id))
    return summary, records


def _ray(actors: int = 2, **kwargs: Any) -> RayExecutor:
    return RayExecutor(actors=actors, **kwargs)


def _differences(got: Any, want: Any, tolerance: float, path: str = "") -> list[str]:
    """Where ``got`` and ``want`` differ, timings (``seconds``) left out and floats compared
    to ``tolerance``."""
    if isinstance(got, dict) and isinstance(want, dict):
        if set(got) != set(want):
            return [f"{path}: keys {sorted(map(str, set(got) ^ set(want)))[:4]}"]
        return [
            difference
            for key in got
            if key != "seconds"
            for difference in _differences(got[key], want[key], tolerance, f"{path}/{key}")
        ]
    if isinstance(got, list | tuple) and isinstance(want, list | tuple):
        if len(got) != len(want):
            return [f"{path}: {len(got)} items, not {len(want)}"]
        return [
            difference
            for index, (a, b) in enumerate(zip(got, want, strict=True))
            for difference in _differences(a, b, tolerance, f"{path}[{index}]")
        ]
    if isinstance(got, float) and isinstance(want, float):
        return [] if abs(got - want) <= tolerance else [f"{path}: {got} != {want}"]
    return [] if got == want else [f"{path}: {got!r} != {want!r}"]


def _same(got: tuple[Summary, dict], want: tuple[Summary, dict], tolerance: float) -> None:
    assert _differences(got[0], want[0], tolerance) == []
    assert _differences(got[1], want[1], tolerance) == []


def _dead(actor: Any) -> bool:
    try:
        ray.get(actor.ping.options(max_task_retries=0).remote(), timeout=60)
    except ray.exceptions.RayActorError:
        return True
    return False


def test_ray_writes_the_same_records_as_the_local_executor(
    ray_cluster: None,
    local_reference: tuple[Summary, dict],
    tiny_model_dir: Path,
    tiny_dataset_dir: Path,
) -> None:
    dispatched: list[str] = []
    cells: list[tuple[int, int]] = []
    grid = tiny_grid(tiny_model_dir, tiny_dataset_dir)
    one = _ray(actors=1, on_dispatch=lambda c, _: dispatched.append(c.label))
    with Store.open() as store, one as ex:
        record, outcomes = run_grid(
            grid,
            store,
            cancel=CancelToken(),
            progress=lambda _: None,
            on_cell=lambda done, total, _: cells.append((done, total)),
            executor=ex,
        )
        assert record.status == "done" and record.cells_done == 2
        assert [o.cell for o in outcomes] == grid.cells() and not any(o.reused for o in outcomes)
        assert cells == [(1, 2), (2, 2)] and len(dispatched) == 2
        assert all(run.device == "cpu" for run in store.list_runs(limit=10))
        stored = _stored(store, [o.run_id for o in outcomes if o.run_id])
    _same(stored, local_reference, 0.0)


def test_a_killed_actor_is_replayed_to_the_same_results(
    ray_cluster: None,
    local_reference: tuple[Summary, dict],
    tiny_model_dir: Path,
    tiny_dataset_dir: Path,
) -> None:
    actors: dict[str, Any] = {}
    killed: list[str] = []

    def progress(report: Progress) -> None:
        label = report.detail.rsplit(": ", 1)[0]
        if report.done == 1 and not killed:  # the cell is mid-way: one method stored
            killed.append(label)
            ray.kill(actors[label], no_restart=False)

    with Store.open() as store, _ray(on_dispatch=lambda c, a: actors.update({c.label: a})) as ex:
        record, outcomes = run_grid(
            tiny_grid(tiny_model_dir, tiny_dataset_dir),
            store,
            cancel=CancelToken(),
            progress=progress,
            executor=ex,
        )
        assert killed and record.status == "done"
        assert not _dead(actors[killed[0]])  # Ray restarted the killed actor
        run_ids = [o.run_id for o in outcomes if o.run_id]
        # every method is stored once per run, even though the killed cell was replayed
        assert all(len(store.scores_for_run(run_id)) == 3 for run_id in run_ids)
        stored = _stored(store, run_ids)
    _same(stored, local_reference, TOLERANCE)


def test_cancel_stops_the_ray_work_and_the_same_grid_then_completes(
    ray_cluster: None,
    local_reference: tuple[Summary, dict],
    tiny_model_dir: Path,
    tiny_dataset_dir: Path,
) -> None:
    grid = tiny_grid(tiny_model_dir, tiny_dataset_dir)
    cancel = CancelToken()
    seen: list[Any] = []

    def progress(report: Progress) -> None:
        if report.done == 1:
            cancel.cancel()

    with Store.open() as store:
        executor = _ray(on_dispatch=lambda _, actor: seen.append(actor))
        with executor, pytest.raises(CancelledError):
            run_grid(grid, store, cancel=cancel, progress=progress, executor=executor)
        assert len(seen) == 2 and all(_dead(actor) for actor in seen)
        assert executor.actors == []
        stopped = store.list_experiments()[0]
        assert stopped.status == "cancelled"
        runs = store.list_runs(limit=10)
        assert len(runs) == 2 and all(run.status in ("cancelled", "done") for run in runs)
        assert any(run.status == "cancelled" for run in runs)

        with _ray() as again:
            record, outcomes = run_grid(
                grid, store, cancel=CancelToken(), progress=lambda _: None, executor=again
            )
        assert record.id == stopped.id and record.status == "done"
        assert {o.run_id for o in outcomes} == {run.id for run in runs}  # resumed, not new
        stored = _stored(store, [o.run_id for o in outcomes if o.run_id])
    _same(stored, local_reference, TOLERANCE)


def test_finished_cells_are_reused_without_dispatching(
    ray_cluster: None, tiny_model_dir: Path, tiny_dataset_dir: Path
) -> None:
    dispatched: list[str] = []
    with Store.open() as store:
        run_grid(  # two of the three seeds, locally
            tiny_grid(tiny_model_dir, tiny_dataset_dir, seeds=(0, 1)),
            store,
            cancel=CancelToken(),
            progress=lambda _: None,
        )
        grid = tiny_grid(tiny_model_dir, tiny_dataset_dir, seeds=(0, 1, 2))
        with _ray(on_dispatch=lambda cell, _: dispatched.append(cell.label)) as executor:
            record, outcomes = run_grid(
                grid, store, cancel=CancelToken(), progress=lambda _: None, executor=executor
            )
            assert [o.reused for o in outcomes] == [True, True, False]
            assert len(dispatched) == 1 and dispatched[0].endswith("seed=2")
            assert len(executor.actors) == 1  # no more actors than cells to run
        assert record.status == "done"

        dispatched.clear()
        with _ray(on_dispatch=lambda cell, _: dispatched.append(cell.label)) as executor:
            again, outcomes = run_grid(
                grid, store, cancel=CancelToken(), progress=lambda _: None, executor=executor
            )
            assert executor.actors == []
        assert again.id == record.id and all(o.reused for o in outcomes)
        assert dispatched == []
        assert len(store.list_runs(limit=10)) == 3


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sa_tui", *args],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        | {"SA_TUI_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_experiment_command_on_ray(
    ray_cluster: None, tiny_model_dir: Path, tiny_dataset_dir: Path, _isolated_home: Path
) -> None:
    """Its own Ray on this machine (not the module's), the same lines as a local grid, no Ray
    noise on the terminal; the finished grid again does not even start Ray."""
    args = ["experiment", "--model", str(tiny_model_dir), "--dataset", str(tiny_dataset_dir)]
    args += ["--method", "zero_shot,io", "--strategy", "random", "--shots", "2", "--seeds", "0,1"]
    args += ["--answer-mode", "cloze", "--test-limit", "4", "--device", "cpu"]
    args += ["--executor", "ray", "--ray-actors", "2"]
    first = _cli(*args, home=_isolated_home)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Traceback" not in first.stderr and "Warning" not in first.stderr, first.stderr
    assert "executor: Ray at " in first.stderr and "up to 2 actors" in first.stderr
    lines = sorted(line for line in first.stderr.splitlines() if line.startswith("["))
    assert [line[:5] for line in lines] == ["[1/2]", "[2/2]"], first.stderr
    assert "zero_shot" in first.stdout

    second = _cli(*args, home=_isolated_home)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "all done" in second.stderr and second.stderr.count("reused") == 2
    assert "executor: Ray" not in second.stderr


def test_an_unreachable_cluster_is_refused_before_any_work(
    tiny_model_dir: Path, tiny_dataset_dir: Path, _isolated_home: Path
) -> None:
    args = ["experiment", "--model", str(tiny_model_dir), "--dataset", str(tiny_dataset_dir)]
    args += ["--method", "io", "--test-limit", "2", "--seeds", "0", "--executor", "ray"]
    process = _cli(*args, "--ray-address", "127.0.0.1:1", home=_isolated_home)
    errors = [line for line in process.stderr.splitlines() if line.startswith("error:")]
    assert process.returncode == 2, process.stderr[-2000:]
    assert len(errors) == 1 and "could not reach the Ray cluster 127.0.0.1:1" in errors[0]
    assert "Traceback" not in process.stderr
    listing = _cli("experiments", "list", "--format", "json", home=_isolated_home)
    assert listing.stdout.strip() == "[]"


def test_a_cell_that_fails_on_its_worker_stops_the_grid_in_one_sentence(
    ray_cluster: None, tiny_model_dir: Path, tiny_dataset_dir: Path, tmp_path: Path
) -> None:
    """A model that passes the driver's checks but that the worker cannot load."""
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    config = json.loads((broken / "config.json").read_text())
    config["model_type"] = "nosuchmodel"
    (broken / "config.json").write_text(json.dumps(config))
    good = tiny_grid(tiny_model_dir, tiny_dataset_dir, seeds=(0,))
    grid = replace(good, models=(str(tiny_model_dir), str(broken))).validate()
    seen: list[Any] = []
    with Store.open() as store:
        executor = _ray(on_dispatch=lambda _, actor: seen.append(actor))
        with executor, pytest.raises(ModelError, match="could not load the model") as failed:
            run_grid(grid, store, cancel=CancelToken(), progress=lambda _: None, executor=executor)
        assert "\n" not in str(failed.value)
        assert len(seen) == 2 and all(_dead(actor) for actor in seen)
        assert store.list_experiments()[0].status == "failed"
        runs = {RunConfig.from_dict(run.config).model: run for run in store.list_runs(limit=10)}
        assert runs[str(broken)].status == "failed"
        assert "could not load the model" in (runs[str(broken)].error or "")
        assert runs[str(tiny_model_dir)].status in ("done", "cancelled")


def test_more_actors_than_the_cluster_holds_are_refused(ray_cluster: None) -> None:
    with pytest.raises(ConfigError, match="--ray-actors 3 is more than the 2 CPUs"):
        RayExecutor(actors=3).open()
    assert ray.is_initialized()  # the module's cluster is not this executor's to stop
