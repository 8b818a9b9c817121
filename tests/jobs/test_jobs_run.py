"""run_job, the one wiring: preflight before any record, the store's records, last use, status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.config import RunConfig
from core.errors import CancelledError, ConfigError, DatasetError, ModelError
from core.progress import CancelToken, Progress
from jobs import timings
from jobs.models import ModelSlot, loading_note
from jobs.preflight import preflight
from jobs.run import resume_config, run_job
from store.facade import Store


def _config(model: Path | str, dataset: Path | str, **kwargs) -> RunConfig:
    values: dict = dict(
        model=str(model),
        dataset=str(dataset),
        methods=("zero_shot", "io", "deeplift"),
        strategy="random",
        shots=2,
        keywords=2,
        steps=1,
        test_limit=3,
        seed=0,
        rationale_tokens=4,
        eval_tokens=4,
        batch_size=4,
        device="cpu",
    )
    values.update(kwargs)
    return RunConfig(**values)


def _dump(store: Store) -> list[str]:
    import sqlite3

    with sqlite3.connect(store.path) as connection:
        return list(connection.iterdump())


@pytest.fixture
def store(_isolated_home: Path):
    opened = Store.open()
    yield opened
    opened.close()


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"seed": -1}, ConfigError, "--seed must be at least 0"),
        ({"test_limit": 100}, ConfigError, "--test-limit 100 is more than the 8 test items"),
        ({"shots": 25}, ConfigError, "--shots 25 is more than the 24 samples"),
        ({"keywords": 999}, ConfigError, r"--keywords 999 is more than the \d+ content words"),
        ({"methods": ("io", "cot")}, ConfigError, "unknown method 'cot'"),
        (
            {"methods": ("kernelshap",), "shap_samples": 8},
            ConfigError,
            r"--shap-samples 8 is too few for KernelSHAP on the longest pool question",
        ),
        ({"model": "/nowhere/model"}, ModelError, "does not exist"),
        ({"model": "builtin:nope"}, ModelError, "unknown built-in model"),
        ({"dataset": "/nowhere/data.jsonl"}, DatasetError, "does not exist"),
    ],
)
def test_bad_input_is_refused_before_any_record(
    store, tiny_model_dir, tiny_dataset_dir, change, error, message
) -> None:
    before = _dump(store)
    parts = {"model": tiny_model_dir, "dataset": tiny_dataset_dir, **change}
    config = _config(parts.pop("model"), parts.pop("dataset"), **parts)
    slot = ModelSlot()
    with pytest.raises(error, match=message):
        run_job(config, store, models=slot, progress=lambda _: None, cancel=CancelToken())
    assert slot.loaded is None, "the model was loaded before the input was checked"
    assert _dump(store) == before, "a refused configuration changed the store"


def _with_remote_code(tiny_model_dir: Path, folder: Path) -> Path:
    import shutil

    shutil.copytree(tiny_model_dir, folder)
    data = json.loads((folder / "config.json").read_text())
    data["auto_map"] = {"AutoModelForCausalLM": "modeling_x.XForCausalLM"}
    (folder / "config.json").write_text(json.dumps(data))
    return folder


def test_remote_code_is_refused_unless_trusted(tiny_model_dir, tiny_dataset_dir, tmp_path) -> None:
    folder = _with_remote_code(tiny_model_dir, tmp_path / "custom")
    with pytest.raises(ModelError, match="--trust-remote-code"):
        preflight(_config(folder, tiny_dataset_dir))
    preflight(_config(folder, tiny_dataset_dir, trust_remote_code=True))


def test_a_run_needs_its_own_trust_even_when_the_catalogue_accepted_the_code(
    store, tiny_model_dir, tiny_dataset_dir, tmp_path
) -> None:
    from store.errors import StoreError
    from store.model_files import remote_code_refusal

    folder = _with_remote_code(tiny_model_dir, tmp_path / "custom")
    with pytest.raises(StoreError) as refused_at_add:
        store.add_model(str(folder))
    assert store.add_model(str(folder), trust_remote_code=True).details["trust_remote_code"]
    with pytest.raises(ModelError) as refused_at_run:
        preflight(_config(folder, tiny_dataset_dir))
    # add and run refuse with the same sentence, each about its own --trust-remote-code
    assert str(refused_at_run.value) == str(refused_at_add.value) == remote_code_refusal(folder)
    preflight(_config(folder, tiny_dataset_dir, trust_remote_code=True))


def test_a_run_records_everything_and_the_last_use(store, tiny_dataset_dir, tiny_model_dir) -> None:
    store.add_model(str(tiny_model_dir), name="tiny")
    assert store.get_model(str(tiny_model_dir)).last_used_at is None
    reports: list[Progress] = []
    saved = []
    started = []
    outcome = run_job(
        _config(tiny_model_dir, tiny_dataset_dir),
        store,
        progress=reports.append,
        cancel=CancelToken(),
        on_started=started.append,
        on_saved=saved.append,
    )
    assert started == [outcome.run_id]
    run = store.get_run(outcome.run_id)
    assert run.status == "done"
    assert [s.method for s in saved] == ["zero_shot", "io", "deeplift"]
    assert {v.lineage for v in store.prompt_versions_for_run(run.id)} == {s.lineage for s in saved}
    assert len(store.scores_for_run(run.id)) == 3
    assert store.get_model(str(tiny_model_dir)).last_used_at is not None
    stages = [r.stage for r in reports]
    assert stages.index("dataset") < stages.index("model") < stages.index("select")
    assert timings.measured("load", str(tiny_model_dir)) is not None
    assert "here)" in loading_note(str(tiny_model_dir))


def test_a_failure_after_work_began_marks_the_run_failed_and_resumable(
    store, tiny_dataset_dir, tiny_model_dir
) -> None:
    class Exploding(ModelSlot):
        def get(self, config, progress):
            raise MemoryError()

    with pytest.raises(MemoryError):
        run_job(
            _config(tiny_model_dir, tiny_dataset_dir),
            store,
            models=Exploding(),
            progress=lambda _: None,
            cancel=CancelToken(),
        )
    (run,) = store.list_runs()
    assert run.status == "failed" and run.error == "out of memory"
    run_id, config = resume_config(store, run.id)
    outcome = run_job(config, store, progress=lambda _: None, cancel=CancelToken(), resume=run_id)
    assert outcome.run_id == run.id and store.get_run(run.id).status == "done"


def test_a_cancel_marks_the_run_cancelled(store, tiny_dataset_dir, tiny_model_dir) -> None:
    token = CancelToken()

    def progress(report: Progress) -> None:
        if report.stage == "select":
            token.cancel()

    with pytest.raises(CancelledError):
        run_job(_config(tiny_model_dir, tiny_dataset_dir), store, progress=progress, cancel=token)
    (run,) = store.list_runs()
    assert run.status == "cancelled"


def test_the_model_slot_keeps_the_loaded_model(tiny_model_dir, tiny_dataset_dir) -> None:
    slot = ModelSlot()
    config = _config(tiny_model_dir, tiny_dataset_dir)
    first = slot.get(config, lambda _: None)
    notes: list[str] = []
    assert slot.get(config, lambda r: notes.append(r.detail)) is first
    assert notes and notes[0].startswith("reusing")
