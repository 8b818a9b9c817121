"""The AMPLIFY baseline (Krishna et al., NeurIPS 2023): shots chosen and explained by a *proxy*
model, used in the target model's context.

1. Candidates: a seeded sample of ``CANDIDATES_PER_SHOT * n`` pool questions (AMPLIFY's
   validation set; the seed changes it, as it changes the Self-AMPLIFY shots).
2. Keep those the *target* answers wrongly (zero-shot, argmax over the labels).
3. Rank them by the proxy's misclassification confidence: the proxy's highest probability on a
   wrong label minus its probability on the gold label; keep the top n (ties: seeded order).
4. Explain each with the proxy's attribution (DeepLift) of the gold label; its top-k words give
   "The key words "w1", ... and "wk" are important clues to predict that the answer is (y)".

Selection scores and attributions are stored under each model's own key, so they are reused.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from core import templates
from core.errors import ConfigError
from core.progress import Progress
from core.rationales import Rationale, RationaleSettings, check_keywords, shot_attribution
from core.samples import Sample
from core.selection import Candidate, score_candidates
from core.workbench import Workbench

CANDIDATES_PER_SHOT = 10
PROXY_ATTRIBUTION = "deeplift"


@dataclass(frozen=True)
class AmplifyShot:
    sample: Sample
    target: Candidate  # the target model's (wrong) zero-shot answer
    proxy: Candidate  # the proxy's label distribution
    confidence: float  # the proxy's misclassification confidence


def misclassification_confidence(candidate: Candidate) -> float:
    """The proxy's best wrong-label probability minus its gold-label probability."""
    gold = candidate.probabilities[candidate.gold]
    wrong = max(p for label, p in candidate.probabilities.items() if label != candidate.gold)
    return wrong - gold


def select_amplify_shots(
    target: Workbench, proxy: Workbench, pool: Sequence[Sample], *, n: int, seed: int
) -> list[AmplifyShot]:
    """The n candidates the target gets wrong on which the proxy is most confidently wrong."""
    order = list(pool)
    random.Random(seed).shuffle(order)
    candidates = order[: min(len(order), CANDIDATES_PER_SHOT * n)]
    target.progress(Progress("amplify:select", 0, 2, "target model on the candidates"))
    target_views = score_candidates(target, candidates)
    wrong = [(s, c) for s, c in zip(candidates, target_views, strict=True) if not c.correct]
    if len(wrong) < n:
        raise ConfigError(
            f"AMPLIFY needs {n} questions the target model answers wrongly, but only "
            f"{len(wrong)} of {len(candidates)} candidates are; ask for fewer shots"
        )
    target.progress(Progress("amplify:select", 1, 2, "proxy model on the misclassified"))
    proxy_views = score_candidates(proxy, [s for s, _ in wrong])
    ranked = sorted(
        (
            AmplifyShot(sample, own, theirs, misclassification_confidence(theirs))
            for (sample, own), theirs in zip(wrong, proxy_views, strict=True)
        ),
        key=lambda shot: -shot.confidence,  # stable: ties keep the seeded order
    )
    target.progress(Progress("amplify:select", 2, 2, f"{n} of {len(wrong)} misclassified"))
    return ranked[:n]


def amplify_rationales(
    proxy: Workbench, shots: Sequence[Sample], settings: RationaleSettings
) -> list[Rationale]:
    """Each shot's rationale from the proxy's attribution of its gold label."""
    check_keywords(shots, settings.keywords, settings.span)
    rationales = []
    for done, shot in enumerate(shots, start=1):
        proxy.check_cancelled()
        stored = shot_attribution(
            proxy, shot, PROXY_ATTRIBUTION, settings, stage="rationales:amplify"
        )
        keywords = list(stored["top_words"])
        rationales.append(
            Rationale(
                method="amplify",
                sample_id=shot.id,
                answer=shot.answer,
                text=templates.amplify_rationale(keywords, shot.answer),
                keywords=keywords,
                attribution=stored,
                seconds=float(stored.get("seconds", 0.0)),
            )
        )
        proxy.progress(Progress("rationales:amplify", done, len(shots), shot.id))
    return rationales
