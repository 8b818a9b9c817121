"""What an attribution explains for one sample, and the function the masking methods explain.

The target (``build_target``) is the zero-shot prompt whose assistant turn is pre-filled with
"The answer is (", the gold label's token at its last position, and the words of the attribution
span (the question, and the choices' texts or the gold answer's text: core/spans.py), never the
template or the labels; each prompt token maps to its word or to none (punctuation tokens belong
to no word: core/words.py). ``coalition_scorer`` is the explained function of KernelSHAP,
leave_one_out and the faithfulness curves: the gold label's log-probability for each coalition of
words, a word removed by replacing its tokens with the pad token. The methods themselves are in
core/attribution.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.lm import LanguageModel
from core.progress import CancelToken
from core.prompts import PromptRenderer, question_layout
from core.samples import Sample
from core.templates import ANSWER_OPENING, INSTRUCTION_PLAIN
from core.token_ids import label_continuations
from core.words import Word, split_words, token_word_map


@dataclass(frozen=True)
class AttributionTarget:
    """What is explained for one sample: prompt ids, the label token, and token-to-word mapping."""

    sample_id: str
    label: str
    label_id: int
    prompt_ids: list[int]
    words: list[Word]
    token_words: list[int]  # per prompt token: word index or -1
    tokens: list[str]

    @property
    def explained_positions(self) -> list[int]:
        return [i for i, w in enumerate(self.token_words) if w >= 0]


def attribution_messages(
    renderer: PromptRenderer, sample: Sample
) -> tuple[list[dict[str, str]], str]:
    text, _ = question_layout(sample)
    messages = renderer.messages(
        INSTRUCTION_PLAIN, [{"role": "user", "content": text}], ANSWER_OPENING
    )
    return messages, text


def build_target(
    lm: LanguageModel,
    renderer: PromptRenderer,
    sample: Sample,
    label: str | None = None,
    *,
    span: str = "question+choices",
) -> AttributionTarget:
    """What is explained for ``sample``: the words of ``span`` (core/spans.py) inside the full
    zero-shot prompt, which always shows the question and every choice."""
    label = label if label is not None else sample.answer
    messages, user_text = attribution_messages(renderer, sample)
    rendered = renderer.render(messages, question=user_text)
    prompt_ids, label_ids = label_continuations(renderer.encode, rendered.text, sample.labels)
    _, segments = question_layout(sample, span)
    base = rendered.question_span[0]
    words = split_words(rendered.text, [(base + s, base + e) for s, e in segments])
    encoded = renderer.tokenizer(
        rendered.text, add_special_tokens=False, return_offsets_mapping=True
    )
    offsets = [tuple(pair) for pair in encoded["offset_mapping"]][: len(prompt_ids)]
    mapping = token_word_map(offsets, words, rendered.text)
    tokens = [renderer.tokenizer.decode([t]) for t in prompt_ids]
    return AttributionTarget(
        sample_id=sample.id,
        label=label,
        label_id=label_ids[sample.labels.index(label)],
        prompt_ids=prompt_ids,
        words=words,
        token_words=mapping,
        tokens=tokens,
    )


def coalition_scorer(
    lm: LanguageModel,
    target: AttributionTarget,
    *,
    batched: bool = True,
    cancel: CancelToken | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """f(masks) -> log-prob of the label for each word coalition (1 = word kept).

    Batched: the coalitions (all of the prompt's length) are scored as a prefix tree: the prompt
    before the first explained token runs once, and so does every distinct prefix the coalitions
    share beyond it (``LanguageModel.label_log_probs_tree``), many rows per forward pass.
    Unbatched (the reference's path): one full forward per coalition."""
    positions = target.explained_positions
    word_of = {p: target.token_words[p] for p in positions}

    def f(masks: np.ndarray) -> np.ndarray:
        masks = np.asarray(masks)
        sequences = []
        for mask in masks:
            ids = list(target.prompt_ids)
            for p, w in word_of.items():
                if mask[w] < 0.5:
                    ids[p] = lm.pad_id
            sequences.append(ids)
        labels = [[target.label_id]] * len(sequences)
        if batched:
            scores = lm.label_log_probs_tree(sequences, labels, cancel=cancel)
        else:
            saved = lm.batch_size
            lm.batch_size = 1
            try:
                scores = lm.label_log_probs(sequences, labels, cancel=cancel)
            finally:
                lm.batch_size = saved
        return np.array([row[0] for row in scores], dtype=np.float64)

    return f
