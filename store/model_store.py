"""The model store's bookkeeping: files sa-tui pulled into the Hugging Face cache, model
aliases, disk use per model (source files, sa-tui's converted copy), and prune.

Prune deletes only what sa-tui wrote: a built-in model's converted copy (under its own models
folder) and, in the HF cache, the snapshot links a pull made and the blobs it downloaded (a blob
that was already there, or that another snapshot still links to, is kept). A pulled model whose
files prune deleted leaves the catalogue; a built-in keeps its entry (it converts again on use).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.dialects.sqlite import insert
from sqlmodel import Session, col, select

from store.clock import iso, to_aware, utc_now
from store.domain import ModelEntry
from store.errors import StoreError
from store.hub_cache import PulledFile, removable_pull_paths, remove_empty_dirs
from store.prompts import ALIAS_RE
from store.removal import deleted_and_kept, freed_bytes, is_owned
from store.tables import ModelAliasRow, ModelRow, PulledFileRow
from store.weights import disk_usage, freed_by_deleting


# ------------------------------------------------------------------------------------ pulls
def record_pulled_file(session: Session, pulled: PulledFile) -> None:
    """Remember a file a pull placed; a later pull of the same file keeps the earlier claims
    (a blob sa-tui downloaded stays sa-tui's when the next pull finds it in the cache)."""
    table: Any = PulledFileRow.__table__  # type: ignore[attr-defined]
    statement = insert(table).values(
        cache_dir=pulled.cache_dir,
        repo_id=pulled.repo_id,
        commit_hash=pulled.commit,
        filename=pulled.filename,
        blob=pulled.blob,
        size=pulled.size,
        link_made=pulled.link_made,
        blob_downloaded=pulled.blob_downloaded,
        pulled_at=utc_now(),
    )
    statement = statement.on_conflict_do_update(
        index_elements=["cache_dir", "repo_id", "commit_hash", "filename"],
        set_={
            "blob": statement.excluded.blob,
            "size": statement.excluded.size,
            "link_made": table.c.link_made | statement.excluded.link_made,
            "blob_downloaded": table.c.blob_downloaded | statement.excluded.blob_downloaded,
            "pulled_at": statement.excluded.pulled_at,
        },
    )
    session.exec(statement)  # type: ignore[call-overload]


def _pulled(row: PulledFileRow) -> PulledFile:
    return PulledFile(
        cache_dir=row.cache_dir,
        repo_id=row.repo_id,
        commit=row.commit_hash,
        filename=row.filename,
        blob=row.blob,
        size=row.size,
        link_made=bool(row.link_made),
        blob_downloaded=bool(row.blob_downloaded),
    )


@dataclass
class PullGroup:
    """The files one pull of one commit placed (rows of ``pulled_files``)."""

    cache_dir: str
    repo_id: str
    commit: str
    rows: list[PulledFileRow] = field(default_factory=list)

    @property
    def files(self) -> list[PulledFile]:
        return [_pulled(row) for row in self.rows]

    @property
    def pulled_at(self) -> datetime:
        return max(to_aware(row.pulled_at) or utc_now() for row in self.rows)

    @property
    def snapshot(self) -> Path:
        name = "models--" + self.repo_id.replace("/", "--")
        return Path(self.cache_dir) / name / "snapshots" / self.commit

    def downloaded_bytes(self) -> int:
        """Bytes of the blobs this pull downloaded that are still in the cache."""
        return sum(f.size for f in self.files if f.blob_downloaded and f.paths().blob.is_file())

    def belongs_to(self, entry: ModelEntry) -> bool:
        return (
            entry.repo_id == self.repo_id
            and entry.revision == self.commit
            and bool(entry.local_path)
            and Path(entry.local_path or "").resolve() == self.snapshot.resolve()
        )


def pull_groups(session: Session) -> list[PullGroup]:
    groups: dict[tuple[str, str, str], PullGroup] = {}
    rows = session.exec(select(PulledFileRow).order_by(col(PulledFileRow.id))).all()
    for row in rows:
        key = (row.cache_dir, row.repo_id, row.commit_hash)
        groups.setdefault(key, PullGroup(*key)).rows.append(row)
    return list(groups.values())


# ------------------------------------------------------------------------------------ aliases
def check_model_alias(session: Session, name: str) -> str:
    text = (name or "").strip()
    if not ALIAS_RE.match(text):
        raise StoreError(
            f"{name!r} is not a valid model alias; start with a letter, use letters, digits and . _ -"
        )
    holder = session.exec(
        select(ModelRow).where((ModelRow.name == text) | (ModelRow.ref == text))
    ).first()
    if holder is not None:
        raise StoreError(f"{text!r} already names the model {holder.ref}; choose another alias")
    return text


def set_model_alias(session: Session, name: str, model_ref: str) -> None:
    row = session.get(ModelAliasRow, name)
    if row is None:
        row = ModelAliasRow(name=name, model_ref=model_ref, updated_at=utc_now())
    else:
        row.model_ref, row.updated_at = model_ref, utc_now()
    session.add(row)
    session.flush()


def remove_model_alias(session: Session, name: str) -> str:
    row = session.get(ModelAliasRow, (name or "").strip())
    if row is None:
        raise StoreError(f"there is no model alias {name!r}; see sa-tui models list")
    ref = row.model_ref
    session.delete(row)
    return ref


def model_aliases(session: Session) -> dict[str, list[str]]:
    """Model ref -> its aliases, sorted."""
    found: dict[str, list[str]] = {}
    for row in session.exec(select(ModelAliasRow).order_by(col(ModelAliasRow.name))).all():
        found.setdefault(row.model_ref, []).append(row.name)
    return found


# ------------------------------------------------------------------------------------ disk use
@dataclass(frozen=True)
class ModelUsage:
    """Disk use of one catalogued model, like ``hf cache ls`` and ``ollama list`` show it."""

    entry: ModelEntry
    source_bytes: int  # the model's own files (a folder, the HF snapshot, the packaged GGUF)
    converted_bytes: int  # sa-tui's converted copy (a built-in's safetensors folder)
    pulled_bytes: int  # of the source files, those sa-tui downloaded (prune may free them)
    aliases: tuple[str, ...] = ()

    @property
    def last_used(self) -> datetime:
        return to_aware(self.entry.last_used_at or self.entry.added_at) or utc_now()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.entry.name,
            "ref": self.entry.ref,
            "source_bytes": self.source_bytes,
            "converted_bytes": self.converted_bytes,
            "pulled_bytes": self.pulled_bytes,
            "last_used": iso(self.entry.last_used_at),
            "aliases": list(self.aliases),
        }


def usage(entry: ModelEntry, groups: list[PullGroup], aliases: list[str]) -> ModelUsage:
    deleted, kept = deleted_and_kept(entry)
    pulled = sum(group.downloaded_bytes() for group in groups if group.belongs_to(entry))
    return ModelUsage(
        entry=entry,
        source_bytes=disk_usage(kept),
        converted_bytes=freed_bytes(deleted),
        pulled_bytes=pulled,
        aliases=tuple(aliases),
    )


# ------------------------------------------------------------------------------------ prune
@dataclass(frozen=True)
class PruneItem:
    """What prune removes (or would) for one model or one pull: ``what`` is "converted copy"
    or "pulled files"; ``drops_entry`` when the model leaves the catalogue too."""

    label: str
    what: str
    paths: tuple[str, ...]
    freed_bytes: int
    last_used: datetime
    drops_entry: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "what": self.what,
            "paths": list(self.paths),
            "freed_bytes": self.freed_bytes,
            "last_used": iso(self.last_used),
            "drops_entry": self.drops_entry,
        }


@dataclass(frozen=True)
class PruneReport:
    items: tuple[PruneItem, ...]
    dry_run: bool
    unused_for: timedelta

    @property
    def freed_bytes(self) -> int:
        return sum(item.freed_bytes for item in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "unused_for_seconds": int(self.unused_for.total_seconds()),
            "freed_bytes": self.freed_bytes,
            "items": [item.to_dict() for item in self.items],
        }


@dataclass
class PrunePlan:
    """The report, plus what carrying it out deletes (files, then rows)."""

    report: PruneReport
    converted: list[Path]
    links: list[Path]
    blobs: list[Path]
    groups: list[PullGroup]
    entries: list[str]


def plan_prune(
    entries: list[ModelEntry], groups: list[PullGroup], *, unused_for: timedelta, dry_run: bool
) -> PrunePlan:
    cutoff = utc_now() - unused_for
    items: list[PruneItem] = []
    converted: list[Path] = []
    links: list[Path] = []
    blobs: list[Path] = []
    pruned_groups: list[PullGroup] = []
    dropped: list[str] = []
    for entry in entries:
        last = to_aware(entry.last_used_at or entry.added_at) or utc_now()
        deleted, _kept = deleted_and_kept(entry)
        if deleted and last <= cutoff:
            converted += deleted
            items.append(
                PruneItem(entry.name, "converted copy", _texts(deleted), freed_bytes(deleted), last)
            )
    for group in groups:
        owner = next((e for e in entries if group.belongs_to(e)), None)
        last = (
            to_aware(owner.last_used_at or owner.added_at) or group.pulled_at
            if owner is not None
            else group.pulled_at
        )
        if last > cutoff:
            continue
        group_links, group_blobs = removable_pull_paths(group.files)
        pruned_groups.append(group)
        if not group_links and not group_blobs:
            continue
        links += group_links
        blobs += group_blobs
        drops = owner.ref if owner is not None and group_links else None
        if drops:
            dropped.append(drops)
        label = owner.name if owner is not None else f"{group.repo_id}@{group.commit[:12]}"
        freed = sum(freed_by_deleting(blob) for blob in group_blobs)
        items.append(
            PruneItem(label, "pulled files", _texts(group_blobs + group_links), freed, last, drops)
        )
    report = PruneReport(tuple(items), dry_run, unused_for)
    return PrunePlan(report, converted, links, blobs, pruned_groups, dropped)


def _texts(paths: list[Path]) -> tuple[str, ...]:
    return tuple(str(path) for path in paths)


def delete_pruned_files(plan: PrunePlan) -> None:
    """Delete the plan's files: each converted copy re-checked to be sa-tui's own."""
    import shutil

    for path in plan.converted:
        if not is_owned(path):  # pragma: no cover - plan_prune took only owned paths
            raise StoreError(f"refusing to delete {path}: it is not inside sa-tui's models folder")
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    for path in [*plan.links, *plan.blobs]:
        path.unlink(missing_ok=True)
    for group in plan.groups:
        repo = group.snapshot.parent.parent
        for link in plan.links:
            if link.is_relative_to(group.snapshot):
                remove_empty_dirs(link.parent, repo / "snapshots")


def forget_pruned(session: Session, plan: PrunePlan) -> None:
    """Drop the rows of what was pruned: pulled-file records, and entries without their files."""
    for group in plan.groups:
        for row in group.rows:
            stored = session.get(PulledFileRow, row.id)
            if stored is not None:
                session.delete(stored)
    for ref in plan.entries:
        model = session.exec(select(ModelRow).where(ModelRow.ref == ref)).first()
        if model is not None:
            session.delete(model)
