"""The themes of ``themes/`` as Textual ``Theme`` objects, and the UI's own theme variables."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

THEMES_DIR = Path(__file__).resolve().parent.parent / "themes"
STYLESHEET = THEMES_DIR / "app.tcss"
DEFAULT_THEME = "sa-dark"

# Fallbacks for the UI's variables, used when a built-in Textual theme is chosen.
VARIABLE_DEFAULTS = {
    "heat-negative": "#2f7fd7",
    "heat-zero": "#262626",
    "heat-positive": "#e8702a",
    "heat-text": "#e4e4e4",
    "heat-top": "#ffd75f",
    "stage-done": "#5fd787",
    "stage-active": "#5fafff",
}


@cache
def theme_data() -> dict[str, dict[str, Any]]:
    with (THEMES_DIR / "themes.json").open(encoding="utf-8") as handle:
        data: dict[str, dict[str, Any]] = json.load(handle)
    return data


def theme_names() -> list[str]:
    return list(theme_data())


def load_themes() -> list[Any]:
    from textual.theme import Theme

    return [Theme(name=name, **fields) for name, fields in theme_data().items()]
