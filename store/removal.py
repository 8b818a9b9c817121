"""What removing a model deletes: only files sa-tui owns, never a user's folder or the HF cache.

A managed path is deleted only if it resolves strictly inside ``data_dir()/models``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from core.paths import data_dir
from store.domain import ModelEntry, Removal
from store.errors import StoreError
from store.weights import freed_by_deleting


def owned_models_root() -> Path:
    return (data_dir() / "models").resolve()


def is_owned(path: Path) -> bool:
    """Whether ``path`` lies strictly inside sa-tui's models folder (after resolving links)."""
    root = owned_models_root()
    resolved = path.resolve()
    return resolved != root and resolved.is_relative_to(root)


def plan(entry: ModelEntry, *, dry_run: bool) -> Removal:
    deleted: list[str] = []
    kept: list[str] = []
    freed = 0
    if entry.managed and entry.managed_path:
        managed = Path(entry.managed_path)
        if is_owned(managed):
            if managed.exists() or managed.is_symlink():
                deleted.append(str(managed))
                freed += freed_by_deleting(managed)
        else:
            kept.append(str(managed))
    if entry.local_path and not any(
        Path(entry.local_path).resolve().is_relative_to(Path(d).resolve()) for d in deleted
    ):
        kept.append(entry.local_path)
    return Removal(
        ref=entry.ref,
        name=entry.name,
        deleted_paths=tuple(deleted),
        kept_paths=tuple(kept),
        freed_bytes=freed,
        dry_run=dry_run,
    )


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
