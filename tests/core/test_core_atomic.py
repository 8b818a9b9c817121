"""core.atomic: the one atomic-file helper (text, JSON, bytes, and a path to fill)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from core.atomic import (
    replacing,
    usual_permissions,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_text_json_and_bytes_replace_the_file_with_usual_permissions(tmp_path: Path) -> None:
    target = tmp_path / "deeper" / "out.txt"
    assert write_text_atomic(target, "first\n") == target
    write_text_atomic(target, "é second\n")
    assert target.read_text(encoding="utf-8") == "é second\n"
    assert _mode(target) == usual_permissions(folder=False)  # not mkstemp's private 0o600
    write_bytes_atomic(target, b"\x00\xff")
    assert target.read_bytes() == b"\x00\xff"
    write_json_atomic(tmp_path / "v.json", {"b": 1, "a": "ü"}, sort_keys=True)
    assert (tmp_path / "v.json").read_text(encoding="utf-8") == '{\n  "a": "ü",\n  "b": 1\n}\n'
    assert _leftovers(tmp_path) == [] and _leftovers(target.parent) == []


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "kept.json"
    write_json_atomic(target, {"old": True})
    with pytest.raises(TypeError):
        write_json_atomic(target, {"bad": object()})
    with pytest.raises(RuntimeError), replacing(target) as temporary:
        temporary.write_text("half", encoding="utf-8")
        raise RuntimeError("interrupted")
    assert json.loads(target.read_text(encoding="utf-8")) == {"old": True}
    assert _leftovers(tmp_path) == []


def test_replacing_gives_a_path_beside_the_target(tmp_path: Path) -> None:
    target = tmp_path / "db.bak"
    with replacing(target) as temporary:
        assert temporary.parent == tmp_path and temporary != target
        assert not target.exists()
        temporary.write_bytes(b"made by another writer")
    assert target.read_bytes() == b"made by another writer"
    assert _leftovers(tmp_path) == []


def test_usual_permissions_follow_the_umask() -> None:
    previous = os.umask(0o027)
    try:
        assert usual_permissions(folder=False) == 0o640
        assert usual_permissions(folder=True) == 0o750
    finally:
        os.umask(previous)


# ------------------------------------------------------------------------------------ its users
def test_timings_are_written_through_core_atomic() -> None:
    from jobs import timings

    timings.record("load", "builtin:x", 1.234)
    timings.record("convert", "builtin:x", 20)
    assert timings.measured("load", "builtin:x") == 1.23
    assert json.loads(timings.timings_path().read_text(encoding="utf-8")) == {
        "convert": {"builtin:x": 20.0},
        "load": {"builtin:x": 1.23},
    }
    assert _leftovers(timings.timings_path().parent) == []
