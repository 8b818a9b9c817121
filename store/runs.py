"""Runs: created with a fixed configuration, then only their lifecycle changes.

A run is ``interrupted`` when it is ``running`` but its process is gone (same host, pid not
alive) or its heartbeat is older than :data:`STALE_AFTER`. The process that owns a run revives
it to ``running`` with its next heartbeat, so a slow step cannot lose a live run.
"""

from __future__ import annotations

import difflib
import os
import secrets
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from core.cache import content_hash
from store.clock import to_aware, utc_now
from store.domain import FINISHED_STATUSES, RUN_STATUSES, RunRecord
from store.errors import StoreError
from store.mapping import encode, run_record
from store.tables import RunRow

STALE_AFTER = timedelta(minutes=2)
ID_BYTES = 4  # 8 hex characters


def hostname() -> str:
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): os.kill said it exists
    return state not in ("Z", "X")


def new_run_row(
    config: dict[str, Any], *, kind: str, versions: dict[str, Any], device: str
) -> RunRow:
    """A validated row for a new run (no id yet)."""
    if not isinstance(config, dict):
        raise StoreError(f"a run configuration must be a dict, not {type(config).__name__}")
    if not kind or not isinstance(kind, str):
        raise StoreError("a run needs a kind (e.g. 'run')")
    now = utc_now()
    return RunRow(
        id="",
        kind=kind,
        status="running",
        config=encode(config, "the run configuration"),
        config_hash=content_hash(config),
        versions=encode(dict(versions or {}), "the library versions"),
        device=str(device or ""),
        host=hostname(),
        pid=os.getpid(),
        heartbeat_at=now,
        started_at=now,
    )


def insert(session: Session, row: RunRow) -> RunRecord:
    for _ in range(20):
        candidate = secrets.token_hex(ID_BYTES)
        if session.get(RunRow, candidate) is None:
            row.id = candidate
            session.add(row)
            session.flush()
            return run_record(row)
    raise StoreError("could not find a free run id")  # pragma: no cover - 2^32 ids


def find(session: Session, run_id: str, *, prefix: bool = False) -> RunRow:
    """The run ``run_id`` (with ``prefix``, an unambiguous prefix too), or StoreError naming
    near ids."""
    text = (run_id or "").strip()
    row = session.get(RunRow, text) if text else None
    if row is not None:
        return row
    if text and prefix:
        matches = session.exec(
            select(RunRow).where(col(RunRow.id).startswith(text, autoescape=True)).limit(2)
        ).all()
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise StoreError(
                f"the run id prefix {text!r} matches several runs; give more characters"
            )
    recent = session.exec(
        select(RunRow.id).order_by(col(RunRow.started_at).desc()).limit(200)
    ).all()
    near = difflib.get_close_matches(text, list(recent), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(near)}?" if near else "; see sa-tui runs list"
    raise StoreError(f"there is no run {text!r}{hint}")


def is_stale(row: RunRow, now: datetime, host: str) -> bool:
    """A running run whose process is gone: on this host, asked of the process itself (a long
    step without progress, e.g. one KernelSHAP shot, is not a death); elsewhere, silence."""
    if row.status != "running":
        return False
    if row.host == host and row.pid is not None:
        return not pid_alive(row.pid)
    beat = to_aware(row.heartbeat_at or row.started_at)
    return beat is None or now - beat > STALE_AFTER


def stale_running(session: Session) -> list[RunRow]:
    now, host = utc_now(), hostname()
    rows = session.exec(select(RunRow).where(RunRow.status == "running")).all()
    return [row for row in rows if is_stale(row, now, host)]


def mark_interrupted(session: Session, ids: list[str]) -> int:
    """Mark the given runs interrupted if they are still stale (re-checked under the write lock)."""
    now, host, changed = utc_now(), hostname(), 0
    for run_id in ids:
        row = session.get(RunRow, run_id)
        if row is not None and is_stale(row, now, host):
            row.status = "interrupted"
            row.error = row.error or "the process stopped before the run finished"
            session.add(row)
            changed += 1
    return changed


def beat(
    session: Session,
    run_id: str,
    *,
    stage: str | None = None,
    done: int | None = None,
    total: int | None = None,
) -> RunRecord:
    row = find(session, run_id)
    if stage is not None:
        row.stage = stage
    if done is not None:
        row.done = int(done)
    if total is not None:
        row.total = int(total)
    row.heartbeat_at = utc_now()
    if row.status == "interrupted" and row.pid == os.getpid() and row.host == hostname():
        row.status = "running"  # we are the run's process: it was only slow
        row.error = None
    session.add(row)
    session.flush()
    return run_record(row)


def finish(session: Session, run_id: str, status: str, error: str | None) -> RunRecord:
    if status not in FINISHED_STATUSES:
        raise StoreError(f"a run finishes as one of {', '.join(FINISHED_STATUSES)}, not {status!r}")
    row = find(session, run_id)
    if row.status == "done" and status != "done":
        return run_record(row)  # a finished run stays done (late error paths must not undo it)
    now = utc_now()
    row.status = status
    row.error = None if status == "done" else (error or row.error)
    row.finished_at = now
    row.heartbeat_at = now
    session.add(row)
    session.flush()
    return run_record(row)


def resume(session: Session, run_id: str) -> RunRecord:
    row = find(session, run_id, prefix=True)
    if row.status == "done":
        raise StoreError(f"run {row.id} already finished; there is nothing to resume")
    if row.status == "running" and not is_stale(row, utc_now(), hostname()):
        raise StoreError(
            f"run {row.id} is still running (process {row.pid} on {row.host or 'this host'})"
        )
    if (
        row.status in ("running", "interrupted")
        and row.host == hostname()
        and row.pid is not None
        and row.pid != os.getpid()
        and pid_alive(row.pid)
    ):  # silent, but its process is alive: it may only be slow
        raise StoreError(
            f"run {row.id} has been silent for a while but its process {row.pid} is still alive; "
            "stop that process before resuming the run"
        )
    now = utc_now()
    row.status = "running"
    row.pid = os.getpid()
    row.host = hostname()
    row.heartbeat_at = now
    row.finished_at = None
    row.error = None
    row.resumes += 1
    session.add(row)
    session.flush()
    return run_record(row)


def listing(session: Session, *, status: str | None, limit: int, offset: int) -> list[RunRecord]:
    if status is not None and status not in RUN_STATUSES:
        raise StoreError(f"unknown run status {status!r}; use one of {', '.join(RUN_STATUSES)}")
    statement = select(RunRow)
    if status is not None:
        statement = statement.where(RunRow.status == status)
    statement = (
        statement.order_by(col(RunRow.started_at).desc(), col(RunRow.id))
        .offset(offset)
        .limit(limit)
    )
    return [run_record(row) for row in session.exec(statement).all()]


def count(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(RunRow)).one())
