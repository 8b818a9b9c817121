"""How sa-tui recognises its own exports, so that ``--force`` replaces only what sa-tui wrote.

- A folder export (``hf-dataset``) carries a marker file, ``sa-tui-export.json``, listing the
  format, the prompt version and the SHA-256 of every file beside it. The folder is sa-tui's when
  the marker says the same format and the folder holds exactly those files, unchanged.
- A file export is recorded in ``<data dir>/exports.json`` (its absolute path, format and
  SHA-256). The file is sa-tui's when that record matches its current content.

Anything else (a file or folder a person made, an export edited or added to since) is never
replaced, ``--force`` or not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from filelock import FileLock

from core.atomic import write_json_atomic
from core.paths import data_dir
from store.weights import sha256_file

MARKER = "sa-tui-export.json"
WRITTEN_BY = "sa-tui"


def _folder_files(folder: Path) -> dict[str, Path]:
    """Every entry below ``folder`` by its relative path (folders and links included)."""
    return {entry.relative_to(folder).as_posix(): entry for entry in folder.rglob("*")}


# ------------------------------------------------------------------------------ folder exports
def write_folder_marker(folder: Path, fmt: str, prompt: str) -> None:
    """Record the files of a finished folder export in its marker (call before it is moved)."""
    files = {
        name: sha256_file(entry)
        for name, entry in sorted(_folder_files(folder).items())
        if entry.is_file() and name != MARKER
    }
    marker = {"written_by": WRITTEN_BY, "format": fmt, "prompt": prompt, "files": files}
    (folder / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def is_own_folder(folder: Path, fmt: str) -> bool:
    """Whether ``folder`` is an unchanged sa-tui export of format ``fmt``."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    try:
        marker: Any = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict) or marker.get("written_by") != WRITTEN_BY:
        return False
    files = marker.get("files")
    if marker.get("format") != fmt or not isinstance(files, dict):
        return False
    present = _folder_files(folder)
    present.pop(MARKER, None)
    folders = {name for name, entry in present.items() if entry.is_dir() and not entry.is_symlink()}
    listed = {name for name in present if name not in folders}
    if listed != set(files) or any(present[name].is_symlink() for name in listed):
        return False
    if any(not any(other.startswith(f"{name}/") for other in listed) for name in folders):
        return False  # an empty folder someone added
    return all(sha256_file(present[name]) == files[name] for name in listed)


# -------------------------------------------------------------------------------- file exports
def _registry_path() -> Path:
    return data_dir() / "exports.json"


def _read_registry() -> dict[str, Any]:
    try:
        data = json.loads(_registry_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_file(path: Path, fmt: str, prompt: str) -> None:
    """Remember that sa-tui wrote ``path`` (its current content) as a ``fmt`` export."""
    entry = {"format": fmt, "prompt": prompt, "sha256": sha256_file(path)}
    with FileLock(str(_registry_path()) + ".lock"):
        registry = _read_registry()
        registry[str(path)] = entry
        write_json_atomic(_registry_path(), registry, sort_keys=True)


def is_own_file(path: Path, fmt: str) -> bool:
    """Whether ``path`` is a ``fmt`` export that sa-tui wrote and nobody changed since."""
    if path.is_symlink() or not path.is_file():
        return False
    entry = _read_registry().get(str(path))
    if not isinstance(entry, dict) or entry.get("format") != fmt:
        return False
    return entry.get("sha256") == sha256_file(path)
