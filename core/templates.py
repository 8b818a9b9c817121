"""The fixed wording of Self-AMPLIFY's instructions, rationales and assistant pre-fills.

Every method's demos and its test pre-fill come from here, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence

ANSWER_OPENING = "The answer is ("
CLOZE_OPENING = "The answer is"  # cloze: the choice's text follows
FORCED_CLOZE_ENDING = "Therefore, the answer is"  # appended when a rationale never got there

INSTRUCTION_PLAIN = "Choose the right answer."
INSTRUCTION_KEYWORDS = (
    "Choose the right answer with the {k} most important keywords used to answer."
)
INSTRUCTION_PH_COT = (
    "Choose the right answer and generate a concise {p}-step explanation, "
    "with only one sentence per step."
)
INSTRUCTION_AUTO_COT = "Choose the right answer. Let's think step by step."

SELF_TOPK_PREFILL = (
    'The answer is ({y}), the {k} most important keywords to make the prediction are "'
)
PH_COT_PREFILL = "The answer is ({y}), {p}-step explanation: "
AUTO_COT_OPENING = "Let's think step by step."


def english_list(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b, and c``."""
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + f", and {items[-1]}"


def keyword_rationale(keywords: Sequence[str], answer: str) -> str:
    quoted = [f'"{word}"' for word in keywords]
    noun = "keyword" if len(keywords) == 1 else "keywords"
    verb = "is" if len(keywords) == 1 else "are"
    return (
        f"The {len(keywords)} {noun} {english_list(quoted)} {verb} important to predict "
        f"that the answer is ({answer})"
    )


AMPLIFY_OPENING = "The key words"


def amplify_rationale(keywords: Sequence[str], answer: str) -> str:
    """AMPLIFY's rationale (Krishna et al. 2023), ending with the answer phrase of every demo."""
    quoted = [f'"{word}"' for word in keywords]
    return (
        f"{AMPLIFY_OPENING} {english_list(quoted)} are important clues to predict "
        f"that the answer is ({answer})"
    )


def keyword_opening(k: int) -> str:
    """The test pre-fill of keyword methods: the start of ``keyword_rationale`` with k words."""
    return f"The {k} keyword" if k == 1 else f"The {k} keywords"


INSTRUCTION_COUNTERFACTUAL = "Choose the right answer and say which words it depends on."
COUNTERFACTUAL_OPENING = "The answer depends on"


def counterfactual_rationale(
    words: Sequence[str], answer: str, other: str, replacement: str | None = None
) -> str:
    """What would change the answer, then the answer: removing ``words`` (or, with
    ``replacement``, writing it in place of the one word) makes the model choose ``other``."""
    quoted = english_list([f'"{word}"' for word in words])
    if replacement is not None:
        change = f'if it were "{replacement}"'
    else:
        change = "without it" if len(words) == 1 else "without them"
    return (
        f"{COUNTERFACTUAL_OPENING} {quoted}: {change}, the answer would be ({other}); "
        f"as written, the answer is ({answer})"
    )


def ph_cot_rationale(explanation: str, steps: int, answer: str) -> str:
    return f"{steps}-step rationale: {explanation}, therefore the answer is ({answer})"


def ph_cot_opening(steps: int) -> str:
    return f"{steps}-step rationale:"


def auto_cot_rationale(reasoning: str, answer: str) -> str:
    return f"{AUTO_COT_OPENING} {reasoning} Therefore, the answer is ({answer})"


def io_answer(answer: str) -> str:
    return f"The answer is ({answer})"


def cloze_answer(turn: str, answer_text: str) -> str:
    """A demo's answer turn for cloze scoring: its closing "answer is (y)" becomes "answer is"
    followed by the gold choice's text, the way a test turn's answer is then scored."""
    head, found, _ = turn.rpartition("answer is (")
    if not found:
        return f"{turn.rstrip()} The answer is {answer_text}"
    return f"{head}answer is {answer_text}"
