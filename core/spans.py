"""Which part of a question is explained: the attribution span, and its default per dataset layout.

- ``question``: the question alone;
- ``question+choices``: the question and every choice's text (the reference's choice);
- ``question+gold``: the question and the gold answer's text (no wrong answer's words).

``auto`` picks per dataset layout. A *question-led* dataset carries its content in the question
(ARC, CommonsenseQA, Social IQa, Causal Judgment); a *choice-led* one asks the same few words for
every item and carries its content in the choices (Snarks: "Which statement is sarcastic?"), so
the question alone has nothing to explain there. The defaults were chosen by the faithfulness of
the attribution keywords on the selection pools (bench/faithfulness.py; the README gives the
figures).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from core.errors import ConfigError
from core.prompts import question_layout
from core.samples import Sample
from core.words import count_rankable, split_words

SPANS = ("question", "question+choices", "question+gold")
AUTO = "auto"
QUESTION_LED = "question-led"
CHOICE_LED = "choice-led"
# chosen by bench/faithfulness.py on the built-in model (10 pool questions each of
# CommonsenseQA and Snarks, k = 4): question+choices had the highest comprehensiveness AOPC of the
# attribution keywords (deeplift, kernelshap, leave_one_out) and the lowest sufficiency AOPC in
# both layouts; the README gives the figures
DEFAULT_SPAN = {QUESTION_LED: "question+choices", CHOICE_LED: "question+choices"}
# the methods whose rationales come from attributions over the span
SPAN_METHODS = ("deeplift", "kernelshap", "leave_one_out", "random", "amplify", "counterfactual")
# a layout is choice-led when this share of the pool asks one and the same question text
_SHARED_QUESTION_SHARE = 0.5


def check_span(span: str) -> str:
    if span != AUTO and span not in SPANS:
        raise ConfigError(f"unknown --span {span!r}; use auto or one of {', '.join(SPANS)}")
    return span


def dataset_layout(pool: Sequence[Sample]) -> str:
    """Choice-led when most pool items share one question text, else question-led."""
    if not pool:
        return QUESTION_LED
    counts = Counter(" ".join(sample.question.lower().split()) for sample in pool)
    _, most = counts.most_common(1)[0]
    return CHOICE_LED if most >= _SHARED_QUESTION_SHARE * len(pool) else QUESTION_LED


def resolve_span(span: str, pool: Sequence[Sample]) -> str:
    """The concrete span for a run: ``span`` itself, or the layout's default for ``auto``."""
    check_span(span)
    return DEFAULT_SPAN[dataset_layout(pool)] if span == AUTO else span


def explained_words(sample: Sample, span: str) -> int:
    """How many words of ``sample`` the span explains (KernelSHAP's features)."""
    return len(split_words(*question_layout(sample, span)))


def content_words(sample: Sample, span: str) -> int:
    """How many distinct rankable words of ``sample`` the span explains (keyword candidates)."""
    return count_rankable(split_words(*question_layout(sample, span)))
