"""Cloze scoring against a direct log-likelihood computation (one full forward per choice)."""

from __future__ import annotations

import pytest
import torch

from core.cloze import ChoiceScore, choice_continuations, choice_log_likelihoods
from core.errors import ConfigError
from core.lm import LanguageModel, shared_prefix
from core.prompts import format_question


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
