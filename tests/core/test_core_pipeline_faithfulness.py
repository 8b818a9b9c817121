"""Faithfulness in a run: present for keyword methods, absent for io; stored once, reused."""

from __future__ import annotations

import json

from core import pipeline
from core.cache import FAITHFULNESS, MemoryCache
from core.config import RunConfig
from core.run_inputs import load_run_dataset


def _config(model_dir, dataset_dir) -> RunConfig:
    return RunConfig(
        model=str(model_dir),
        dataset=str(dataset_dir),
        methods=("io", "leave_one_out"),
        strategy="random",
        shots=2,
        keywords=2,
        test_limit=2,
        eval_tokens=4,
        batch_size=4,
        device="cpu",
    )


def test_faithfulness_is_in_the_run_json_for_keyword_methods_only(
    tiny_model_dir, tiny_dataset_dir, tiny_loaded
) -> None:
    config = _config(tiny_model_dir, tiny_dataset_dir)
    cache = MemoryCache()
    events: list[tuple[str, dict]] = []
    result = pipeline.run_protocol(
        config,
        load_run_dataset(config),
        tiny_loaded,
        cache=cache,
        events=lambda kind, data: events.append((kind, data)),
    )
    rows = {row["method"]: row for row in json.loads(json.dumps(result.to_json()))["results"]}
    assert rows["io"]["faithfulness"] is None
    faith = rows["leave_one_out"]["faithfulness"]
    assert faith is not None and faith["n"] == 2 and faith["k"] == 2
    assert [s["id"] for s in faith["shots"]] == [s.id for s in result.shots]
    assert isinstance(faith["comprehensiveness"], float)
    assert isinstance(faith["sufficiency"], float)
    stored = [key for kind, key in cache._items if kind == FAITHFULNESS]
    assert len(stored) == 2
    sent = [data for kind, data in events if kind == "faithfulness"]
    assert {d["sample_id"] for d in sent} == {s.id for s in result.shots}
    assert all(d["stage"] == "rationales:leave_one_out" for d in sent)
    # a re-run reads them back: the same figures, no new records
    again = pipeline.run_protocol(config, load_run_dataset(config), tiny_loaded, cache=cache)
    assert again.methods[1].faithfulness is not None
    assert again.methods[1].faithfulness["shots"] == faith["shots"]
    assert again.methods[1].faithfulness["forward_passes"] == 0
    assert len([k for k, _ in cache._items if k == FAITHFULNESS]) == 2


def test_the_headless_run_prints_a_faithfulness_table() -> None:
    from rich.console import Console

    from jobs.headless import faithfulness_table

    faith = {"comprehensiveness": 0.21, "sufficiency": 0.05, "k": 4, "n": 2, "unmatched": 1}
    payload = {"results": [{"method": "io"}, {"method": "deeplift", "faithfulness": faith}]}
    table = faithfulness_table(payload)
    assert table is not None
    console = Console(width=100, record=True)
    console.print(table)
    text = console.export_text()
    assert "deeplift" in text and "0.210" in text and "0.050" in text and "io" not in text
    assert faithfulness_table({"results": [{"method": "io"}]}) is None
