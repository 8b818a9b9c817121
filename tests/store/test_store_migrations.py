"""Migrations: from an empty database, from an older one (with data, backed up first), refusal of
a newer one, rollback of a failing one; the engine's PRAGMAs; the tables match the classes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from store import migrations, schema
from store.engine import make_engine, writer
from store.errors import StoreError
from store.facade import Store
from store.migrations import applied_migrations, migrate

ALL = [name for name, _ in schema.MIGRATIONS]
STORE_TABLES = {
    "models",
    "datasets",
    "runs",
    "experiments",
    "selections",
    "attributions",
    "rationales",
    "predictions",
    "faithfulness",
    "prompt_versions",
    "scores",
    "aliases",
    "meta",
    "pulled_files",
    "model_aliases",
}


def tables(path: Path) -> set[str]:
    connection = sqlite3.connect(path)
    try:
        return {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    finally:
        connection.close()


def test_empty_database_gets_every_migration_and_no_backup(tmp_path: Path) -> None:
    db = tmp_path / "sa-tui.db"
    assert migrate(db) == ALL
    assert migrate(db) == []  # nothing pending the second time
    assert {
        "models",
        "datasets",
        "runs",
        "selections",
        "attributions",
        "rationales",
        "predictions",
    } <= tables(db)
    assert {"prompt_versions", "scores", "aliases", "meta", "schema_migrations"} <= tables(db)
    assert not list(tmp_path.glob("*.bak-*"))
    with sqlite3.connect(db) as connection:
        assert applied_migrations(connection) == ALL


def test_older_database_is_backed_up_then_migrated_keeping_its_data(tmp_path: Path) -> None:
    db = tmp_path / "sa-tui.db"
    assert migrate(db, upto="0001_initial") == ["0001_initial"]
    connection = sqlite3.connect(db)
    now = "2026-01-01 00:00:00.000000"
    connection.execute(
        "INSERT INTO runs (id, kind, status, config, config_hash, started_at) VALUES ('r1', 'run', 'done', '{}', 'h', ?)",
        (now,),
    )
    for version in (1, 2):
        connection.execute(
            "INSERT INTO prompt_versions (lineage, version, content_hash, content, run_id, created_at) "
            "VALUES ('old.lineage', ?, ?, '{\"context\": \"c\"}', 'r1', ?)",
            (version, f"h{version}", now),
        )
    connection.execute(
        "INSERT INTO selections (key_hash, run_id, payload, created_at) VALUES ('k', 'r1', '{\"a\": 1}', ?)",
        (now,),
    )
    connection.commit()
    connection.close()
    assert "aliases" not in tables(db)

    store = Store.open(db)
    try:
        backup = tmp_path / "sa-tui.db.bak-0002_aliases_meta_indexes"
        assert backup.is_file()
        with sqlite3.connect(backup) as old:
            assert applied_migrations(old) == ["0001_initial"]
            assert old.execute("SELECT COUNT(*) FROM prompt_versions").fetchone()[0] == 2
            assert "aliases" not in {
                r[0] for r in old.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        # the data survived, and the data migration gave the old lineage its 'latest' alias
        latest = store.resolve_prompt("old.lineage")
        assert latest.version == 2 and latest.aliases == ("latest",)
        assert store.get("selection", "k") == {"a": 1}
        assert store.get_run("r1").status == "done"
    finally:
        store.close()
    with sqlite3.connect(db) as connection:
        assert applied_migrations(connection) == ALL


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "sa-tui.db"
    migrate(db)
    with sqlite3.connect(db) as connection:
        connection.execute("INSERT INTO schema_migrations VALUES ('9999_future', '2030-01-01')")
    with pytest.raises(StoreError, match="newer sa-tui"):
        Store.open(db)


def test_a_failing_migration_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "sa-tui.db"
    migrate(db, upto="0001_initial")
    before = tables(db)
    broken = (
        *schema.MIGRATIONS[:1],
        ("0002_broken", "CREATE TABLE half_done (x INTEGER);\nTHIS IS NOT SQL;\n"),
    )
    monkeypatch.setattr(migrations, "MIGRATIONS", broken)
    with pytest.raises(StoreError, match="cannot migrate"):
        migrate(db)
    assert tables(db) == before  # the CREATE TABLE was rolled back with the rest
    with sqlite3.connect(db) as connection:
        assert applied_migrations(connection) == ["0001_initial"]


def test_unknown_target_migration() -> None:
    with pytest.raises(StoreError, match="no migration named"):
        migrate(Path("unused.db"), upto="0007_nope")


def test_every_connection_gets_the_pragmas(tmp_path: Path) -> None:
    db = tmp_path / "sa-tui.db"
    migrate(db)
    engine = make_engine(db)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30000
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        with writer(engine).begin() as connection:  # BEGIN IMMEDIATE: we hold the write lock
            other = sqlite3.connect(db, timeout=0)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            other.close()
            connection.execute(text("SELECT 1"))
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(StoreError, match="no run"):
        store.put("selection", "k", {"x": 1}, run_id="missing")
    with pytest.raises(StoreError):
        store.save_score(12345, run_id=None, metric="accuracy", value=0.5, n=1)


def test_no_engine_or_file_at_import(tmp_path: Path) -> None:
    code = (
        "import os, store.facade, store.engine, store.export, store.model_files\n"
        "print(sorted(os.listdir(os.environ['SA_TUI_HOME'])) if os.path.isdir(os.environ['SA_TUI_HOME']) else [])\n"
    )
    home = tmp_path / "home"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"SA_TUI_HOME": str(home), "PATH": ""},
        check=True,
    )
    assert result.stdout.strip() == "[]"
    assert not home.exists() or not any(home.iterdir())


def test_tables_match_the_sqlmodel_classes(store: Store) -> None:
    connection = sqlite3.connect(store.path)
    try:
        ours = [t for t in SQLModel.metadata.sorted_tables if t.name in STORE_TABLES]
        assert {t.name for t in ours} == STORE_TABLES
        for table in ours:
            columns = {row[1] for row in connection.execute(f"PRAGMA table_info({table.name})")}
            assert columns == {column.name for column in table.columns}, table.name
    finally:
        connection.close()


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    db = tmp_path / "sa-tui.db"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a database"):
        Store.open(db)


def test_every_table_has_a_class(store: Store) -> None:
    assert tables(store.path) - {"schema_migrations"} == STORE_TABLES


def test_a_backup_is_a_whole_database_and_leaves_no_temporary(tmp_path: Path) -> None:
    database = tmp_path / "source.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE t (x INTEGER)")
        connection.execute("INSERT INTO t VALUES (42)")
    connection.close()
    copy = migrations.backup(database, tmp_path / "source.db.bak-test")
    with sqlite3.connect(copy) as connection:
        assert connection.execute("SELECT x FROM t").fetchall() == [(42,)]
    connection.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.db", "source.db.bak-test"]
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database at all" * 100)
    with pytest.raises(sqlite3.DatabaseError):
        migrations.backup(broken, tmp_path / "broken.db.bak-test")
    assert not (tmp_path / "broken.db.bak-test").exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
