"""Attribution on a tiny model: explained span only, determinism, batched = unbatched scoring."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.attribution import (
    deeplift,
    explain,
    kernelshap,
    leave_one_out,
    min_shap_samples,
    random_attribution,
)
from core.attribution_target import build_target, coalition_scorer
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
    # (a token made only of the space before a word, or of punctuation, belongs to no word)
    assert explained.replace(" ", "") == "".join(w.clean for w in target.words)
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


@pytest.mark.parametrize(
    ("span", "choice_words"),
    [
        ("question", []),
        ("question+gold", ["iron", "nails"]),
        ("question+choices", ["iron", "nails", "wood", "paper"]),
    ],
)
def test_the_span_picks_the_explained_words(
    tiny_lm, tiny_renderer, sample, span, choice_words
) -> None:
    target = build_target(tiny_lm, tiny_renderer, sample, span=span)
    assert [w.text for w in target.words] == sample.question.split() + choice_words
    # the prompt itself is the same whatever is explained
    assert target.prompt_ids == build_target(tiny_lm, tiny_renderer, sample).prompt_ids


# ---------------------------------------------------------------------- adaptive KernelSHAP
def _words(n: int) -> list:
    from core.words import split_words

    text = " ".join(f"word{i}" for i in range(n))
    return split_words(text, [(0, len(text))])


def _noise(masks: np.ndarray) -> np.ndarray:
    """A structureless f: a fixed pseudo-random value per coalition."""
    import zlib

    return np.array([zlib.crc32(np.asarray(m, dtype=np.int8).tobytes()) / 2**32 for m in masks])


def test_own_kernel_regression_equals_shap_on_the_same_coalitions(tiny_lm, target) -> None:
    import shap

    from core.kernel_shap import CoalitionCache, kernel_regression, shap_design

    n = len(target.words)
    f = CoalitionCache(coalition_scorer(tiny_lm, target))  # both sides see the same f values
    np.random.seed(11)
    explainer = shap.KernelExplainer(f, np.zeros((1, n)))
    values = explainer.shap_values(np.ones((1, n)), nsamples=60, l1_reg=False, silent=True)
    expected = np.asarray(values).reshape(-1)[:n]
    masks, weights = shap_design(n, 60, 11)
    np.testing.assert_array_equal(masks, explainer.maskMatrix[: explainer.nsamplesAdded])
    empty, full = f(np.vstack([np.zeros(n), np.ones(n)]))
    ours = kernel_regression(masks, weights, f(masks), empty, full)
    np.testing.assert_allclose(ours, expected, atol=1e-6)
    assert ours.sum() == pytest.approx(full - empty, abs=1e-9)


def test_adaptive_stops_early_when_the_top_words_are_clear() -> None:
    from core.kernel_shap import adaptive_kernel_shap

    words = _words(20)
    beta = np.linspace(3.0, -1.0, 20)
    scored: list[int] = []

    def f(masks: np.ndarray) -> np.ndarray:
        scored.append(len(masks))
        return masks @ beta

    result = adaptive_kernel_shap(f, words, k=4, samples=350, seed=0)
    assert result.stable and len(result.rounds) == 1
    assert result.samples_used == result.rounds[0]["samples"] < result.samples_max <= 350
    assert sum(scored) == result.samples_used + 2, "each coalition scored once (+ all, none)"
    np.testing.assert_allclose(result.values, beta, atol=1e-8)  # additive f: exact


@pytest.mark.parametrize("samples", [42, 60, 150])
def test_adaptive_never_exceeds_the_bound(samples: int) -> None:
    from core.kernel_shap import adaptive_kernel_shap, kernel_regression, shap_design

    words = _words(20)
    scored: list[np.ndarray] = []

    def f(masks: np.ndarray) -> np.ndarray:
        scored.append(np.asarray(masks))
        return _noise(masks)

    result = adaptive_kernel_shap(f, words, k=4, samples=samples, seed=1, threshold=1.01)
    assert not result.stable and result.samples_used == result.samples_max <= samples
    all_rows = np.concatenate(scored)
    assert len(all_rows) == samples + 2 and len(np.unique(all_rows, axis=0)) == len(all_rows)
    sizes = [r["samples"] for r in result.rounds]
    assert sizes == sorted(sizes) and sizes[-1] == samples
    # at the bound: the regression of the whole design, i.e. the fixed path's
    masks, weights = shap_design(20, samples, 1)
    empty, full = _noise(np.vstack([np.zeros(20), np.ones(20)]))
    expected = kernel_regression(masks, weights, _noise(masks), empty, full)
    np.testing.assert_allclose(result.values, expected, atol=1e-9)


def test_adaptive_at_the_bound_agrees_with_the_fixed_path(tiny_lm, target) -> None:
    from core.attribution import _sample_seed
    from core.kernel_shap import adaptive_kernel_shap, top_set

    fixed = kernelshap(tiny_lm, target, k=2, samples=60, seed=5, adaptive=False)
    result = adaptive_kernel_shap(
        coalition_scorer(tiny_lm, target),
        target.words,
        k=2,
        samples=60,
        seed=_sample_seed(5, target.sample_id),
        threshold=1.01,
    )
    assert result.samples_used == result.samples_max == 60
    np.testing.assert_allclose(result.values, fixed.word_scores, atol=1e-4)
    assert top_set(target.words, result.values, 2) == set(fixed.top_words)


def test_adaptive_kernelshap_records_its_samples_and_is_deterministic(tiny_lm, target) -> None:
    first = kernelshap(tiny_lm, target, k=2, samples=200, seed=3)
    again = kernelshap(tiny_lm, target, k=2, samples=200, seed=3)
    assert first.word_scores == again.word_scores and first.params == again.params
    params = first.params
    assert params["adaptive"] is True and params["samples"] == 200
    assert params["samples_used"] <= params["samples_max"] <= 200
    assert params["rounds"][-1]["samples"] == params["samples_used"]
    assert params["stable"] == (params["rounds"][-1]["agreement"] >= 0.95)
    fixed = kernelshap(tiny_lm, target, k=2, samples=200, seed=3, adaptive=False)
    assert "adaptive" not in fixed.params
    f = coalition_scorer(tiny_lm, target)
    full, empty = f(np.ones((2, len(target.words))) * np.array([[1], [0]]))
    assert sum(first.word_scores) == pytest.approx(full - empty, abs=1e-3)


def test_adaptive_kernelshap_refuses_an_ill_conditioned_regression(
    tiny_lm, target, monkeypatch
) -> None:
    import core.kernel_shap
    from core.kernel_shap import AdaptiveShap

    n = len(target.words)
    broken = AdaptiveShap([float("nan")] * n, 0.0, -1.0, 40, 40, False)
    monkeypatch.setattr(core.kernel_shap, "adaptive_kernel_shap", lambda *a, **k: broken)
    with pytest.raises(ConfigError, match="ill-conditioned"):
        kernelshap(tiny_lm, target, k=2, samples=40, seed=0)


def test_the_fixed_path_is_a_setting_with_its_own_cache_key(sample) -> None:
    import argparse
    from types import SimpleNamespace

    from core.rationales import RationaleSettings, _rationale_key
    from sa_tui.commands.run_args import add_run_settings, settings_from_args

    parser = argparse.ArgumentParser()
    add_run_settings(parser)
    assert settings_from_args(parser.parse_args([]))["shap_adaptive"] is True
    assert settings_from_args(parser.parse_args(["--shap-fixed"]))["shap_adaptive"] is False
    bench = SimpleNamespace(model_key="m", versions={"shap": "x"})
    adaptive, fixed = RationaleSettings(), RationaleSettings(shap_adaptive=False)
    assert _rationale_key("kernelshap", sample, adaptive, bench) != _rationale_key(
        "kernelshap", sample, fixed, bench
    )
    assert _rationale_key("deeplift", sample, adaptive, bench) == _rationale_key(
        "deeplift", sample, fixed, bench
    )
