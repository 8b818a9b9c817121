"""The mutable catalogue: models and datasets (rows only; file inspection is in model_files)."""

from __future__ import annotations

import difflib
from typing import Any

from sqlmodel import Session, col, or_, select

from store.clock import utc_now
from store.domain import DatasetEntry, ModelEntry
from store.errors import StoreError
from store.mapping import dataset_entry, encode, model_entry
from store.model_files import ModelInfo
from store.tables import DatasetRow, ModelAliasRow, ModelRow

DATASET_KINDS = ("builtin", "file", "folder", "hub")


# ------------------------------------------------------------------------------------ models
def find_model_row(session: Session, ref: str) -> ModelRow | None:
    """The model whose ref or name is ``ref``, else the one an alias of that name points at."""
    text = (ref or "").strip()
    row = session.exec(
        select(ModelRow).where(or_(ModelRow.ref == text, ModelRow.name == text))
    ).first()
    if row is None and text:
        alias = session.get(ModelAliasRow, text)
        if alias is not None:
            row = session.exec(select(ModelRow).where(ModelRow.ref == alias.model_ref)).first()
    return row


def get_model(session: Session, ref: str) -> ModelEntry:
    row = find_model_row(session, ref)
    if row is None:
        names = list(session.exec(select(ModelRow.name)).all()) + list(
            session.exec(select(ModelRow.ref)).all()
        )
        near = difflib.get_close_matches(ref, names, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(near)}?" if near else "; see sa-tui models list"
        raise StoreError(f"there is no model {ref!r} in the catalogue{hint}")
    return model_entry(row)


def _free_name(session: Session, wanted: str, ref: str) -> str:
    name, number = wanted, 2
    while True:
        holder = session.exec(select(ModelRow).where(ModelRow.name == name)).first()
        if holder is None or holder.ref == ref:
            return name
        name = f"{wanted}-{number}"
        number += 1


def upsert_model(session: Session, info: ModelInfo, *, name: str | None) -> ModelEntry:
    """Add the inspected model, or refresh its entry if its ref is already catalogued."""
    if name is not None:
        name = name.strip()
        if not name or len(name) > 200:
            raise StoreError("a model name must be 1 to 200 characters")
        holder = session.exec(select(ModelRow).where(ModelRow.name == name)).first()
        if holder is not None and holder.ref != info.ref:
            raise StoreError(
                f"the name {name!r} is already used by the model {holder.ref}; choose another --name"
            )
    row = session.exec(select(ModelRow).where(ModelRow.ref == info.ref)).first()
    values: dict[str, Any] = {
        "source": info.source,
        "format": info.format,
        "repo_id": info.repo_id,
        "revision": info.revision,
        "local_path": info.local_path,
        "dtype": info.dtype,
        "parameters": info.parameters,
        "size_bytes": info.size_bytes,
        "files": encode(info.files, "the file list"),
        "details": encode(info.details, "the model details"),
        "managed": info.managed,
        "managed_path": info.managed_path,
    }
    if row is None:
        row = ModelRow(
            ref=info.ref,
            name=name or _free_name(session, info.name, info.ref),
            added_at=utc_now(),
            **values,
        )
    else:
        for key, value in values.items():
            setattr(row, key, value)
        if name is not None:
            row.name = name
    session.add(row)
    session.flush()
    return model_entry(row)


def list_models(session: Session) -> list[ModelEntry]:
    return [
        model_entry(row)
        for row in session.exec(select(ModelRow).order_by(col(ModelRow.name))).all()
    ]


def touch_model(session: Session, ref: str) -> bool:
    row = find_model_row(session, ref)
    if row is None:
        return False
    row.last_used_at = utc_now()
    session.add(row)
    return True


def record_verification(
    session: Session, ref: str, files: dict[str, dict[str, Any]] | None
) -> ModelEntry:
    """Stamp a successful verification; ``files`` (a re-baseline) replace the file records."""
    row = find_model_row(session, ref)
    if row is None:
        raise StoreError(f"there is no model {ref!r} in the catalogue")
    if files is not None:
        row.files = encode(files, "the file list")
    row.verified_at = utc_now()
    session.add(row)
    session.flush()
    return model_entry(row)


def delete_model(session: Session, ref: str) -> None:
    row = find_model_row(session, ref)
    if row is not None:
        session.delete(row)


# ------------------------------------------------------------------------------------ datasets
def check_dataset_name(name: str) -> str:
    text = (name or "").strip()
    if not text or len(text) > 200 or "@" in text or any(ch.isspace() for ch in text):
        raise StoreError(
            f"{name!r} is not a valid dataset name; use 1-200 characters without spaces or '@'"
        )
    return text


def find_dataset_row(session: Session, name: str) -> DatasetRow | None:
    return session.exec(select(DatasetRow).where(DatasetRow.name == (name or "").strip())).first()


def get_dataset(session: Session, name: str) -> DatasetEntry:
    row = find_dataset_row(session, name)
    if row is None:
        names = list(session.exec(select(DatasetRow.name)).all())
        near = difflib.get_close_matches(name, names, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(near)}?" if near else "; see sa-tui datasets list"
        raise StoreError(f"there is no dataset {name!r} in the catalogue{hint}")
    return dataset_entry(row)


def upsert_dataset(
    session: Session,
    *,
    name: str,
    ref: str,
    kind: str,
    description: str,
    field_map: dict[str, Any] | None,
    splits: dict[str, Any],
    rows: int | None,
    checksum: str | None,
) -> DatasetEntry:
    if kind not in DATASET_KINDS:
        raise StoreError(f"unknown dataset kind {kind!r}; use one of {', '.join(DATASET_KINDS)}")
    now = utc_now()
    row = session.exec(select(DatasetRow).where(DatasetRow.name == name)).first()
    values: dict[str, Any] = {
        "ref": ref,
        "kind": kind,
        "description": description,
        "field_map": encode(field_map, "the field map") if field_map is not None else None,
        "splits": encode(splits, "the splits"),
        "rows": rows,
        "checksum": checksum,
        "updated_at": now,
    }
    if row is None:
        row = DatasetRow(name=name, added_at=now, **values)
    else:
        for key, value in values.items():
            setattr(row, key, value)
    session.add(row)
    session.flush()
    return dataset_entry(row)


def list_datasets(session: Session) -> list[DatasetEntry]:
    return [
        dataset_entry(row)
        for row in session.exec(select(DatasetRow).order_by(col(DatasetRow.name))).all()
    ]


def delete_dataset(session: Session, name: str) -> DatasetEntry:
    entry = get_dataset(session, name)
    row = session.get(DatasetRow, entry.id)
    session.delete(row)
    return entry
