"""The faithfulness record kind: its own append-only table (migration 0004), searchable columns,
first value kept, and an older database gains the table on migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core.cache import FAITHFULNESS, KINDS
from store import schema
from store.facade import Store
from store.migrations import migrate
from store.tables import RECORD_TABLES

PAYLOAD = {
    "model": "m",
    "sample_id": "s1",
    "method": "deeplift",
    "keywords": ["iron", "magnet"],
    "comprehensiveness": [0.2, 0.3],
    "sufficiency": [0.1, 0.05],
}


def test_faithfulness_is_a_kind_with_its_own_table() -> None:
    assert FAITHFULNESS in KINDS
    assert RECORD_TABLES[FAITHFULNESS].__tablename__ == "faithfulness"
    names = [name for name, _ in schema.MIGRATIONS]
    assert names.index("0004_faithfulness") == names.index("0003_experiments") + 1


def test_faithfulness_records_are_append_only_and_searchable(store: Store) -> None:
    run = store.start_run({"model": "m"}, versions={}, device="cpu")
    store.put(FAITHFULNESS, "k1", PAYLOAD, run_id=run.id)
    store.put(FAITHFULNESS, "k1", {**PAYLOAD, "method": "other"}, run_id=run.id)  # kept first
    assert store.get(FAITHFULNESS, "k1") == PAYLOAD
    rows = store.records_for_run(run.id, FAITHFULNESS)
    assert len(rows) == 1
    assert (rows[0].sample_id, rows[0].method, rows[0].model_ref) == ("s1", "deeplift", "m")
    connection = sqlite3.connect(store.path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="records are immutable"):
            connection.execute("DELETE FROM faithfulness")
    finally:
        connection.close()


def test_an_older_database_gains_the_faithfulness_table(tmp_path: Path) -> None:
    db = tmp_path / "sa-tui.db"
    migrate(db, upto="0003_experiments")
    with sqlite3.connect(db) as connection:
        names = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    assert "faithfulness" not in names
    assert "0004_faithfulness" in migrate(db)
    with sqlite3.connect(db) as connection:
        names = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    assert {"faithfulness", "faithfulness_no_update", "faithfulness_no_delete"} <= names
