"""Remembered UI settings (the theme, the last build form, measured costs) in
``<data dir>/settings.json``.

``load_settings`` is the one place the file is read and checked. A file that cannot be used as it
is (not JSON, not an object, a field of the wrong type) is never lost: it is moved aside to
``settings.json.broken-YYYYmmdd-HHMMSS`` before anything writes the settings again, and the user
gets one sentence saying so. Fields of the wrong type fall back to their defaults one by one; the
fields that were right are kept (and written back at once, so the next start is quiet). Keys this
version does not know are kept as they are.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from core.atomic import write_json_atomic
from core.paths import data_dir

SETTINGS_FILE = "settings.json"
KNOWN_FIELDS = ("theme", "build_form", "costs")


@dataclass(frozen=True)
class Settings:
    theme: str | None = None
    build_form: dict[str, Any] = field(default_factory=dict)  # the Build form, field -> value
    costs: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> seconds per unit
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    def to_json(self) -> dict[str, Any]:
        return {
            **self.extra,
            "theme": self.theme,
            "build_form": dict(self.build_form),
            "costs": {model: dict(units) for model, units in self.costs.items()},
        }


class LoadedSettings(NamedTuple):
    settings: Settings
    warning: str | None  # one sentence for the user, or None when the file was fine or absent
    may_save: bool  # False when a broken file could not be moved aside: do not overwrite it


def settings_path() -> Path:
    return data_dir() / SETTINGS_FILE


def settings_from_json(data: dict[str, Any]) -> tuple[Settings, list[str]]:
    """Settings from a decoded file, and what was wrong in it (those parts use defaults)."""
    problems: list[str] = []
    theme = data.get("theme")
    if theme is not None and not isinstance(theme, str):
        problems.append("theme is not a string")
        theme = None
    build_form = data.get("build_form", {})
    if not isinstance(build_form, dict):
        problems.append("build_form is not an object")
        build_form = {}
    costs = _read_costs(data.get("costs", {}), problems)
    extra = {key: value for key, value in data.items() if key not in KNOWN_FIELDS}
    return Settings(theme, dict(build_form), costs, extra), problems


def _read_costs(value: Any, problems: list[str]) -> dict[str, dict[str, float]]:
    """Per-model unit costs: each an object of numbers, empty or with both ``pass`` and ``step``."""
    if not isinstance(value, dict):
        problems.append("costs is not an object")
        return {}
    costs: dict[str, dict[str, float]] = {}
    for model, units in value.items():
        if (
            isinstance(units, dict)
            and all(_is_number(cost) for cost in units.values())
            and (not units or {"pass", "step"} <= units.keys())
        ):
            costs[model] = {unit: float(cost) for unit, cost in units.items()}
        else:
            problems.append(f"the costs of {model} are not numbers for pass and step")
    return costs


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def load_settings(path: Path | None = None) -> LoadedSettings:
    """The saved settings; defaults (and one sentence why) when the file cannot be used as is."""
    path = path or settings_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return LoadedSettings(Settings(), None, True)
    except OSError as error:
        reason = error.strerror or str(error)
        return LoadedSettings(
            Settings(),
            f"{path.name} could not be read ({reason}); using defaults, and it is left as it is.",
            False,
        )
    try:
        data = json.loads(raw)
    except ValueError as error:
        return _set_aside(path, Settings(), f"it is not valid JSON: {_json_reason(error)}")
    if not isinstance(data, dict):
        return _set_aside(path, Settings(), f"it holds {_json_kind(data)}, not an object")
    settings, problems = settings_from_json(data)
    if problems:
        return _set_aside(path, settings, "; ".join(problems), partly=True)
    return LoadedSettings(settings, None, True)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    return "null"


def _json_reason(error: ValueError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {error.lineno} column {error.colno}"
    return str(error)  # not UTF-8


def _set_aside(
    path: Path, settings: Settings, reason: str, *, partly: bool = False
) -> LoadedSettings:
    """Move the unusable file aside, then say so in one sentence."""
    try:
        kept = keep_aside(path)
    except OSError as error:
        return LoadedSettings(
            settings,
            f"{path.name} could not be read ({reason}); using defaults, and it is left as it is "
            f"because it could not be moved aside ({error.strerror or error}).",
            False,
        )
    if partly:
        save_settings(settings, path)  # the fields that were right survive the next start
        return LoadedSettings(
            settings,
            f"{path.name} had settings of the wrong type ({reason}); those use their defaults, "
            f"the file was kept as {kept.name}.",
            True,
        )
    return LoadedSettings(
        settings,
        f"{path.name} could not be read ({reason}); using defaults, the file was kept as {kept.name}.",
        True,
    )


def keep_aside(path: Path) -> Path:
    """Rename ``path`` to a free ``<name>.broken-YYYYmmdd-HHMMSS[-N]`` beside it; its bytes stay."""
    stem = f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}"
    target = path.with_name(stem)
    number = 1
    while target.exists():
        number += 1
        target = path.with_name(f"{stem}-{number}")
    os.replace(path, target)
    return target


def save_settings(settings: Settings, path: Path | None = None) -> bool:
    """Write the settings file atomically; False (and nothing changed) when it cannot be written."""
    try:
        write_json_atomic(path or settings_path(), settings.to_json(), sort_keys=True)
    except OSError:
        return False
    return True
