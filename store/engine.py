"""The SQLAlchemy engine factory: PRAGMAs on every connection, and writes that never deadlock.

Nothing here runs at import time: call :func:`make_engine`.

Transactions. pysqlite's own transaction handling is switched off (``isolation_level = None``)
and SQLAlchemy's ``begin`` event emits the BEGIN itself: ``BEGIN IMMEDIATE`` on connections of
:func:`writer` engines, a plain (deferred) ``BEGIN`` otherwise. A write transaction therefore
takes the write lock when it starts, waiting up to ``busy_timeout`` for another writer, instead
of failing with "database is locked" when a deferred read transaction tries to upgrade. In WAL
mode readers never wait for writers.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, create_engine

from core.paths import data_dir

DB_NAME = "sa-tui.db"
BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "sa_tui_write"

# Applied to every new DBAPI connection, in this order (busy_timeout first, so that switching the
# journal mode waits for other connections instead of failing).
PRAGMAS = (
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)


def default_db_path() -> Path:
    """``data_dir()/sa-tui.db`` (``$SA_TUI_HOME`` if set)."""
    return data_dir() / DB_NAME


def apply_pragmas(dbapi_connection: sqlite3.Connection) -> None:
    """Autocommit at the driver level (we emit BEGIN ourselves) and the connection PRAGMAs."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    apply_pragmas(dbapi_connection)


def _on_begin(connection: Connection) -> None:
    mode = "IMMEDIATE" if connection.get_execution_options().get(WRITE_OPTION) else "DEFERRED"
    connection.exec_driver_sql(f"BEGIN {mode}")


def make_engine(path: Path | None = None) -> Engine:
    """An engine on the database file ``path`` (default :func:`default_db_path`)."""
    database = Path(path) if path is not None else default_db_path()
    database.parent.mkdir(parents=True, exist_ok=True)
    url = URL.create("sqlite", database=str(database))
    engine = create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def writer(engine: Engine) -> Engine:
    """A view of ``engine`` whose transactions start with ``BEGIN IMMEDIATE``."""
    return engine.execution_options(**{WRITE_OPTION: True})
