"""Chat rendering: templates with pre-fills, the plain-text path, system folding, question spans."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.prompts import (
    PromptRenderer,
    format_question,
    plain_text,
    question_layout,
    strip_special_tokens,
)
from core.samples import Choice, Sample
from core.templates import ANSWER_OPENING, INSTRUCTION_PLAIN, PH_COT_PREFILL
from tests import tiny


def _sample() -> Sample:
    return Sample(
        "s1",
        "Which plant needs the most water?",
        (Choice("A", "cactus"), Choice("B", "rice paddy"), Choice("C", "C"), Choice("D", "")),
        "B",
    )


def test_chat_template_prefill_ends_exactly_with_the_prefill(tiny_renderer: PromptRenderer) -> None:
    sample = _sample()
    prefill = PH_COT_PREFILL.format(y="B", p=2)
    messages = tiny_renderer.messages(
        INSTRUCTION_PLAIN, [{"role": "user", "content": format_question(sample)}], prefill
    )
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    rendered = tiny_renderer.render(messages, question=sample.question)
    assert rendered.text.endswith("<|im_start|>assistant\n" + prefill)
    assert not rendered.text.endswith("<|im_end|>\n")
    # the ids are the text's own tokens: no special tokens added, and they decode back to the text
    tokenizer = tiny_renderer.tokenizer
    assert tokenizer.decode(rendered.ids) == rendered.text
    assert rendered.ids[0] == tokenizer.convert_tokens_to_ids("<|im_start|>")
    start, end = rendered.question_span
    assert rendered.text[start:end] == sample.question


def test_without_prefill_the_template_closes_every_turn(tiny_renderer: PromptRenderer) -> None:
    messages = tiny_renderer.messages(
        "", [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}], None
    )
    text = tiny_renderer.render_text(messages[:1])
    assert text == "<|im_start|>user\nHi<|im_end|>\n"
    with_prefill = tiny_renderer.render_text(messages)
    assert with_prefill.endswith("<|im_start|>assistant\nYo")


def test_plain_text_path_for_a_tokenizer_without_template(plain_renderer: PromptRenderer) -> None:
    assert not plain_renderer.use_template
    sample = _sample()
    messages = plain_renderer.messages(
        INSTRUCTION_PLAIN,
        [
            {"role": "user", "content": "Q1"},
            {"role": "assistant", "content": "The answer is (A)"},
            {"role": "user", "content": format_question(sample)},
        ],
        ANSWER_OPENING,
    )
    # no system role without a template: the instruction is folded into the first user turn
    assert messages[0] == {"role": "user", "content": f"{INSTRUCTION_PLAIN}\n\nQ1"}
    rendered = plain_renderer.render(messages, question=sample.question)
    assert rendered.text == (
        f"{INSTRUCTION_PLAIN}\n\nQ1\nAnswer: The answer is (A)\n\n{format_question(sample)}\nAnswer: {ANSWER_OPENING}"
    )
    assert "<|im_start|>" not in rendered.text
    assert rendered.text[slice(*rendered.question_span)] == sample.question
    assert (
        plain_text([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}])
        == "S\n\nU\n"
    )


def test_system_instruction_is_folded_when_the_template_refuses_system() -> None:
    tokenizer = tiny.train_tokenizer(tiny.NO_SYSTEM_TEMPLATE)
    renderer = PromptRenderer(tokenizer)
    assert renderer.use_template
    messages = renderer.messages(
        "Be brief.", [{"role": "user", "content": "What is ice?"}], ANSWER_OPENING
    )
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == "Be brief.\n\nWhat is ice?"
    text = renderer.render_text(messages)
    assert (
        text
        == "<|im_start|>user\nBe brief.\n\nWhat is ice?<|im_end|>\n<|im_start|>assistant\nThe answer is ("
    )
    # with no user turn at all the instruction becomes one
    assert renderer.messages("Be brief.", [], None) == [{"role": "user", "content": "Be brief."}]


def test_system_role_kept_when_supported(tiny_renderer: PromptRenderer) -> None:
    messages = tiny_renderer.messages("Be brief.", [{"role": "user", "content": "Q"}], None)
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert tiny_renderer.render_text(messages).startswith(
        "<|im_start|>system\nBe brief.<|im_end|>\n"
    )


def test_question_layout_segments_cover_question_and_choice_texts_only() -> None:
    sample = _sample()
    text, segments = question_layout(sample)
    assert text == format_question(sample)
    assert text.splitlines()[-4:] == ["(A) cactus", "(B) rice paddy", "(C)", "(D)"]
    covered = [text[start:end] for start, end in segments]
    # choice C's text is its label and D's is empty: neither is explained; labels never are
    assert covered == ["Which plant needs the most water?", "cactus", "rice paddy"]
    inside = set()
    for start, end in segments:
        inside.update(range(start, end))
    header = text.index("Choices:")
    assert not inside & set(range(header, header + len("Choices:")))
    for label in "ABCD":
        at = text.index(f"({label})")
        assert not inside & set(range(at, at + 3))


def test_question_layout_with_repeated_choice_texts() -> None:
    sample = Sample("s2", "Is (A) yes right?", (Choice("A", "yes"), Choice("B", "yes no")), "A")
    text, segments = question_layout(sample)
    assert [text[s:e] for s, e in segments] == ["Is (A) yes right?", "yes", "yes no"]
    # each segment is the choice's own line, not an earlier occurrence of the same text
    choices_at = text.index("Choices:")
    assert segments[1][0] == text.index("(A) yes", choices_at) + len("(A) ")
    assert segments[2][0] == text.index("(B) yes no", choices_at) + len("(B) ")


def test_over_long_prompt_raises_config_error(tiny_loaded) -> None:
    renderer = PromptRenderer(tiny_loaded.tokenizer, max_length=16)
    messages = renderer.messages(
        INSTRUCTION_PLAIN, [{"role": "user", "content": format_question(_sample())}], ANSWER_OPENING
    )
    with pytest.raises(ConfigError, match="more than the model's limit of 16"):
        renderer.render(messages)
    short = renderer.messages("", [{"role": "user", "content": "Hi"}], None)
    assert len(renderer.render(short).ids) <= 16


def test_strip_special_tokens(tiny_loaded) -> None:
    text = "ok<|im_end|> then<|im_start|>user"
    assert strip_special_tokens(text, tiny_loaded.tokenizer) == "ok thenuser"
