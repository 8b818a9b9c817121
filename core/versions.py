"""Library versions recorded with every run (they change numbers)."""

from __future__ import annotations

import platform
from importlib import metadata


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("sa-tui", "torch", "transformers", "captum", "shap", "tokenizers", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions
