"""``sa-tui prompts list|show|diff|alias``: versioned n-shot contexts.

A PROMPT_REF is ``lineage`` (its latest version), ``lineage@vN`` or ``lineage@alias``.
"""

from __future__ import annotations

import argparse
from typing import Any

from sa_tui.commands.common import (
    add_output_format,
    guarded,
    open_store,
    print_json,
    print_table,
    short_time,
    wants_json,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prompts",
        help="prompt versions: list, show, diff, alias",
        description="Every built context is kept as an immutable version of its lineage; "
        "refer to one as lineage, lineage@vN or lineage@alias.",
    )
    commands = parser.add_subparsers(dest="prompts_command", metavar="ACTION", required=True)

    listing = commands.add_parser("list", help="list prompt versions, newest first (or lineages)")
    listing.add_argument("--lineage", help="only this lineage")
    listing.add_argument("--search", help="text in the lineage, method, model or dataset")
    listing.add_argument(
        "--lineages", action="store_true", help="one line per lineage instead of per version"
    )
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    listing.add_argument("--offset", type=int, default=0, help="skip this many (paging)")
    add_output_format(listing)
    listing.set_defaults(func=handle_list)

    show = commands.add_parser("show", help="one version: facts, scores and the context text")
    show.add_argument("ref", metavar="REF", help="lineage, lineage@vN or lineage@alias")
    add_output_format(show)
    show.set_defaults(func=handle_show)

    diff = commands.add_parser("diff", help="unified diff of two versions' context text")
    diff.add_argument("ref_a", metavar="REF_A")
    diff.add_argument("ref_b", metavar="REF_B")
    diff.set_defaults(func=handle_diff)

    alias = commands.add_parser("alias", help="point an alias (e.g. best) at a version")
    alias.add_argument("lineage", metavar="LINEAGE")
    alias.add_argument(
        "name", metavar="NAME", help="the alias: a letter, then letters, digits, . _ -"
    )
    alias.add_argument("version", metavar="VERSION", help="N, vN, or another alias of the lineage")
    add_output_format(alias)
    alias.set_defaults(func=handle_alias)


VERSION_COLUMNS = [
    ("ref", "PROMPT"),
    ("method", "METHOD"),
    ("shots", "SHOTS"),
    ("accuracy", "ACCURACY"),
    ("n", "N"),
    ("aliases", "ALIASES"),
    ("created", "CREATED"),
    ("run", "RUN"),
]
LINEAGE_COLUMNS = [
    ("lineage", "LINEAGE"),
    ("versions", "VERSIONS"),
    ("latest", "LATEST"),
    ("method", "METHOD"),
    ("aliases", "ALIASES"),
    ("updated", "UPDATED"),
]


@guarded
def handle_list(args: argparse.Namespace) -> int:
    with open_store(reading=True) as store:
        if args.lineages:
            summaries = store.list_lineages()
            if args.search:
                needle = args.search.lower()
                summaries = [
                    s
                    for s in summaries
                    if needle in f"{s.lineage} {s.method} {s.model} {s.dataset}".lower()
                ]
            if wants_json(args):
                print_json([s.to_dict() for s in summaries])
            else:
                rows = [
                    {
                        "lineage": s.lineage,
                        "versions": s.versions,
                        "latest": f"v{s.latest_version}",
                        "method": s.method,
                        "aliases": ", ".join(f"{k}=v{v}" for k, v in s.aliases.items()),
                        "updated": s.updated_at,
                    }
                    for s in summaries
                ]
                print_table(rows, LINEAGE_COLUMNS, empty="no prompt versions yet")
            return 0
        versions = store.list_prompt_versions(
            args.lineage, args.search, limit=max(1, args.limit), offset=max(0, args.offset)
        )
        scores = store.latest_scores([v.id for v in versions])
    if wants_json(args):
        out = []
        for version in versions:
            item = version.to_dict(content=False)
            score = scores.get(version.id)
            item["score"] = score.to_dict(predictions=False) if score else None
            out.append(item)
        print_json(out)
        return 0
    version_rows: list[dict[str, Any]] = []
    for version in versions:
        score = scores.get(version.id)
        version_rows.append(
            {
                "ref": version.ref,
                "method": version.method,
                "shots": version.n_shots,
                "accuracy": score.value if score else None,
                "n": score.n if score else None,
                "aliases": ", ".join(version.aliases) or None,
                "created": version.created_at,
                "run": version.run_id,
            }
        )
    print_table(version_rows, VERSION_COLUMNS, empty="no prompt versions match")
    return 0


@guarded
def handle_show(args: argparse.Namespace) -> int:
    with open_store(reading=True) as store:
        version = store.resolve_prompt(args.ref)
        scores = store.scores_for(version.id)
    if wants_json(args):
        print_json({**version.to_dict(), "scores": [s.to_dict(predictions=False) for s in scores]})
        return 0
    print(f"{version.ref}  (id {version.id}, aliases: {', '.join(version.aliases) or '-'})")
    print(
        f"method {version.method}  model {version.model}  dataset {version.dataset}  shots {version.n_shots}"
    )
    print(
        f"created {short_time(version.created_at)} by run {version.run_id or '-'}  content {version.content_hash[:16]}"
    )
    for score in scores:
        interval = (
            f" [{score.ci_low:.3f}, {score.ci_high:.3f}]"
            if score.ci_low is not None and score.ci_high is not None
            else ""
        )
        print(
            f"{score.metric} {score.value:.3f}{interval} on n={score.n} (run {score.run_id or '-'}, {score.parse_failures} parse failures)"
        )
    print()
    print(version.context or "(empty context: zero-shot)")
    return 0


@guarded
def handle_diff(args: argparse.Namespace) -> int:
    with open_store(reading=True) as store:
        text = store.diff_prompts(args.ref_a, args.ref_b)
    print(text, end="" if text else "the two contexts are identical\n")
    return 0


@guarded
def handle_alias(args: argparse.Namespace) -> int:
    with open_store() as store:
        version = store.set_alias(args.lineage, args.name, args.version)
    if wants_json(args):
        print_json(version.to_dict(content=False))
    else:
        print(f"{version.lineage}@{args.name} -> v{version.version}")
    return 0
