"""Per-shot influence of a built context: leave-one-shot-out accuracy on the dev split.

For a method's n-shot context, each shot ``i`` is dropped in turn and the context without it (the
same method, the other shots in the same order) is scored on the dev items; the shot's influence is
``accuracy(full context) - accuracy(without i)``: positive, the shot helps; negative, it hurts.

The dev items are the dev split that ``--search`` scores its candidates on
(:func:`core.shot_search.split_dev` with ``--dev-size`` and the run's seed), less the context's own
shots and any test item: test items are never used to judge a shot. The outcomes with and without
a shot are paired by dev item, so each shot also gets the counts of its discordant items (right
only with the shot, right only without it), the exact McNemar p-value on them, and an item
bootstrap interval of the difference: the UI says whether an influence is distinguishable from
noise. Every context goes through the cached :func:`core.evaluation.evaluate`, so the full
context's dev predictions are computed once (with ``--search`` they are the winning candidate's).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from core.cloze import ClozeFormat
from core.config import RunConfig
from core.errors import ConfigError
from core.evaluation import EvalSettings, MethodScore, build_context, evaluate
from core.progress import Progress, no_events
from core.samples import Dataset, Sample
from core.shot_search import split_dev
from core.stats import mcnemar_exact
from core.workbench import Workbench

SIGNIFICANCE = 0.05  # below this McNemar p-value an influence is told apart from noise
BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class ShotInfluence:
    """One shot's leave-one-out figures on the dev items (``n`` of them)."""

    sample_id: str
    position: int  # the shot's place in the context (0: first)
    accuracy_full: float
    accuracy_without: float
    influence: float  # accuracy_full - accuracy_without
    n: int
    helps: int  # dev items right with the full context and wrong without this shot
    hurts: int  # dev items wrong with the full context and right without this shot
    p_value: float  # exact McNemar on the helps/hurts pairs
    ci95: tuple[float, float]  # item bootstrap of the per-item difference

    @property
    def distinguishable(self) -> bool:
        return self.p_value < SIGNIFICANCE

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.sample_id,
            "position": self.position,
            "accuracy_full": self.accuracy_full,
            "accuracy_without": self.accuracy_without,
            "influence": self.influence,
            "n": self.n,
            "helps": self.helps,
            "hurts": self.hurts,
            "p_value": self.p_value,
            "ci95": list(self.ci95),
        }


@dataclass(frozen=True)
class InfluenceResult:
    method: str
    dev_ids: list[str]
    accuracy: float  # the full context's dev accuracy
    shots: list[ShotInfluence] = field(default_factory=list)

    def to_list(self) -> list[dict[str, Any]]:
        return [shot.to_dict() for shot in self.shots]


def influence_dev_items(
    pool: Sequence[Sample], *, dev_size: int, seed: int, exclude: Iterable[str] = ()
) -> list[Sample]:
    """The dev split of the pool that ``--search`` uses, less the ids in ``exclude`` (the
    context's shots and the test items)."""
    _, dev = split_dev(pool, size=dev_size, seed=seed)
    skip = set(exclude)
    return [sample for sample in dev if sample.id not in skip]


def shot_influence(
    bench: Workbench,
    method: str,
    shots: Sequence[Sample],
    rationales: Mapping[str, str],
    dev_items: Sequence[Sample],
    settings: EvalSettings,
    *,
    keywords: int,
    steps: int,
    cloze: ClozeFormat | None = None,
) -> InfluenceResult:
    """Leave-one-shot-out dev accuracy of ``method``'s context of ``shots`` (module docstring)."""
    if not shots:
        raise ConfigError(f"influence needs shots; the {method} context has none")
    if not dev_items:
        raise ConfigError("influence needs dev items; raise --dev-size")
    shot_ids = {shot.id for shot in shots}
    if any(item.id in shot_ids for item in dev_items):
        raise ConfigError("a dev item used for influence is one of the context's shots")
    stage = f"influence:{method}"
    total = (len(shots) + 1) * len(dev_items)

    def score(index: int, context_shots: Sequence[Sample]) -> MethodScore:
        bench.check_cancelled()

        def report(inner: Progress) -> None:
            done = index * len(dev_items) + inner.done
            bench.progress(Progress(stage, done, total, f"without shot {index}" if index else ""))

        # quiet: the test evaluation's stage and live output are not this one's
        quiet = replace(bench, progress=report, events=no_events)
        context = build_context(
            method, context_shots, rationales, keywords=keywords, steps=steps, cloze=cloze
        )
        return evaluate(quiet, context, dev_items, settings)

    full = score(0, shots)
    full_correct = [p.correct for p in full.predictions]
    result: list[ShotInfluence] = []
    for position, shot in enumerate(shots):
        rest = [other for other in shots if other.id != shot.id]
        without = score(position + 1, rest)
        without_correct = [p.correct for p in without.predictions]
        test = mcnemar_exact(full_correct, without_correct)
        result.append(
            ShotInfluence(
                sample_id=shot.id,
                position=position,
                accuracy_full=full.accuracy,
                accuracy_without=without.accuracy,
                influence=round(full.accuracy - without.accuracy, 4),
                n=len(dev_items),
                helps=int(test["only_a"]),
                hurts=int(test["only_b"]),
                p_value=float(test["p_value"]),
                ci95=_difference_interval(full_correct, without_correct),
            )
        )
    bench.progress(Progress(stage, total, total, f"dev accuracy {full.accuracy:.3f}"))
    return InfluenceResult(method, [item.id for item in dev_items], full.accuracy, result)


def _difference_interval(a: Sequence[bool], b: Sequence[bool]) -> tuple[float, float]:
    from core.grid_stats import bootstrap_mean_ci

    differences = [float(x) - float(y) for x, y in zip(a, b, strict=True)]
    if not any(differences):
        return (0.0, 0.0)
    import numpy as np

    low, high = bootstrap_mean_ci(np.asarray(differences), resamples=BOOTSTRAP_RESAMPLES, seed=0)
    return (round(low, 4), round(high, 4))


def method_influence(
    bench: Workbench,
    config: RunConfig,
    dataset: Dataset,
    method: str,
    shots: Sequence[Sample],
    rationales: Mapping[str, str],
    test: Sequence[Sample],
    settings: EvalSettings,
    cloze: ClozeFormat | None,
) -> list[dict[str, Any]] | None:
    """The pipeline's step: ``method``'s per-shot influence when ``config.influence`` is set and
    the context has shots (None otherwise), announced as an ``influence`` event."""
    if not config.influence or not shots or method == "zero_shot":
        return None
    exclude = {shot.id for shot in shots} | {item.id for item in test}
    dev = influence_dev_items(
        dataset.pool, dev_size=config.dev_size, seed=config.seed, exclude=exclude
    )
    result = shot_influence(
        bench,
        method,
        shots,
        rationales,
        dev,
        settings,
        keywords=config.keywords,
        steps=config.steps,
        cloze=cloze,
    )
    shots_out = result.to_list()
    bench.events(
        "influence",
        {"method": method, "dev_items": len(dev), "accuracy": result.accuracy, "shots": shots_out},
    )
    return shots_out
