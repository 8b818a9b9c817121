"""Plain, frozen domain objects returned by the store (no database session attached).

Times are aware UTC datetimes. ``to_dict()`` gives the JSON form used by ``--format json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from store.clock import iso

RUN_STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
FINISHED_STATUSES = ("done", "failed", "cancelled", "interrupted")
MODEL_FORMATS = ("safetensors", "gguf", "hf-cache", "builtin", "pickle")


@dataclass(frozen=True)
class ModelEntry:
    """A model in the catalogue. ``files`` maps a relative path to its size, mtime and sha256
    (the sha256 is filled in by the first ``verify``)."""

    id: int
    ref: str
    name: str
    source: str
    format: str
    repo_id: str | None
    revision: str | None
    local_path: str | None
    dtype: str | None
    parameters: int | None
    size_bytes: int | None
    files: dict[str, dict[str, Any]]
    details: dict[str, Any]
    managed: bool
    managed_path: str | None
    added_at: datetime
    last_used_at: datetime | None
    verified_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ref": self.ref,
            "name": self.name,
            "source": self.source,
            "format": self.format,
            "repo_id": self.repo_id,
            "revision": self.revision,
            "local_path": self.local_path,
            "dtype": self.dtype,
            "parameters": self.parameters,
            "size_bytes": self.size_bytes,
            "files": self.files,
            "details": self.details,
            "managed": self.managed,
            "managed_path": self.managed_path,
            "added_at": iso(self.added_at),
            "last_used_at": iso(self.last_used_at),
            "verified_at": iso(self.verified_at),
        }


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset in the catalogue: where it comes from, its splits and row counts, checksum."""

    id: int
    name: str
    ref: str
    kind: str
    description: str
    field_map: dict[str, Any] | None
    splits: dict[str, Any]
    rows: int | None
    checksum: str | None
    added_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "ref": self.ref,
            "kind": self.kind,
            "description": self.description,
            "field_map": self.field_map,
            "splits": self.splits,
            "rows": self.rows,
            "checksum": self.checksum,
            "added_at": iso(self.added_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True)
class RunRecord:
    """One run: its fixed configuration and its mutable lifecycle."""

    id: str
    kind: str
    status: str
    config: dict[str, Any]
    config_hash: str
    versions: dict[str, Any]
    device: str
    host: str
    pid: int | None
    stage: str
    done: int
    total: int
    resumes: int
    heartbeat_at: datetime | None
    started_at: datetime
    finished_at: datetime | None
    error: str | None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "config": self.config,
            "config_hash": self.config_hash,
            "versions": self.versions,
            "device": self.device,
            "host": self.host,
            "pid": self.pid,
            "stage": self.stage,
            "done": self.done,
            "total": self.total,
            "resumes": self.resumes,
            "heartbeat_at": iso(self.heartbeat_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "error": self.error,
        }


@dataclass(frozen=True)
class PromptVersion:
    """One immutable version of a prompt lineage (an n-shot context and how it was built).

    ``content`` holds ``method, model, dataset, config, instruction, messages, context, shots,
    prefill``; ``aliases`` are the labels (``latest``, user names) pointing here when read.
    """

    id: int
    lineage: str
    version: int
    content_hash: str
    parent_id: int | None
    content: dict[str, Any]
    run_id: str | None
    method: str
    model: str
    dataset: str
    n_shots: int
    created_at: datetime
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.lineage}@v{self.version}"

    @property
    def context(self) -> str:
        return str(self.content.get("context") or "")

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.content.get("messages") or [])

    @property
    def shots(self) -> list[dict[str, Any]]:
        return list(self.content.get("shots") or [])

    @property
    def instruction(self) -> str:
        return str(self.content.get("instruction") or "")

    def to_dict(self, *, content: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "ref": self.ref,
            "lineage": self.lineage,
            "version": self.version,
            "content_hash": self.content_hash,
            "parent_id": self.parent_id,
            "run_id": self.run_id,
            "method": self.method,
            "model": self.model,
            "dataset": self.dataset,
            "n_shots": self.n_shots,
            "aliases": list(self.aliases),
            "created_at": iso(self.created_at),
        }
        if content:
            data["content"] = self.content
        return data


@dataclass(frozen=True)
class LineageSummary:
    """A lineage at a glance: how many versions, the latest one, and its aliases."""

    lineage: str
    versions: int
    latest_version: int
    method: str
    model: str
    dataset: str
    updated_at: datetime
    aliases: dict[str, int] = field(default_factory=dict)  # alias name -> version number

    def to_dict(self) -> dict[str, Any]:
        return {
            "lineage": self.lineage,
            "versions": self.versions,
            "latest_version": self.latest_version,
            "method": self.method,
            "model": self.model,
            "dataset": self.dataset,
            "updated_at": iso(self.updated_at),
            "aliases": dict(self.aliases),
        }


@dataclass(frozen=True)
class ScoreRecord:
    """One measurement of a prompt version (e.g. accuracy on n test items, with a 95% interval)."""

    id: int
    prompt_version_id: int
    run_id: str | None
    metric: str
    value: float
    n: int
    ci_low: float | None
    ci_high: float | None
    parse_failures: int
    seconds: float | None
    predictions: list[dict[str, Any]]
    extra: dict[str, Any]
    created_at: datetime

    @property
    def ci95(self) -> tuple[float | None, float | None]:
        return (self.ci_low, self.ci_high)

    def to_dict(self, *, predictions: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "prompt_version_id": self.prompt_version_id,
            "run_id": self.run_id,
            "metric": self.metric,
            "value": self.value,
            "n": self.n,
            "ci95": [self.ci_low, self.ci_high],
            "parse_failures": self.parse_failures,
            "seconds": self.seconds,
            "extra": self.extra,
            "created_at": iso(self.created_at),
        }
        if predictions:
            data["predictions"] = self.predictions
        return data


@dataclass(frozen=True)
class RecordRow:
    """One append-only cache record (a selection, attribution, rationale or prediction)."""

    kind: str
    id: int
    key_hash: str
    run_id: str | None
    model_ref: str | None
    sample_id: str | None
    method: str | None
    payload: dict[str, Any]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "key_hash": self.key_hash,
            "run_id": self.run_id,
            "model_ref": self.model_ref,
            "sample_id": self.sample_id,
            "method": self.method,
            "payload": self.payload,
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True)
class Removal:
    """What removing a catalogue entry deletes (or would, with ``dry_run``)."""

    ref: str
    name: str
    deleted_paths: tuple[str, ...]
    kept_paths: tuple[str, ...]
    freed_bytes: int
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "name": self.name,
            "deleted_paths": list(self.deleted_paths),
            "kept_paths": list(self.kept_paths),
            "freed_bytes": self.freed_bytes,
            "dry_run": self.dry_run,
        }


@dataclass(frozen=True)
class ExperimentRecord:
    """An experiment grid: its fixed configuration (with its cells) and its mutable status."""

    id: str
    config: dict[str, Any]
    config_hash: str
    status: str
    cells: int
    cells_done: int
    host: str
    pid: int | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "config": self.config,
            "config_hash": self.config_hash,
            "status": self.status,
            "cells": self.cells,
            "cells_done": self.cells_done,
            "host": self.host,
            "pid": self.pid,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "finished_at": iso(self.finished_at),
            "error": self.error,
        }
