"""Cloze scoring against a direct log-likelihood computation (one full forward per choice)."""

from __future__ import annotations

import pytest
import torch

from core.cloze import ChoiceScore, choice_continuations, choice_log_likelihoods
from core.errors import ConfigError
from core.lm import LanguageModel
from core.prompts import format_question
from core.token_ids import shared_prefix


def _direct(lm: LanguageModel, prompt: list[int], continuation: list[int]) -> float:
    """Sum of log p(continuation token | everything before it), from one uncached forward."""
    ids = torch.tensor([prompt + continuation])
    with torch.inference_mode():
        logits = lm.model(input_ids=ids, use_cache=False).logits[0].float()
    log_probs = torch.log_softmax(lm._apply_softcap(logits), dim=-1)
    start = len(prompt)
    return float(sum(log_probs[start - 1 + t, token] for t, token in enumerate(continuation)))


def _items(lm: LanguageModel, renderer, samples) -> tuple[list[list[int]], list[list[list[int]]]]:
    prompts, choices = [], []
    for sample in samples:
        text = renderer.render_text(
            renderer.messages(
                "Choose the right answer.",
                [{"role": "user", "content": format_question(sample)}],
                "The answer is",
            )
        )
        # one-word choices and longer ones of different lengths, as real datasets have
        texts = [
            f" {c.text}" if j % 2 else f" {c.text}, since {sample.question.lower()[: 8 * j + 5]}"
            for j, c in enumerate(sample.choices)
        ]
        ids, continuations = choice_continuations(renderer.encode, text, texts)
        prompts.append(ids)
        choices.append(continuations)
    return prompts, choices


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_cached_batched_cloze_equals_direct_log_likelihoods(
    tiny_lm, tiny_renderer, mc_samples, batch_size
) -> None:
    tiny_lm.batch_size = batch_size
    prompts, choices = _items(tiny_lm, tiny_renderer, mc_samples[:6])
    prefix = shared_prefix(prompts)
    assert len(prefix) > 5  # the chat template and instruction are shared
    got = choice_log_likelihoods(
        tiny_lm, [p[len(prefix) :] for p in prompts], choices, prefix=prefix
    )
    assert any(len(c) > 1 for item in choices for c in item), "multi-token choices are covered"
    for prompt, item_choices, values in zip(prompts, choices, got, strict=True):
        expected = [_direct(tiny_lm, prompt, c) for c in item_choices]
        assert values == pytest.approx(expected, abs=2e-4)


def test_cloze_on_gpt2_and_items_with_different_choice_counts(gpt2_loaded, mc_samples) -> None:
    from core.prompts import PromptRenderer

    lm = LanguageModel(gpt2_loaded.model, gpt2_loaded.tokenizer, batch_size=8)
    renderer = PromptRenderer(gpt2_loaded.tokenizer)
    prompts, choices = _items(lm, renderer, mc_samples[:4])
    choices[1] = choices[1][:2]  # an item with two choices beside items with four
    got = choice_log_likelihoods(lm, prompts, choices)
    assert [len(v) for v in got] == [len(c) for c in choices]
    for prompt, item_choices, values in zip(prompts, choices, got, strict=True):
        assert values == pytest.approx([_direct(lm, prompt, c) for c in item_choices], abs=2e-4)


def test_continuations_are_cut_where_every_choice_agrees() -> None:
    # a toy tokenizer that merges "s " into one token: the prompt's last token depends on the choice
    vocabulary: dict[str, int] = {}

    def encode(text: str) -> list[int]:
        pieces, i = [], 0
        while i < len(text):
            piece = text[i : i + 2] if text[i : i + 2] == "s " else text[i]
            pieces.append(vocabulary.setdefault(piece, len(vocabulary)))
            i += len(piece)
        return pieces

    prompt, continuations = choice_continuations(encode, "is", [" ab", "c"])
    assert prompt == encode("i")
    assert continuations == [encode("is ab")[1:], encode("isc")[1:]]
    with pytest.raises(ConfigError, match="adds no token"):
        choice_continuations(encode, "is", ["", "x"])


def test_normalisations() -> None:
    score = ChoiceScore(log_likelihood=-6.0, tokens=3, bytes=12)
    assert score.normalised("none") == -6.0
    assert score.normalised("tokens") == -2.0
    assert score.normalised("bytes") == -0.5
    with pytest.raises(ConfigError):
        score.normalised("chars")


# ---------------------------------------------------------------- cloze as an answer mode
def _bench(lm, renderer, cache=None):
    from core.cache import MemoryCache
    from core.workbench import Workbench

    return Workbench(
        lm=lm,
        renderer=renderer,
        model_key="tiny",
        cache=cache if cache is not None else MemoryCache(),
    )


@pytest.mark.parametrize("list_choices", [True, False])
@pytest.mark.parametrize("normalisation", ["bytes", "tokens", "none"])
def test_io_in_cloze_mode_predicts_the_best_normalised_choice(
    tiny_lm, tiny_renderer, list_choices, normalisation
) -> None:
    from core.cloze import ClozeFormat, continuation_text
    from core.evaluation import EvalSettings, build_context, evaluate
    from tests import tiny

    shots = tiny.samples(2, seed=41)
    items = tiny.samples(5, seed=42, prefix="t")
    fmt = ClozeFormat(list_choices, normalisation)
    context = build_context("io", shots, {}, keywords=2, steps=1, cloze=fmt)
    assert context.prefill == "The answer is"
    for shot, turn in zip(shots, context.demos[1::2], strict=True):
        assert turn["content"] == f"The answer is {shot.answer_text}"
    for turn in context.demos[0::2]:
        assert ("Choices:" in turn["content"]) is list_choices
    score = evaluate(
        _bench(tiny_lm, tiny_renderer), context, items, EvalSettings("cloze", cloze=fmt)
    )
    for item, prediction in zip(items, score.predictions, strict=True):
        prompt = tiny_renderer.render_text(context.messages_for(tiny_renderer, item))
        assert prompt.endswith("The answer is")
        texts = [continuation_text(item, j) for j in range(len(item.choices))]
        ids, continuations = choice_continuations(tiny_renderer.encode, prompt, texts)
        sums = [_direct(tiny_lm, ids, c) for c in continuations]
        expected = [
            ChoiceScore(s, len(c), len(t.encode())).normalised(normalisation)
            for s, c, t in zip(sums, continuations, texts, strict=True)
        ]
        assert prediction.choice_scores == pytest.approx(expected, abs=1e-4)
        best = max(range(len(expected)), key=lambda j: (expected[j], -j))
        assert prediction.pred == item.labels[best] and not prediction.parse_failure
        assert prediction.correct == (prediction.pred == item.answer)


def test_rationale_methods_in_cloze_mode_score_after_the_generated_answer_phrase(
    tiny_lm, tiny_renderer, monkeypatch
) -> None:
    from core import templates
    from core.cloze import DEFAULT_CLOZE
    from core.evaluation import EvalSettings, build_context, evaluate
    from core.lm import Generation
    from tests import tiny

    shots = tiny.samples(2, seed=43)
    items = tiny.samples(3, seed=44, prefix="t")
    rationales = {s.id: templates.ph_cot_rationale("Iron is magnetic", 2, s.answer) for s in shots}
    context = build_context("ph_cot", shots, rationales, keywords=2, steps=2, cloze=DEFAULT_CLOZE)
    for shot, turn in zip(shots, context.demos[1::2], strict=True):
        assert turn["content"].endswith(f"therefore the answer is {shot.answer_text}")
        assert turn["content"].startswith(context.prefill)
    outputs = iter([" Iron sticks, therefore the answer is", " no idea", " so the answer is (B)"])
    stops = []

    def fake_generate(prompts, *, prefix=(), max_new_tokens, stop_rule, cancel=None, **_):
        stops.append(stop_rule)
        return [Generation(next(outputs), (), "rule") for _ in prompts]

    monkeypatch.setattr(tiny_lm, "generate", fake_generate)
    tiny_lm.batch_size = 1
    score = evaluate(
        _bench(tiny_lm, tiny_renderer), context, items, EvalSettings("cloze", cloze=DEFAULT_CLOZE)
    )
    assert stops[0]("therefore the answer is") and not stops[0]("the answer")
    first, second, third = score.predictions
    assert first.choice_scores is not None and len(first.choice_scores) == len(items[0].choices)
    assert first.output.startswith(" Iron sticks, therefore the answer is ")
    assert not first.parse_failure and first.pred in items[0].labels
    # never reached the phrase: it is appended, scored, and the item counts as unparsed
    assert second.parse_failure and second.pred in items[1].labels
    assert second.output.startswith(" no idea Therefore, the answer is ")
    assert second.choice_scores is not None
    assert third.pred == "B" and third.choice_scores is None  # a label it wrote itself is read


def test_cloze_predictions_are_cached_apart_from_other_modes(tiny_lm, tiny_renderer) -> None:
    from core.cache import PREDICTION, MemoryCache
    from core.cloze import ClozeFormat
    from core.evaluation import EvalSettings, build_context, evaluate
    from tests import tiny

    shots, items = tiny.samples(2, seed=45), tiny.samples(3, seed=46, prefix="t")
    cache = MemoryCache()
    bench = _bench(tiny_lm, tiny_renderer, cache)
    for fmt in (ClozeFormat(True, "bytes"), ClozeFormat(True, "tokens")):
        context = build_context("zero_shot", shots, {}, keywords=2, steps=1, cloze=fmt)
        evaluate(bench, context, items, EvalSettings("cloze", cloze=fmt))
    evaluate(
        bench, build_context("zero_shot", shots, {}, keywords=2, steps=1), items, EvalSettings()
    )
    assert sum(1 for kind, _ in cache._items if kind == PREDICTION) == 9
    again = evaluate(
        bench,
        build_context(
            "zero_shot", shots, {}, keywords=2, steps=1, cloze=ClozeFormat(True, "tokens")
        ),
        items,
        EvalSettings("cloze", cloze=ClozeFormat(True, "tokens")),
    )
    assert sum(1 for kind, _ in cache._items if kind == PREDICTION) == 9
    assert all(p.choice_scores is not None for p in again.predictions)
