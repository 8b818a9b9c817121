"""``sa-tui export PROMPT_REF --format FORMAT -o PATH [--force]``: a prompt version to a file."""

from __future__ import annotations

import argparse
from pathlib import Path

from sa_tui.commands.common import guarded, open_store

FORMATS = ("jsonl", "markdown", "text", "chat-json", "hf-dataset", "dspy")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a prompt version (jsonl, markdown, text, chat-json, hf-dataset, dspy)",
        description="Write a prompt version for another tool: jsonl (one shot per line), markdown, "
        "text (the context), chat-json (OpenAI-style messages), hf-dataset (a datasets.load_from_disk "
        "folder) or dspy (demos for Module.load). Refuses to overwrite without --force.",
    )
    parser.add_argument("ref", metavar="PROMPT_REF", help="lineage, lineage@vN or lineage@alias")
    parser.add_argument(
        "--format", dest="export_format", required=True, choices=FORMATS, help="the export format"
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        metavar="PATH",
        help="the file (or, for hf-dataset, folder) to write; an existing folder receives <lineage>@vN.<ext>",
    )
    parser.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    parser.set_defaults(func=handle_export)


@guarded
def handle_export(args: argparse.Namespace) -> int:
    from store.export import export_prompt, version_faithfulness

    with open_store(reading=True) as store:
        version = store.resolve_prompt(args.ref)
        faithfulness = version_faithfulness(store.scores_for(version.id))
    written = export_prompt(
        version, args.export_format, args.output, force=args.force, faithfulness=faithfulness
    )
    print(f"wrote {version.ref} as {args.export_format} to {written}")
    return 0
