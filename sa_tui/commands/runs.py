"""``sa-tui runs list|show``: the runs and what each produced."""

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

STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "runs",
        help="runs: list them, show one",
        description="Runs written by sa-tui run and the UI.",
    )
    commands = parser.add_subparsers(dest="runs_command", metavar="ACTION", required=True)

    listing = commands.add_parser("list", help="list runs, newest first")
    listing.add_argument("--status", choices=STATUSES, help="only runs with this status")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    add_output_format(listing)
    listing.set_defaults(func=handle_list)

    show = commands.add_parser(
        "show", help="one run: configuration, progress, records, prompts and scores"
    )
    show.add_argument("run_id", metavar="RUN_ID", help="the run id (a unique prefix is enough)")
    add_output_format(show)
    show.set_defaults(func=handle_show)


def _summary(run: Any) -> dict[str, Any]:
    config = run.config
    methods = config.get("methods")
    return {
        "id": run.id,
        "status": run.status,
        "model": config.get("model"),
        "dataset": config.get("dataset"),
        "methods": ",".join(methods) if isinstance(methods, list) else methods,
        "progress": f"{run.stage} {run.done}/{run.total}" if run.stage else "-",
        "started": run.started_at,
        "error": (run.error or "")[:60] or None,
    }


COLUMNS = [
    ("id", "ID"),
    ("status", "STATUS"),
    ("model", "MODEL"),
    ("dataset", "DATASET"),
    ("methods", "METHODS"),
    ("progress", "PROGRESS"),
    ("started", "STARTED"),
    ("error", "ERROR"),
]


@guarded
def handle_list(args: argparse.Namespace) -> int:
    with open_store(reading=True) as store:
        found = store.list_runs(args.status, limit=max(1, args.limit))
    if wants_json(args):
        print_json([run.to_dict() for run in found])
    else:
        print_table(
            [_summary(run) for run in found],
            COLUMNS,
            empty="no runs yet; start one with: sa-tui run ...",
        )
    return 0


@guarded
def handle_show(args: argparse.Namespace) -> int:
    with open_store(reading=True) as store:
        run = store.get_run(args.run_id)
        counts = store.record_counts(run.id)
        versions = store.prompt_versions_for_run(run.id)
        scores = store.scores_for_run(run.id)
        by_version = {v.id: v for v in versions}
        for score in scores:  # a re-run scores versions that an earlier run created
            if score.prompt_version_id not in by_version:
                by_version[score.prompt_version_id] = store.get_prompt_version(
                    score.prompt_version_id
                )
    if wants_json(args):
        print_json(
            {
                **run.to_dict(),
                "records": counts,
                "prompt_versions": [v.to_dict(content=False) for v in versions],
                "scores": [
                    {**s.to_dict(predictions=False), "prompt": by_version[s.prompt_version_id].ref}
                    for s in scores
                ],
            }
        )
        return 0
    print(f"run {run.id}  {run.status}  ({run.kind})")
    print(
        f"started {short_time(run.started_at)}  finished {short_time(run.finished_at)}  device {run.device or '-'}  pid {run.pid}  resumed {run.resumes}x"
    )
    if run.stage:
        print(
            f"progress {run.stage} {run.done}/{run.total}  heartbeat {short_time(run.heartbeat_at)}"
        )
    if run.error:
        print(f"error: {run.error}")
    print(
        "config: "
        + ", ".join(f"{k}={v}" for k, v in sorted(run.config.items()) if v not in (None, "", []))
    )
    print("records: " + ", ".join(f"{n} {kind}(s)" for kind, n in counts.items()))
    rows = []
    for score in scores:
        version = by_version.get(score.prompt_version_id)
        rows.append(
            {
                "prompt": version.ref if version else f"#{score.prompt_version_id}",
                "metric": score.metric,
                "value": score.value,
                "n": score.n,
                "ci95": f"[{score.ci_low:.3f}, {score.ci_high:.3f}]"
                if score.ci_low is not None and score.ci_high is not None
                else None,
                "failures": score.parse_failures,
            }
        )
    print()
    print_table(
        rows,
        [
            ("prompt", "PROMPT"),
            ("metric", "METRIC"),
            ("value", "VALUE"),
            ("n", "N"),
            ("ci95", "95% CI"),
            ("failures", "PARSE FAILURES"),
        ],
        empty="no scores recorded",
    )
    return 0
