"""``sa-tui datasets add|list|rm``: the dataset catalogue.

Adding loads the dataset with ``core.datasets.load_dataset`` (imported when the command runs;
torch-free) so that a dataset that cannot be used (unknown answer keys, empty, not UTF-8) is
refused before anything is written; the entry records its splits, row counts and a checksum.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from sa_tui.commands.common import (
    add_output_format,
    guarded,
    open_store,
    print_json,
    print_table,
    wants_json,
)
from store.dataset_sources import add_dataset_source, default_name, source_kind, summarize

if TYPE_CHECKING:
    from store.domain import DatasetEntry

__all__ = ["add_dataset_source", "default_name", "register", "source_kind", "summarize"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "datasets",
        help="the dataset catalogue: add, list, rm",
        description="Multiple-choice datasets: the built-ins, JSONL/CSV/Parquet files or datasets "
        "folders (with a field mapping), or hf:owner/name when online.",
    )
    commands = parser.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)

    add = commands.add_parser("add", help="add (or refresh) a dataset")
    add.add_argument(
        "source",
        metavar="SOURCE",
        help="builtin:NAME, a .jsonl/.csv/.parquet file, a datasets folder, or hf:owner/name",
    )
    add.add_argument("--name", help="the catalogue name (default: from the source)")
    add.add_argument(
        "--field-map",
        metavar="SPEC",
        help="id=...,question=...,choices=a|b|c,answer=...,answer_format=label|index|index1|text",
    )
    add_output_format(add)
    add.set_defaults(func=handle_add)

    listing = commands.add_parser("list", help="list the catalogued datasets")
    add_output_format(listing)
    listing.set_defaults(func=handle_list)

    remove = commands.add_parser(
        "rm", help="remove a dataset from the catalogue (its files are kept)"
    )
    remove.add_argument("name", metavar="NAME")
    add_output_format(remove)
    remove.set_defaults(func=handle_rm)


def _row(entry: DatasetEntry) -> dict[str, Any]:
    splits = entry.splits or {}
    counts = f"{splits['pool']}/{splits['test']}" if "pool" in splits and "test" in splits else None
    return {
        "name": entry.name,
        "kind": entry.kind,
        "rows": entry.rows,
        "splits": counts,
        "checksum": entry.checksum[:12] if entry.checksum else None,
        "added": entry.added_at,
        "ref": entry.ref,
    }


COLUMNS = [
    ("name", "NAME"),
    ("kind", "KIND"),
    ("rows", "ROWS"),
    ("splits", "POOL/TEST"),
    ("checksum", "CHECKSUM"),
    ("added", "ADDED"),
    ("ref", "SOURCE"),
]


@guarded
def handle_add(args: argparse.Namespace) -> int:
    with open_store() as store:
        entry = add_dataset_source(store, args.source, name=args.name, field_map=args.field_map)
    if wants_json(args):
        print_json(entry.to_dict())
    else:
        splits = entry.splits
        print(
            f"added {entry.name}: {entry.rows} rows (pool {splits.get('pool')}, test {splits.get('test')})"
        )
    return 0


@guarded
def handle_list(args: argparse.Namespace) -> int:
    with open_store(reading=True) as store:
        entries = store.list_datasets()
    if wants_json(args):
        print_json([entry.to_dict() for entry in entries])
    else:
        print_table(
            [_row(entry) for entry in entries],
            COLUMNS,
            empty="no datasets; add one with: sa-tui datasets add SOURCE",
        )
    return 0


@guarded
def handle_rm(args: argparse.Namespace) -> int:
    with open_store() as store:
        entry = store.remove_dataset(args.name)
    if wants_json(args):
        print_json(entry.to_dict())
    else:
        print(f"removed {entry.name} from the catalogue (its files were not touched)")
    return 0
