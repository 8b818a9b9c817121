"""Attribution on a tiny model: explained span only, determinism, batched = unbatched scoring."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.attribution import (
    build_target,
    coalition_scorer,
    deeplift,
    explain,
    kernelshap,
    leave_one_out,
    min_shap_samples,
    random_attribution,
)
from core.errors import ConfigError
from core.samples import Choice, Sample


@pytest.fixture
def sample() -> Sample:
    return Sample(
        "att-1",
        "Which metal does the magnet pull in the cold garden?",
        (Choice("A", "iron nails"), Choice("B", "wood"), Choice("C", "paper")),
        "A",
    )


@pytest.fixture
def target(tiny_lm, tiny_renderer, sample):
    return build_target(tiny_lm, tiny_renderer, sample)


def _label_log_prob(lm, ids: list[int], label_id: int) -> float:
    with torch.inference_mode():
        logits = lm.model(input_ids=torch.tensor([ids])).logits[0, -1].float()
    return float(torch.log_softmax(logits, dim=-1)[label_id])


def test_target_explains_question_and_choice_texts_only(target, tiny_renderer, sample) -> None:
    tokenizer = tiny_renderer.tokenizer
    assert target.label == "A"
    assert tokenizer.decode([target.label_id]) == "A"
    assert tokenizer.decode(target.prompt_ids).endswith("<|im_start|>assistant\nThe answer is (")
    assert [w.text for w in target.words] == sample.question.split() + [
        "iron",
        "nails",
        "wood",
        "paper",
    ]
    explained = "".join(
        tokenizer.decode([target.prompt_ids[i]]) for i in target.explained_positions
    )
    # (a token made only of the space before a word belongs to no word)
    assert explained.replace(" ", "") == "".join(w.text for w in target.words)
    positions = set(target.explained_positions)
    # nothing of the template, the instruction, the "Choices:" header or the labels is explained
    others = "".join(
        tokenizer.decode([t]) for i, t in enumerate(target.prompt_ids) if i not in positions
    )
    for piece in (
        "<|im_start|>",
        "Choose the right answer.",
        "Choices:",
        "(A)",
        "(B)",
        "(C)",
        "The answer is (",
    ):
        assert piece in others
    # the last question token is explained (no off-by-one)
    last_word = target.words[len(sample.question.split()) - 1]
    assert any(target.token_words[i] == last_word.index for i in target.explained_positions)


def test_deeplift_scores_explained_tokens_only(tiny_lm, target) -> None:
    result = deeplift(tiny_lm, target, k=3)
    assert result.method == "deeplift"
    assert len(result.tokens) == len(result.token_scores) == len(target.explained_positions)
    assert all(math.isfinite(s) for s in result.token_scores)
    assert any(abs(s) > 1e-6 for s in result.token_scores)
    assert result.token_words == [target.token_words[i] for i in target.explained_positions]
    assert len(result.word_scores) == len(target.words)
    # word scores are sums of their tokens' scores
    sums = [0.0] * len(target.words)
    for score, word in zip(result.token_scores, result.token_words, strict=True):
        sums[word] += score
    assert result.word_scores == pytest.approx(sums, abs=1e-6)
    assert len(result.top_words) == 3
    cleaned = [w.clean for w in target.words]
    assert all(word in cleaned for word in result.top_words)
    order = [cleaned.index(word) for word in result.top_words]
    assert order == sorted(order), "top words are listed in reading order"
    assert deeplift(tiny_lm, target, k=3).word_scores == pytest.approx(result.word_scores, abs=1e-6)


def test_deeplift_explains_the_label_logit(tiny_lm, tiny_renderer, sample) -> None:
    """Another gold label gives other scores (the explained output is the label's logit)."""
    a = deeplift(tiny_lm, build_target(tiny_lm, tiny_renderer, sample, label="A"), k=2)
    b = deeplift(tiny_lm, build_target(tiny_lm, tiny_renderer, sample, label="B"), k=2)
    assert a.label == "A" and b.label == "B"
    assert not np.allclose(a.word_scores, b.word_scores)


def test_batched_and_unbatched_coalition_scores_are_equal(tiny_lm, target) -> None:
    n = len(target.words)
    rng = np.random.default_rng(0)
    masks = np.vstack([np.ones(n), np.zeros(n), (rng.random((7, n)) > 0.5).astype(float)])
    tiny_lm.batch_size = 4
    batched = coalition_scorer(tiny_lm, target, batched=True)(masks)
    unbatched = coalition_scorer(tiny_lm, target, batched=False)(masks)
    assert tiny_lm.batch_size == 4, "the unbatched scorer restores the batch size"
    np.testing.assert_allclose(batched, unbatched, atol=1e-4)
    # and both equal a plain forward over the masked prompt
    for row in (0, 1, 4):
        ids = list(target.prompt_ids)
        for p in target.explained_positions:
            if masks[row][target.token_words[p]] < 0.5:
                ids[p] = tiny_lm.pad_id
        assert batched[row] == pytest.approx(
            _label_log_prob(tiny_lm, ids, target.label_id), abs=1e-4
        )
    assert batched[0] != pytest.approx(batched[1], abs=1e-3)


def test_kernelshap_is_deterministic_for_a_seed(tiny_lm, target) -> None:
    first = kernelshap(tiny_lm, target, k=2, samples=40, seed=3)
    again = kernelshap(tiny_lm, target, k=2, samples=40, seed=3)
    other = kernelshap(tiny_lm, target, k=2, samples=40, seed=4)
    assert first.word_scores == again.word_scores
    assert first.top_words == again.top_words
    assert first.word_scores != other.word_scores
    assert len(first.word_scores) == len(target.words)
    assert all(math.isfinite(s) for s in first.word_scores)
    assert first.params["samples"] == 40 and first.params["seed"] == 3
    # efficiency: the SHAP values add up to f(all words) - f(no words)
    f = coalition_scorer(tiny_lm, target)
    full, empty = f(np.ones((2, len(target.words))) * np.array([[1], [0]]))
    assert sum(first.word_scores) == pytest.approx(full - empty, abs=1e-3)


def test_kernelshap_refuses_too_few_samples_for_the_words(tiny_lm, target) -> None:
    """24 coalitions for 14 words made shap's regression singular: values of 6e17 that cancel
    to a sum of 0.0 (seen with seed 3). It is refused before any forward pass."""
    n = len(target.words)
    assert min_shap_samples(n) == 2 * n + 2
    with pytest.raises(ConfigError, match="at least"):
        kernelshap(tiny_lm, target, k=2, samples=2 * n + 1, seed=3)


def test_leave_one_out_signs(tiny_lm, target) -> None:
    result = leave_one_out(tiny_lm, target, k=2)
    f = coalition_scorer(tiny_lm, target, batched=False)
    n = len(target.words)
    full = f(np.ones((1, n)))[0]
    for w in (0, n // 2, n - 1):
        mask = np.ones((1, n))
        mask[0, w] = 0
        drop = full - f(mask)[0]
        assert result.word_scores[w] == pytest.approx(drop, abs=1e-4)
        # positive score: removing the word lowers the label's log-probability
        assert (result.word_scores[w] > 0) == (f(mask)[0] < full)


def test_random_attribution_is_deterministic_per_seed(target) -> None:
    a = random_attribution(target, k=3, seed=1)
    b = random_attribution(target, k=3, seed=1)
    c = random_attribution(target, k=3, seed=2)
    assert a.word_scores == b.word_scores and a.top_words == b.top_words
    assert a.word_scores != c.word_scores
    assert len(a.top_words) == 3


def test_explain_dispatch_and_unknown_method(tiny_lm, tiny_renderer, sample) -> None:
    result = explain(tiny_lm, tiny_renderer, sample, "random", k=2, seed=0)
    assert result.method == "random" and result.sample_id == "att-1"
    assert result.to_dict()["top_words"] == result.top_words
    with pytest.raises(ConfigError, match="unknown attribution method"):
        explain(tiny_lm, tiny_renderer, sample, "lime", k=2)
