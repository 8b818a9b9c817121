"""Writing export files safely: inside the path given, atomically, never overwriting by surprise.

- :func:`child_path` joins a derived name to a directory and refuses anything that would land
  outside it (``..``, separators, absolute names, symlinks that lead elsewhere).
- :func:`prepare_target` refuses an existing target unless ``force``.
- :func:`write_text_atomic` writes a temporary file next to the target and renames it over.
- :func:`write_dir_atomic` builds a folder next to the target and renames it into place.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from store.errors import StoreError

UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._@+-]+")


def _umask() -> int:
    """The process umask, read without changing it (Linux), else the common 0o022."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _normal_mode(path: Path, *, folder: bool) -> None:
    """Temporary files are created private; give the result the usual permissions."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


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


def prepare_target(path: Path, *, force: bool, folder: bool) -> Path:
    """The absolute target (its last component not resolved), checked; parents are created."""
    target = Path(os.path.abspath(Path(path).expanduser()))
    if target.exists() or target.is_symlink():
        if not force:
            raise StoreError(f"{target} already exists; pass --force to overwrite it")
        if folder and not target.is_dir():
            raise StoreError(f"{target} is a file, not a dataset folder; choose another path")
        if not folder and target.is_dir() and not target.is_symlink():
            raise StoreError(f"{target} is a folder; give a file path")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(
            f"cannot create the folder {target.parent}: {error.strerror or error}"
        ) from None
    return target


def write_text_atomic(target: Path, text: str) -> Path:
    handle = tempfile.NamedTemporaryFile(
        "w",
        encoding="utf-8",
        dir=target.parent,
        prefix=f".{target.name}.",
        suffix=".tmp",
        delete=False,
    )
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        _normal_mode(Path(handle.name), folder=False)
        os.replace(handle.name, target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return target


def write_dir_atomic(target: Path, build: Callable[[Path], None]) -> Path:
    """Build a folder with ``build(staging)`` and move it to ``target`` (replacing it, if any)."""
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    trash: Path | None = None
    try:
        build(staging)
        _normal_mode(staging, folder=True)
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
