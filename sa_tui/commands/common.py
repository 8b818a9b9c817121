"""Shared helpers of the catalogue commands: output as a table or JSON, and one-sentence errors.

Every handler is wrapped by :func:`guarded`: a :class:`core.errors.SaTuiError` (or an OSError)
prints ``error: <sentence>`` on stderr and returns exit code 2, with no traceback.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import sys
import tempfile
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import SaTuiError

if TYPE_CHECKING:
    from store.facade import Store

OUTPUT_FORMATS = ("table", "json")
EXIT_ERROR = 2

Handler = Callable[[argparse.Namespace], int]


def add_output_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        dest="output_format",
        choices=OUTPUT_FORMATS,
        default="table",
        help="table (default) or json",
    )


def wants_json(args: argparse.Namespace) -> bool:
    return getattr(args, "output_format", "table") == "json"


def open_store(*, reading: bool = False) -> Store:
    """The store in the sa-tui data directory (``$SA_TUI_HOME`` if set). A command that only
    reads (``reading``) never creates it: with no database yet, it reads an empty catalogue made
    in a temporary folder (removed afterwards), so a look-up in a fresh data directory leaves
    nothing behind."""
    from store.engine import default_db_path
    from store.facade import Store

    if not reading or default_db_path().exists():
        return Store.open()
    folder = tempfile.mkdtemp(prefix="sa-tui-empty-")
    store = Store.open(Path(folder) / "sa-tui.db")
    weakref.finalize(store, shutil.rmtree, folder, True)
    return store


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def guarded(handler: Handler) -> Handler:
    """Turn user-facing errors into one line on stderr and exit code 2."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return int(handler(args) or 0)
        except SaTuiError as error:
            return fail(str(error))
        except OSError as error:
            where = f" ({error.filename})" if getattr(error, "filename", None) else ""
            return fail(f"{error.strerror or error}{where}")
        except Exception as error:
            from store.engine import default_db_path
            from store.guard import database_error_sentence, is_database_error

            if not is_database_error(error):
                raise
            return fail(database_error_sentence(error, default_db_path()))

    return run


def print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def print_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    empty: str = "nothing to show",
) -> None:
    """Rows as aligned text columns; ``columns`` are (key, header) pairs."""
    if not rows:
        print(empty)
        return
    cells = [[cell_text(row.get(key)) for key, _ in columns] for row in rows]
    headers = [header for _, header in columns]
    widths = [max(len(headers[i]), *(len(line[i]) for line in cells)) for i in range(len(columns))]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for line in cells:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def cell_text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return short_time(value)
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value).replace("\n", " ")


def short_time(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


def human_bytes(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover


def human_count(value: int | None) -> str:
    if value is None:
        return "-"
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{value / limit:.1f}{suffix}"
    return str(value)
