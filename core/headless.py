"""`sa-tui run`: the protocol without the UI, with a terminal progress display, a result table,
an optional JSON file, and every result written to the store (resumable with --resume)."""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

from core.config import RunConfig
from core.errors import CancelledError, SaTuiError
from core.progress import CancelToken, Progress
from core.recording import Heartbeat, save_method_result, start_run


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
        self.tasks: dict[str, Any] = {}
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
                    f"{report.stage}: {report.done}/{report.total} {report.detail}".rstrip()
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


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(payload, out, indent=2, ensure_ascii=False)
            out.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def run_headless(
    config: RunConfig | None,
    *,
    json_path: Path | None = None,
    resume: str | None = None,
    use_store: bool = True,
) -> int:
    """Run (or resume) one configuration; return the process exit code."""
    console = Console(stderr=True)
    out = Console()
    cancel = CancelToken()
    previous = {
        sig: signal.signal(sig, lambda *_: cancel.cancel())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    store = None
    run_id: str | None = None
    try:
        from core.cache import MemoryCache

        cache: Any = MemoryCache()
        if use_store:
            from store.facade import Store

            store = Store.open()
            cache = store
            if resume:
                record = store.resume_run(resume)
                run_id = record.id
                config = RunConfig.from_dict(record.config)
                console.print(f"resuming run {run_id}")
        if config is None:
            raise SaTuiError(
                "nothing to run: give --model, --dataset and --method, or --resume RUN_ID"
            )
        config.validate()
        if store is not None and run_id is None:
            run_id = start_run(store, config)
            console.print(f"run {run_id}")
        progress = _StoreProgress(store, run_id, TerminalProgress(console))
        from core.pipeline import run_protocol

        def save_method(method_result: Any) -> None:
            if store is not None:
                save_method_result(store, config, run_id, method_result)

        with progress.terminal:
            result = run_protocol(
                config,
                cache=cache,
                run_id=run_id,
                progress=progress,
                cancel=cancel,
                on_method=save_method,
            )
        payload = result.to_json()
        if run_id is not None:
            payload["run_id"] = run_id
        if store is not None and run_id is not None:
            store.finish_run(run_id, "done")
        out.print(results_table(payload))
        if json_path is not None:
            write_json_atomic(json_path, payload)
            console.print(f"wrote {json_path}")
        return 0
    except CancelledError:
        if store is not None and run_id is not None:
            store.finish_run(run_id, "cancelled", error="cancelled by the user")
        console.print(
            f"cancelled; finish it later with: sa-tui run --resume {run_id}"
            if run_id
            else "cancelled"
        )
        return 130
    except SaTuiError as error:
        if store is not None and run_id is not None:
            store.finish_run(run_id, "failed", error=str(error))
        # one line, never wrapped at the console width; the message is not Rich markup
        console.print(f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
        return 2
    except MemoryError:
        if store is not None and run_id is not None:
            store.finish_run(run_id, "failed", error="out of memory")
        console.print(
            "[red]error:[/red] out of memory; use a smaller --batch-size or a smaller model",
            soft_wrap=True,
        )
        return 2
    except OSError as error:
        if store is not None and run_id is not None:
            try:
                store.finish_run(run_id, "failed", error=str(error))
            except Exception:
                pass
        console.print(
            f"[red]error:[/red] {escape(str(error.strerror or error))} "
            f"({escape(str(getattr(error, 'filename', '') or 'I/O'))})",
            highlight=False,
            soft_wrap=True,
        )
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _StoreProgress:
    """Forwards progress to the terminal and (at most once a second) to the run's record."""

    def __init__(self, store: Any, run_id: str | None, terminal: TerminalProgress) -> None:
        self.terminal = terminal
        self.heartbeat = Heartbeat(store, run_id)

    def __call__(self, report: Progress) -> None:
        self.terminal(report)
        self.heartbeat(report)


def main_exit(code: int) -> None:
    sys.exit(code)
