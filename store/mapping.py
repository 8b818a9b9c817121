"""Rows to domain objects, and the JSON encoding of JSON columns."""

from __future__ import annotations

import json
import math
from typing import Any

from core.cache import canonical_json
from store.clock import to_aware
from store.domain import DatasetEntry, ModelEntry, PromptVersion, RecordRow, RunRecord, ScoreRecord
from store.errors import StoreError
from store.tables import DatasetRow, ModelRow, PromptVersionRow, RecordFields, RunRow, ScoreRow


def encode(value: Any, what: str) -> str:
    """Canonical JSON of ``value``; StoreError if it is not JSON (or holds NaN/infinity)."""
    try:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as error:
        raise StoreError(f"{what} cannot be stored as JSON ({error})") from None
    return text


def encode_lenient(value: Any) -> str:
    """Canonical JSON as core.cache hashes it (non-JSON values become strings)."""
    return canonical_json(value)


def decode(text: str | None, default: Any) -> Any:
    if text is None:
        return default
    return json.loads(text)


def finite(value: float, what: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise StoreError(f"{what} must be a finite number, not {value!r}")
    return number


def _required(value: Any) -> Any:
    assert value is not None
    return value


def model_entry(row: ModelRow) -> ModelEntry:
    return ModelEntry(
        id=_required(row.id),
        ref=row.ref,
        name=row.name,
        source=row.source,
        format=row.format,
        repo_id=row.repo_id,
        revision=row.revision,
        local_path=row.local_path,
        dtype=row.dtype,
        parameters=row.parameters,
        size_bytes=row.size_bytes,
        files=decode(row.files, {}),
        details=decode(row.details, {}),
        managed=bool(row.managed),
        managed_path=row.managed_path,
        added_at=_required(to_aware(row.added_at)),
        last_used_at=to_aware(row.last_used_at),
        verified_at=to_aware(row.verified_at),
    )


def dataset_entry(row: DatasetRow) -> DatasetEntry:
    return DatasetEntry(
        id=_required(row.id),
        name=row.name,
        ref=row.ref,
        kind=row.kind,
        description=row.description,
        field_map=decode(row.field_map, None),
        splits=decode(row.splits, {}),
        rows=row.rows,
        checksum=row.checksum,
        added_at=_required(to_aware(row.added_at)),
        updated_at=_required(to_aware(row.updated_at)),
    )


def run_record(row: RunRow) -> RunRecord:
    return RunRecord(
        id=row.id,
        kind=row.kind,
        status=row.status,
        config=decode(row.config, {}),
        config_hash=row.config_hash,
        versions=decode(row.versions, {}),
        device=row.device,
        host=row.host,
        pid=row.pid,
        stage=row.stage,
        done=row.done,
        total=row.total,
        resumes=row.resumes,
        heartbeat_at=to_aware(row.heartbeat_at),
        started_at=_required(to_aware(row.started_at)),
        finished_at=to_aware(row.finished_at),
        error=row.error,
    )


def prompt_version(row: PromptVersionRow, aliases: tuple[str, ...] = ()) -> PromptVersion:
    return PromptVersion(
        id=_required(row.id),
        lineage=row.lineage,
        version=row.version,
        content_hash=row.content_hash,
        parent_id=row.parent_id,
        content=decode(row.content, {}),
        run_id=row.run_id,
        method=row.method,
        model=row.model_ref,
        dataset=row.dataset,
        n_shots=row.n_shots,
        created_at=_required(to_aware(row.created_at)),
        aliases=aliases,
    )


def score_record(row: ScoreRow) -> ScoreRecord:
    return ScoreRecord(
        id=_required(row.id),
        prompt_version_id=row.prompt_version_id,
        run_id=row.run_id,
        metric=row.metric,
        value=row.value,
        n=row.n,
        ci_low=row.ci_low,
        ci_high=row.ci_high,
        parse_failures=row.parse_failures,
        seconds=row.seconds,
        predictions=decode(row.predictions, []),
        extra=decode(row.extra, {}),
        created_at=_required(to_aware(row.created_at)),
    )


def record_row(kind: str, row: RecordFields) -> RecordRow:
    return RecordRow(
        kind=kind,
        id=_required(row.id),
        key_hash=row.key_hash,
        run_id=row.run_id,
        model_ref=row.model_ref,
        sample_id=row.sample_id,
        method=row.method,
        payload=decode(row.payload, {}),
        created_at=_required(to_aware(row.created_at)),
    )
