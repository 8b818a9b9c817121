"""The append-only cache tables (selections, attributions, rationales, predictions).

``put`` is ``INSERT ... ON CONFLICT(key_hash) DO NOTHING``: storing a key twice keeps the first
value and never raises, also when two processes race to store it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.sqlite import insert
from sqlmodel import Session, col, select

from core.cache import KINDS
from store.clock import utc_now
from store.domain import RecordRow
from store.errors import StoreError
from store.mapping import decode, encode, record_row
from store.tables import RECORD_TABLES, RecordFields

# payload keys copied into the searchable columns, first match wins
MODEL_KEYS = ("model", "model_ref", "model_key")
SAMPLE_KEYS = ("sample_id", "id")
METHOD_KEYS = ("method",)


def table_for(kind: str) -> type[RecordFields]:
    try:
        return RECORD_TABLES[kind]
    except KeyError:
        raise StoreError(
            f"unknown record kind {kind!r}; the kinds are {', '.join(KINDS)}"
        ) from None


def _first_text(payload: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = payload.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return None


def prepare(kind: str, key: str, value: dict[str, Any], run_id: str | None) -> dict[str, Any]:
    """The row to insert, validated (StoreError before anything is written)."""
    table_for(kind)
    if not isinstance(key, str) or not key.strip():
        raise StoreError("a record key must be a non-empty string")
    if not isinstance(value, dict):
        raise StoreError(f"a {kind} record must be a dict, not {type(value).__name__}")
    return {
        "key_hash": key,
        "run_id": run_id,
        "model_ref": _first_text(value, MODEL_KEYS),
        "sample_id": _first_text(value, SAMPLE_KEYS),
        "method": _first_text(value, METHOD_KEYS),
        "payload": encode(value, f"the {kind} record"),
        "created_at": utc_now(),
    }


def put(session: Session, kind: str, row: dict[str, Any]) -> bool:
    """Insert a prepared row; False when the key was already stored."""
    table = table_for(kind).__table__  # type: ignore[attr-defined]
    statement = insert(table).values(**row).on_conflict_do_nothing(index_elements=["key_hash"])
    result = session.exec(statement)
    return bool(result.rowcount)


def get(session: Session, kind: str, key: str) -> dict[str, Any] | None:
    table = table_for(kind)
    payload = session.exec(select(table.payload).where(table.key_hash == key)).first()
    return decode(payload, None) if payload is not None else None


def for_run(session: Session, kind: str, run_id: str, *, limit: int = 1000) -> list[RecordRow]:
    table = table_for(kind)
    rows = session.exec(
        select(table).where(table.run_id == run_id).order_by(col(table.id)).limit(limit)
    ).all()
    return [record_row(kind, row) for row in rows]


def counts_for_run(session: Session, run_id: str) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for kind, table in RECORD_TABLES.items():
        counts[kind] = session.exec(
            select(func.count()).select_from(table).where(table.run_id == run_id)
        ).one()
    return dict(counts)


def count(session: Session, kind: str) -> int:
    table = table_for(kind)
    return int(session.exec(select(func.count()).select_from(table)).one())
