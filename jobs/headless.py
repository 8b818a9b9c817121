"""`sa-tui run`: one job without the UI: progress bars on stderr, a result table on stdout, an
optional JSON file, every result in the store (resumable with --resume).

Exit codes: 0 done, 2 bad input (one sentence, nothing stored), 1 the run failed once work had
begun (out of memory, an unexpected error: the traceback is in ``logs/run.log``), 130 cancelled
(Ctrl-C or SIGTERM; the run is resumable).
"""

from __future__ import annotations

import json
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

from core.config import RunConfig
from core.errors import CancelledError, SaTuiError
from core.progress import CancelToken, Progress
from jobs.logs import log_to_file

if TYPE_CHECKING:
    from store.facade import Store

log = logging.getLogger("sa_tui.run")

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED = 0, 1, 2, 130


class TerminalProgress:
    """One progress bar per stage on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bars = RichProgress(
            TextColumn("{task.description:<24}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[detail]}"),
            console=console,
            transient=False,
            disable=not console.is_terminal,
        )
        self.tasks: dict[str, TaskID] = {}
        self.last_line = 0.0

    def __enter__(self) -> TerminalProgress:
        self.bars.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.__exit__(None, None, None)

    def __call__(self, report: Progress) -> None:
        if not self.console.is_terminal:
            now = time.monotonic()
            if report.done >= report.total or now - self.last_line > 5:
                self.last_line = now
                self.console.print(
                    f"{report.stage}: {report.done}/{report.total} {report.detail}".rstrip(),
                    highlight=False,
                    soft_wrap=True,
                )
            return
        task = self.tasks.get(report.stage)
        if task is None:
            task = self.bars.add_task(
                report.stage, total=max(report.total, 1), detail=report.detail
            )
            self.tasks[report.stage] = task
        self.bars.update(
            task, completed=report.done, total=max(report.total, 1), detail=report.detail[:40]
        )


def results_table(payload: dict[str, Any]) -> Table:
    table = Table(title=f"{payload['model']} on {payload['dataset']} (seed {payload['seed']})")
    for column in ("method", "acc", "95% CI", "n", "unparsed", "sec", "p vs io"):
        table.add_column(column, justify="left" if column == "method" else "right", no_wrap=True)
    for row in payload["results"]:
        vs = row.get("vs_io")
        table.add_row(
            row["method"],
            f"{row['accuracy']:.3f}",
            f"{row['ci95'][0]:.2f}-{row['ci95'][1]:.2f}",
            str(row["n"]),
            str(row["parse_failures"]),
            f"{row['seconds']:.1f}",
            f"{vs['p_value']:.3f}" if vs else "",
        )
    return table


def influence_table(payload: dict[str, Any]) -> Table | None:
    """With --influence: per method and shot, the dev accuracy without the shot and its
    influence (full minus without), the discordant dev items and McNemar's p."""
    rows = [(r["method"], s) for r in payload["results"] for s in (r.get("influence") or [])]
    if not rows:
        return None
    table = Table(title="per-shot influence on the dev split (positive: the shot helps)")
    for column in ("method", "shot", "full", "without", "influence", "+/-", "p", "n"):
        table.add_column(column, justify="left" if column in ("method", "shot") else "right")
    for method, shot in rows:
        table.add_row(
            method,
            str(shot["id"]),
            f"{shot['accuracy_full']:.3f}",
            f"{shot['accuracy_without']:.3f}",
            f"{shot['influence']:+.3f}",
            f"{shot['helps']}/{shot['hurts']}",
            f"{shot['p_value']:.3f}",
            str(shot["n"]),
        )
    return table


def faithfulness_table(payload: dict[str, Any]) -> Table | None:
    """Keyword methods: the mean comprehensiveness and sufficiency AOPC of their rationales
    (core/faithfulness.py; higher comprehensiveness, lower sufficiency: more faithful)."""
    rows = [(r["method"], r["faithfulness"]) for r in payload["results"] if r.get("faithfulness")]
    if not rows:
        return None
    table = Table(title="faithfulness of the keywords (AOPC over k; random is the floor)")
    for column in ("method", "comp", "suff", "k", "shots", "unmatched"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for method, faith in rows:
        table.add_row(
            method,
            f"{faith['comprehensiveness']:.3f}",
            f"{faith['sufficiency']:.3f}",
            str(faith["k"]),
            str(faith["n"]),
            str(faith["unmatched"]),
        )
    return table


def run_headless(
    config: RunConfig | None,
    *,
    json_path: Path | None = None,
    resume: str | None = None,
    use_store: bool = True,
) -> int:
    """Run (or resume) one configuration; return the process exit code."""
    return guarded_main(
        "run.log",
        lambda console, cancel, started: _run(
            config, console, cancel, started, json_path, resume, use_store
        ),
        resume_hint="sa-tui run --resume {run_id}",
    )


Body = Callable[[Console, CancelToken, list[str]], int]


def guarded_main(log_name: str, body: Body, *, resume_hint: str) -> int:
    """Run ``body`` with Ctrl-C and SIGTERM as a cancel, library logs in ``logs/<log_name>``,
    and every failure turned into one sentence and the documented exit code. ``body`` appends
    the ids of what it starts to its third argument (for the resume hint)."""
    console = Console(stderr=True)
    log_path = log_to_file(log_name)
    cancel = CancelToken()
    previous = {
        sig: signal.signal(sig, lambda *_: cancel.cancel())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    started: list[str] = []
    try:
        return body(console, cancel, started)
    except CancelledError:
        hint = resume_hint.format(run_id=started[0]) if started else ""
        console.print(
            f"cancelled; finish it later with: {hint}" if hint else "cancelled", highlight=False
        )
        return EXIT_CANCELLED
    except SaTuiError as error:
        _error(console, str(error))
        return EXIT_BAD_INPUT
    except MemoryError:
        _error(console, "out of memory; use a smaller --batch-size or a smaller model")
        return EXIT_FAILED
    except OSError as error:
        where = getattr(error, "filename", None)
        _error(console, f"{error.strerror or error}" + (f" ({where})" if where else ""))
        return EXIT_FAILED
    except Exception as error:
        log.exception("the job failed")
        from store.engine import default_db_path
        from store.guard import database_error_sentence, is_database_error

        if is_database_error(error):  # met once work had begun (a damaged file is refused first)
            _error(console, database_error_sentence(error, default_db_path()))
            return EXIT_FAILED
        name = type(error).__name__
        if "OutOfMemoryError" in name:
            _error(console, "out of memory; use a smaller --batch-size or a smaller model")
        else:
            _error(console, f"unexpected {name}: {error}; the traceback is in {log_path}")
        return EXIT_FAILED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(
    config: RunConfig | None,
    console: Console,
    cancel: CancelToken,
    started: list[str],
    json_path: Path | None,
    resume: str | None,
    use_store: bool,
) -> int:
    from jobs.outputs import check_output_file, write_output
    from jobs.preflight import preflight
    from jobs.run import resume_config, run_job

    out = Console()
    store: Store | None = None
    if resume:
        if not use_store:
            raise SaTuiError("--resume needs the store; drop --no-store")
        from store.facade import Store

        store = Store.open()
        resume, config = resume_config(store, resume)
        console.print(f"resuming run {resume}", highlight=False)
    if config is None:
        raise SaTuiError("nothing to run: give --model, --dataset and --method, or --resume RUN_ID")
    prepared = preflight(config)  # bad input is refused before the store is even opened
    target = check_output_file(json_path, "run-json", "--json") if json_path else None
    if use_store and store is None:
        from store.facade import Store

        store = Store.open()

    def on_started(run_id: str) -> None:
        started.append(run_id)
        console.print(f"run {run_id}", highlight=False)

    with TerminalProgress(console) as terminal:
        outcome = run_job(
            config,
            store,
            progress=terminal,
            cancel=cancel,
            resume=resume,
            on_started=on_started,
            prepared=prepared,
        )
    payload = outcome.result.to_json()
    if outcome.run_id is not None:
        payload["run_id"] = outcome.run_id
    out.print(results_table(payload))
    influence = influence_table(payload)
    if influence is not None:
        out.print(influence)
    faithfulness = faithfulness_table(payload)
    if faithfulness is not None:
        out.print(faithfulness)
    if target is not None:
        text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
        write_output(target, "run-json", text)
        console.print(f"wrote {target}", highlight=False)
    return EXIT_OK


def _error(console: Console, message: str) -> None:
    # one line, never wrapped at the console width; the message is not Rich markup
    console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
