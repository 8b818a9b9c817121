"""Readers: a JSONL/JSON/CSV/Parquet file or a folder becomes named splits of raw rows
(``{"train": [...], "test": [...]}``, or a single ``"data"`` split)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from core.errors import DatasetError

SUPPORTED_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
SINGLE_SPLIT = "data"
TEST_SPLIT_NAMES = ("test", "validation", "valid", "val", "dev")


@dataclass
class RawSource:
    """Rows read from a file or folder, by split name, before any field mapping."""

    splits: dict[str, list[Any]]
    task_prefix: str = ""
    notes: list[str] = field(default_factory=list)


def read_source(path: Path) -> RawSource:
    """Read a supported file, or a folder (``datasets.save_to_disk`` output or split files)."""
    if path.is_dir():
        return _read_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return RawSource({SINGLE_SPLIT: _read_jsonl(path)})
    if suffix == ".json":
        return _read_json(path)
    if suffix == ".csv":
        return RawSource({SINGLE_SPLIT: _read_csv(path)})
    if suffix == ".parquet":
        return RawSource({SINGLE_SPLIT: _read_parquet(path)})
    raise DatasetError(
        f"{path} has an unsupported type {suffix or '(no suffix)'!r}; use {', '.join(SUPPORTED_SUFFIXES)} "
        "or a folder written by datasets.save_to_disk"
    )


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DatasetError(f"{path} could not be read ({error.strerror or error})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DatasetError(
            f"{path} is not UTF-8 text (byte 0x{data[error.start]:02x} on line {line}); save it as UTF-8"
        ) from None
    if not text.strip():
        raise DatasetError(f"{path} is empty")
    return text


def _read_jsonl(path: Path) -> list[Any]:
    rows = []
    for line_number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise DatasetError(
                f"{path}, line {line_number}: not valid JSON ({error.msg})"
            ) from None
    return rows


def _read_json(path: Path) -> RawSource:
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path} is not valid JSON (line {error.lineno}: {error.msg})") from None
    if isinstance(data, list):
        return RawSource({SINGLE_SPLIT: data})
    if isinstance(data, dict) and isinstance(data.get("examples"), list):  # a BIG-bench task file
        prefix = data.get("task_prefix")
        return RawSource(
            {SINGLE_SPLIT: data["examples"]}, task_prefix=prefix if isinstance(prefix, str) else ""
        )
    if isinstance(data, dict) and data and all(isinstance(rows, list) for rows in data.values()):
        return RawSource({str(name): rows for name, rows in data.items()})
    raise DatasetError(
        f"{path} holds a JSON {'object' if isinstance(data, dict) else type(data).__name__} that is not a list of rows, an object of splits "
        "(train/test/...), or a BIG-bench task with 'examples'"
    )


def _read_csv(path: Path) -> list[Any]:
    try:
        reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
        rows = [{key: value for key, value in row.items() if key is not None} for row in reader]
    except csv.Error as error:
        raise DatasetError(f"{path} is not a readable CSV file ({error})") from None
    if not rows:
        raise DatasetError(f"{path} has a header line but no rows")
    return rows


def _read_parquet(path: Path) -> list[Any]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ... for damaged files
        raise DatasetError(f"{path} could not be read as Parquet ({error})") from None
    if table.num_rows == 0:
        raise DatasetError(f"{path} is empty (no rows)")
    return cast(list[Any], table.to_pylist())


def read_saved_split(folder: Path) -> list[Any]:
    """Rows of one ``datasets.save_to_disk`` Dataset folder (not a DatasetDict)."""
    import datasets

    saved = _load_from_disk(folder)
    if isinstance(saved, datasets.DatasetDict):
        raise DatasetError(
            f"{folder} holds the splits {', '.join(saved)}, not a single Dataset folder"
        )
    return saved.to_list()


def read_saved_dataset(folder: Path) -> dict[str, list[Any]]:
    """Rows of a ``datasets.save_to_disk`` folder by split (a Dataset is the single split)."""
    import datasets

    saved = _load_from_disk(folder)
    if isinstance(saved, datasets.DatasetDict):
        return {str(name): split.to_list() for name, split in saved.items()}
    return {SINGLE_SPLIT: saved.to_list()}


def _load_from_disk(folder: Path) -> Any:
    """``datasets.load_from_disk`` (a Dataset or a DatasetDict), its errors as DatasetError."""
    import datasets

    with _no_progress_bars():
        try:
            return datasets.load_from_disk(str(folder))
        except Exception as error:  # FileNotFoundError, JSON and Arrow errors, ...
            raise DatasetError(
                f"{folder} could not be read as a datasets.save_to_disk folder ({_first_line(error)})"
            ) from None


def read_arrow_files(files: list[Path]) -> list[Any]:
    """Rows of Arrow files as ``datasets`` writes them (IPC streams), in the order given."""
    import datasets

    rows: list[Any] = []
    for file in files:
        try:
            rows.extend(datasets.Dataset.from_file(str(file)).to_list())
        except Exception as error:  # pyarrow's ArrowInvalid, OSError, ...
            raise DatasetError(
                f"{file} could not be read as an Arrow file ({_first_line(error)})"
            ) from None
    return rows


@contextmanager
def _no_progress_bars() -> Iterator[None]:
    """Keep ``datasets``' progress bars off the terminal (the previous setting is restored)."""
    import datasets

    already_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not already_disabled:
            datasets.enable_progress_bars()


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _read_folder(folder: Path) -> RawSource:
    if (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file():
        return RawSource(read_saved_dataset(folder))
    arrow_files = sorted(folder.glob("*.arrow"))
    if arrow_files:
        return RawSource({SINGLE_SPLIT: read_arrow_files(arrow_files)})
    splits: dict[str, list[Any]] = {}
    for name in ("train", *TEST_SPLIT_NAMES):
        for suffix in SUPPORTED_SUFFIXES:
            file = folder / f"{name}{suffix}"
            if file.is_file():
                source = read_source(file)
                splits[name] = next(iter(source.splits.values()))
                break
    if not splits:
        raise DatasetError(
            f"{folder} is neither a folder written by datasets.save_to_disk nor one holding "
            f"train/test files ({', '.join(SUPPORTED_SUFFIXES)})"
        )
    return RawSource(splits)


# ---------------------------------------------------------------------------------------------
# named splits -> pool and test
