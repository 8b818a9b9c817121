"""Random search over shot sets (as DSPy's ``BootstrapFewShotWithRandomSearch`` does for its
demos), measured honestly: candidates are scored on a *dev* split carved from the selection pool,
never on the test items.

The pool is split once per seed: a seeded ``dev_size`` of it is the dev split, the rest is where
shots come from. Candidate k is the strategy's selection with seed ``seed + k * SEED_STRIDE``
(candidate 0 is exactly the shots of the run's own seed). Each candidate is scored as an ``io``
context (its shots with their answers) on the dev items, in the run's answer mode; the best dev
accuracy wins (ties: the earlier candidate). Every method of the run then uses the chosen shots.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import ConfigError
from core.evaluation import EvalSettings, build_context, evaluate
from core.progress import Progress
from core.samples import Sample
from core.selection import Candidate, select_shots
from core.workbench import Workbench

SEED_STRIDE = 7919  # a prime: candidate seeds never collide with the run seeds 0, 1, 2, ...


@dataclass(frozen=True)
class SearchResult:
    shots: list[Sample]
    candidates: list[Candidate]
    dev_ids: list[str]
    dev_accuracy: float
    tried: list[dict[str, Any]] = field(default_factory=list)  # per candidate: seed, shots, dev acc

    def to_dict(self) -> dict[str, Any]:
        return {
            "dev_items": len(self.dev_ids),
            "dev_accuracy": self.dev_accuracy,
            "tried": self.tried,
        }


def split_dev(pool: Sequence[Sample], *, size: int, seed: int) -> tuple[list[Sample], list[Sample]]:
    """(shot pool, dev items): a seeded ``size`` of the pool is held out for scoring candidates."""
    if size < 1 or size >= len(pool):
        raise ConfigError(
            f"--dev-size {size} must be at least 1 and leave shots to choose from the "
            f"{len(pool)} samples of the selection pool"
        )
    order = list(pool)
    random.Random(f"dev-{seed}").shuffle(order)
    dev = set(s.id for s in order[:size])
    return [s for s in pool if s.id not in dev], [s for s in pool if s.id in dev]


def search_shots(
    bench: Workbench,
    pool: Sequence[Sample],
    *,
    strategy: str,
    n: int,
    seed: int,
    candidates: int,
    dev_size: int,
    settings: EvalSettings,
    balance_labels: bool = False,
    cloze: Any = None,
) -> SearchResult:
    """The best of ``candidates`` shot sets by dev accuracy (see the module docstring)."""
    shot_pool, dev = split_dev(pool, size=dev_size, seed=seed)
    best: SearchResult | None = None
    tried: list[dict[str, Any]] = []
    for k in range(candidates):
        bench.check_cancelled()
        candidate_seed = seed + k * SEED_STRIDE
        shots, examined = select_shots(
            bench,
            shot_pool,
            strategy=strategy,
            n=n,
            seed=candidate_seed,
            balance_labels=balance_labels,
        )
        context = build_context("io", shots, {}, keywords=1, steps=1, cloze=cloze)
        score = evaluate(bench, context, dev, settings)
        tried.append(
            {"seed": candidate_seed, "shots": [s.id for s in shots], "dev_accuracy": score.accuracy}
        )
        bench.progress(Progress("search", k + 1, candidates, f"dev accuracy {score.accuracy:.3f}"))
        if best is None or score.accuracy > best.dev_accuracy:
            best = SearchResult(shots, examined, [s.id for s in dev], score.accuracy)
    assert best is not None
    return SearchResult(best.shots, best.candidates, best.dev_ids, best.dev_accuracy, tried)
