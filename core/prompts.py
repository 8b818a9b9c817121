"""Chat rendering of questions, demos and pre-filled assistant turns.

Prompts go through the tokenizer's own chat template (``continue_final_message`` for pre-fills,
never hand-written trims); tokenizers without a template get a plain-text format. Token ids are
always produced with ``add_special_tokens=False`` since the template already holds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError
from core.samples import Sample

Message = dict[str, str]


def format_question(sample: Sample, *, list_choices: bool = True) -> str:
    """The question followed by its choices, one per line, each with its label in parentheses
    (with ``list_choices=False``, the question alone: cloze scoring then reads the choices)."""
    if not list_choices:
        return sample.question.strip()
    lines = [sample.question.strip(), "", "Choices:"]
    for choice in sample.choices:
        text = choice.text.strip()
        same = text.lower() == choice.label.lower()
        lines.append(f"({choice.label})" if same or not text else f"({choice.label}) {text}")
    return "\n".join(lines)


def strip_special_tokens(text: str, tokenizer: Any) -> str:
    """Remove special-token strings (EOS, turn markers) that must never appear inside content."""
    for token in getattr(tokenizer, "all_special_tokens", []) or []:
        if token:
            text = text.replace(token, "")
    return text


@dataclass(frozen=True)
class Rendered:
    """A rendered prompt: its text, its token ids, and the character span of the last question."""

    text: str
    ids: list[int]
    question_span: tuple[int, int]


class PromptRenderer:
    """Turns chat messages into text and ids for one tokenizer."""

    def __init__(self, tokenizer: Any, max_length: int | None = None) -> None:
        self.tokenizer = tokenizer
        self.use_template = bool(getattr(tokenizer, "chat_template", None))
        self.max_length = max_length or self._model_max_length()
        self._system_ok: bool | None = None

    def _model_max_length(self) -> int:
        length = int(getattr(self.tokenizer, "model_max_length", 0) or 0)
        return length if 0 < length < 1_000_000 else 8192

    def _supports_system(self) -> bool:
        if self._system_ok is None:
            try:
                probe = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
                rendered = self.tokenizer.apply_chat_template(probe, tokenize=False)
                self._system_ok = "S" in rendered
            except Exception:
                self._system_ok = False
        return self._system_ok

    def messages(
        self, instruction: str, turns: Sequence[Message], prefill: str | None
    ) -> list[Message]:
        """System instruction (folded into the first user turn where no system role exists),
        the turns, and an optional pre-filled assistant turn."""
        out: list[Message] = [dict(turn) for turn in turns]
        if instruction:
            if self.use_template and self._supports_system():
                out.insert(0, {"role": "system", "content": instruction})
            elif out and out[0]["role"] == "user":
                out[0] = {"role": "user", "content": f"{instruction}\n\n{out[0]['content']}"}
            else:
                out.insert(0, {"role": "user", "content": instruction})
        if prefill is not None:
            out.append({"role": "assistant", "content": prefill})
        return out

    def render_text(self, messages: Sequence[Message]) -> str:
        ends_with_prefill = bool(messages) and messages[-1]["role"] == "assistant"
        if self.use_template:
            if ends_with_prefill:
                text = self.tokenizer.apply_chat_template(
                    list(messages), tokenize=False, continue_final_message=True
                )
            else:
                text = self.tokenizer.apply_chat_template(
                    list(messages), tokenize=False, add_generation_prompt=False
                )
            return str(text)
        return plain_text(messages)

    def encode(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return list(ids)

    def render(self, messages: Sequence[Message], *, question: str | None = None) -> Rendered:
        """Render and encode; ``question`` (text inside the last user turn) gets its char span."""
        text = self.render_text(messages)
        ids = self.encode(text)
        if len(ids) > self.max_length:
            raise ConfigError(
                f"the prompt is {len(ids)} tokens long, more than the model's limit of {self.max_length}; "
                "use fewer shots, fewer steps or shorter questions"
            )
        span = (0, 0)
        if question is not None:
            start = text.rfind(question)
            if start < 0:
                raise ConfigError(
                    "the question text was changed by the chat template; cannot locate it"
                )
            span = (start, start + len(question))
        return Rendered(text=text, ids=ids, question_span=span)


def plain_text(messages: Sequence[Message]) -> str:
    """A plain-text rendering for base models with no chat template."""
    parts: list[str] = []
    for index, message in enumerate(messages):
        last = index == len(messages) - 1
        role, content = message["role"], message["content"]
        if role == "system":
            parts.append(content + "\n\n")
        elif role == "user":
            parts.append(content + "\n")
        elif last:
            parts.append("Answer: " + content)
        else:
            parts.append("Answer: " + content + "\n\n")
    return "".join(parts)


def question_layout(
    sample: Sample, span: str = "question+choices"
) -> tuple[str, list[tuple[int, int]]]:
    """``format_question`` text plus the character segments that may be explained (never the
    choice labels or the "Choices:" header). ``span`` picks them: "question+choices" (the question
    and every choice's text), "question" (the question alone) or "question+gold" (the question and
    the gold answer's text: no wrong answer's words can be explained)."""
    text = format_question(sample)
    question_end = len(sample.question.strip())
    segments = [(0, question_end)] if question_end else []
    if span == "question":
        return text, segments
    cursor = question_end
    for choice in sample.choices:
        choice_text = choice.text.strip()
        if not choice_text or choice_text.lower() == choice.label.lower():
            continue
        marker = f"({choice.label}) {choice_text}"
        at = text.find(marker, cursor)
        if at >= 0:
            start = at + len(f"({choice.label}) ")
            cursor = start + len(choice_text)
            if span != "question+gold" or choice.label == sample.answer:
                segments.append((start, cursor))
    return text, segments
