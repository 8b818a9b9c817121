"""``sa-tui models add|list|verify|rm``: the model catalogue (pull, prune, alias: model_store)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sa_tui.commands import model_store
from sa_tui.commands.common import (
    add_output_format,
    guarded,
    human_bytes,
    human_count,
    open_store,
    print_json,
    wants_json,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="the model catalogue: add, pull, list, verify, rm, prune, alias",
        description="Models on this machine: a local folder, a .gguf file, a Hugging Face cache or hub "
        "id (read in place, never copied), or builtin:smollm2-135m; `pull` downloads a hub model.",
    )
    commands = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    add = commands.add_parser("add", help="add a model (folder, .gguf, hub id, builtin:NAME)")
    add.add_argument(
        "source",
        metavar="SOURCE",
        help="builtin:smollm2-135m, a folder, a .gguf file or owner/name[@revision]",
    )
    add.add_argument("--name", help="a short name for the catalogue (default: from the source)")
    add.add_argument(
        "--allow-pickle",
        action="store_true",
        help="accept pickle weights (*.bin, *.pt): only for sources you trust",
    )
    add.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="accept a model that ships its own Python code (auto_map); recorded on the entry, "
        "and each run of it still needs sa-tui run --trust-remote-code",
    )
    add_output_format(add)
    add.set_defaults(func=handle_add)

    listing = commands.add_parser("list", help="list the catalogued models with size on disk")
    add_output_format(listing)
    listing.set_defaults(func=handle_list)

    verify = commands.add_parser(
        "verify", help="check files, config and sha256 checksums against those recorded"
    )
    verify.add_argument("ref", metavar="REF", help="the model's name or ref")
    hashing = verify.add_mutually_exclusive_group()
    hashing.add_argument(
        "--no-checksums", action="store_true", help="skip hashing the weight files"
    )
    hashing.add_argument(
        "--rehash",
        action="store_true",
        help="re-baseline on purpose: record the current sha256 of every weight file",
    )
    add_output_format(verify)
    verify.set_defaults(func=handle_verify)

    remove = commands.add_parser("rm", help="remove a model; deletes only files sa-tui made")
    remove.add_argument("ref", metavar="REF", help="the model's name or ref")
    remove.add_argument(
        "--dry-run", action="store_true", help="say what would be removed and freed, change nothing"
    )
    add_output_format(remove)
    remove.set_defaults(func=handle_rm)

    model_store.register(commands)


LARGE_HASHING_BYTES = 256 * 1024 * 1024  # less than this is hashed without a progress bar


@contextmanager
def hashing_progress(what: str) -> Iterator[Callable[[int, int], None] | None]:
    """An ``on_bytes(done, total)`` drawing a progress bar on stderr, shown only on a terminal
    and only when there is enough to hash to take a while; None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn(what),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task: list[Any] = []

    def on_bytes(done: int, total: int) -> None:
        if total < LARGE_HASHING_BYTES:
            return
        if not task:
            bar.start()
            task.append(bar.add_task(what, total=total))
        bar.update(task[0], completed=done)

    try:
        yield on_bytes
    finally:
        bar.stop()


@guarded
def handle_add(args: argparse.Namespace) -> int:
    with open_store() as store, hashing_progress("sha256 of the weights") as on_bytes:
        entry = store.add_model(
            args.source,
            name=args.name,
            allow_pickle=args.allow_pickle,
            trust_remote_code=args.trust_remote_code,
            on_bytes=on_bytes,
        )
    if wants_json(args):
        print_json(entry.to_dict())
    else:
        print(
            f"added {entry.name} ({entry.format}, {human_count(entry.parameters)} parameters, "
            f"{entry.dtype or 'unknown dtype'}, {human_bytes(entry.size_bytes)})"
        )
        if entry.details.get("trust_remote_code"):
            print(
                "it runs its own Python code: each run of it needs sa-tui run --trust-remote-code"
            )
    return 0


@guarded
def handle_list(args: argparse.Namespace) -> int:
    from store.weights import disk_usage

    with open_store(reading=True) as store:
        usages = store.model_usage()
    if wants_json(args):
        print_json([{**usage.entry.to_dict(), **usage.to_dict()} for usage in usages])
        return 0
    entries = [usage.entry for usage in usages]
    paths = [Path(p) for entry in entries for p in (entry.local_path, entry.managed_path) if p]
    model_store.print_usage(usages, disk_usage(paths))
    return 0


@guarded
def handle_verify(args: argparse.Namespace) -> int:
    with open_store(reading=True) as store, hashing_progress("sha256 of the weights") as on_bytes:
        report = store.verify_model(
            args.ref, checksums=not args.no_checksums, rehash=args.rehash, on_bytes=on_bytes
        )
    if wants_json(args):
        print_json(report.to_dict())
    elif report.rehashed:
        print(
            f"re-baselined {args.ref}: recorded the current sha256 of {report.hashed} weight "
            f"file(s); later verifies compare against them"
        )
    elif report.ok:
        print(f"ok: {report.checked} file(s) checked, {report.hashed} checksum(s) compared")
    else:
        for problem in report.problems:
            print(f"problem: {problem}")
        if args.rehash:
            print("nothing was recorded: fix the problems above, then re-baseline")
    return 0 if report.ok else 1


@guarded
def handle_rm(args: argparse.Namespace) -> int:
    with open_store() as store:
        removal = store.remove_model(args.ref, dry_run=args.dry_run)
    if wants_json(args):
        print_json(removal.to_dict())
        return 0
    verb = "would delete" if removal.dry_run else "deleted"
    for path in removal.deleted_paths:
        print(f"{verb} {path}")
    for path in removal.kept_paths:
        print(f"kept {path} (not made by sa-tui)")
    done = "would remove" if removal.dry_run else "removed"
    print(
        f"{done} {removal.name}; {human_bytes(removal.freed_bytes)} {'would be ' if removal.dry_run else ''}freed"
    )
    return 0
