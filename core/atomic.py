"""Atomic file writes: a temporary file in the same directory, then renamed into place.

A reader sees the old file or the new one, never half of one; a failed write leaves the old file
and no temporary behind. The result gets the permissions ``open()`` would have given it (the
temporary is created private). Standard library only: the UI process uses it too.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def process_umask() -> int:
    """The process umask, read without changing it (Linux), else the common 0o022."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def usual_permissions(*, folder: bool) -> int:
    """The mode a new file (0o666) or folder (0o777) gets under the process umask."""
    return (0o777 if folder else 0o666) & ~process_umask()


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for the caller to fill; renamed over ``path`` when the
    block ends normally, deleted when it raises. The caller flushes what it writes to disk."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, usual_permissions(folder=False))
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    with replacing(path) as temporary, temporary.open("wb") as out:
        _write_synced(out, data)
    return Path(path)


def write_text_atomic(path: Path, text: str) -> Path:
    with replacing(path) as temporary, temporary.open("w", encoding="utf-8") as out:
        _write_synced(out, text)
    return Path(path)


def write_json_atomic(path: Path, value: Any, *, sort_keys: bool = False) -> Path:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=sort_keys) + "\n"
    return write_text_atomic(path, text)


def _write_synced(out: Any, content: str | bytes) -> None:
    out.write(content)
    out.flush()
    os.fsync(out.fileno())
