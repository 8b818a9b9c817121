"""Faithfulness on a tiny model: values equal plain forwards, k bookkeeping, keyword matching,
the stored result is reused, and the cost stays within 2K + 1 rows."""

from __future__ import annotations

import math

import pytest
import torch

from core.attribution_target import build_target
from core.cache import FAITHFULNESS, MemoryCache
from core.faithfulness import (
    Faithfulness,
    keyword_positions,
    measure,
    method_faithfulness,
    ranked_keywords,
    shot_faithfulness,
)
from core.rationales import Rationale, RationaleSettings
from core.samples import Choice, Sample
from core.workbench import Workbench

KEYWORDS = ["magnet", "iron", "garden"]


@pytest.fixture
def sample() -> Sample:
    return Sample(
        "faith-1",
        "Which metal does the magnet pull in the cold garden near the magnet?",
        (Choice("A", "iron nails"), Choice("B", "wood"), Choice("C", "paper")),
        "A",
    )


@pytest.fixture
def target(tiny_lm, tiny_renderer, sample):
    return build_target(tiny_lm, tiny_renderer, sample)


def _prob(lm, target, removed: set[int], *, keep_only: bool = False) -> float:
    """p(label) of the prompt with the given words' tokens replaced by pad (or all others)."""
    ids = list(target.prompt_ids)
    for position in target.explained_positions:
        word = target.token_words[position]
        if (word in removed) != keep_only:
            ids[position] = lm.pad_id
    with torch.inference_mode():
        logits = lm.model(input_ids=torch.tensor([ids])).logits[0, -1].float()
    return float(torch.softmax(logits, dim=-1)[target.label_id])


def _bench(lm, renderer, cache=None, events=None) -> Workbench:
    extra = {"events": events} if events is not None else {}
    return Workbench(
        lm=lm,
        renderer=renderer,
        model_key="tiny",
        cache=cache if cache is not None else MemoryCache(),
        **extra,
    )


def test_values_equal_plain_forwards(tiny_lm, target) -> None:
    result = measure(tiny_lm, target, KEYWORDS)
    positions = keyword_positions(target.words, KEYWORDS)
    full = _prob(tiny_lm, target, set())
    assert result.p_full == pytest.approx(full, abs=1e-5)
    chosen: set[int] = set()
    for k, indices in enumerate(positions, start=1):
        chosen |= set(indices)
        comp = full - _prob(tiny_lm, target, chosen)
        suff = full - _prob(tiny_lm, target, chosen, keep_only=True)
        assert result.comprehensiveness[k - 1] == pytest.approx(comp, abs=1e-5)
        assert result.sufficiency[k - 1] == pytest.approx(suff, abs=1e-5)
    assert result.comprehensiveness_aopc == pytest.approx(
        sum(result.comprehensiveness) / len(KEYWORDS)
    )
    assert result.sufficiency_aopc == pytest.approx(sum(result.sufficiency) / len(KEYWORDS))


def test_k_bookkeeping_and_cost(tiny_lm, target) -> None:
    result = measure(tiny_lm, target, KEYWORDS)
    assert result.k == 3
    assert len(result.comprehensiveness) == len(result.sufficiency) == 3
    assert result.keywords == tuple(KEYWORDS)
    assert 1 <= result.rows <= 2 * result.k + 1
    assert 1 <= result.forward_passes <= 2 * result.k + 1
    assert all(math.isfinite(v) for v in result.comprehensiveness + result.sufficiency)
    # one keyword: k=1 figures equal the first entry of the longer list
    first = measure(tiny_lm, target, KEYWORDS[:1])
    assert first.comprehensiveness[0] == pytest.approx(result.comprehensiveness[0], abs=1e-6)
    assert first.sufficiency[0] == pytest.approx(result.sufficiency[0], abs=1e-6)
    again = Faithfulness.from_dict(result.to_dict())
    assert again == result


def test_keywords_match_every_occurrence_and_unmatched_are_counted(tiny_lm, target) -> None:
    positions = keyword_positions(target.words, ["Magnet", "zebra", "garden"])
    magnets = [w.index for w in target.words if w.clean.lower() == "magnet"]
    assert len(magnets) == 2 and positions[0] == magnets
    assert positions[1] == []
    assert len(positions[2]) == 1
    result = measure(tiny_lm, target, ["magnet", "zebra"])
    assert result.unmatched == 1
    # an unmatched keyword removes nothing more: k=2 equals k=1
    assert result.comprehensiveness[1] == pytest.approx(result.comprehensiveness[0], abs=1e-7)
    assert result.sufficiency[1] == pytest.approx(result.sufficiency[0], abs=1e-7)
    nothing = measure(tiny_lm, target, ["zebra"])
    assert nothing.comprehensiveness[0] == pytest.approx(0.0, abs=1e-6)


def test_attribution_keywords_are_ranked_by_score() -> None:
    rationale = Rationale(
        "deeplift",
        "s",
        "A",
        "text",
        keywords=["cold", "magnet", "iron"],  # reading order
        attribution={
            "words": ["the", "magnet", "cold", "iron,", "magnet"],
            "word_scores": [5.0, 0.1, 0.5, 2.0, 0.9],
        },
    )
    assert ranked_keywords(rationale) == ["iron", "magnet", "cold"]
    generated = Rationale("self_topk", "s", "A", "t", keywords=["cold", "iron"])
    assert ranked_keywords(generated) == ["cold", "iron"]


def test_stored_result_is_reused_without_a_forward(
    tiny_lm, tiny_renderer, sample, monkeypatch
) -> None:
    cache = MemoryCache()
    events: list[tuple[str, dict]] = []
    bench = _bench(tiny_lm, tiny_renderer, cache, lambda kind, data: events.append((kind, data)))
    rationale = Rationale("self_topk", sample.id, "A", "t", keywords=["iron", "garden", "xyz"])
    settings = RationaleSettings(keywords=3)
    first = shot_faithfulness(bench, sample, rationale, settings)
    assert first is not None and first.unmatched == 1 and first.method == "self_topk"
    assert len(cache) == 1 and next(iter(cache._items))[0] == FAITHFULNESS
    calls = {"n": 0}
    forward = tiny_lm.model.forward

    def counting(*args, **kwargs):
        calls["n"] += 1
        return forward(*args, **kwargs)

    monkeypatch.setattr(tiny_lm.model, "forward", counting)
    passes = tiny_lm.forward_passes
    second = shot_faithfulness(bench, sample, rationale, settings)
    assert calls["n"] == 0 and tiny_lm.forward_passes == passes
    assert second is not None
    assert second.comprehensiveness == first.comprehensiveness
    assert second.forward_passes == 0
    kinds = [kind for kind, _ in events]
    assert kinds == ["faithfulness", "faithfulness"]
    assert events[0][1]["stage"] == "rationales:self_topk"
    assert events[0][1]["comprehensiveness"] == pytest.approx(first.comprehensiveness_aopc)


def test_method_summary_and_no_keywords(tiny_lm, tiny_renderer, sample) -> None:
    bench = _bench(tiny_lm, tiny_renderer)
    settings = RationaleSettings(keywords=2)
    empty = Rationale("self_topk", sample.id, "A", "t", keywords=[])
    assert method_faithfulness(bench, [sample], [empty], settings) is None
    rationale = Rationale("self_topk", sample.id, "A", "t", keywords=["iron", "magnet"])
    summary = method_faithfulness(bench, [sample], [rationale], settings)
    assert summary is not None
    assert summary["n"] == 1 and summary["k"] == 2
    assert summary["shots"][0]["id"] == sample.id
    assert summary["comprehensiveness"] == pytest.approx(summary["shots"][0]["comprehensiveness"])


def test_every_span_is_measured_over_the_question_and_all_choices(
    tiny_lm, tiny_renderer, sample
) -> None:
    """A rationale chosen from the question alone and one chosen from question+gold are measured
    over the same words, so "only the keywords kept" removes the choices for both."""
    everything = build_target(tiny_lm, tiny_renderer, sample, span="question+choices")
    direct = measure(tiny_lm, everything, ["iron", "magnet"])
    for span in ("question", "question+gold"):
        bench = _bench(tiny_lm, tiny_renderer)
        rationale = Rationale("self_topk", sample.id, "A", "t", keywords=["iron", "magnet"])
        result = shot_faithfulness(
            bench, sample, rationale, RationaleSettings(keywords=2, span=span)
        )
        assert result is not None and result.span == span
        # "iron" is a word of choice A only: it matches because the choices are measured too
        assert result.unmatched == 0
        assert result.sufficiency == pytest.approx(direct.sufficiency, abs=1e-6)
        assert result.comprehensiveness == pytest.approx(direct.comprehensiveness, abs=1e-6)
