"""Files a job writes for the user (``run --json``, ``experiment --report``): checked before any
work starts, written atomically, and never replacing a file that sa-tui did not write (or that
was changed since; see :mod:`store.export_marks`)."""

from __future__ import annotations

import os
from pathlib import Path

from core.atomic import write_text_atomic
from core.errors import ConfigError
from store.export_marks import is_own_file, record_file


def check_output_file(path: Path, kind: str, flag: str) -> Path:
    """The absolute target, refused (one sentence) unless it can be written without loss."""
    target = Path(os.path.abspath(path.expanduser()))
    if target.is_dir():
        raise ConfigError(f"{flag} {target} is a folder; give a file name")
    if (target.exists() or target.is_symlink()) and not is_own_file(target, kind):
        raise ConfigError(
            f"{flag} {target} already exists and is not an unchanged file sa-tui wrote; choose "
            "another name (sa-tui never replaces what it did not write)"
        )
    check_creatable(target.parent, flag)
    return target


def check_creatable(folder: Path, flag: str) -> None:
    """``folder`` exists as a folder, or is created now: a folder that cannot be made is found
    before any work, not after it (call this once every other check has passed)."""
    if folder.is_dir():
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"{flag}: cannot create the folder {folder} ({error.strerror or error})"
        ) from None


def write_output(target: Path, kind: str, text: str) -> Path:
    """Write ``text`` atomically and remember that sa-tui wrote it (so it may replace it)."""
    write_text_atomic(target, text)
    record_file(target, kind, kind)
    return target
