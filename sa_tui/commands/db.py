"""``sa-tui db check|backup``: the catalogue database's health and a safe copy of it."""

from __future__ import annotations

import argparse
from pathlib import Path

from sa_tui.commands.common import guarded


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "db",
        help="the catalogue database: check, backup",
        description="The SQLite database that holds the catalogue, the runs and every record.",
    )
    commands = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    check = commands.add_parser(
        "check", help="run SQLite's full integrity check (exit 2 when the file is damaged)"
    )
    check.set_defaults(func=handle_check)
    backup = commands.add_parser(
        "backup",
        help="copy the database to a new file with SQLite's online backup (safe during a run)",
    )
    backup.add_argument("path", type=Path, metavar="PATH", help="the new file to write")
    backup.set_defaults(func=handle_backup)


@guarded
def handle_check(args: argparse.Namespace) -> int:
    from store.engine import default_db_path
    from store.guard import DatabaseDamaged, integrity_check, restore_hint

    database = default_db_path()
    problems = integrity_check(database)
    if problems:
        more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        raise DatabaseDamaged(
            f"the database {database} fails the integrity check ({problems[0]}{more}); "
            f"{restore_hint(database)}"
        )
    state = "ok" if database.exists() else "ok (no database yet)"
    print(f"{database}: {state}")
    return 0


@guarded
def handle_backup(args: argparse.Namespace) -> int:
    from store.engine import default_db_path
    from store.guard import backup_to

    written = backup_to(default_db_path(), args.path)
    print(f"backed up to {written} ({written.stat().st_size} bytes)")
    return 0
