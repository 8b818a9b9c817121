"""Target selection: strategies, determinism, a bounded walk over the pool, cache reuse."""

from __future__ import annotations

import random
from typing import Any

import pytest

from core.cache import SELECTION, MemoryCache
from core.errors import ConfigError
from core.selection import candidate_from_scores, select_shots
from core.workbench import Workbench
from tests import tiny


class CountingCache(MemoryCache):
    """A MemoryCache that counts hits, misses and stores."""

    def __init__(self) -> None:
        super().__init__()
        self.hits = self.misses = self.puts = 0

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        value = super().get(kind, key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def put(self, kind: str, key: str, value: dict[str, Any], *, run_id: str | None = None) -> None:
        self.puts += 1
        super().put(kind, key, value, run_id=run_id)


@pytest.fixture
def pool():
    return tiny.samples(20, seed=11, prefix="pool")


def _select(lm, renderer, pool, strategy: str, n: int, seed: int = 0, cache=None):
    bench = Workbench(
        lm=lm,
        renderer=renderer,
        model_key="tiny",
        cache=cache if cache is not None else MemoryCache(),
    )
    return select_shots(bench, pool, strategy=strategy, n=n, seed=seed)


def _all_candidates(lm, renderer, pool):
    """Every pool sample's zero-shot candidate (random strategy with n = pool size)."""
    _, candidates = _select(lm, renderer, pool, "random", len(pool))
    return {c.sample_id: c for c in candidates}


def test_strategies_pick_matching_samples_in_seeded_order(tiny_lm, tiny_renderer, pool) -> None:
    candidates = _all_candidates(tiny_lm, tiny_renderer, pool)
    correct = [sid for sid, c in candidates.items() if c.correct]
    wrong = [sid for sid, c in candidates.items() if not c.correct]
    assert len(correct) >= 2 and len(wrong) >= 2, (
        "the tiny model should get some right and some wrong"
    )
    order = [s.id for s in pool]
    random.Random(7).shuffle(order)
    for strategy, keep in (
        ("success", set(correct)),
        ("error", set(wrong)),
        ("random", set(order)),
    ):
        shots, examined = _select(tiny_lm, tiny_renderer, pool, strategy, 2, seed=7)
        ids = [s.id for s in shots]
        assert ids == [sid for sid in order if sid in keep][:2], strategy
        assert [c.sample_id for c in examined] == order[: len(examined)]
        again, _ = _select(tiny_lm, tiny_renderer, pool, strategy, 2, seed=7)
        assert [s.id for s in again] == ids
        for sid in ids:
            assert candidates[sid].correct == (strategy == "success") or strategy == "random"


def test_candidates_record_prediction_probabilities_and_margin(
    tiny_lm, tiny_renderer, pool
) -> None:
    candidates = _all_candidates(tiny_lm, tiny_renderer, pool)
    for candidate in candidates.values():
        probs = candidate.probabilities
        assert set(probs) == {"A", "B", "C", "D"}
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)
        assert candidate.prediction == max(probs, key=probs.get)
        ranked = sorted(probs.values(), reverse=True)
        assert candidate.margin == pytest.approx(ranked[0] - ranked[1], abs=1e-5)
    assert len({c.prediction for c in candidates.values()}) >= 1


def test_candidate_from_scores_by_hand() -> None:
    sample = tiny.samples(1)[0]
    candidate = candidate_from_scores(sample, [-1.0, -1.0, -3.0, -2.0])
    assert candidate.prediction == "A", "ties go to the first label"
    assert candidate.margin == 0.0
    assert candidate.probabilities["A"] == pytest.approx(candidate.probabilities["B"])


def test_pool_exhaustion_raises_instead_of_looping(tiny_lm, tiny_renderer, pool) -> None:
    candidates = _all_candidates(tiny_lm, tiny_renderer, pool)
    correct = sum(c.correct for c in candidates.values())
    with pytest.raises(ConfigError, match=f"only {correct} sample"):
        _select(tiny_lm, tiny_renderer, pool, "success", correct + 1)
    with pytest.raises(ConfigError, match="more than the 20 samples"):
        _select(tiny_lm, tiny_renderer, pool, "random", 21)
    with pytest.raises(ConfigError, match="unknown strategy"):
        _select(tiny_lm, tiny_renderer, pool, "best", 1)


def test_cache_hits_avoid_recomputation(tiny_lm, tiny_renderer, pool, monkeypatch) -> None:
    cache = CountingCache()
    calls: list[int] = []
    original = tiny_lm.label_log_probs

    def counting(suffixes, *args, **kwargs):
        calls.append(len(suffixes))
        return original(suffixes, *args, **kwargs)

    monkeypatch.setattr(tiny_lm, "label_log_probs", counting)
    first, examined = _select(tiny_lm, tiny_renderer, pool, "random", 3, cache=cache)
    assert sum(calls) == len(examined) and cache.puts == len(examined)
    assert len(cache) == len(examined)
    calls.clear()
    second, examined_again = _select(tiny_lm, tiny_renderer, pool, "random", 3, cache=cache)
    assert calls == [] and cache.puts == len(examined)
    assert [s.id for s in second] == [s.id for s in first]
    assert examined_again == examined
    # an edited sample is a different key: it is scored again
    edited = [
        pool[0].__class__(
            pool[0].id, pool[0].question + " Really?", pool[0].choices, pool[0].answer
        ),
        *pool[1:],
    ]
    _select(tiny_lm, tiny_renderer, edited, "random", len(edited), cache=cache)
    assert sum(calls) == len(pool) - len(examined) + (
        1 if pool[0].id in {c.sample_id for c in examined} else 0
    )
    assert all(kind == SELECTION for kind, _ in cache._items)
