"""Balanced shots and random search over shot sets, scored on a dev split of the pool only."""

from __future__ import annotations

import math

import pytest

from core import shot_search
from core.cache import MemoryCache
from core.config import RunConfig
from core.errors import ConfigError
from core.evaluation import EvalSettings
from core.pipeline import run_protocol
from core.run_inputs import load_run_dataset
from core.selection import select_shots
from core.shot_search import SEED_STRIDE, search_shots, split_dev
from core.workbench import Workbench
from tests import tiny


def _bench(tiny_lm, tiny_renderer) -> Workbench:
    return Workbench(lm=tiny_lm, renderer=tiny_renderer, model_key="m", cache=MemoryCache())


def test_balanced_shots_spread_over_the_gold_labels(tiny_lm, tiny_renderer) -> None:
    pool = tiny.samples(40, seed=61)
    labels = {s.answer for s in pool}
    bench = _bench(tiny_lm, tiny_renderer)
    for seed in range(4):
        shots, _ = select_shots(
            bench, pool, strategy="random", n=len(labels), seed=seed, balance_labels=True
        )
        assert sorted(s.answer for s in shots) == sorted(labels)
    plain, _ = select_shots(bench, pool, strategy="random", n=8, seed=0)
    balanced, _ = select_shots(bench, pool, strategy="random", n=8, seed=0, balance_labels=True)
    share = math.ceil(8 / len(labels))
    assert max(sum(s.answer == a for s in balanced) for a in labels) <= share
    assert [s.id for s in plain][:1] == [s.id for s in balanced][:1]  # the same seeded order


def test_balance_is_filled_when_the_strategy_cannot_keep_it(tiny_lm, tiny_renderer) -> None:
    one_label = [s for s in tiny.samples(60, seed=62) if s.answer == "A"][:6]
    others = [s for s in tiny.samples(60, seed=63) if s.answer != "A"][:2]
    shots, _ = select_shots(
        _bench(tiny_lm, tiny_renderer),
        one_label + others,
        strategy="random",
        n=6,
        seed=1,
        balance_labels=True,
    )
    assert len(shots) == 6  # as many A's as needed once the other labels ran out


def test_dev_split_is_part_of_the_pool_and_apart_from_the_shots() -> None:
    pool = tiny.samples(30, seed=64)
    shot_pool, dev = split_dev(pool, size=10, seed=2)
    assert len(dev) == 10 and len(shot_pool) == 20
    assert {s.id for s in dev} | {s.id for s in shot_pool} == {s.id for s in pool}
    assert not {s.id for s in dev} & {s.id for s in shot_pool}
    assert split_dev(pool, size=10, seed=2) == (shot_pool, dev)  # seeded
    with pytest.raises(ConfigError, match="--dev-size 30"):
        split_dev(pool, size=30, seed=2)


def test_search_keeps_the_best_candidate_on_dev(tiny_lm, tiny_renderer) -> None:
    pool = tiny.samples(40, seed=65)
    bench = _bench(tiny_lm, tiny_renderer)
    result = search_shots(
        bench,
        pool,
        strategy="random",
        n=2,
        seed=3,
        candidates=4,
        dev_size=12,
        settings=EvalSettings(),
    )
    assert [t["seed"] for t in result.tried] == [3 + k * SEED_STRIDE for k in range(4)]
    best = max(t["dev_accuracy"] for t in result.tried)
    first_best = next(t for t in result.tried if t["dev_accuracy"] == best)
    assert result.dev_accuracy == best and [s.id for s in result.shots] == first_best["shots"]
    shot_pool, dev = split_dev(pool, size=12, seed=3)
    own, _ = select_shots(bench, shot_pool, strategy="random", n=2, seed=3)
    assert result.tried[0]["shots"] == [s.id for s in own]  # candidate 0: the run's own seed
    assert not {s.id for s in result.shots} & set(result.dev_ids)


def test_the_search_never_sees_a_test_item(
    tiny_model_dir, tiny_dataset_dir, tiny_loaded, monkeypatch
) -> None:
    seen: list[str] = []
    real_evaluate = shot_search.evaluate

    def recording(bench, context, items, settings):
        seen.extend(item.id for item in items)
        return real_evaluate(bench, context, items, settings)

    monkeypatch.setattr(shot_search, "evaluate", recording)
    config = RunConfig(
        model=str(tiny_model_dir),
        dataset=str(tiny_dataset_dir),
        methods=("zero_shot", "io"),
        strategy="random",
        shots=2,
        test_limit=4,
        search=3,
        dev_size=8,
        batch_size=4,
        device="cpu",
        answer_mode="cloze",
    )
    dataset = load_run_dataset(config)
    result = run_protocol(config, dataset, tiny_loaded, cache=MemoryCache())
    pool_ids = {s.id for s in dataset.pool}
    test_ids = {s.id for s in dataset.test}
    assert seen and set(seen) <= pool_ids and not set(seen) & test_ids
    io = next(m for m in result.methods if m.method == "io")
    assert io.dev_accuracy is not None and io.context["config"]["search"]["dev_items"] == 8
    assert len(io.context["config"]["search"]["tried"]) == 3
    assert not {s.id for s in result.shots} & set(seen)
