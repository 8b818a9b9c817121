"""The attribution span: which words are explained, and the default per dataset layout."""

from __future__ import annotations

import pytest

from core.config import RunConfig
from core.errors import ConfigError
from core.prompts import question_layout
from core.samples import Choice, Sample
from core.spans import (
    CHOICE_LED,
    DEFAULT_SPAN,
    QUESTION_LED,
    check_span,
    content_words,
    dataset_layout,
    explained_words,
    resolve_span,
)


def _sample(index: int, question: str, answer: str = "B") -> Sample:
    return Sample(
        f"s{index}",
        question,
        (Choice("A", "dry sandy soil"), Choice("B", "wet clay"), Choice("C", "C")),
        answer,
    )


def _texts(sample: Sample, span: str) -> list[str]:
    text, segments = question_layout(sample, span)
    return [text[start:end] for start, end in segments]


def test_segments_per_span() -> None:
    sample = _sample(0, "Where do roots grow best?")
    assert _texts(sample, "question") == ["Where do roots grow best?"]
    assert _texts(sample, "question+gold") == ["Where do roots grow best?", "wet clay"]
    # a choice whose text is its own label is never explained
    assert _texts(sample, "question+choices") == [
        "Where do roots grow best?",
        "dry sandy soil",
        "wet clay",
    ]
    assert explained_words(sample, "question+choices") == 10
    assert content_words(sample, "question") == 3  # where/do are stop words; roots grow best
    assert content_words(sample, "question+gold") == 5


def test_layout_is_choice_led_when_the_question_is_shared() -> None:
    shared = [_sample(i, "Which statement is sarcastic?") for i in range(6)]
    varied = [_sample(i, f"Question number {i} about soil?") for i in range(6)]
    assert dataset_layout(shared) == CHOICE_LED
    assert dataset_layout(varied) == QUESTION_LED
    assert dataset_layout(shared[:2] + varied) == QUESTION_LED
    assert dataset_layout([]) == QUESTION_LED


def test_auto_resolves_to_the_layout_default_and_explicit_spans_stay() -> None:
    shared = [_sample(i, "Which statement is sarcastic?") for i in range(4)]
    assert resolve_span("auto", shared) == DEFAULT_SPAN[CHOICE_LED]
    assert resolve_span("question", shared) == "question"
    assert set(DEFAULT_SPAN) == {QUESTION_LED, CHOICE_LED}


def test_unknown_span_is_refused_in_one_sentence() -> None:
    with pytest.raises(ConfigError, match="unknown --span 'choices'"):
        check_span("choices")
    with pytest.raises(ConfigError, match="--span"):
        RunConfig("m", "d", ("io",), span="everything").validate()
    assert RunConfig("m", "d", ("io",)).validate().span == "auto"
