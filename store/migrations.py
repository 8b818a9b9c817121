"""Named migrations, recorded in ``schema_migrations``, each backed up and applied atomically.

:func:`migrate` opens its own sqlite3 connection (no SQLAlchemy) and, for each pending migration:

1. ``BEGIN IMMEDIATE`` (the write lock: concurrent openers wait, then find it applied);
2. when the database already held migrations before this call, copies it with SQLite's backup
   API (through a second connection, which reads the committed state while we hold the write
   lock) to ``<db>.bak-<migration name>``;
3. runs the migration's SQL, records its name, checks foreign keys, and commits.

A failing migration rolls back and leaves the database as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from core.atomic import replacing
from store.clock import utc_now
from store.errors import StoreError
from store.schema import MIGRATIONS

LEDGER = "schema_migrations"


def split_statements(sql: str) -> Iterator[str]:
    """The complete SQL statements of ``sql`` (triggers' inner semicolons included)."""
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statement = pending.strip()
            pending = ""
            if statement and statement != ";":
                yield statement
    if pending.strip() and not _only_comments(pending):
        raise ValueError(f"incomplete SQL statement: {pending.strip()[:60]!r}")


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


def applied_migrations(connection: sqlite3.Connection) -> list[str]:
    """The names recorded in the ledger, in the order applied (empty for a new database)."""
    exists = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (LEDGER,)
    ).fetchone()
    if not exists:
        return []
    return [row[0] for row in connection.execute(f"SELECT name FROM {LEDGER} ORDER BY rowid")]


def backup_path(database: Path, migration: str) -> Path:
    """``<db>.bak-<migration>``; a numbered suffix when that name is already taken."""
    candidate = database.with_name(f"{database.name}.bak-{migration}")
    number = 1
    while candidate.exists():
        candidate = database.with_name(f"{database.name}.bak-{migration}.{number}")
        number += 1
    return candidate


def backup(database: Path, target: Path) -> Path:
    """Copy the committed state of ``database`` to ``target`` (a single, self-contained file)."""
    with replacing(target) as temporary:
        source = sqlite3.connect(database, timeout=30)
        try:
            copy = sqlite3.connect(temporary)
            try:
                source.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")
            finally:
                copy.close()
        finally:
            source.close()
    return target


def _connect(database: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(database, isolation_level=None, timeout=30)
    connection.execute("PRAGMA busy_timeout=30000")
    connection.execute("PRAGMA journal_mode=WAL")
    # Off while migrating (a migration may rebuild a table); checked before each commit.
    connection.execute("PRAGMA foreign_keys=OFF")
    return connection


def migrate(database: Path, *, upto: str | None = None) -> list[str]:
    """Apply the pending migrations (up to and including ``upto``); return the names applied."""
    names = [name for name, _ in MIGRATIONS]
    if upto is not None and upto not in names:
        raise StoreError(
            f"there is no migration named {upto!r}; the migrations are {', '.join(names)}"
        )
    wanted = MIGRATIONS if upto is None else MIGRATIONS[: names.index(upto) + 1]
    database.parent.mkdir(parents=True, exist_ok=True)
    try:
        connection = _connect(database)
    except sqlite3.DatabaseError as error:
        raise StoreError(f"cannot open the database {database}: {error}") from None
    try:
        return _migrate(connection, database, wanted, names)
    except sqlite3.DatabaseError as error:
        raise StoreError(f"cannot migrate the database {database}: {error}") from None
    finally:
        connection.close()


def _migrate(
    connection: sqlite3.Connection,
    database: Path,
    wanted: tuple[tuple[str, str], ...],
    known: list[str],
) -> list[str]:
    existed = applied_migrations(connection)
    unknown = [name for name in existed if name not in known]
    if unknown:
        raise StoreError(
            f"the database {database} was written by a newer sa-tui (it has migration {unknown[0]!r}); "
            "upgrade sa-tui to open it"
        )
    done: list[str] = []
    for name, sql in wanted:
        if name in existed:
            continue
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(
                f"CREATE TABLE IF NOT EXISTS {LEDGER} (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            if name in applied_migrations(connection):  # another process applied it meanwhile
                connection.execute("COMMIT")
                continue
            if existed:  # an existing database is upgraded: keep a copy first
                backup(database, backup_path(database, name))
            for statement in split_statements(sql):
                connection.execute(statement)
            connection.execute(
                f"INSERT INTO {LEDGER} (name, applied_at) VALUES (?, ?)", (name, str(utc_now()))
            )
            problem = connection.execute("PRAGMA foreign_key_check").fetchone()
            if problem is not None:
                raise StoreError(
                    f"migration {name} would break a foreign key in table {problem[0]}"
                )
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:  # SQLite may have rolled back already (a full disk)
                connection.execute("ROLLBACK")
            raise
        done.append(name)
    return done
