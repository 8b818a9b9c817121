"""The inputs of a run that need no model: its dataset and its test items (torch-free)."""

from __future__ import annotations

from core.config import RunConfig
from core.errors import ConfigError
from core.samples import Dataset, Sample


def load_run_dataset(config: RunConfig) -> Dataset:
    from core.datasets import FieldMap, load_dataset

    field_map = FieldMap.parse(config.field_map) if config.field_map else None
    return load_dataset(config.dataset, field_map=field_map)


def test_items(dataset: Dataset, config: RunConfig) -> list[Sample]:
    if config.test_limit > len(dataset.test):
        raise ConfigError(
            f"--test-limit {config.test_limit} is more than the {len(dataset.test)} test items of {config.dataset}"
        )
    return list(dataset.test[: config.test_limit])
