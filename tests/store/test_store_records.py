"""Append-only records: triggers refuse UPDATE and DELETE; put de-duplicates by key."""

from __future__ import annotations

import sqlite3

import pytest

from core.cache import KINDS, ResultCache
from store.errors import StoreError
from store.facade import Store
from tests.store.store_helpers import content, db_dump

IMMUTABLE_TABLES = (
    "selections",
    "attributions",
    "rationales",
    "predictions",
    "faithfulness",
    "prompt_versions",
    "scores",
)


@pytest.fixture
def filled(store: Store) -> Store:
    run = store.start_run({"model": "m"}, versions={}, device="cpu")
    for kind in KINDS:
        store.put(
            kind,
            f"key-{kind}",
            {"sample_id": "s1", "method": "deeplift", "model": "m", "v": 1},
            run_id=run.id,
        )
    version = store.save_prompt_version("m.d.ph_cot", content(), run_id=run.id)
    store.save_score(version.id, run_id=run.id, metric="accuracy", value=0.5, n=4, ci95=(0.1, 0.9))
    return store


@pytest.mark.parametrize("table", IMMUTABLE_TABLES)
def test_records_cannot_be_updated_or_deleted(filled: Store, table: str) -> None:
    connection = sqlite3.connect(filled.path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="records are immutable"):
            connection.execute(f"UPDATE {table} SET created_at = created_at")
        with pytest.raises(sqlite3.IntegrityError, match="records are immutable"):
            connection.execute(f"DELETE FROM {table}")
        assert connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] >= 1
    finally:
        connection.close()


def test_a_runs_configuration_is_fixed_but_its_lifecycle_moves(filled: Store) -> None:
    connection = sqlite3.connect(filled.path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            connection.execute('UPDATE runs SET config = \'{"model": "other"}\'')
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            connection.execute("DELETE FROM runs")
        connection.execute("UPDATE runs SET stage = 'x', done = 1")  # lifecycle columns are fine
    finally:
        connection.close()


def test_put_twice_keeps_one_row_and_the_first_value(store: Store) -> None:
    cache: ResultCache = store  # the store is the pipeline's cache
    run = store.start_run({}, versions={}, device="cpu")
    cache.put(
        "rationale", "k1", {"text": "first", "sample_id": "s1", "method": "ph_cot"}, run_id=run.id
    )
    cache.put("rationale", "k1", {"text": "second"}, run_id=run.id)
    cache.put("rationale", "k1", {"text": "third"})
    assert cache.get("rationale", "k1") == {"text": "first", "sample_id": "s1", "method": "ph_cot"}
    assert store.count_records("rationale") == 1
    rows = store.records_for_run(run.id, "rationale")
    assert [(r.sample_id, r.method) for r in rows] == [("s1", "ph_cot")]
    assert store.record_counts(run.id)["rationale"] == 1
    assert cache.get("rationale", "missing") is None


def test_values_round_trip_exactly(store: Store) -> None:
    value = {
        "probabilities": {"A": 0.25, "B": 0.75},
        "words": ["é", "漢"],
        "nested": [[1, 2], {"x": None}],
        "flag": True,
    }
    store.put("selection", "k", value)
    assert store.get("selection", "k") == value


@pytest.mark.parametrize(
    ("kind", "key", "value", "message"),
    [
        ("explanation", "k", {}, "unknown record kind"),
        ("selection", "", {}, "non-empty"),
        ("selection", "k", ["not", "a", "dict"], "must be a dict"),
        ("selection", "k", {"x": float("nan")}, "cannot be stored as JSON"),
        ("selection", "k", {"x": object()}, "cannot be stored as JSON"),
    ],
)
def test_bad_records_are_refused_and_change_nothing(
    store: Store, kind: str, key: str, value: object, message: str
) -> None:
    before = db_dump(store.path)
    with pytest.raises(StoreError, match=message):
        store.put(kind, key, value)  # type: ignore[arg-type]
    assert db_dump(store.path) == before
