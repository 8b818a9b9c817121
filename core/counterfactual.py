"""Counterfactual rationales: the rationale method built on the counterfactual search
(core/counterfactual_search.py).

A shot's explained words are ranked by its DeepLift attribution of the gold label (the stored one,
shared with the deeplift method); the search, within ``edit_bound(k)`` words, looks for the
smallest verified edit that makes the model choose another answer. The rationale's text states
that edit; when none is found it falls back to the DeepLift keyword rationale, and the search's
outcome (``found: false`` then) goes into the rationale's record. ``summarize`` condenses the
records of a run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from core import templates
from core.counterfactual_search import Counterfactual, find_counterfactual
from core.rationales import Rationale, RationaleSettings, shot_attribution
from core.samples import Sample
from core.workbench import Workbench

VERSION = 1  # part of the rationale's cache key: bump when the search or the template changes
MAX_EDIT_WORDS = 5  # the bound never exceeds this many words, whatever k is


def edit_bound(k: int) -> int:
    """The most words an edit may change: k, at most ``MAX_EDIT_WORDS``."""
    return max(0, min(k, MAX_EDIT_WORDS))


def rationale_text(found: Counterfactual, fallback_keywords: Sequence[str]) -> str:
    """The demo's text: the counterfactual, or the keyword rationale when none was found."""
    if found.found and found.new_label is not None:
        return templates.counterfactual_rationale(
            found.words, found.answer, found.new_label, found.replacement
        )
    return templates.keyword_rationale(fallback_keywords, found.answer)


def summarize(records: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    """Share of shots with a verified counterfactual, mean words changed (over those found),
    removal / replacement shares and mean seconds per shot."""
    known = [r for r in records if r is not None]
    found = [r for r in known if r.get("found")]
    kinds = [r.get("kind") for r in found]
    return {
        "shots": len(known),
        "found": len(found),
        "success_rate": round(len(found) / len(known), 4) if known else None,
        "mean_words_changed": (
            round(sum(int(r.get("words_changed", 0)) for r in found) / len(found), 4)
            if found
            else None
        ),
        "removal_share": round(kinds.count("removal") / len(found), 4) if found else None,
        "replacement_share": round(kinds.count("replacement") / len(found), 4) if found else None,
        "mean_seconds": (
            round(sum(float(r.get("seconds", 0.0)) for r in known) / len(known), 4)
            if known
            else None
        ),
    }


def counterfactual_rationale(
    bench: Workbench, shot: Sample, settings: RationaleSettings, *, bound: int | None = None
) -> Rationale:
    """The counterfactual rationale of one shot (its DeepLift attribution is the stored one,
    shared with the deeplift method); the search's outcome goes into the record and an event."""
    started = time.perf_counter()
    stage = "rationales:counterfactual"
    stored = shot_attribution(bench, shot, "deeplift", settings, stage=stage)
    limit = edit_bound(settings.keywords) if bound is None else bound
    outcome = find_counterfactual(
        bench.lm,
        bench.renderer,
        shot,
        stored["word_scores"],
        bound=limit,
        span=settings.span,
        cancel=bench.cancel,
    )
    fallback = list(stored["top_words"])
    seconds = round(time.perf_counter() - started + float(stored.get("seconds", 0.0)), 4)
    record = {**outcome.to_dict(), "seconds": seconds}
    bench.events("counterfactual", {"stage": stage, "sample_id": shot.id, **record})
    return Rationale(
        method="counterfactual",
        sample_id=shot.id,
        answer=shot.answer,
        text=rationale_text(outcome, fallback),
        keywords=list(outcome.words) if outcome.found else fallback,
        attribution=stored,
        seconds=seconds,
        counterfactual=record,
    )
