"""Prompt versions: de-duplication by content, numbering and parents, references and aliases,
diffs, scores, listing at 100,000 versions."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from core.cache import content_hash
from store.errors import StoreError
from store.facade import Store
from tests.store.store_helpers import content, db_dump

LINEAGE = "smollm2.snarks.ph_cot.success.n4"


def test_identical_content_returns_the_existing_version(store: Store) -> None:
    run = store.start_run({"a": 1}, versions={}, device="cpu")
    first = store.save_prompt_version(LINEAGE, content(), run_id=run.id)
    again = store.save_prompt_version(LINEAGE, json.loads(json.dumps(content())), run_id=None)
    assert again == first
    assert first.version == 1 and first.parent_id is None and first.aliases == ("latest",)
    assert first.content_hash == content_hash(content())
    assert store.count_prompt_versions() == 1


def test_new_content_is_the_next_version_and_moves_latest(store: Store) -> None:
    v1 = store.save_prompt_version(LINEAGE, content(context="one"))
    v2 = store.save_prompt_version(LINEAGE, content(context="two"))
    assert (v2.version, v2.parent_id, v2.aliases) == (2, v1.id, ("latest",))
    assert store.resolve_prompt(LINEAGE).id == v2.id
    assert store.resolve_prompt(f"{LINEAGE}@latest").id == v2.id
    assert store.resolve_prompt(f"{LINEAGE}@v1").id == v1.id
    assert store.resolve_prompt(f"{LINEAGE}@1").id == v1.id
    # saving v1's content again returns v1 and leaves latest where it is
    assert store.save_prompt_version(LINEAGE, content(context="one")).id == v1.id
    assert store.resolve_prompt(LINEAGE).id == v2.id
    # the same content in another lineage is a separate version 1
    other = store.save_prompt_version("other.lineage", content(context="one"))
    assert other.version == 1 and other.id != v1.id


def test_aliases(store: Store) -> None:
    v1 = store.save_prompt_version(LINEAGE, content(context="one"))
    store.save_prompt_version(LINEAGE, content(context="two"))
    best = store.set_alias(LINEAGE, "best", "v1")
    assert best.id == v1.id and best.aliases == ("best",)
    assert store.resolve_prompt(f"{LINEAGE}@best").id == v1.id
    moved = store.set_alias(LINEAGE, "best", 2)
    assert moved.version == 2 and set(moved.aliases) == {"latest", "best"}
    summary = store.list_lineages()[0]
    assert summary.aliases == {"best": 2, "latest": 2} and summary.versions == 2


def test_an_alias_cannot_point_into_another_lineage(store: Store) -> None:
    store.save_prompt_version(LINEAGE, content())
    foreign = store.save_prompt_version("other", content())
    connection = sqlite3.connect(store.path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="own lineage"):
            connection.execute(
                "INSERT INTO aliases (lineage, name, version_id, updated_at) VALUES (?, 'x', ?, 'now')",
                (LINEAGE, foreign.id),
            )
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("smollm2.snarks.ph_cot.success.n5", "did you mean smollm2.snarks.ph_cot.success.n4"),
        (f"{LINEAGE}@v9", "has no version v9; its versions are v1 to v1"),
        (f"{LINEAGE}@bets", "has no alias 'bets'"),
        ("", "no prompt was given"),
        ("@v1", "not a prompt reference"),
    ],
)
def test_unknown_references_say_what_exists(store: Store, ref: str, message: str) -> None:
    store.save_prompt_version(LINEAGE, content())
    with pytest.raises(StoreError, match=message):
        store.resolve_prompt(ref)


@pytest.mark.parametrize(
    ("lineage", "value", "message"),
    [
        ("bad lineage", content(), "not a valid lineage"),
        ("a@b", content(), "not a valid lineage"),
        ("../escape", content(), "not a valid lineage"),
        (LINEAGE, ["not", "a", "dict"], "must be a dict"),
        (LINEAGE, {"messages": [{"role": "robot", "content": "x"}]}, "messages must be"),
        (LINEAGE, {"context": 3}, "context must be text"),
    ],
)
def test_bad_prompt_input_changes_nothing(
    store: Store, lineage: str, value: object, message: str
) -> None:
    before = db_dump(store.path)
    with pytest.raises(StoreError, match=message):
        store.save_prompt_version(lineage, value)  # type: ignore[arg-type]
    assert db_dump(store.path) == before


def test_bad_alias_names(store: Store) -> None:
    store.save_prompt_version(LINEAGE, content())
    before = db_dump(store.path)
    for name in ("v2", "1best", "has space", ""):
        with pytest.raises(StoreError, match="not a valid alias"):
            store.set_alias(LINEAGE, name, 1)
    with pytest.raises(StoreError, match="no version v7"):
        store.set_alias(LINEAGE, "best", 7)
    assert db_dump(store.path) == before


def test_diff_of_two_versions(store: Store) -> None:
    store.save_prompt_version(LINEAGE, content(context="line one\nline two\n"))
    store.save_prompt_version(LINEAGE, content(context="line one\nline 2\n"))
    diff = store.diff_prompts(f"{LINEAGE}@v1", f"{LINEAGE}@v2")
    assert f"--- {LINEAGE}@v1" in diff and f"+++ {LINEAGE}@v2" in diff
    assert "-line two\n" in diff and "+line 2\n" in diff
    assert store.diff_prompts(LINEAGE, f"{LINEAGE}@v2") == ""


def test_scores(store: Store) -> None:
    run = store.start_run({}, versions={}, device="cpu")
    version = store.save_prompt_version(LINEAGE, content(), run_id=run.id)
    predictions = [{"id": "t1", "gold": "A", "pred": "A", "correct": True}]
    score = store.save_score(
        version.id,
        run_id=run.id,
        metric="accuracy",
        value=0.75,
        n=4,
        ci95=(0.3, 0.95),
        parse_failures=1,
        seconds=2.5,
        predictions=predictions,
        extra={"answer_mode": "parse"},
    )
    assert (score.value, score.n, score.ci95, score.parse_failures) == (0.75, 4, (0.3, 0.95), 1)
    # the same score saved again by the same run (a resumed run) is not duplicated
    again = store.save_score(
        version.id,
        run_id=run.id,
        metric="accuracy",
        value=0.75,
        n=4,
        ci95=(0.3, 0.95),
        parse_failures=1,
        seconds=9.0,
        predictions=predictions,
        extra={"answer_mode": "parse"},
    )
    assert again.id == score.id
    later = store.start_run({}, versions={}, device="cpu")
    store.save_score(
        version.id, run_id=later.id, metric="accuracy", value=0.75, n=4, ci95=(0.3, 0.95)
    )
    assert len(store.scores_for(version.id)) == 2
    assert [s.id for s in store.scores_for_run(run.id)] == [score.id]
    assert store.scores_for(version.id)[0].predictions == predictions
    assert store.latest_scores([version.id])[version.id].run_id == later.id


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"value": float("nan")}, "finite"),
        ({"n": -1}, "count"),
        ({"ci95": (0.9, 0.1)}, "reversed"),
        ({"ci95": (0.1,)}, "pair"),
        ({"metric": ""}, "metric"),
        ({"predictions": ["x"]}, "list of dicts"),
        ({"run_id": "nope"}, "no run"),
    ],
)
def test_bad_scores_change_nothing(store: Store, kwargs: dict, message: str) -> None:
    version = store.save_prompt_version(LINEAGE, content())
    arguments = {
        "run_id": None,
        "metric": "accuracy",
        "value": 0.5,
        "n": 2,
        "ci95": (0.1, 0.9),
        **kwargs,
    }
    before = db_dump(store.path)
    with pytest.raises(StoreError, match=message):
        store.save_score(version.id, **arguments)
    assert db_dump(store.path) == before


def test_listing_filters_and_pages(store: Store) -> None:
    for method in ("io", "ph_cot", "deeplift"):
        for n in range(3):
            store.save_prompt_version(
                f"m.d.{method}", content(context=f"{method}{n}", method=method)
            )
    assert store.count_prompt_versions() == 9
    assert [v.ref for v in store.list_prompt_versions(lineage="m.d.io")] == [
        "m.d.io@v3",
        "m.d.io@v2",
        "m.d.io@v1",
    ]
    assert store.count_prompt_versions(search="deep") == 3
    page = store.list_prompt_versions(limit=4, offset=4)
    assert len(page) == 4 and page[0].id == 5
    assert [s.lineage for s in store.list_lineages()] == ["m.d.deeplift", "m.d.io", "m.d.ph_cot"]


def test_listing_100000_versions_is_interactive(store: Store) -> None:
    rows = [
        (
            f"model{i % 7}.data{i % 5}.method{i % 9}.n{i % 4}",
            i // 1260 + 1,
            f"hash{i}",
            '{"context": "x"}',
            f"method{i % 9}",
            "2026-01-01 00:00:00.000000",
        )
        for i in range(100_000)
    ]
    connection = sqlite3.connect(store.path)
    connection.executemany(
        "INSERT INTO prompt_versions (lineage, version, content_hash, content, method, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )
    connection.commit()
    connection.close()
    timings = {}
    for label, call in {
        "first page": lambda: store.list_prompt_versions(limit=50),
        "deep page": lambda: store.list_prompt_versions(limit=50, offset=99_000),
        "lineage": lambda: store.list_prompt_versions(lineage="model3.data1.method4.n0", limit=50),
        "search": lambda: store.list_prompt_versions(search="method7", limit=50),
        "count": lambda: store.count_prompt_versions(search="method7"),
    }.items():
        started = time.perf_counter()
        result = call()
        timings[label] = time.perf_counter() - started
        assert result
    print("listing 100,000 versions (ms):", {k: round(v * 1000, 1) for k, v in timings.items()})
    assert max(v for k, v in timings.items() if k != "count") < 0.1  # a page
    assert timings["count"] < 0.3  # the total, for the pager


def test_a_resumed_run_saves_a_score_once_whatever_work_it_measured(store: Store) -> None:
    """The fault suite found it: a resumed run measured 0 forward passes (its predictions came
    from the store) and saved its score a second time."""
    version = store.save_prompt_version("tiny.snarks.io.success.n2", content())
    run = store.start_run({"n": 1}, versions={}, device="cpu")
    predictions = [{"id": "a", "correct": True}]
    first = store.save_score(
        version.id,
        run_id=run.id,
        metric="accuracy",
        value=1.0,
        n=1,
        seconds=12.0,
        predictions=predictions,
        extra={"method": "io", "forward_passes": 17, "generated_tokens": 0},
    )
    again = store.save_score(
        version.id,
        run_id=run.id,
        metric="accuracy",
        value=1.0,
        n=1,
        seconds=0.1,
        predictions=predictions,
        extra={"method": "io", "forward_passes": 0, "generated_tokens": 0},
    )
    assert again.id == first.id and again.extra["forward_passes"] == 17
    assert len(store.scores_for_run(run.id)) == 1
