"""``sa-tui models pull|prune|alias`` and the disk-use columns of ``models list``.

``pull`` draws its progress on stderr: one line redrawn in place on a terminal, a line per
file (and every ten seconds) otherwise; ctrl+c cancels with exit status 130, keeping what was
downloaded so the same pull resumes.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TextIO

from sa_tui.commands.common import (
    add_output_format,
    fail,
    guarded,
    human_bytes,
    human_count,
    open_store,
    print_json,
    print_table,
    short_time,
    wants_json,
)

if TYPE_CHECKING:
    from store.hub_plan import PullPlan
    from store.hub_pull import PullProgress

EXIT_CANCELLED = 130
AGE = re.compile(r"^(\d+)\s*([smhdw]?)$")
AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "": 86400}
SPARSE_SECONDS = 10.0


def register(commands: argparse._SubParsersAction) -> None:
    pull = commands.add_parser(
        "pull",
        help="download a hub model into the Hugging Face cache and catalogue it",
        description="Download owner/name[@revision] from the Hugging Face hub (HF_ENDPOINT) into "
        "the standard cache (HF_HOME, HF_HUB_CACHE): safetensors, config and tokenizer files. "
        "ctrl+c cancels; pulling again resumes where it stopped.",
    )
    pull.add_argument(
        "source", metavar="REPO_ID[@REVISION]", help="e.g. HuggingFaceTB/SmolLM2-135M"
    )
    pull.add_argument("--name", help="a short name for the catalogue (default: the repo id)")
    pull.add_argument(
        "--allow-pickle",
        action="store_true",
        help="also download pickle weights (*.bin, *.pt): only for sources you trust",
    )
    pull.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="accept a model that ships its own Python code (auto_map)",
    )
    add_output_format(pull)
    pull.set_defaults(func=handle_pull)

    prune = commands.add_parser(
        "prune",
        help="free disk: converted copies and files sa-tui pulled, of models unused for a while",
        description="Delete what sa-tui itself wrote for models not used lately: converted "
        "copies, and the hub files `models pull` downloaded (never files it did not download).",
    )
    prune.add_argument(
        "--unused-for",
        default="30d",
        metavar="AGE",
        help="prune models not used for this long: 30d (default), 12h, 2w; 0 prunes all",
    )
    prune.add_argument(
        "--dry-run", action="store_true", help="say what would be deleted and freed, change nothing"
    )
    add_output_format(prune)
    prune.set_defaults(func=handle_prune)

    alias = commands.add_parser("alias", help="give a catalogued model another name")
    alias.add_argument(
        "name", metavar="NAME", help="the alias: a letter, then letters, digits, . _ -"
    )
    alias.add_argument("ref", metavar="REF", nargs="?", help="the model's name, ref or alias")
    alias.add_argument("--remove", action="store_true", help="forget the alias NAME")
    add_output_format(alias)
    alias.set_defaults(func=handle_alias)


# ------------------------------------------------------------------------------------ pull
def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def progress_text(event: PullProgress) -> str:
    """One line: the file, then the whole pull, its rate and time left."""
    file_part = f"{event.file} {human_bytes(event.file_done)}/{human_bytes(event.file_total)}"
    share = 100 * event.done // event.total if event.total else 100
    return (
        f"{file_part} | {event.files_done}/{event.files_total} files, "
        f"{human_bytes(event.done)}/{human_bytes(event.total)} {share}% | "
        f"{human_bytes(int(event.rate))}/s | ETA {duration_text(event.eta_seconds)}"
    )


class ProgressLine:
    """Draws pull progress on ``stream``: in place on a terminal, sparse lines otherwise."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last_line = 0.0
        self.files_done = 0
        self.last_text = ""
        self.drawn = False

    def __call__(self, event: PullProgress) -> None:
        if self.tty:
            width = shutil.get_terminal_size((80, 24)).columns - 1
            self.stream.write("\r\x1b[K" + progress_text(event)[:width])
            self.stream.flush()
            self.drawn = True
            return
        now = time.monotonic()
        finished_file = event.files_done > self.files_done
        self.files_done = event.files_done
        text = progress_text(event)
        if text != self.last_text and (
            finished_file or now - self.last_line >= SPARSE_SECONDS or event.finished
        ):
            self.last_line, self.last_text = now, text
            print(text, file=self.stream, flush=True)

    def clear(self) -> None:
        if self.tty and self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False


def plan_text(plan: PullPlan) -> str:
    skipped = f"; left out: {', '.join(plan.skipped)}" if plan.skipped else ""
    return (
        f"pulling {plan.repo_id}@{plan.revision} (commit {plan.commit[:12]}): "
        f"{len(plan.files)} files, {human_bytes(plan.total_bytes)} into {plan.cache_dir}{skipped}"
    )


@guarded
def handle_pull(args: argparse.Namespace) -> int:
    from jobs.pull import PullCancelled, pull_model

    line = ProgressLine()
    cancel = threading.Event()
    with open_store() as store:
        try:
            result = pull_model(
                store,
                args.source,
                name=args.name,
                allow_pickle=args.allow_pickle,
                trust_remote_code=args.trust_remote_code,
                on_plan=lambda plan: print(plan_text(plan), file=sys.stderr, flush=True),
                on_progress=line,
                cancel=cancel,
            )
        except (PullCancelled, KeyboardInterrupt) as stop:
            line.clear()
            done = (
                f" with {human_bytes(stop.done)} of {human_bytes(stop.total)} on disk"
                if (isinstance(stop, PullCancelled))
                else ""
            )
            print(
                f"cancelled{done}; run the same pull again to resume (nothing was catalogued)",
                file=sys.stderr,
            )
            return EXIT_CANCELLED
        finally:
            line.clear()
    entry, outcome = result.entry, result.outcome
    if wants_json(args):
        print_json(
            {
                "model": entry.to_dict(),
                "commit": result.plan.commit,
                "files": [f.filename for f in outcome.files],
                "fetched_bytes": outcome.fetched_bytes,
                "resumed_bytes": outcome.resumed_bytes,
                "cached_bytes": outcome.cached_bytes,
            }
        )
        return 0
    resumed = (
        f", resumed after {human_bytes(outcome.resumed_bytes)}" if outcome.resumed_bytes else ""
    )
    cached = f", {human_bytes(outcome.cached_bytes)} already cached" if outcome.cached_bytes else ""
    print(
        f"pulled {entry.name} at {result.plan.commit[:12]}: {human_bytes(outcome.fetched_bytes)} "
        f"downloaded{resumed}{cached}; {human_count(entry.parameters)} parameters, "
        f"{entry.dtype or 'unknown dtype'}, checksums recorded"
    )
    return 0


# ------------------------------------------------------------------------------------ prune
def parse_age(text: str) -> timedelta:
    match = AGE.match((text or "").strip())
    if match is None:
        raise ValueError(text)
    return timedelta(seconds=int(match.group(1)) * AGE_UNITS[match.group(2)])


@guarded
def handle_prune(args: argparse.Namespace) -> int:
    try:
        age = parse_age(args.unused_for)
    except ValueError:
        return fail(f"--unused-for {args.unused_for!r} is not an age; write e.g. 30d, 12h, 2w or 0")
    with open_store() as store:
        report = store.prune_models(unused_for=age, dry_run=args.dry_run)
    if wants_json(args):
        print_json(report.to_dict())
        return 0
    if not report.items:
        print(f"nothing to prune: no converted copy or pulled files unused for {args.unused_for}")
        return 0
    verb = "would delete" if report.dry_run else "deleted"
    for item in report.items:
        entry = f"; {item.drops_entry} leaves the catalogue" if item.drops_entry else ""
        print(
            f"{verb} the {item.what} of {item.label} ({human_bytes(item.freed_bytes)}, "
            f"last used {short_time(item.last_used)}){entry}"
        )
    total = human_bytes(report.freed_bytes)
    print(f"would free {total}" if report.dry_run else f"freed {total}")
    return 0


# ------------------------------------------------------------------------------------ alias
@guarded
def handle_alias(args: argparse.Namespace) -> int:
    if args.remove == bool(args.ref):
        return fail("give an alias and a model (NAME REF), or an alias and --remove")
    with open_store() as store:
        if args.remove:
            ref = store.remove_model_alias(args.name)
            message = f"removed the alias {args.name} (of {ref})"
            value: dict[str, Any] = {"alias": args.name, "ref": ref, "removed": True}
        else:
            entry = store.set_model_alias(args.name, args.ref)
            message = f"{args.name.strip()} -> {entry.name} ({entry.ref})"
            value = {"alias": args.name.strip(), "ref": entry.ref, "removed": False}
    if wants_json(args):
        print_json(value)
    else:
        print(message)
    return 0


# ------------------------------------------------------------------------------------ list
LIST_COLUMNS = [
    ("name", "NAME"),
    ("format", "FORMAT"),
    ("parameters", "PARAMS"),
    ("dtype", "DTYPE"),
    ("source", "SOURCE"),
    ("converted", "CONVERTED"),
    ("last_used", "LAST USED"),
    ("ref", "REF"),
]


def usage_row(usage: Any) -> dict[str, Any]:
    entry = usage.entry
    pulled = " (pulled)" if usage.pulled_bytes else ""
    return {
        "name": entry.name + (f" [{', '.join(usage.aliases)}]" if usage.aliases else ""),
        "format": entry.format,
        "parameters": human_count(entry.parameters),
        "dtype": entry.dtype,
        "source": human_bytes(usage.source_bytes) + pulled,
        "converted": human_bytes(usage.converted_bytes) if usage.converted_bytes else "-",
        "last_used": entry.last_used_at,
        "ref": entry.ref,
    }


def print_usage(usages: list[Any], on_disk: int) -> None:
    print_table(
        [usage_row(usage) for usage in usages],
        LIST_COLUMNS,
        empty="no models; add one with: sa-tui models add SOURCE (or models pull REPO_ID)",
    )
    if not usages:
        return
    source = sum(u.source_bytes for u in usages)
    converted = sum(u.converted_bytes for u in usages)
    pulled = sum(u.pulled_bytes for u in usages)
    print(
        f"\n{len(usages)} model(s): source files {human_bytes(source)}, converted copies "
        f"{human_bytes(converted)}; {human_bytes(on_disk)} on disk (shared files counted once); "
        f"{human_bytes(pulled)} pulled by sa-tui"
    )
