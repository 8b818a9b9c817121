"""A guarded database: checked on open, and every SQLite failure said in one sentence.

- :func:`quick_check` runs ``PRAGMA quick_check`` (cheap: no index cross-checks) before the store
  migrates or writes anything; a damaged file raises :class:`DatabaseDamaged`.
- :func:`integrity_check` runs the full ``PRAGMA integrity_check`` (``sa-tui db check``).
- :func:`database_error_sentence` turns any ``sqlite3`` / SQLAlchemy database error met later
  into one sentence that names the file and what to do.
- :func:`backup_to` copies the database with SQLite's online backup API (``sa-tui db backup``),
  safe while a run writes.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from store.errors import StoreError

RESTORE_HINT = (
    "restore a backup: stop sa-tui, move {name} aside, and copy a backup to {path} "
    "(one made with `sa-tui db backup`, or a {name}.bak-* file that each migration leaves beside it)"
)


class DatabaseDamaged(StoreError):
    """The database file fails SQLite's own checks; nothing was written to it."""


def restore_hint(path: Path) -> str:
    return RESTORE_HINT.format(name=path.name, path=path)


def _run_check(path: Path, pragma: str) -> list[str]:
    connection = sqlite3.connect(path, timeout=30)
    try:
        return [str(row[0]) for row in connection.execute(pragma)]
    finally:
        connection.close()


def _check(path: Path, pragma: str) -> list[str]:
    """The problems ``pragma`` reports (empty when the file is sound); raises when unreadable."""
    if not path.exists() or path.stat().st_size == 0:
        return []
    try:
        rows = _run_check(path, pragma)
    except sqlite3.DatabaseError as error:
        raise DatabaseDamaged(
            f"the database {path} cannot be read ({error}); nothing was written; {restore_hint(path)}"
        ) from None
    if rows == ["ok"]:
        return []
    return [line.strip() for row in rows for line in row.splitlines() if line.strip()]


def quick_check(path: Path) -> None:
    """Refuse a damaged database before anything is written to it."""
    problems = _check(path, "PRAGMA quick_check")
    if problems:
        raise DatabaseDamaged(
            f"the database {path} is damaged ({problems[0]}); nothing was written; "
            f"{restore_hint(path)}"
        )


def integrity_check(path: Path, *, limit: int = 20) -> list[str]:
    """The full check's findings (at most ``limit``); empty when the database is sound."""
    return _check(path, f"PRAGMA integrity_check({int(limit)})")


def database_error_sentence(error: BaseException, path: Path) -> str:
    """One sentence for a database error met after opening (locked, damaged, read-only, ...)."""
    text = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return (
            f"the database {path} stayed locked by another process ({text}); "
            "wait for it to finish, or stop it, then try again"
        )
    if "readonly" in lowered or "read-only" in lowered:
        return f"the database {path} is read-only ({text}); check its permissions and its folder's"
    if "disk" in lowered and "full" in lowered:
        return f"the disk that holds {path} is full ({text}); free some space and try again"
    return f"the database {path} failed ({text}); run `sa-tui db check`; {restore_hint(path)}"


def is_database_error(error: BaseException) -> bool:
    """Whether ``error`` came from SQLite (directly or through SQLAlchemy)."""
    if isinstance(error, sqlite3.DatabaseError):
        return True
    from sqlalchemy.exc import DatabaseError

    return isinstance(error, DatabaseError)


def backup_to(database: Path, target: Path) -> Path:
    """Copy ``database`` to the new file ``target`` with SQLite's online backup API."""
    from store.migrations import backup

    target = Path(target).expanduser().absolute()
    if target.exists() or target.is_symlink():
        raise StoreError(f"{target} already exists; choose a new file name for the backup")
    if not target.parent.is_dir():
        raise StoreError(f"the folder {target.parent} does not exist")
    if not database.exists():
        raise StoreError(f"there is no database at {database} yet; nothing to back up")
    quick_check(database)
    return backup(database, target)
