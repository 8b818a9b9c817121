"""Writing export files safely: inside the path given, atomically, never overwriting by surprise.

- :func:`child_path` joins a derived name to a directory and refuses anything that would land
  outside it (``..``, separators, absolute names, symlinks that lead elsewhere).
- :func:`prepare_target` replaces an existing target only when it is an earlier export of the
  same kind and ``force`` is given.
- files are written with :func:`core.atomic.write_text_atomic` (temporary file, then rename).
- :func:`write_dir_atomic` builds a folder next to the target and renames it into place.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from core.atomic import usual_permissions
from store.errors import StoreError

UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._@+-]+")


def _normal_mode(path: Path) -> None:
    """A temporary folder is created private; give the result the usual permissions."""
    os.chmod(path, usual_permissions(folder=True))


def safe_file_name(text: str, *, suffix: str = "") -> str:
    """``text`` made into one harmless file name (no separators, no leading dots)."""
    name = UNSAFE_CHARS.sub("_", text).strip("._") or "export"
    return name[:180] + suffix


def child_path(directory: Path, name: str) -> Path:
    """``directory/name``, refusing a name that is not a plain file name inside ``directory``."""
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or Path(name).is_absolute()
    ):
        raise StoreError(f"refusing the file name {name!r}: it would not stay inside {directory}")
    candidate = directory / name
    if candidate.resolve().parent != directory.resolve():
        raise StoreError(f"refusing the file name {name!r}: it would not stay inside {directory}")
    return candidate


def prepare_target(
    path: Path, *, force: bool, folder: bool, is_own: Callable[[Path], bool]
) -> Path:
    """The absolute target (its last component not resolved), checked; parents are created.

    An existing target is replaced only when it is an earlier export of the same kind
    (``is_own``) and ``force`` is given; an empty folder counts as nothing to lose. Anything else
    is refused, ``force`` or not: sa-tui never deletes what it did not write."""
    target = Path(os.path.abspath(Path(path).expanduser()))
    if target.exists() or target.is_symlink():
        if folder and not target.is_dir():
            raise StoreError(f"{target} is a file, not a dataset folder; choose another path")
        if not folder and target.is_dir() and not target.is_symlink():
            raise StoreError(f"{target} is a folder; give a file path")
        empty_folder = folder and not target.is_symlink() and not any(target.iterdir())
        if not empty_folder:
            if not is_own(target):
                raise StoreError(
                    f"{target} already exists and is not an unchanged sa-tui export of this "
                    "format; choose another path (sa-tui never replaces what it did not write)"
                )
            if not force:
                raise StoreError(
                    f"{target} is an earlier sa-tui export; pass --force to replace it"
                )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(
            f"cannot create the folder {target.parent}: {error.strerror or error}"
        ) from None
    return target


def write_dir_atomic(target: Path, build: Callable[[Path], None]) -> Path:
    """Build a folder with ``build(staging)`` and move it to ``target`` (replacing it, if any)."""
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    trash: Path | None = None
    try:
        build(staging)
        _normal_mode(staging)
        if target.exists() or target.is_symlink():
            trash = Path(
                tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old")
            )
            os.replace(target, trash / "previous")
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if trash is not None and (trash / "previous").exists() and not target.exists():
            os.replace(trash / "previous", target)  # put the old folder back
        raise
    finally:
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
    return target
