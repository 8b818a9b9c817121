"""Keyword versions export each shot's faithfulness (from their score); score identity ignores
it; other versions export unchanged."""

from __future__ import annotations

import json
from pathlib import Path

from store import export
from store.export import export_prompt, version_faithfulness
from store.facade import Store
from tests.store.store_helpers import content

FAITH = {
    "comprehensiveness": 0.25,
    "sufficiency": 0.05,
    "n": 2,
    "k": 2,
    "shots": [
        {"id": "s0", "comprehensiveness": 0.3, "sufficiency": 0.1, "k": 2, "unmatched": 0},
        {"id": "s1", "comprehensiveness": 0.2, "sufficiency": 0.0, "k": 2, "unmatched": 1},
    ],
}


def _saved(store: Store):
    run = store.start_run({"model": "m"}, versions={}, device="cpu")
    version = store.save_prompt_version("m.d.deeplift", content(2, method="deeplift"))
    score = store.save_score(
        version.id,
        run_id=run.id,
        metric="accuracy",
        value=0.5,
        n=2,
        ci95=(0.1, 0.9),
        extra={"method": "deeplift", "faithfulness": FAITH},
    )
    return run, version, score


def test_faithfulness_is_not_part_of_the_score_identity(store: Store) -> None:
    run, version, score = _saved(store)
    changed = {**FAITH, "comprehensiveness": 0.9}
    again = store.save_score(
        version.id,
        run_id=run.id,
        metric="accuracy",
        value=0.5,
        n=2,
        ci95=(0.1, 0.9),
        extra={"method": "deeplift", "faithfulness": changed},
    )
    assert again.id == score.id and again.extra["faithfulness"] == FAITH


def test_exports_carry_each_shots_faithfulness(store: Store, tmp_path: Path) -> None:
    _, version, _ = _saved(store)
    measured = version_faithfulness(store.scores_for(version.id))
    assert set(measured) == {"s0", "s1"}
    path = export_prompt(version, "jsonl", tmp_path / "shots.jsonl", faithfulness=measured)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows[0]["comprehensiveness"] == 0.3 and rows[0]["sufficiency"] == 0.1
    assert rows[1]["faithfulness_k"] == 2
    markdown = export.render(version, "markdown", measured)
    assert "comprehensiveness 0.300, sufficiency 0.100" in markdown
    import datasets

    table = datasets.load_from_disk(
        str(export_prompt(version, "hf-dataset", tmp_path / "ds", faithfulness=measured))
    )
    assert table[1]["comprehensiveness"] == 0.2 and table[1]["faithfulness_k"] == 2


def test_versions_without_faithfulness_export_as_before(store: Store) -> None:
    version = store.save_prompt_version("m.d.ph_cot", content(2))
    store.save_score(version.id, run_id=None, metric="accuracy", value=0.5, n=2, ci95=(0.1, 0.9))
    measured = version_faithfulness(store.scores_for(version.id))
    assert measured == {}
    rows = [json.loads(line) for line in export.render(version, "jsonl", measured).splitlines()]
    assert set(rows[0]) == {"id", "question", "choices", "answer", "rationale"}
