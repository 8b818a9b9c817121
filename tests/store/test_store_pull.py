"""``models pull`` against a local hub (tests/hub_server.py) that speaks huggingface-hub's file
API: a full pull, progress events, a cancel then a resume that fetches only the missing bytes,
each error case (one sentence, exit 2, catalogue unchanged), prune, and aliases."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from jobs.pull import PullCancelled, PullProgress, pull_model
from store.errors import StoreError
from store.facade import Store
from store.hub_cache import hub_cache_dir
from tests.hub_server import LocalHub, local_hub, make_hub_model  # noqa: F401 - the fixture
from tests.store.store_helpers import db_dump, make_model_folder

ROOT = Path(__file__).resolve().parents[2]
REPO = "org/tiny"


@pytest.fixture
def hub(local_hub: LocalHub, tmp_path: Path) -> LocalHub:  # noqa: F811
    local_hub.add_folder(REPO, make_hub_model(tmp_path / "hub-source"))
    return local_hub


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sa_tui", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


# ------------------------------------------------------------------------------------ full pull
def test_a_full_pull_lands_in_the_hf_cache_and_the_catalogue(hub: LocalHub, store: Store) -> None:
    events: list[PullProgress] = []
    result = pull_model(store, REPO, on_progress=events.append)
    repo = hub.state.repos[REPO]
    entry = result.entry
    assert (entry.format, entry.repo_id, entry.revision) == ("hf-cache", REPO, repo.commit)
    snapshot = hub_cache_dir() / "models--org--tiny" / "snapshots" / repo.commit
    assert Path(entry.local_path or "") == snapshot
    # safetensors, config and tokenizer files only: no pickle, no README
    assert sorted(p.name for p in snapshot.iterdir()) == [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    assert set(result.plan.skipped) == {"README.md", "pytorch_model.bin"}
    assert all(p.is_symlink() for p in snapshot.iterdir())
    refs = hub_cache_dir() / "models--org--tiny" / "refs" / "main"
    assert refs.read_text() == repo.commit
    # the checksum is the hub's sha256 (the blob's name), and verify agrees
    sha = hashlib.sha256(repo.files["model.safetensors"]).hexdigest()
    assert entry.files["model.safetensors"]["sha256"] == sha
    assert store.verify_model(REPO).ok
    # huggingface-hub itself finds the files in its cache, offline
    from huggingface_hub import snapshot_download

    found = snapshot_download(REPO, local_files_only=True, cache_dir=hub_cache_dir())
    assert Path(found) == snapshot
    # progress: per file and overall, ending at the total
    total = sum(len(repo.files[f.name]) for f in result.plan.files)
    assert events[-1].finished and events[-1].done == events[-1].total == total
    assert {e.file for e in events} >= {"model.safetensors", "config.json"}
    weights = [e for e in events if e.file == "model.safetensors"]
    assert weights[-1].file_done == weights[-1].file_total == len(repo.files["model.safetensors"])
    assert [e.done for e in events] == sorted(e.done for e in events)
    assert result.outcome.fetched_bytes == total
    # a second pull fetches nothing and changes nothing
    hub.state.reset_counts()
    again = pull_model(store, REPO)
    assert again.outcome.fetched_bytes == 0 and sum(hub.state.served.values()) == 0
    assert again.entry.ref == entry.ref


def test_a_pinned_revision_and_a_name(hub: LocalHub, store: Store) -> None:
    commit = hub.state.repos[REPO].commit
    entry = pull_model(store, f"{REPO}@{commit}", name="tiny").entry
    assert (entry.name, entry.revision) == ("tiny", commit)


# ------------------------------------------------------------------------------------ cancel, resume
def test_a_cancelled_pull_resumes_with_only_the_missing_bytes(hub: LocalHub, store: Store) -> None:
    hub.state.delay_per_chunk = (
        0.01  # 16 KB every 10 ms: a pull takes over a second (room to cancel under load)
    )
    cancel = threading.Event()
    size = len(hub.state.repos[REPO].files["model.safetensors"])

    def cancel_midway(event: PullProgress) -> None:
        if event.file == "model.safetensors" and event.file_done >= size // 3:
            cancel.set()

    before = db_dump(store.path)
    with pytest.raises(PullCancelled):
        pull_model(store, REPO, on_progress=cancel_midway, cancel=cancel)
    models_before = [line for line in before if 'INSERT INTO "models"' in line]
    assert [line for line in db_dump(store.path) if 'INSERT INTO "models"' in line] == models_before
    blobs = hub_cache_dir() / "models--org--tiny" / "blobs"
    partial = next(blobs.glob("*.incomplete"))
    kept = partial.stat().st_size
    assert 0 < kept < size

    hub.state.reset_counts()
    hub.state.delay_per_chunk = 0.0
    result = pull_model(store, REPO)
    served = hub.state.served["model.safetensors"]
    assert served == size - kept  # only the missing bytes crossed the wire
    assert result.outcome.resumed_bytes == kept
    ranges = [r for m, p, r in hub.state.requests if m == "GET" and p.endswith("model.safetensors")]
    assert ranges == [f"bytes={kept}-"]
    assert not list(blobs.glob("*.incomplete"))
    assert store.verify_model(REPO).ok  # the resumed file's sha256 is the hub's


def test_a_dropped_connection_is_resumed_within_the_pull(hub: LocalHub, store: Store) -> None:
    size = len(hub.state.repos[REPO].files["model.safetensors"])
    hub.state.cut_after["model.safetensors"] = 300_000
    result = pull_model(store, REPO)
    assert hub.state.served["model.safetensors"] == size  # 300,000 bytes, then the rest
    ranges = [r for m, p, r in hub.state.requests if m == "GET" and p.endswith("model.safetensors")]
    assert ranges == ["", "bytes=300000-"]
    assert store.verify_model(result.entry.ref).ok


# ------------------------------------------------------------------------------------ errors
ERROR_CASES = {
    "missing repo": ("org/absent", "there is no model org/absent on http://127.0.0.1"),
    "gated repo": ("org/gated", "the model org/gated is gated"),
    "unknown revision": (f"{REPO}@nope", "has no revision 'nope'"),
    "bad id": ("not a/hub id", "is not a hub model id"),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_each_error_is_one_sentence_exit_2_and_the_catalogue_unchanged(
    hub: LocalHub, tmp_path: Path, store: Store, case: str
) -> None:
    hub.add_folder("org/gated", make_model_folder(tmp_path / "gated-source"), gated=True)
    ref, expected = ERROR_CASES[case]
    database = store.path
    before = db_dump(database)
    result = run_cli("models", "pull", ref)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
    assert db_dump(database) == before


def test_no_network_is_one_sentence(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = LocalHub()  # bound, then closed: nothing listens on its port
    url = hub.url
    hub.server.server_close()
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    before = db_dump(store.path)
    with pytest.raises(StoreError, match=f"cannot reach {url} to download {REPO}"):
        pull_model(store, REPO)
    assert db_dump(store.path) == before


def test_a_full_disk_is_one_sentence_before_any_byte(
    hub: LocalHub, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from store import hub_pull

    real = shutil.disk_usage
    monkeypatch.setattr(hub_pull.shutil, "disk_usage", lambda path: real(path)._replace(free=1000))
    before = db_dump(store.path)
    with pytest.raises(StoreError, match="is full .* more bytes are needed"):
        pull_model(store, REPO)
    assert db_dump(store.path) == before
    assert sum(hub.state.served.values()) == 0


def test_a_disk_that_fills_mid_file_keeps_the_partial_download(
    hub: LocalHub, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from store import hub_pull

    real_open = Path.open
    budget = {"bytes": 100_000}

    class FullDisk:
        def __init__(self, handle: object) -> None:
            self.handle = handle

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()  # type: ignore[attr-defined]

        def write(self, data: bytes) -> int:
            if budget["bytes"] < len(data):
                raise OSError(errno.ENOSPC, "No space left on device")
            budget["bytes"] -= len(data)
            return self.handle.write(data)  # type: ignore[attr-defined]

        def flush(self) -> None:
            self.handle.flush()  # type: ignore[attr-defined]

    def opening(path: Path, mode: str = "r", *args: object, **kwargs: object) -> object:
        handle = real_open(path, mode, *args, **kwargs)  # type: ignore[call-overload]
        return FullDisk(handle) if path.name.endswith(".incomplete") else handle

    monkeypatch.setattr(hub_pull.Path, "open", opening)
    before = [line for line in db_dump(store.path) if 'INSERT INTO "models"' in line]
    with pytest.raises(StoreError, match="is full; free some space and pull again"):
        pull_model(store, REPO)
    assert [line for line in db_dump(store.path) if 'INSERT INTO "models"' in line] == before
    partial = next((hub_cache_dir() / "models--org--tiny" / "blobs").glob("*.incomplete"))
    assert partial.stat().st_size > 0  # kept for the next pull


def test_pickle_weights_are_refused_unless_allowed(
    local_hub: LocalHub,  # noqa: F811
    tmp_path: Path,
    store: Store,
) -> None:
    folder = make_model_folder(tmp_path / "pickled", weights=False)
    (folder / "pytorch_model.bin").write_bytes(b"pickle" * 10)
    local_hub.add_folder("org/pickled", folder)
    with pytest.raises(StoreError, match="only pickle weights .* --allow-pickle"):
        pull_model(store, "org/pickled")
    assert local_hub.state.served == {}


# ------------------------------------------------------------------------------------ the CLI
def test_the_cli_pull_ctrl_c_then_resume(hub: LocalHub, store: Store) -> None:
    """ctrl+c (SIGINT) mid-file: exit 130, the partial file kept; the same pull then resumes."""
    import signal
    import time

    hub.state.delay_per_chunk = 0.01  # about 1.6 MB/s: the weights take over a second
    size = len(hub.state.repos[REPO].files["model.safetensors"])
    process = subprocess.Popen(
        [sys.executable, "-m", "sa_tui", "models", "pull", REPO],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while hub.state.served["model.safetensors"] < size // 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "run the same pull again to resume" in err and "Traceback" not in err
    assert "pulling org/tiny@main" in err  # the plan, then sparse progress lines (no TTY)
    partial = next((hub_cache_dir() / "models--org--tiny" / "blobs").glob("*.incomplete"))
    kept = partial.stat().st_size
    assert store.list_models() and all(e.ref != REPO for e in store.list_models())

    hub.state.reset_counts()
    hub.state.delay_per_chunk = 0.0
    result = run_cli("models", "pull", REPO, "--format", "json")
    assert result.returncode == 0, result.stderr
    pulled = json.loads(result.stdout)
    assert pulled["resumed_bytes"] == kept
    assert hub.state.served["model.safetensors"] == size - kept
    assert pulled["model"]["revision"] == hub.state.repos[REPO].commit
    print(f"resume: {kept} bytes kept, {size - kept} of {size} served on resume")


def test_list_prune_dry_run_then_real_run(hub: LocalHub, store: Store, tmp_path: Path) -> None:
    # the user's own cached model (not pulled by sa-tui) shares the cache
    own = hub_cache_dir() / "models--user--own" / "blobs"
    own.mkdir(parents=True)
    (own / "abc").write_bytes(b"user bytes")
    pull_model(store, REPO)
    size = sum(
        len(b)
        for n, b in hub.state.repos[REPO].files.items()
        if n not in ("README.md", "pytorch_model.bin")
    )
    result = run_cli("models", "list")
    assert result.returncode == 0
    row = next(line for line in result.stdout.splitlines() if line.startswith(REPO))
    assert "(pulled)" in row
    assert "pulled by sa-tui" in result.stdout

    # recently used: nothing to prune at 30 days
    result = run_cli("models", "prune", "--dry-run")
    assert result.returncode == 0 and result.stdout.startswith("nothing to prune")

    before = db_dump(store.path)
    blobs = hub_cache_dir() / "models--org--tiny" / "blobs"
    files_before = sorted(p.name for p in blobs.iterdir())
    result = run_cli("models", "prune", "--unused-for", "0", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert f"would delete the pulled files of {REPO}" in result.stdout
    assert "would free" in result.stdout and f"{REPO} leaves the catalogue" in result.stdout
    assert db_dump(store.path) == before and sorted(p.name for p in blobs.iterdir()) == files_before

    report = store.prune_models(unused_for=timedelta(0))
    assert report.freed_bytes == size
    assert not list(blobs.iterdir())
    assert not (hub_cache_dir() / "models--org--tiny" / "snapshots").exists() or not list(
        (hub_cache_dir() / "models--org--tiny" / "snapshots").iterdir()
    )
    assert (own / "abc").read_bytes() == b"user bytes"  # never a file sa-tui did not download
    assert all(e.ref != REPO for e in store.list_models())
    assert store.prune_models(unused_for=timedelta(0)).items == ()


def test_prune_keeps_blobs_that_were_already_cached(hub: LocalHub, store: Store) -> None:
    """A blob in the cache before the pull (e.g. downloaded by another tool) is not sa-tui's."""
    repo = hub.state.repos[REPO]
    config = repo.files["config.json"]
    blob = hub_cache_dir() / "models--org--tiny" / "blobs" / repo.etag("config.json")
    blob.parent.mkdir(parents=True)
    blob.write_bytes(config)
    result = pull_model(store, REPO)
    assert result.outcome.cached_bytes == len(config)
    store.prune_models(unused_for=timedelta(0))
    assert blob.read_bytes() == config
    assert not (blob.parent / repo.etag("model.safetensors")).exists()


def test_model_alias_command(hub: LocalHub, store: Store) -> None:
    pull_model(store, REPO)
    result = run_cli("models", "alias", "tiny", REPO)
    assert result.returncode == 0 and result.stdout.strip() == f"tiny -> {REPO} ({REPO})"
    assert store.get_model("tiny").ref == REPO
    result = run_cli("models", "verify", "tiny", "--no-checksums")
    assert result.returncode == 0, result.stderr
    before = db_dump(store.path)
    for args, message in (
        (("alias", "tiny2", "org/nothing"), "there is no model 'org/nothing'"),
        (("alias", "9x", REPO), "is not a valid model alias"),
        (("alias", REPO.replace("/", "-"), REPO), None),
        (("alias", "tiny"), "give an alias and a model"),
    ):
        result = run_cli("models", *args)
        if message is None:
            continue
        assert result.returncode == 2 and message in result.stderr, result.stderr
    result = run_cli("models", "alias", "tiny", "--remove")
    assert result.returncode == 0 and "removed the alias tiny" in result.stdout
    with pytest.raises(StoreError):
        store.get_model("tiny")
    del before


def test_runs_take_an_alias_and_refuse_a_missing_hub_model_before_any_record(
    hub: LocalHub, store: Store, tiny_model_dir: Path, tiny_dataset_dir: Path
) -> None:
    """`sa-tui run --model ALIAS` runs the aliased model (and records its ref); a hub id that
    is neither cached nor on the hub is one sentence and exit 2, with the store unchanged."""
    hub.add_folder("org/runnable", tiny_model_dir)
    pull_model(store, "org/runnable")
    assert run_cli("models", "alias", "tiny", "org/runnable").returncode == 0
    before = db_dump(store.path)
    for model, message in (
        ("org/absent", "there is no model org/absent on"),
        (f"{REPO}@no-such-branch", "has no revision 'no-such-branch'"),
    ):
        result = run_cli(
            "run", "--model", model, "--dataset", str(tiny_dataset_dir), "--method", "zero_shot"
        )
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2 and len(lines) == 1 and message in lines[0], lines
        assert db_dump(store.path) == before
    result = run_cli(
        "run",
        "--model",
        "tiny",
        "--dataset",
        str(tiny_dataset_dir),
        "--method",
        "zero_shot",
        "--test-limit",
        "2",
        "--device",
        "cpu",
    )
    assert result.returncode == 0, result.stderr
    (run,) = store.list_runs()
    assert run.config["model"] == "org/runnable"
