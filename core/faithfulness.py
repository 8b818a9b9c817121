"""Faithfulness of keyword rationales (ERASER, DeYoung et al. 2020), measured on the model that
reads the rationale.

For one shot, the explained output is the gold label's probability (softmax over the whole
vocabulary) at the last position of the zero-shot prompt pre-filled with "The answer is ("
(:func:`core.attribution_target.build_target`). With the keywords in rank order and k = 1..K:

- comprehensiveness_k = p(y|x) - p(y|x with the top-k keywords' words removed);
- sufficiency_k = p(y|x) - p(y|x with only the top-k keywords' words kept);
- AOPC: the mean of each over k = 1..K.

A word is removed by replacing its tokens with the pad token, as KernelSHAP's coalitions are, and
the 2K+1 prompts are scored as one batch through the prefix tree (the shared prefix runs once).
Whatever span a rationale's keywords were chosen from (core/spans.py), they are measured over the
same words: the question and every choice (``MEASURED_SPAN``, all the model reads of the item).
"Only the keywords kept" then means the same thing for every span, so the figures of rationales
made from different spans, and of different runs, compare.
A keyword stands for every such word whose cleaned, lower-cased text equals it; a generated
keyword (self_topk) that matches no explained word removes or keeps nothing (``unmatched``).
Higher comprehensiveness and lower sufficiency mean a more faithful rationale; a random rationale
of the same size is the floor. AMPLIFY's keywords come from a proxy model but are measured here on
the target model, since the target is the model that reads them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from core.attribution import ATTRIBUTION_METHODS
from core.attribution_target import AttributionTarget, build_target, coalition_scorer
from core.cache import FAITHFULNESS, content_hash
from core.lm import LanguageModel
from core.progress import CancelToken
from core.rationales import KEYWORD_METHODS, Rationale, RationaleSettings
from core.samples import Sample, sample_key
from core.words import Word, word_key
from core.workbench import Workbench

FAITHFULNESS_VERSION = 2  # 2: measured over MEASURED_SPAN whatever the rationale's span
FAITHFULNESS_METHODS = (*KEYWORD_METHODS, "amplify")  # the methods whose rationales are keywords
MEASURED_SPAN = "question+choices"  # the words removed or kept, for every rationale span
DEFAULT_SPAN = MEASURED_SPAN


@dataclass(frozen=True)
class Faithfulness:
    """One shot's comprehensiveness and sufficiency for k = 1..K, and their AOPC."""

    sample_id: str
    method: str
    keywords: tuple[str, ...]  # rank order: k = 1 is the first
    span: str  # the span the keywords were chosen from (they are measured over MEASURED_SPAN)
    p_full: float
    comprehensiveness: tuple[float, ...]
    sufficiency: tuple[float, ...]
    unmatched: int  # keywords that match no explained word
    rows: int  # distinct prompts scored (at most 2K + 1)
    forward_passes: int  # what it took (0 when read back from the store)
    seconds: float = 0.0

    @property
    def k(self) -> int:
        return len(self.keywords)

    @property
    def comprehensiveness_aopc(self) -> float:
        return _mean(self.comprehensiveness)

    @property
    def sufficiency_aopc(self) -> float:
        return _mean(self.sufficiency)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sample_id": self.sample_id,
            "method": self.method,
            "keywords": list(self.keywords),
            "span": self.span,
            "k": self.k,
            "p_full": self.p_full,
            "comprehensiveness": list(self.comprehensiveness),
            "sufficiency": list(self.sufficiency),
            "comprehensiveness_aopc": self.comprehensiveness_aopc,
            "sufficiency_aopc": self.sufficiency_aopc,
            "unmatched": self.unmatched,
            "rows": self.rows,
            "forward_passes": self.forward_passes,
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Faithfulness:
        return cls(
            sample_id=str(data["sample_id"]),
            method=str(data.get("method", "")),
            keywords=tuple(str(w) for w in data["keywords"]),
            span=str(data.get("span", DEFAULT_SPAN)),
            p_full=float(data["p_full"]),
            comprehensiveness=tuple(float(v) for v in data["comprehensiveness"]),
            sufficiency=tuple(float(v) for v in data["sufficiency"]),
            unmatched=int(data.get("unmatched", 0)),
            rows=int(data.get("rows", 0)),
            forward_passes=int(data.get("forward_passes", 0)),
            seconds=float(data.get("seconds", 0.0)),
        )


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0


def keyword_positions(words: Sequence[Word], keywords: Sequence[str]) -> list[list[int]]:
    """For each keyword, the indices of every explained word it stands for (maybe none)."""
    keys = [word_key(kw) for kw in keywords]
    return [[w.index for w in words if w.key == key] for key in keys]


def ranked_keywords(rationale: Rationale) -> list[str]:
    """The rationale's keywords in rank order: by attribution score (best occurrence, ties in
    reading order) for the attribution methods, as given for self_topk and amplify."""
    keywords = [kw for kw in rationale.keywords if kw]
    stored = rationale.attribution
    if rationale.method not in ATTRIBUTION_METHODS or not stored:
        return keywords
    best: dict[str, tuple[float, int]] = {}
    for index, (text, score) in enumerate(
        zip(stored.get("words", []), stored.get("word_scores", []), strict=False)
    ):
        key = word_key(str(text))
        if key not in best or float(score) > best[key][0]:
            best[key] = (float(score), index)
    fallback = (-math.inf, 1 << 30)
    return sorted(
        keywords,
        key=lambda kw: (-best.get(word_key(kw), fallback)[0], best.get(word_key(kw), fallback)[1]),
    )


def faithfulness_masks(n_words: int, positions: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """The full prompt, then for k = 1..K the prompt without the top-k keywords' words, then for
    k = 1..K the prompt with only them (1 = word kept)."""
    full = np.ones(n_words)
    removed, kept = [], []
    chosen: set[int] = set()
    for indices in positions:
        chosen.update(indices)
        without = np.ones(n_words)
        only = np.zeros(n_words)
        for i in chosen:
            without[i], only[i] = 0.0, 1.0
        removed.append(without)
        kept.append(only)
    return [full, *removed, *kept]


def measure(
    lm: LanguageModel,
    target: AttributionTarget,
    keywords: Sequence[str],
    *,
    span: str = DEFAULT_SPAN,
    cancel: CancelToken | None = None,
) -> Faithfulness:
    """Comprehensiveness and sufficiency of ``keywords`` (rank order) for one target."""
    started = time.perf_counter()
    passes_before = lm.forward_passes
    positions = keyword_positions(target.words, keywords)
    masks = faithfulness_masks(len(target.words), positions)
    distinct: dict[bytes, int] = {}
    for mask in masks:
        distinct.setdefault(mask.astype(np.uint8).tobytes(), len(distinct))
    unique = np.zeros((len(distinct), len(target.words)))
    for mask in masks:
        unique[distinct[mask.astype(np.uint8).tobytes()]] = mask
    log_probs = coalition_scorer(lm, target, cancel=cancel)(unique)
    probs = [math.exp(float(log_probs[distinct[m.astype(np.uint8).tobytes()]])) for m in masks]
    k = len(keywords)
    p_full = probs[0]
    return Faithfulness(
        sample_id=target.sample_id,
        method="",
        keywords=tuple(keywords),
        span=span,
        p_full=p_full,
        comprehensiveness=tuple(p_full - p for p in probs[1 : 1 + k]),
        sufficiency=tuple(p_full - p for p in probs[1 + k :]),
        unmatched=sum(1 for indices in positions if not indices),
        rows=len(distinct),
        forward_passes=lm.forward_passes - passes_before,
        seconds=round(time.perf_counter() - started, 4),
    )


def faithfulness_key(
    bench: Workbench, shot: Sample, method: str, keywords: Sequence[str], span: str
) -> str:
    return content_hash(
        {
            "kind": FAITHFULNESS,
            "v": FAITHFULNESS_VERSION,
            "model": bench.model_key,
            "sample": sample_key(shot),
            "method": method,
            "keywords": list(keywords),
            "span": span,
            "measured_span": MEASURED_SPAN,
            "k": len(keywords),
        }
    )


def shot_faithfulness(
    bench: Workbench, shot: Sample, rationale: Rationale, settings: RationaleSettings
) -> Faithfulness | None:
    """The stored faithfulness of one shot's keyword rationale on ``bench``'s model (computed
    once), emitted as a ``faithfulness`` event; None when the rationale has no keywords."""
    keywords = ranked_keywords(rationale)
    if not keywords:
        return None
    span = settings.span
    key = faithfulness_key(bench, shot, rationale.method, keywords, span)
    stored = bench.cache.get(FAITHFULNESS, key)
    if stored is not None:
        result = replace(Faithfulness.from_dict(stored), forward_passes=0)
    else:
        target = build_target(bench.lm, bench.renderer, shot, span=MEASURED_SPAN)
        result = replace(
            measure(bench.lm, target, keywords, span=span, cancel=bench.cancel),
            method=rationale.method,
        )
        bench.cache.put(
            FAITHFULNESS, key, {"model": bench.model_key, **result.to_dict()}, run_id=bench.run_id
        )
    bench.events(
        "faithfulness",
        {
            "stage": f"rationales:{rationale.method}",
            "sample_id": shot.id,
            "method": rationale.method,
            "comprehensiveness": result.comprehensiveness_aopc,
            "sufficiency": result.sufficiency_aopc,
            "k": result.k,
            "unmatched": result.unmatched,
        },
    )
    return result


def method_faithfulness(
    bench: Workbench,
    shots: Sequence[Sample],
    rationales: Sequence[Rationale],
    settings: RationaleSettings,
) -> dict[str, Any] | None:
    """Each shot's faithfulness and the method's means (None when no rationale has keywords)."""
    by_id = {r.sample_id: r for r in rationales}
    results: list[Faithfulness] = []
    for shot in shots:
        rationale = by_id.get(shot.id)
        if rationale is None:
            continue
        bench.check_cancelled()
        measured = shot_faithfulness(bench, shot, rationale, settings)
        if measured is not None:
            results.append(measured)
    return summarize(results)


def summarize(results: Sequence[Faithfulness]) -> dict[str, Any] | None:
    """Mean comprehensiveness and sufficiency AOPC over shots, and each shot's figures."""
    if not results:
        return None
    return {
        "comprehensiveness": _mean([r.comprehensiveness_aopc for r in results]),
        "sufficiency": _mean([r.sufficiency_aopc for r in results]),
        "n": len(results),
        "k": max(r.k for r in results),
        "span": results[0].span,
        "unmatched": sum(r.unmatched for r in results),
        "forward_passes": sum(r.forward_passes for r in results),
        "shots": [
            {
                "id": r.sample_id,
                "comprehensiveness": r.comprehensiveness_aopc,
                "sufficiency": r.sufficiency_aopc,
                "k": r.k,
                "unmatched": r.unmatched,
                "p_full": r.p_full,
            }
            for r in results
        ],
    }
