"""What removing a model deletes: only files sa-tui owns, never a user's folder or the HF cache;
and, by the same accounting, what a model's files take on disk.

A managed path is deleted only if it resolves strictly inside ``data_dir()/models``. A built-in
model's size is what ``rm`` frees (its converted copies, and Gemma's assembled GGUF, under the
models folder) plus the files ``rm`` keeps (the GGUF inside its package).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from core.paths import data_dir
from store.domain import ModelEntry, Removal
from store.errors import StoreError
from store.weights import disk_usage, freed_by_deleting


def owned_models_root() -> Path:
    return (data_dir() / "models").resolve()


def is_owned(path: Path) -> bool:
    """Whether ``path`` lies strictly inside sa-tui's models folder (after resolving links)."""
    root = owned_models_root()
    resolved = path.resolve()
    return resolved != root and resolved.is_relative_to(root)


def plan(entry: ModelEntry, *, dry_run: bool) -> Removal:
    deleted, kept = _deleted_and_kept(entry)
    return Removal(
        ref=entry.ref,
        name=entry.name,
        deleted_paths=tuple(str(path) for path in deleted),
        kept_paths=tuple(str(path) for path in kept),
        freed_bytes=freed_bytes(deleted),
        dry_run=dry_run,
    )


def footprint_bytes(entry: ModelEntry) -> int:
    """Bytes of everything kept for ``entry``: what removing it frees plus what it keeps."""
    deleted, kept = _deleted_and_kept(entry)
    return freed_bytes(deleted) + disk_usage(kept)


def with_current_size(entry: ModelEntry) -> ModelEntry:
    """A managed entry (a built-in model) with its size measured now: its converted copy appears
    after it is catalogued. Other entries keep the size recorded when they were added."""
    if not entry.managed:
        return entry
    return replace(entry, size_bytes=footprint_bytes(entry))


def freed_bytes(deleted: list[Path]) -> int:
    """What deleting ``deleted`` frees (files linked from elsewhere stay and free nothing)."""
    return sum(freed_by_deleting(path) for path in deleted)


def deleted_and_kept(entry: ModelEntry) -> tuple[list[Path], list[Path]]:
    """The paths removing ``entry`` deletes (sa-tui's own, existing) and the paths it keeps."""
    return _deleted_and_kept(entry)


def _deleted_and_kept(entry: ModelEntry) -> tuple[list[Path], list[Path]]:
    """The paths removing ``entry`` deletes (sa-tui's own, existing) and the paths it keeps."""
    deleted: list[Path] = []
    kept: list[Path] = []
    if entry.managed and entry.managed_path:
        managed = Path(entry.managed_path)
        if is_owned(managed):
            if managed.exists() or managed.is_symlink():
                deleted.append(managed)
        else:
            kept.append(managed)
    if entry.local_path and not any(
        Path(entry.local_path).resolve().is_relative_to(path.resolve()) for path in deleted
    ):
        kept.append(Path(entry.local_path))
    return deleted, kept


def delete_files(removal: Removal) -> None:
    """Delete the removal's paths (each re-checked to be owned)."""
    for text in removal.deleted_paths:
        path = Path(text)
        if not is_owned(path):  # pragma: no cover - plan() already checked
            raise StoreError(f"refusing to delete {path}: it is not inside sa-tui's models folder")
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError as error:
            raise StoreError(f"could not delete {path}: {error.strerror or error}") from None
