"""Fixtures for the store tests (helpers live in store_helpers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from store.facade import Store
from tests.store.store_helpers import make_model_folder


@pytest.fixture
def store(_isolated_home: Path) -> Iterator[Store]:
    opened = Store.open()
    yield opened
    opened.close()


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    return make_model_folder(tmp_path / "tiny-model")
