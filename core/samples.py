"""The one multiple-choice sample type used everywhere, and its validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.errors import DatasetError


@dataclass(frozen=True)
class Choice:
    """One answer option: its label as the dataset names it (``A``, ``1``, ``a``, ``Yes``) and text."""

    label: str
    text: str


@dataclass(frozen=True)
class Sample:
    """A multiple-choice question with its ordered choices and gold label."""

    id: str
    question: str
    choices: tuple[Choice, ...]
    answer: str

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(choice.label for choice in self.choices)

    @property
    def answer_index(self) -> int:
        return self.labels.index(self.answer)

    @property
    def answer_text(self) -> str:
        return self.choices[self.answer_index].text

    def validate(self) -> Sample:
        """Return self, or raise DatasetError naming what is wrong with this sample."""
        if not self.question.strip():
            raise DatasetError(f"sample {self.id!r} has an empty question")
        if len(self.choices) < 2:
            raise DatasetError(
                f"sample {self.id!r} has {len(self.choices)} choice(s); at least 2 are needed"
            )
        labels = self.labels
        if len(set(labels)) != len(labels):
            raise DatasetError(f"sample {self.id!r} has duplicate choice labels {list(labels)}")
        if any(not label.strip() for label in labels):
            raise DatasetError(f"sample {self.id!r} has an empty choice label")
        if self.answer not in labels:
            raise DatasetError(
                f"sample {self.id!r} has answer key {self.answer!r}, which is not one of its labels {list(labels)}"
            )
        return self


@dataclass(frozen=True)
class Dataset:
    """A named dataset: a selection pool (where shots come from) and a test split."""

    name: str
    pool: tuple[Sample, ...]
    test: tuple[Sample, ...]
    source: str = ""
    split: dict[str, object] = field(default_factory=dict)

    def validate(self) -> Dataset:
        if not self.pool:
            raise DatasetError(f"dataset {self.name!r} has an empty selection pool")
        if not self.test:
            raise DatasetError(f"dataset {self.name!r} has an empty test split")
        seen: set[str] = set()
        for sample in (*self.pool, *self.test):
            sample.validate()
            if sample.id in seen:
                raise DatasetError(f"dataset {self.name!r} has the sample id {sample.id!r} twice")
            seen.add(sample.id)
        return self


def sample_key(sample: Sample) -> dict[str, Any]:
    """Everything about a sample that changes results (so edited data is never served stale)."""
    return {
        "id": sample.id,
        "question": sample.question,
        "choices": [[c.label, c.text] for c in sample.choices],
        "answer": sample.answer,
    }
