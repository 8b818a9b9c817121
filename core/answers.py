"""What evaluation reads from a model's answer and what it records per item and per method."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ANSWER_PATTERN = re.compile(r"answer is \(([^()\n]{1,40})\)", re.IGNORECASE)
OPEN_ANSWER = re.compile(r"answer is \($", re.IGNORECASE)
CLOZE_ANSWER = re.compile(r"answer is$", re.IGNORECASE)  # cloze: the choice's text comes next


@dataclass(frozen=True)
class Prediction:
    id: str
    gold: str
    pred: str | None
    correct: bool
    parse_failure: bool = False
    output: str = ""
    choice_scores: tuple[float, ...] | None = None  # cloze: each choice's normalised score

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "gold": self.gold,
            "pred": self.pred,
            "correct": self.correct,
            "parse_failure": self.parse_failure,
            "output": self.output,
        }
        if self.choice_scores is not None:
            data["choice_scores"] = list(self.choice_scores)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Prediction:
        scores = data.get("choice_scores")
        return cls(
            id=data["id"],
            gold=data["gold"],
            pred=data.get("pred"),
            correct=bool(data["correct"]),
            parse_failure=bool(data.get("parse_failure", False)),
            output=data.get("output", ""),
            choice_scores=None if scores is None else tuple(float(v) for v in scores),
        )


@dataclass(frozen=True)
class MethodScore:
    method: str
    accuracy: float
    ci95: tuple[float, float]
    n: int
    parse_failures: int
    seconds: float
    predictions: list[Prediction]
    forward_passes: int = 0  # evaluation's own work (items reused from the store cost none)
    generated_tokens: int = 0


def read_answer(text: str, labels: Sequence[str]) -> str | None:
    """The label in the first "answer is (X)", matched exactly, else case-insensitively."""
    match = ANSWER_PATTERN.search(text)
    if not match:
        return None
    raw = match.group(1).strip()
    if raw in labels:
        return raw
    lowered = {label.lower(): label for label in labels}
    return lowered.get(raw.lower())
