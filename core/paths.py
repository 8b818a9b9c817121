"""Where sa-tui keeps its data: ``$SA_TUI_HOME`` if set, else the user data directory."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def data_dir() -> Path:
    """The sa-tui data directory, created on first use."""
    configured = os.environ.get("SA_TUI_HOME")
    root = (
        Path(configured).expanduser() if configured else Path(platformdirs.user_data_dir("sa-tui"))
    )
    root.mkdir(parents=True, exist_ok=True)
    return root


def models_dir() -> Path:
    path = data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def logs_dir() -> Path:
    path = data_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path
