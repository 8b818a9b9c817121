"""User data files and folders: read them, pick the pool and test splits, map rows to samples."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from core.datasets.fieldmap import HIDDEN_ANSWERS, FieldMap, rows_to_samples
from core.datasets.readers import SINGLE_SPLIT, TEST_SPLIT_NAMES, RawSource, read_source
from core.errors import DatasetError
from core.samples import Dataset, Sample


def answers_hidden(rows: Sequence[object], answer_field: str) -> bool:
    """True when no row carries an answer (e.g. CommonsenseQA's or Social IQa's test split)."""
    return all(isinstance(row, Mapping) and row.get(answer_field) in HIDDEN_ANSWERS for row in rows)


def pick_splits(
    splits: Mapping[str, Sequence[object]], answer_field: str, *, where: str
) -> tuple[str | None, str | None]:
    """(pool split, test split) names; (None, name) means: split ``name`` with a seeded split.

    ``train`` is the pool; the test split is ``test``, else ``validation``/``valid``/``val``/
    ``dev``, skipping splits whose answers are all hidden.
    """
    by_lower = {name.lower(): name for name in splits if splits[name]}
    pool = by_lower.get("train")
    labelled_tests = [
        by_lower[name]
        for name in TEST_SPLIT_NAMES
        if name in by_lower and not answers_hidden(splits[by_lower[name]], answer_field)
    ]
    if pool is not None and labelled_tests:
        return pool, labelled_tests[0]
    if pool is not None:
        return None, pool
    if labelled_tests:
        return None, labelled_tests[0]
    if len(by_lower) == 1:
        return None, next(iter(by_lower.values()))
    if not by_lower:
        raise DatasetError(f"{where} has no rows")
    raise DatasetError(
        f"{where} has the splits {', '.join(splits)}, none of them train/test/validation with answers"
    )


def samples_from_source(
    source: RawSource,
    field_map: FieldMap | None,
    *,
    where: str,
    id_prefix: str,
    split_seed: int,
    name: str,
) -> Dataset:
    """Map a raw source with a field map (guessed when None) and make its pool/test split."""
    from core.datasets.builtin import bigbench_samples, is_bigbench_example
    from core.datasets.splits import given_split_info, split_pool_test

    first_rows = next((rows for rows in source.splits.values() if rows), None)
    if first_rows is None:
        raise DatasetError(f"{where} has no rows")
    bigbench = field_map is None and is_bigbench_example(first_rows[0])
    fm = field_map
    if fm is None and not bigbench:
        first = first_rows[0]
        if not isinstance(first, Mapping):
            raise DatasetError(
                f"{where}, row 1: it is a {type(first).__name__}, not an object with named fields"
            )
        fm = FieldMap.guess([str(key) for key in first], where=where)
    answer_field = "target_scores" if fm is None else fm.answer
    pool_name, test_name = pick_splits(source.splits, answer_field, where=where)

    def convert(split: str) -> list[Sample]:
        label = where if split == SINGLE_SPLIT else f"{where} (split {split!r})"
        prefix = id_prefix if split == SINGLE_SPLIT else f"{id_prefix}-{split}"
        if fm is None:
            return bigbench_samples(
                source.splits[split], id_prefix=prefix, task_prefix=source.task_prefix, where=label
            )
        return rows_to_samples(source.splits[split], fm, where=label, id_prefix=prefix)

    assert test_name is not None
    fields = "BIG-bench task format" if fm is None else f"fields {fm.to_spec()}"
    if pool_name is None:
        pool, test, info = split_pool_test(convert(test_name), seed=split_seed)
        if test_name != SINGLE_SPLIT:
            info["source_split"] = test_name
    else:
        pool, test = tuple(convert(pool_name)), tuple(convert(test_name))
        info = given_split_info(pool, test, pool_split=pool_name, test_split=test_name)
    if source.notes:
        info["notes"] = list(source.notes)
    return Dataset(
        name=name, pool=pool, test=test, source=f"{where} ({fields})", split=info
    ).validate()


def load_path(path: Path, *, field_map: FieldMap | None, split_seed: int) -> Dataset:
    """Load a user file or folder as a Dataset."""
    if not path.exists():
        raise DatasetError(f"the dataset file or folder {path} does not exist")
    source = read_source(path)
    name = path.stem if path.is_file() else path.name
    return samples_from_source(
        source, field_map, where=str(path), id_prefix=name, split_seed=split_seed, name=name
    )
