"""Step 1 of Self-AMPLIFY: pick n shots the model answers correctly (success) or wrongly (error),
or at random. Predictions are the argmax over the valid labels' tokens (deterministic)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from core.cache import SELECTION, content_hash
from core.errors import ConfigError
from core.progress import Progress
from core.prompts import PromptRenderer, format_question
from core.samples import Sample, sample_key
from core.templates import ANSWER_OPENING, INSTRUCTION_PLAIN
from core.token_ids import best_label, label_continuations
from core.workbench import Workbench

STRATEGIES = ("success", "error", "random")


@dataclass(frozen=True)
class Candidate:
    sample_id: str
    prediction: str
    gold: str
    probabilities: dict[str, float]  # over the valid labels only
    margin: float  # p(prediction) - p(runner-up)

    @property
    def correct(self) -> bool:
        return self.prediction == self.gold

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def zero_shot_prompt(renderer: PromptRenderer, sample: Sample) -> tuple[list[int], list[int]]:
    messages = renderer.messages(
        INSTRUCTION_PLAIN, [{"role": "user", "content": format_question(sample)}], ANSWER_OPENING
    )
    text = renderer.render_text(messages)
    return label_continuations(renderer.encode, text, sample.labels)


def candidate_from_scores(sample: Sample, log_probs: Sequence[float]) -> Candidate:
    top = max(log_probs)
    weights = [math.exp(v - top) for v in log_probs]
    total = sum(weights)
    probs = {label: w / total for label, w in zip(sample.labels, weights, strict=True)}
    ranked = sorted(probs.values(), reverse=True)
    return Candidate(
        sample_id=sample.id,
        prediction=best_label(sample.labels, log_probs),
        gold=sample.answer,
        probabilities={k: round(v, 6) for k, v in probs.items()},
        margin=round(ranked[0] - (ranked[1] if len(ranked) > 1 else 0.0), 6),
    )


def select_shots(
    bench: Workbench,
    pool: Sequence[Sample],
    *,
    strategy: str,
    n: int,
    seed: int,
    balance_labels: bool = False,
) -> tuple[list[Sample], list[Candidate]]:
    """Walk the pool in a seeded order, scoring in batches, until n shots fit the strategy.
    Raises ConfigError when the pool runs out first (never loops forever).

    With ``balance_labels``, no gold label takes more than its share (n divided by the number of
    gold labels in the pool, rounded up) while other fitting samples remain: if the strategy
    cannot be balanced (a small model right only on its favourite letter), the shortfall is
    filled in the same seeded order, so the run still gets n shots."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if n > len(pool):
        raise ConfigError(f"--shots {n} is more than the {len(pool)} samples of the selection pool")
    order = list(pool)
    random.Random(seed).shuffle(order)
    share = math.ceil(n / max(1, len({s.answer for s in pool}))) if balance_labels else n
    chosen: list[Sample] = []
    held_back: list[Sample] = []  # fitting samples over their label's share
    examined: list[Candidate] = []
    step = max(bench.lm.batch_size, n)
    for start in range(0, len(order), step):
        bench.check_cancelled()
        batch = order[start : start + step]
        for sample, candidate in zip(batch, score_candidates(bench, batch), strict=True):
            examined.append(candidate)
            keep = strategy == "random" or (
                candidate.correct if strategy == "success" else not candidate.correct
            )
            if not keep or len(chosen) >= n:
                continue
            if sum(1 for c in chosen if c.answer == sample.answer) < share:
                chosen.append(sample)
            else:
                held_back.append(sample)
        detail = f"{len(examined)} of {len(order)} pool samples scored"
        bench.progress(Progress("select", len(chosen), n, detail))
        if len(chosen) >= n:
            return chosen, examined
    if len(chosen) + len(held_back) >= n:  # balance could not be kept: fill in seeded order
        return chosen + held_back[: n - len(chosen)], examined
    raise ConfigError(
        f"the pool has only {len(chosen) + len(held_back)} sample(s) matching the {strategy!r} strategy "
        f"out of {len(order)}; ask for fewer shots or use another strategy"
    )


def score_candidates(bench: Workbench, samples: Sequence[Sample]) -> list[Candidate]:
    """Each sample's zero-shot label distribution under ``bench``'s model (stored ones reused)."""
    keys = [
        content_hash({"kind": SELECTION, "model": bench.model_key, "sample": sample_key(s), "v": 1})
        for s in samples
    ]
    found: dict[int, Candidate] = {}
    for i, key in enumerate(keys):
        hit = bench.cache.get(SELECTION, key)
        if hit is not None:
            found[i] = Candidate(**hit)
    todo = [i for i in range(len(samples)) if i not in found]
    if todo:
        prompts = [zero_shot_prompt(bench.renderer, samples[i]) for i in todo]
        scores = bench.lm.label_log_probs(
            [p for p, _ in prompts], [ids for _, ids in prompts], cancel=bench.cancel
        )
        for i, log_probs in zip(todo, scores, strict=True):
            candidate = candidate_from_scores(samples[i], log_probs)
            bench.cache.put(SELECTION, keys[i], candidate.to_dict(), run_id=bench.run_id)
            found[i] = candidate
    return [found[i] for i in range(len(samples))]
