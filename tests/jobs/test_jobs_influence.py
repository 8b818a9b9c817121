"""`sa-tui run --influence` end to end on a tiny model: the JSON, the printed table, the stored
score's extra, and the Run screen's data read back from the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sa_tui.cli import main


def test_run_with_influence_stores_and_shows_each_shots_influence(
    tiny_model_dir: Path, tiny_dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.json"
    args = [
        "run",
        "--model",
        str(tiny_model_dir),
        "--dataset",
        str(tiny_dataset_dir),
        "--method",
        "zero_shot,io,random",
        "--strategy",
        "random",
        "--shots",
        "2",
        "--keywords",
        "2",
        "--test-limit",
        "3",
        "--eval-tokens",
        "3",
        "--answer-mode",
        "label",
        "--batch-size",
        "4",
        "--device",
        "cpu",
        "--influence",
        "--dev-size",
        "8",
        "--json",
        str(out),
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "per-shot influence on the dev split" in printed
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert payload["config"]["influence"] is True
    results = {r["method"]: r for r in payload["results"]}
    assert results["zero_shot"]["influence"] is None
    shots = payload["selection"]["shots"]
    for method in ("io", "random"):
        assert [s["id"] for s in results[method]["influence"]] == shots

    from sa_tui.store_source import StoreSource
    from store.facade import Store

    run_id = payload["run_id"]
    store = Store.open()
    extras = {s.extra["method"]: s.extra for s in store.scores_for_run(run_id)}
    assert "influence" not in extras["zero_shot"]  # absent, not None: other scores keep their hash
    assert extras["io"]["influence"] == results["io"]["influence"]
    detail = StoreSource().run_detail(run_id)
    by_method = {m.prompt.method: m for m in detail.methods}
    assert by_method["io"].influence == results["io"]["influence"]
    assert by_method["zero_shot"].influence == []
    random_shots = [s for s in detail.shots if s.method == "random"]
    assert [s.influence for s in random_shots] == results["random"]["influence"]
