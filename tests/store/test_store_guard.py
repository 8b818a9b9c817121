"""A guarded database: a damaged file is refused in one sentence before anything writes to it;
``sa-tui db check`` and ``sa-tui db backup``; database errors met later are one sentence too."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from core.paths import data_dir
from sa_tui.cli import main
from store.facade import Store
from store.guard import DatabaseDamaged, database_error_sentence, integrity_check, quick_check

ROOT = Path(__file__).resolve().parents[2]


def _db() -> Path:
    return data_dir() / "sa-tui.db"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(path: Path) -> dict[str, str]:
    """Every file of the database (main, WAL, shared memory) with its digest."""
    return {p.name: _digest(p) for p in sorted(path.parent.glob(f"{path.name}*"))}


@pytest.fixture
def damaged(_isolated_home: Path) -> Path:
    """A database whose runs table's root page is damaged: plain reads still work (a count of
    runs succeeds), but SQLite's checks fail, as in the report that `runs list` said nothing."""
    with Store.open() as store:
        for i in range(200):
            store.start_run({"model": "m" * 200, "dataset": "d", "methods": ["io"], "i": i})
    path = _db()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    root = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = 'runs'").fetchone()
    page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    connection.close()
    data = bytearray(path.read_bytes())
    offset = (root[0] - 1) * page_size
    data[offset + 12 : offset + 40] = b"\x00" * 28
    path.write_bytes(bytes(data))
    check = sqlite3.connect(path)
    assert check.execute("SELECT count(*) FROM runs").fetchone() == (200,)  # reads still work
    check.close()
    return path


def test_a_damaged_database_is_refused_before_any_write(damaged: Path, capsys) -> None:
    before = _files(damaged)
    with pytest.raises(DatabaseDamaged, match="nothing was written"):
        Store.open()
    for argv in (["runs", "list"], ["prompts", "list"], ["models", "list"], ["db", "check"]):
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 2, argv
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: the database "), (argv, err)
        assert str(damaged) in lines[0] and "restore a backup" in lines[0]
        assert "Traceback" not in err and out == ""
    assert _files(damaged) == before


def test_headless_run_on_a_damaged_database_exits_2_and_writes_nothing(
    damaged: Path, tiny_model_dir: Path, tiny_dataset_dir: Path
) -> None:
    before = _files(damaged)
    process = subprocess.run(
        [sys.executable, "-m", "sa_tui", "run", "--model", str(tiny_model_dir)]
        + ["--dataset", str(tiny_dataset_dir), "--method", "io", "--shots", "2"]
        + ["--test-limit", "2", "--strategy", "random"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 2, process.stderr[-2000:]
    assert "Traceback" not in process.stderr
    errors = [line for line in process.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and ("is damaged" in errors[0] or "cannot be read" in errors[0])
    assert _files(damaged) == before


def test_db_check_and_backup_on_a_sound_database(_isolated_home: Path, tmp_path: Path, capsys):
    with Store.open() as store:
        store.start_run({"model": "m", "dataset": "d", "methods": ["io"]})
    assert main(["db", "check"]) == 0
    assert capsys.readouterr().out.strip().endswith(": ok")
    assert integrity_check(_db()) == []
    quick_check(_db())

    copy = tmp_path / "copy.db"
    assert main(["db", "backup", str(copy)]) == 0
    assert "backed up to" in capsys.readouterr().out
    restored = sqlite3.connect(copy)
    assert restored.execute("SELECT count(*) FROM runs").fetchone() == (1,)
    assert restored.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    restored.close()

    # an existing file is never overwritten; a missing folder is refused
    copy_digest = _digest(copy)
    assert main(["db", "backup", str(copy)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert _digest(copy) == copy_digest
    assert main(["db", "backup", str(tmp_path / "nowhere" / "x.db")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_backup_while_another_process_writes(_isolated_home: Path, tmp_path: Path) -> None:
    """The online backup is consistent while a run writes (the copy passes integrity_check)."""
    with Store.open() as store:
        store.start_run({"model": "m", "dataset": "d", "methods": ["io"]})
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from store.facade import Store\n"
            "with Store.open() as s:\n"
            "    for i in range(300):\n"
            "        s.start_run({'model': 'm', 'dataset': 'd', 'methods': ['io'], 'i': i})\n",
        ],
        cwd=ROOT,
    )
    copies = []
    try:
        for number in range(5):
            copies.append(tmp_path / f"during-{number}.db")
            assert main(["db", "backup", str(copies[-1])]) == 0
    finally:
        assert writer.wait(timeout=120) == 0
    for copy in copies:
        connection = sqlite3.connect(copy)
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("SELECT count(*) FROM runs").fetchone()[0] >= 1
        connection.close()


def test_database_errors_become_one_sentence() -> None:
    path = Path("/data/sa-tui.db")
    locked = database_error_sentence(sqlite3.OperationalError("database is locked"), path)
    assert "locked by another process" in locked and str(path) in locked
    full = database_error_sentence(sqlite3.OperationalError("database or disk is full"), path)
    assert "disk" in full and "full" in full
    other = database_error_sentence(sqlite3.DatabaseError("database disk image is malformed"), path)
    assert "sa-tui db check" in other and "\n" not in other
