"""Loading multiple-choice datasets: built-ins, user files and folders, and hub datasets.

``load_dataset(ref)`` understands three kinds of reference:

- ``builtin:NAME``: one of :data:`BUILTIN_DATASETS`, read from installed/vendored files;
- a path to a ``.jsonl``/``.json``/``.csv``/``.parquet`` file or a ``datasets.save_to_disk``
  folder (a DatasetDict with train/validation/test splits, or a single Dataset);
- ``hf:owner/name`` or ``hf:owner/name:config``: a Hugging Face hub dataset (needs the network).

Sources with a train split use it as the selection pool and their test (else validation) split
as the test set; the others are split by :func:`split_pool_test` with ``split_seed``, and the
returned ``Dataset.split`` records how.
"""

from __future__ import annotations

from pathlib import Path

from core.datasets.builtin import BUILTIN_DATASETS, load_builtin
from core.datasets.fieldmap import FieldMap
from core.datasets.files import load_path
from core.datasets.hub import load_hub
from core.datasets.splits import split_pool_test
from core.errors import DatasetError
from core.samples import Dataset

__all__ = ["BUILTIN_DATASETS", "FieldMap", "load_dataset", "split_pool_test"]

BUILTIN_PREFIX = "builtin:"
HUB_PREFIX = "hf:"


def load_dataset(ref: str, *, field_map: FieldMap | None = None, split_seed: int = 0) -> Dataset:
    """Load and validate the dataset that ``ref`` names (see the module docstring)."""
    ref = ref.strip()
    if not ref:
        raise DatasetError(
            "no dataset was given; name a built-in (e.g. builtin:arc-challenge), a file, or hf:owner/name"
        )
    if ref.startswith(BUILTIN_PREFIX):
        return load_builtin(ref[len(BUILTIN_PREFIX) :].strip(), split_seed=split_seed)
    if ref.startswith(HUB_PREFIX):
        return load_hub(ref[len(HUB_PREFIX) :], field_map=field_map, split_seed=split_seed)
    path = Path(ref).expanduser()
    if not path.exists():
        hint = (
            f" (for the built-in dataset, write {BUILTIN_PREFIX}{ref})"
            if ref in BUILTIN_DATASETS
            else ""
        )
        raise DatasetError(f"the dataset file or folder {ref} does not exist{hint}")
    return load_path(path, field_map=field_map, split_seed=split_seed)
