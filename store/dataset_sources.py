"""Cataloguing a dataset source: load it through ``core.datasets`` (which validates every row),
then record its splits, row counts and a content checksum. Shared by the CLI and the TUI."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.cache import content_hash
from core.samples import Dataset, sample_key

if TYPE_CHECKING:
    from store.domain import DatasetEntry
    from store.facade import Store

BUILTIN_PREFIX = "builtin:"
HUB_PREFIX = "hf:"


def default_name(source: str) -> str:
    text = source.strip()
    if text.startswith(BUILTIN_PREFIX):
        name = text[len(BUILTIN_PREFIX) :]
    elif text.startswith(HUB_PREFIX):
        repo, _, config = text[len(HUB_PREFIX) :].partition(":")
        name = repo.rstrip("/").split("/")[-1] + (f"-{config}" if config else "")
    else:
        path = Path(text).expanduser()
        name = path.name if path.is_dir() else path.stem
    return "-".join(name.split()) or "dataset"


def source_kind(source: str) -> str:
    text = source.strip()
    if text.startswith(BUILTIN_PREFIX):
        return "builtin"
    if text.startswith(HUB_PREFIX):
        return "hub"
    return "folder" if Path(text).expanduser().is_dir() else "file"


def summarize(dataset: Dataset) -> tuple[dict[str, Any], int, str]:
    """Splits (row counts and how they were made), total rows, and a content checksum."""
    pool = [sample_key(s) for s in dataset.pool]
    test = [sample_key(s) for s in dataset.test]
    splits = {"pool": len(pool), "test": len(test), "split": dict(dataset.split or {})}
    return splits, len(pool) + len(test), content_hash({"pool": pool, "test": test})


def add_dataset_source(
    store: Store, source: str, *, name: str | None = None, field_map: str | None = None
) -> DatasetEntry:
    """Load ``source`` (validating it) and catalogue it; shared by the CLI and the TUI."""
    from core.datasets import BUILTIN_DATASETS, FieldMap, load_dataset

    parsed = FieldMap.parse(field_map) if field_map else None
    dataset = load_dataset(source, field_map=parsed)
    splits, rows, checksum = summarize(dataset)
    text = source.strip()
    builtin = text[len(BUILTIN_PREFIX) :] if text.startswith(BUILTIN_PREFIX) else None
    if source_kind(text) in ("file", "folder"):
        text = str(Path(text).expanduser().resolve())
    return store.add_dataset(
        name or default_name(source),
        text,
        kind=source_kind(source),
        description=BUILTIN_DATASETS.get(builtin, "") if builtin else "",
        field_map={"spec": parsed.to_spec(), **dataclasses.asdict(parsed)} if parsed else None,
        splits=splits,
        rows=rows,
        checksum=checksum,
    )


def builtin_dataset_details() -> dict[str, tuple[dict[str, Any], int, str]]:
    """Splits, rows and checksum of each built-in dataset that loads here (under a second)."""
    from core.datasets import BUILTIN_DATASETS, load_dataset
    from core.errors import SaTuiError

    details: dict[str, tuple[dict[str, Any], int, str]] = {}
    for name in BUILTIN_DATASETS:
        try:
            details[name] = summarize(load_dataset(f"{BUILTIN_PREFIX}{name}"))
        except SaTuiError:
            continue  # a missing data package: the entry stays, without counts
    return details
