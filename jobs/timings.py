"""Measured durations on this machine (model conversion and loading), so that every note and
estimate says "about N s here" from a real measurement instead of a guess.

Kept in ``<data dir>/timings.json``: ``{"load": {ref: seconds}, "convert": {ref: seconds}}``.
Reading never fails (a missing or broken file means no measurement); writing is atomic and
best effort. Standard library only: the UI process reads it too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.atomic import write_json_atomic
from core.paths import data_dir

KINDS = ("load", "convert")


def timings_path() -> Path:
    return data_dir() / "timings.json"


def _read() -> dict[str, dict[str, float]]:
    try:
        data: Any = json.loads(timings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    clean: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        entries = data.get(kind)
        if isinstance(entries, dict):
            clean[kind] = {
                str(ref): float(value)
                for ref, value in entries.items()
                if isinstance(value, (int, float)) and value >= 0
            }
    return clean


def measured(kind: str, ref: str) -> float | None:
    """The last measured seconds of ``kind`` ("load" or "convert") for model ``ref``."""
    return _read().get(kind, {}).get(ref)


def record(kind: str, ref: str, seconds: float) -> None:
    """Remember a measurement (atomically; a failure to write is ignored)."""
    if kind not in KINDS:
        raise ValueError(f"unknown timing kind {kind!r}")
    data = _read()
    data.setdefault(kind, {})[ref] = round(float(seconds), 2)
    try:
        write_json_atomic(timings_path(), data, sort_keys=True)
    except OSError:
        pass


def about(seconds: float) -> str:
    """A readable duration: "about 40 s", "about 2 min"."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    return f"about {round(seconds / 60)} min"
