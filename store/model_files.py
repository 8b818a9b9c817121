"""Inspecting a model source without torch, and verifying a catalogued model's files.

Sources (:func:`inspect_model`):

- ``builtin:NAME``: the GGUF file inside an installed package (see :mod:`store.builtins`);
- a local folder: ``config.json`` (valid JSON), ``*.safetensors`` weights (headers checked),
  tokenizer files; pickle-only weights are refused unless ``allow_pickle``;
- a ``.gguf`` file: read with the gguf package;
- a hub id (``owner/name``, ``owner/name@revision``, optionally ``hf:``-prefixed): read in place
  from the Hugging Face cache, else downloaded with huggingface-hub; offline gives a StoreError.

Every bad input raises :class:`StoreError` with one sentence; a folder whose ``config.json`` has an
``auto_map`` (the model's own Python code) is refused unless ``trust_remote_code``.

Inspection stays cheap: ``files`` records each file's size and mtime, plus the sha256 where it
is known for free (Hugging Face cache blobs are named by it, a built-in's package RECORD lists
it). :func:`fill_checksums` hashes the weight files still without one, once, when a model is
added; :func:`verify` then always compares against those, and records new ones only when asked
to re-baseline (``rehash``).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from store.builtins import (
    BUILTIN_MODELS,
    BUILTIN_PREFIX,
    builtin_model_dir,
    find_builtin_gguf,
    packaged_sha256,
)
from store.errors import StoreError
from store.weights import (
    ByteProgress,
    disk_usage,
    read_gguf,
    read_safetensors_tensors,
    sha256_files,
    summarize_safetensors,
)

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
WEIGHT_SUFFIXES = (".safetensors", ".gguf", *PICKLE_SUFFIXES)  # the files whose sha256 is kept
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "spiece.model", "vocab.json", "vocab.txt")
SIDE_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "merges.txt",
    "model.safetensors.index.json",
)
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
HUB_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]


@dataclass(frozen=True)
class ModelInfo:
    """What inspecting a model source found: everything a catalogue entry records."""

    ref: str
    name: str
    source: str
    format: str
    local_path: str
    repo_id: str | None = None
    revision: str | None = None
    dtype: str | None = None
    parameters: int | None = None
    size_bytes: int = 0
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    managed: bool = False
    managed_path: str | None = None


@dataclass(frozen=True)
class VerifyReport:
    """The result of :func:`verify`: problems found, and the file records to keep (the recorded
    ones, or after a successful re-baseline the current ones: then ``rehashed``)."""

    ok: bool
    problems: tuple[str, ...]
    files: dict[str, dict[str, Any]]
    checked: int
    hashed: int
    rehashed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": list(self.problems),
            "files_checked": self.checked,
            "files_hashed": self.hashed,
            "rehashed": self.rehashed,
        }


def is_weight_file(name: str) -> bool:
    return Path(name).suffix in WEIGHT_SUFFIXES


def needs_remote_code(config: dict[str, Any]) -> bool:
    """Whether a model's ``config.json`` asks for its own Python code (``auto_map``)."""
    return bool(config.get("auto_map"))


def remote_code_refusal(folder: Path) -> str:
    """The one sentence refusing a model that needs its own code (said by add and by run)."""
    return (
        f"the model in {folder} needs its own Python code (auto_map in config.json); "
        "pass --trust-remote-code if you trust its source"
    )


# ------------------------------------------------------------------------------------ inspect
def inspect_model(
    source: str,
    *,
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
    hf_cache_dir: Path | None = None,
    download: bool = True,
) -> ModelInfo:
    """Inspect ``source`` (see the module docstring) and describe it; nothing is written."""
    text = source.strip()
    if not text:
        raise StoreError(
            "no model was given; name builtin:NAME, a model folder, a .gguf file or a hub id"
        )
    if text.startswith(BUILTIN_PREFIX):
        return inspect_builtin(text[len(BUILTIN_PREFIX) :].strip())
    hub_text = text[3:] if text.startswith("hf:") else text
    path = Path(hub_text).expanduser()
    if path.exists():
        resolved = path.resolve()
        if resolved.is_dir():
            return inspect_folder(
                resolved,
                allow_pickle=allow_pickle,
                trust_remote_code=trust_remote_code,
                source=text,
            )
        if resolved.suffix.lower() == ".gguf":
            return inspect_gguf(resolved, source=text)
        raise StoreError(f"{path} is neither a model folder nor a .gguf file")
    if path.suffix.lower() == ".gguf":
        raise StoreError(f"the GGUF file {path} does not exist")
    repo, _, revision = hub_text.partition("@")
    if text.startswith((".", "/", "~")) or not HUB_ID.match(repo):
        raise StoreError(f"the model folder or file {path} does not exist")
    return inspect_hub(
        repo,
        revision or None,
        cache_dir=hf_cache_dir,
        download=download,
        allow_pickle=allow_pickle,
        trust_remote_code=trust_remote_code,
    )


def inspect_builtin(name: str) -> ModelInfo:
    if name not in BUILTIN_MODELS:
        known = ", ".join(f"{BUILTIN_PREFIX}{n}" for n in BUILTIN_MODELS)
        raise StoreError(
            f"there is no built-in model {BUILTIN_PREFIX}{name}; the built-in models are {known}"
        )
    spec = BUILTIN_MODELS[name]
    gguf_path = find_builtin_gguf(name)
    if gguf_path is None:
        raise StoreError(
            f"the built-in model {BUILTIN_PREFIX}{name} needs its package installed: {spec.install_hint}"
        )
    info = inspect_gguf(gguf_path, source=f"{BUILTIN_PREFIX}{name}")
    managed_dir = builtin_model_dir(name)
    return ModelInfo(
        ref=f"{BUILTIN_PREFIX}{name}",
        name=name,
        source=f"{BUILTIN_PREFIX}{name}",
        format="builtin",
        local_path=str(gguf_path),
        dtype=info.dtype,
        parameters=info.parameters,
        size_bytes=disk_usage([gguf_path, managed_dir]),
        files=_builtin_files(name, gguf_path),
        details={**info.details, "description": spec.description},
        managed=True,
        managed_path=str(managed_dir),
    )


def builtin_stub(name: str) -> ModelInfo | None:
    """A cheap entry for a built-in model, for seeding a new catalogue: the GGUF is neither
    parsed nor hashed (its sha256 comes from the package RECORD)."""
    spec = BUILTIN_MODELS[name]
    gguf_path = find_builtin_gguf(name)
    if gguf_path is None:
        return None
    files = _builtin_files(name, gguf_path)
    return ModelInfo(
        ref=f"{BUILTIN_PREFIX}{name}",
        name=name,
        source=f"{BUILTIN_PREFIX}{name}",
        format="builtin",
        local_path=str(gguf_path),
        size_bytes=files[gguf_path.name]["size"],
        files=files,
        details={"description": spec.description, "gguf_file": gguf_path.name},
        managed=True,
        managed_path=str(builtin_model_dir(name)),
    )


def _builtin_files(name: str, gguf_path: Path) -> dict[str, dict[str, Any]]:
    """The file record of a built-in's GGUF, its sha256 from the package RECORD when listed."""
    files = _file_records(gguf_path.parent, [gguf_path])
    record = files[gguf_path.name]
    record["sha256"] = record["sha256"] or packaged_sha256(name, gguf_path)
    return files


def inspect_gguf(path: Path, *, source: str) -> ModelInfo:
    summary = read_gguf(path)
    stat = path.stat()
    return ModelInfo(
        ref=str(path),
        name=path.stem,
        source=source,
        format="gguf",
        local_path=str(path),
        dtype=summary.quantization,
        parameters=summary.parameters,
        size_bytes=stat.st_size,
        files=_file_records(path.parent, [path]),
        details={
            "architecture": summary.architecture,
            "gguf_name": summary.name,
            "quantization": summary.quantization,
            "context_length": summary.context_length,
            "chat_template": summary.has_chat_template,
            "tensor_types": summary.tensor_types,
            "gguf_file": path.name,
        },
    )


def _read_json_object(path: Path, what: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise StoreError(f"{what} {path} is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise StoreError(
            f"{what} {path} is not valid JSON (line {error.lineno}: {error.msg})"
        ) from None
    except OSError as error:
        raise StoreError(f"cannot read {what} {path}: {error.strerror or error}") from None
    if not isinstance(value, dict):
        raise StoreError(f"{what} {path} is not a JSON object")
    return value


def _check_folder(
    folder: Path, *, allow_pickle: bool
) -> tuple[dict[str, Any], list[Path], list[Path]]:
    """config, safetensors files, pickle files of a model folder; StoreError if it cannot load."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise StoreError(f"the model folder {folder} has no config.json")
    config = _read_json_object(config_path, "the model config")
    weights = sorted(p for p in folder.iterdir() if p.suffix == ".safetensors" and p.is_file())
    pickles = sorted(p for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES and p.is_file())
    if not weights and not pickles:
        raise StoreError(f"the model folder {folder} has no weights (*.safetensors)")
    if not weights and not allow_pickle:
        raise StoreError(
            f"the model folder {folder} has only pickle weights ({pickles[0].name}), which can run code "
            "when loaded; convert them to safetensors or pass --allow-pickle if you trust the source"
        )
    index_path = folder / "model.safetensors.index.json"
    if weights and index_path.is_file():
        index = _read_json_object(index_path, "the weights index")
        shards = sorted(set((index.get("weight_map") or {}).values()))
        missing = [shard for shard in shards if not (folder / shard).is_file()]
        if missing:
            raise StoreError(f"the model folder {folder} is missing the weights shard {missing[0]}")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES) and not any(
        folder.glob("*.tiktoken")
    ):
        raise StoreError(
            f"the model folder {folder} has no tokenizer files (tokenizer.json or tokenizer.model)"
        )
    return config, weights, pickles


def _has_chat_template(folder: Path) -> bool:
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    config_path = folder / "tokenizer_config.json"
    if config_path.is_file():
        try:
            return bool(json.loads(config_path.read_text(encoding="utf-8")).get("chat_template"))
        except (OSError, ValueError, AttributeError):
            return False
    return False


def _file_records(folder: Path, paths: list[Path]) -> dict[str, dict[str, Any]]:
    """size, mtime and (when the HF cache names the blob by it) sha256 of each file."""
    records: dict[str, dict[str, Any]] = {}
    for path in paths:
        stat = path.stat()
        blob = path.resolve().name if path.is_symlink() else ""
        records[path.relative_to(folder).as_posix()] = {
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "sha256": blob if SHA256_HEX.match(blob) else None,
        }
    return records


def inspect_folder(
    folder: Path,
    *,
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
    source: str | None = None,
) -> ModelInfo:
    config, weights, pickles = _check_folder(folder, allow_pickle=allow_pickle)
    remote_code = needs_remote_code(config)
    if remote_code and not trust_remote_code:
        raise StoreError(remote_code_refusal(folder))
    summary = summarize_safetensors(weights) if weights else None
    tracked = [*weights, *(pickles if not weights else [])]
    tracked += [
        folder / name for name in (*TOKENIZER_FILES, *SIDE_FILES) if (folder / name).is_file()
    ]
    architectures = config.get("architectures") or []
    config_dtype = config.get("torch_dtype") or config.get("dtype")
    return ModelInfo(
        ref=str(folder),
        name=folder.name,
        source=source or str(folder),
        format="safetensors" if weights else "pickle",
        local_path=str(folder),
        dtype=(summary.dtype if summary else None) or (str(config_dtype) if config_dtype else None),
        parameters=summary.parameters if summary else None,
        size_bytes=disk_usage([folder]),
        files=_file_records(folder, tracked),
        details={
            "architecture": architectures[0] if architectures else None,
            "model_type": config.get("model_type"),
            "chat_template": _has_chat_template(folder),
            "vocab_size": config.get("vocab_size"),
            "layers": config.get("num_hidden_layers") or config.get("n_layer"),
            "dtypes": summary.dtype_parameters if summary else {},
            "weights": "safetensors" if weights else "pickle",
            # True only for a model with its own code, added with --trust-remote-code
            "trust_remote_code": remote_code,
        },
    )


def inspect_hub(
    repo: str,
    revision: str | None,
    *,
    cache_dir: Path | None = None,
    download: bool = True,
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
) -> ModelInfo:
    """A hub model read in place from the HF cache; downloaded there first when not cached."""
    snapshot = hub_snapshot(repo, revision, cache_dir=cache_dir, download=download)
    info = inspect_folder(
        snapshot,
        allow_pickle=allow_pickle,
        trust_remote_code=trust_remote_code,
        source=f"{repo}@{revision}" if revision else repo,
    )
    # a snapshot folder's files are symlinks into blobs/: the size counts each blob once
    return ModelInfo(
        ref=f"{repo}@{revision}" if revision else repo,
        name=repo,
        source=info.source,
        format="hf-cache",
        local_path=str(snapshot),
        repo_id=repo,
        revision=snapshot.name,
        dtype=info.dtype,
        parameters=info.parameters,
        size_bytes=info.size_bytes,
        files=info.files,
        details=info.details,
    )


def hub_snapshot(
    repo: str, revision: str | None, *, cache_dir: Path | None = None, download: bool = True
) -> Path:
    """The local snapshot folder of a hub model, from the cache or (if allowed) downloaded."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - a declared dependency
        raise StoreError("hub models need the huggingface-hub package") from None
    try:
        return Path(
            snapshot_download(
                repo,
                revision=revision,
                cache_dir=cache_dir,
                local_files_only=True,
                allow_patterns=HUB_PATTERNS,
            )  # type: ignore[arg-type]
        )
    except Exception:
        pass
    if not download:
        raise StoreError(f"the model {repo!r} is not in the local Hugging Face cache")
    try:
        return Path(
            snapshot_download(
                repo, revision=revision, cache_dir=cache_dir, allow_patterns=HUB_PATTERNS
            )  # type: ignore[arg-type]
        )
    except Exception as error:  # offline, unknown repo, gated, network: one sentence
        raise StoreError(
            f"the model {repo!r} is neither a local folder nor in the Hugging Face cache, and downloading it "
            f"failed ({type(error).__name__}: offline, or no such repo?); check the id and the network, "
            "or give a local folder or .gguf file"
        ) from None


def cached_hub_models(cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """Models in the local Hugging Face cache (repo id, revisions, size), for picking one to add."""
    try:
        from huggingface_hub import scan_cache_dir

        report = scan_cache_dir(cache_dir)
    except Exception:
        return []
    found = []
    for repo in report.repos:
        if repo.repo_type != "model":
            continue
        found.append(
            {
                "repo_id": repo.repo_id,
                "size_bytes": repo.size_on_disk,
                "revisions": sorted(rev.commit_hash for rev in repo.revisions),
                "refs": sorted(ref for rev in repo.revisions for ref in rev.refs),
            }
        )
    return sorted(found, key=lambda item: item["repo_id"])


# ------------------------------------------------------------------------------------ checksums
def _files_folder(local_path: str) -> Path:
    """The folder that a model's file records are relative to."""
    root = Path(local_path)
    return root if root.is_dir() else root.parent


def fill_checksums(info: ModelInfo, on_bytes: ByteProgress | None = None) -> ModelInfo:
    """``info`` with the sha256 of each weight file that inspection could not know for free,
    computed now (``on_bytes(done, total)`` follows the hashing)."""
    folder = _files_folder(info.local_path)
    missing = [
        name
        for name, record in info.files.items()
        if is_weight_file(name) and not record.get("sha256")
    ]
    if not missing:
        return info
    digests = sha256_files([folder / name for name in missing], on_bytes)
    files = {name: dict(record) for name, record in info.files.items()}
    for name in missing:
        files[name]["sha256"] = digests[folder / name]
    return replace(info, files=files)


# ------------------------------------------------------------------------------------ verify
def verify(
    local_path: str | None,
    files: dict[str, dict[str, Any]],
    *,
    format: str,
    label: str,
    checksums: bool = True,
    rehash: bool = False,
    on_bytes: ByteProgress | None = None,
) -> VerifyReport:
    """Check a catalogued model: files present with their recorded sizes, config and headers
    readable, and the sha256 of each weight file equal to the recorded one (a weight file with
    none recorded is a problem). ``checksums=False`` skips hashing. ``rehash`` re-baselines on
    purpose: the current sizes and sha256 sums become the report's ``files`` when nothing else is
    wrong. ``label`` names the model in the advice to re-baseline."""
    recorded = {name: dict(record) for name, record in files.items()}
    if not local_path:
        return VerifyReport(False, ("the entry has no local path",), recorded, 0, 0)
    root = Path(local_path)
    if not root.exists():
        return VerifyReport(False, (f"{root} no longer exists",), recorded, 0, 0)
    folder = _files_folder(local_path)
    problems = _folder_problems(root, format)
    damaged: set[str] = set()
    for name, record in recorded.items():
        problem = _file_problem(folder, name, record, sizes_may_change=rehash)
        if problem is not None:
            problems.append(problem)
            damaged.add(name)
    weights = [name for name in recorded if is_weight_file(name) and name not in damaged]
    if rehash:
        if problems:  # a failed re-baseline records nothing, so nothing is hashed in vain
            return VerifyReport(False, tuple(problems), recorded, len(recorded), 0)
        current = _current_records(folder, recorded, weights, on_bytes)
        return VerifyReport(True, (), current, len(recorded), len(weights), rehashed=True)
    if not checksums:
        return VerifyReport(not problems, tuple(problems), recorded, len(recorded), 0)
    unrecorded = [name for name in weights if not recorded[name].get("sha256")]
    problems += [_no_checksum_problem(name, label) for name in unrecorded]
    compared = [name for name in weights if name not in unrecorded]
    digests = sha256_files([folder / name for name in compared], on_bytes)
    problems += [
        f"{name} does not match its recorded sha256 checksum"
        for name in compared
        if digests[folder / name] != recorded[name]["sha256"]
    ]
    return VerifyReport(not problems, tuple(problems), recorded, len(recorded), len(compared))


def _folder_problems(root: Path, format: str) -> list[str]:
    """Why a model folder could no longer be added (none for a single GGUF file)."""
    if not root.is_dir():
        return []
    try:
        _check_folder(root, allow_pickle=format == "pickle")
    except StoreError as error:
        return [str(error)]
    return []


def _file_problem(
    folder: Path, name: str, record: dict[str, Any], *, sizes_may_change: bool
) -> str | None:
    """What is wrong with one recorded file short of its checksum: gone, resized, unreadable."""
    path = folder / name
    if not path.is_file():
        return f"{name} is missing"
    size = path.stat().st_size
    if not sizes_may_change and record.get("size") is not None and size != record["size"]:
        return f"{name} changed size since it was added ({record['size']} -> {size} bytes)"
    try:
        if path.suffix == ".safetensors":
            read_safetensors_tensors(path)
        elif path.suffix == ".gguf":
            read_gguf(path)
    except StoreError as error:
        return str(error)
    return None


def _no_checksum_problem(name: str, label: str) -> str:
    return (
        f"{name} has no recorded checksum; `sa-tui models verify {shlex.quote(label)} --rehash` "
        "records the current one"
    )


def _current_records(
    folder: Path,
    recorded: dict[str, dict[str, Any]],
    weights: list[str],
    on_bytes: ByteProgress | None,
) -> dict[str, dict[str, Any]]:
    """The file records as the files are now: sizes and mtimes, and the weights' sha256 sums."""
    digests = sha256_files([folder / name for name in weights], on_bytes)
    current: dict[str, dict[str, Any]] = {}
    for name, record in recorded.items():
        stat = (folder / name).stat()
        current[name] = {**record, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        if name in weights:
            current[name]["sha256"] = digests[folder / name]
    return current
