"""Remembered UI settings (the theme, the last build form) in ``<data dir>/settings.json``."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from core.paths import data_dir


def settings_path() -> Path:
    return data_dir() / "settings.json"


def load_settings() -> dict[str, Any]:
    """The saved settings, or {} when there are none or the file is unreadable."""
    try:
        with settings_path().open(encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_settings(**changes: Any) -> None:
    """Merge ``changes`` into the settings file (atomically; failures are ignored)."""
    data = load_settings()
    data.update(changes)
    path = settings_path()
    try:
        handle, temporary = tempfile.mkstemp(prefix=".settings.", dir=str(path.parent))
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True)
        os.replace(temporary, path)
    except OSError:
        pass
