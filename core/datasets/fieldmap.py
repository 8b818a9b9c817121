"""Field maps: which columns of a user's rows give a sample's id, question, choices and answer.

Every problem with a row is raised as a :class:`~core.errors.DatasetError` naming the file, the
row and what is wrong.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from core.errors import DatasetError
from core.samples import Choice, Sample

AnswerFormat = Literal["label", "index0", "index1", "text"]
ANSWER_FORMATS: tuple[str, ...] = get_args(AnswerFormat)
HIDDEN_ANSWERS: tuple[object, ...] = (None, "", -1, "-1")


class _RowProblem(Exception):
    """What is wrong with one row; turned into a DatasetError that names the file and row."""


@dataclass(frozen=True)
class FieldMap:
    """Which fields of a source row give a sample's id, question, choices and answer.

    - ``question``: one field, or several joined with a space (Social IQa: context + question).
    - ``choices``: one field holding a list of texts, a ``{label: [...], text: [...]}`` dict, a
      list of ``{label, text}`` dicts or a ``{label: text}`` dict; or several columns, one
      choice each (``answerA, answerB, answerC``): a column's choice is labelled by the column's
      position (A, B, C, ... or ``labels``) and an empty cell is skipped.
    - ``answer``: the field with the gold answer, read per ``answer_format``: a label, a 0-based
      index, a 1-based index (counting the choices kept), or the text of the right choice.
    - ``id``: the id field; ``None`` uses an ``id`` field when the row has one, else the row number.
    - ``labels``: labels to give the choices by position; by default the source's own labels,
      or A, B, C, ... when it gives none. Labels written as ``(a)`` are stored as ``a``.
    """

    question: tuple[str, ...] = ("question",)
    choices: tuple[str, ...] = ("choices",)
    answer: str = "answer"
    id: str | None = None
    answer_format: AnswerFormat = "label"
    labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("question", "choices", "labels"):
            value = getattr(self, name)
            if isinstance(value, str):  # tolerate a single name given as a string
                object.__setattr__(self, name, (value,))
        if not self.question or not all(self.question):
            raise DatasetError("a field map needs at least one question field")
        if not self.choices or not all(self.choices):
            raise DatasetError("a field map needs a choices field or a list of choice columns")
        if not self.answer:
            raise DatasetError("a field map needs an answer field")
        if self.answer_format not in ANSWER_FORMATS:
            raise DatasetError(
                f"unknown answer format {self.answer_format!r}; use one of {', '.join(ANSWER_FORMATS)}"
            )
        if self.labels is not None:
            labels = tuple(normalize_label(label) for label in self.labels)
            if not labels or any(not label for label in labels) or len(set(labels)) != len(labels):
                raise DatasetError(
                    f"the field map's labels {list(self.labels)} must be distinct and non-empty"
                )
            object.__setattr__(self, "labels", labels)

    @classmethod
    def parse(cls, spec: str) -> FieldMap:
        """Read ``id=id,question=context|question,choices=answerA|answerB,answer=label,...``.

        Keys: ``id``, ``question``, ``choices``, ``answer``, ``answer_format`` (or ``format``),
        ``labels``. Lists are separated by ``|`` (``+`` also works for question fields).
        """
        keys = ("id", "question", "choices", "answer", "answer_format", "labels")
        values: dict[str, str] = {}
        for part in spec.split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            key = key.strip().lower()
            key = "answer_format" if key == "format" else key
            if not sep:
                raise DatasetError(
                    f"the field map part {part.strip()!r} is not of the form key=value"
                )
            if key not in keys:
                raise DatasetError(f"unknown field map key {key!r}; the keys are {', '.join(keys)}")
            values[key] = value.strip()
        if not values:
            raise DatasetError(
                "the field map is empty; write e.g. question=question,choices=choices,answer=answerKey"
            )
        kwargs: dict[str, Any] = {}
        if "id" in values:
            kwargs["id"] = values["id"] or None
        if "question" in values:
            kwargs["question"] = _split_list(values["question"], "|+")
        if "choices" in values:
            kwargs["choices"] = _split_list(values["choices"], "|")
        if "answer" in values:
            kwargs["answer"] = values["answer"]
        if "answer_format" in values:
            kwargs["answer_format"] = values["answer_format"].lower()
        if values.get("labels"):
            kwargs["labels"] = _split_list(values["labels"], "|")
        return cls(**kwargs)

    def to_spec(self) -> str:
        """The inverse of :meth:`parse`, for recording which fields a run used."""
        parts = [f"question={'|'.join(self.question)}", f"choices={'|'.join(self.choices)}"]
        parts += [f"answer={self.answer}", f"answer_format={self.answer_format}"]
        if self.id is not None:
            parts.insert(0, f"id={self.id}")
        if self.labels is not None:
            parts.append(f"labels={'|'.join(self.labels)}")
        return ",".join(parts)

    @classmethod
    def guess(cls, fields: Sequence[str], *, where: str) -> FieldMap:
        """A field map for rows with common field names, or a DatasetError asking for one."""
        present = set(fields)
        question = next(
            (f for f in ("question", "question_stem", "query", "input", "prompt") if f in present),
            None,
        )
        choices: tuple[str, ...] | None = next(
            ((f,) for f in ("choices", "options", "endings") if f in present), None
        )
        if choices is None:
            columns = sorted(
                (match.group(2).upper(), name)
                for name in fields
                if (match := re.fullmatch(r"(answer|option|choice)_?([A-Za-z0-9])", name))
            )
            choices = tuple(name for _, name in columns) if len(columns) >= 2 else None
        answer = next(
            (
                f
                for f in ("answer", "answerKey", "answer_key", "label", "gold", "target")
                if f in present
            ),
            None,
        )
        if question is None or choices is None or answer is None:
            raise DatasetError(
                f"{where}: could not tell which fields hold the question, choices and answer "
                f"(fields: {', '.join(fields)}); give a field map such as "
                "question=question,choices=choices,answer=answerKey"
            )
        question_fields = (
            ("context", question) if "context" in present and question != "context" else (question,)
        )
        answer_format: AnswerFormat = "index0" if answer == "gold" else "label"
        return cls(
            question=question_fields, choices=choices, answer=answer, answer_format=answer_format
        )


def _split_list(value: str, separators: str) -> tuple[str, ...]:
    items = re.split("|".join(re.escape(sep) for sep in separators), value)
    return tuple(item.strip() for item in items if item.strip())


def normalize_label(value: object) -> str:
    """A label as stored: ``1.0`` -> ``1``, ``" (a) "`` -> ``a``."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if len(text) >= 3 and text[0] == "(" and text[-1] == ")":
        text = text[1:-1].strip()
    return text


def default_labels(count: int) -> tuple[str, ...]:
    if count > len(string.ascii_uppercase):
        raise _RowProblem(
            f"it has {count} choices; at most 26 can be labelled A-Z, give labels in the field map"
        )
    return tuple(string.ascii_uppercase[:count])


# ---------------------------------------------------------------------------------------------
# rows -> samples


def rows_to_samples(
    rows: Sequence[object], field_map: FieldMap, *, where: str, id_prefix: str
) -> list[Sample]:
    """Map every row with the field map; a bad row raises DatasetError naming ``where`` and its number."""
    samples: list[Sample] = []
    rows_by_id: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        try:
            sample = _row_to_sample(row, field_map, number=number, id_prefix=id_prefix).validate()
            if sample.id in rows_by_id:
                raise _RowProblem(
                    f"its id {sample.id!r} is already used by row {rows_by_id[sample.id]}"
                )
        except _RowProblem as problem:
            raise DatasetError(f"{where}, row {number}: {problem}") from None
        except DatasetError as error:
            raise DatasetError(f"{where}, row {number}: {error}") from None
        rows_by_id[sample.id] = number
        samples.append(sample)
    return samples


def _row_to_sample(row: object, fm: FieldMap, *, number: int, id_prefix: str) -> Sample:
    if not isinstance(row, Mapping):
        raise _RowProblem(f"it is a {type(row).__name__}, not an object with named fields")
    sample_id = _sample_id(row, fm, number=number, id_prefix=id_prefix)
    parts = [_text(_field(row, name), name) for name in fm.question]
    question = " ".join(part.strip() for part in parts if part.strip())
    if not question:
        raise _RowProblem(f"the question ({'+'.join(fm.question)}) is empty")
    if len(fm.choices) > 1:
        labels, texts = _column_choices(row, fm)
        source_labels = None
    else:
        source_labels, texts = _choices(row, fm)
        labels = _labels_for(len(texts), fm.labels, source_labels)
    if len(texts) < 2:
        raise _RowProblem(f"it has {len(texts)} choice(s); at least 2 are needed")
    index = _answer_index(
        _field(row, fm.answer), fm, labels=labels, source_labels=source_labels, texts=texts
    )
    choices = tuple(
        Choice(label=label, text=text) for label, text in zip(labels, texts, strict=True)
    )
    return Sample(id=sample_id, question=question, choices=choices, answer=labels[index])


def _field(row: Mapping[str, Any], name: str) -> Any:
    if name not in row:
        fields = ", ".join(str(key) for key in row) or "none"
        raise _RowProblem(f"it has no field {name!r} (its fields: {fields})")
    return row[name]


def _text(value: object, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise _RowProblem(f"the field {name!r} holds a {type(value).__name__}, not a text")


def _sample_id(row: Mapping[str, Any], fm: FieldMap, *, number: int, id_prefix: str) -> str:
    if fm.id is not None:
        value = _text(_field(row, fm.id), fm.id).strip()
        if not value:
            raise _RowProblem(f"the id field {fm.id!r} is empty")
        return value
    own_id = row.get("id")
    if isinstance(own_id, (str, int)) and str(own_id).strip():
        return str(own_id).strip()
    return f"{id_prefix}-{number - 1:04d}"  # the 0-based index in the source


def _labels_for(
    count: int, assigned: tuple[str, ...] | None, source_labels: tuple[str, ...] | None
) -> tuple[str, ...]:
    if assigned is not None:
        if len(assigned) < count:
            raise _RowProblem(
                f"it has {count} choices but the field map gives only {len(assigned)} labels"
            )
        return assigned[:count]
    return source_labels if source_labels is not None else default_labels(count)


def _column_choices(
    row: Mapping[str, Any], fm: FieldMap
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """One choice per column; an empty cell is skipped, the others keep their column's label."""
    all_labels = _labels_for(len(fm.choices), fm.labels, None)
    labels: list[str] = []
    texts: list[str] = []
    for label, name in zip(all_labels, fm.choices, strict=True):
        text = _text(_field(row, name), name).strip()
        if text:
            labels.append(label)
            texts.append(text)
    return tuple(labels), tuple(texts)


def _choices(
    row: Mapping[str, Any], fm: FieldMap
) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """(the source's labels, or None when it gives none; the choice texts) from one field."""
    name = fm.choices[0]
    value = _field(row, name)
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            value = json.loads(value)  # CSV cells hold JSON
        except json.JSONDecodeError:
            pass
    pairs = _choice_pairs(value, name)
    labelled = [label for label, _ in pairs if label is not None]
    if labelled and len(labelled) != len(pairs):
        raise _RowProblem(f"some choices in {name!r} have labels and some do not")
    texts = tuple(text for _, text in pairs)
    if any(not text for text in texts):
        raise _RowProblem(f"a choice in {name!r} has an empty text")
    if not labelled:
        return None, texts
    labels = tuple(normalize_label(label) for label in labelled)
    if any(not label for label in labels) or len(set(labels)) != len(labels):
        raise _RowProblem(f"the choice labels {list(labelled)} are not distinct and non-empty")
    return labels, texts


def _choice_pairs(value: object, name: str) -> list[tuple[object | None, str]]:
    if isinstance(value, Mapping):
        if "text" in value and isinstance(value["text"], (list, tuple)):
            texts = [_text(text, name).strip() for text in value["text"]]
            labels = value.get("label")
            if labels is None:
                return [(None, text) for text in texts]
            if not isinstance(labels, (list, tuple)) or len(labels) != len(texts):
                raise _RowProblem(f"the field {name!r} has a different number of labels and texts")
            return list(zip(labels, texts, strict=True))
        return [(label, _text(text, name).strip()) for label, text in value.items()]
    if isinstance(value, (list, tuple)):
        pairs: list[tuple[object | None, str]] = []
        for item in value:
            if isinstance(item, Mapping):
                if "text" not in item:
                    raise _RowProblem(f"a choice in {name!r} has no 'text' key")
                pairs.append(
                    (item.get("label", item.get("key")), _text(item["text"], name).strip())
                )
            else:
                pairs.append((None, _text(item, name).strip()))
        return pairs
    raise _RowProblem(
        f"the field {name!r} holds a {type(value).__name__}, not a list of choices; "
        "name one column per choice (choices=answerA|answerB|...) or store a list"
    )


def _answer_index(
    value: object,
    fm: FieldMap,
    *,
    labels: Sequence[str],
    source_labels: Sequence[str] | None,
    texts: Sequence[str],
) -> int:
    if value in HIDDEN_ANSWERS:
        raise _RowProblem(f"it has no answer (the field {fm.answer!r} is empty)")
    if fm.answer_format == "label":
        key = normalize_label(value)
        if key in labels:
            return list(labels).index(key)
        if source_labels is not None and key in source_labels:
            return list(source_labels).index(key)
        hint = " (if it is a position, use answer_format=index0 or index1)" if key.isdigit() else ""
        raise _RowProblem(f"the answer key {key!r} is not one of the labels {list(labels)}{hint}")
    if fm.answer_format == "text":
        wanted = _text(value, fm.answer).strip()
        if wanted not in texts:
            raise _RowProblem(f"the answer {wanted!r} is not the text of any choice")
        return list(texts).index(wanted)
    try:
        position = int(normalize_label(value))
    except ValueError:
        raise _RowProblem(
            f"the answer {value!r} is not a number, as answer_format={fm.answer_format} needs"
        ) from None
    index = position - 1 if fm.answer_format == "index1" else position
    if not 0 <= index < len(texts):
        raise _RowProblem(
            f"the answer {position} ({fm.answer_format}) is out of range for {len(texts)} choices"
        )
    return index


# ---------------------------------------------------------------------------------------------
