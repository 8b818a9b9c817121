"""Experiment records: one row per distinct grid configuration, found again by its content hash,
so that running the same grid again continues the same experiment. A cell's results are the runs
whose ``config_hash`` the cell names (see :func:`latest_run_for_hash`)."""

from __future__ import annotations

import difflib
import os
import secrets
from dataclasses import replace
from typing import Any

from sqlmodel import Session, col, select

from core.cache import content_hash
from store.clock import to_aware, utc_now
from store.domain import ExperimentRecord, RunRecord
from store.errors import StoreError
from store.mapping import decode, encode, run_record
from store.runs import hostname, pid_alive
from store.tables import ExperimentRow, RunRow

EXPERIMENT_STATUSES = ("running", "done", "failed", "cancelled", "interrupted")


def record(row: ExperimentRow) -> ExperimentRecord:
    created = to_aware(row.created_at)
    updated = to_aware(row.updated_at)
    assert created is not None and updated is not None
    return ExperimentRecord(
        id=row.id,
        config=decode(row.config, {}),
        config_hash=row.config_hash,
        status=row.status,
        cells=row.cells,
        cells_done=row.cells_done,
        host=row.host,
        pid=row.pid,
        created_at=created,
        updated_at=updated,
        finished_at=to_aware(row.finished_at),
        error=row.error,
    )


def start(session: Session, config: dict[str, Any], cells: int) -> tuple[ExperimentRecord, bool]:
    """The experiment of ``config`` marked running by this process; True when it is new."""
    digest = content_hash(config)
    now = utc_now()
    row = session.exec(select(ExperimentRow).where(ExperimentRow.config_hash == digest)).first()
    created = row is None
    if row is None:
        row = ExperimentRow(
            id=_free_id(session),
            config=encode(config, "the experiment configuration"),
            config_hash=digest,
            status="running",
            cells=cells,
            created_at=now,
            updated_at=now,
        )
    row.status, row.error, row.finished_at = "running", None, None
    row.host, row.pid, row.updated_at = hostname(), os.getpid(), now
    session.add(row)
    session.flush()
    return record(row), created


def update(
    session: Session, experiment_id: str, *, status: str, cells_done: int, error: str | None = None
) -> ExperimentRecord:
    if status not in EXPERIMENT_STATUSES:
        raise StoreError(f"unknown experiment status {status!r}")
    row = session.get(ExperimentRow, experiment_id)
    if row is None:
        raise StoreError(f"there is no experiment {experiment_id!r}")
    now = utc_now()
    row.status, row.cells_done, row.error, row.updated_at = status, cells_done, error, now
    row.finished_at = now if status != "running" else None
    session.add(row)
    session.flush()
    return record(row)


def find(session: Session, text: str) -> ExperimentRecord:
    """By id or an unambiguous id prefix."""
    wanted = (text or "").strip()
    if wanted:
        row = session.get(ExperimentRow, wanted)
        if row is not None:
            return _with_liveness(record(row))
        rows = session.exec(
            select(ExperimentRow).where(col(ExperimentRow.id).startswith(wanted))
        ).all()
        if len(rows) == 1:
            return _with_liveness(record(rows[0]))
        if len(rows) > 1:
            raise StoreError(f"the experiment id {wanted!r} is ambiguous; give more characters")
    ids = session.exec(select(ExperimentRow.id)).all()
    near = difflib.get_close_matches(wanted, list(ids), n=3)
    hint = f"; did you mean {', '.join(near)}?" if near else "; see sa-tui experiments list"
    raise StoreError(f"there is no experiment {text!r}{hint}")


def listing(session: Session, *, limit: int = 100) -> list[ExperimentRecord]:
    rows = session.exec(
        select(ExperimentRow).order_by(col(ExperimentRow.created_at).desc()).limit(limit)
    ).all()
    return [_with_liveness(record(row)) for row in rows]


def _with_liveness(experiment: ExperimentRecord) -> ExperimentRecord:
    """A 'running' experiment whose process is gone on this host reads as interrupted."""
    if (
        experiment.status == "running"
        and experiment.host == hostname()
        and experiment.pid is not None
        and not pid_alive(experiment.pid)
    ):
        return replace(experiment, status="interrupted")
    return experiment


def latest_run_for_hash(session: Session, config_hash: str) -> RunRecord | None:
    """The newest run of a cell's configuration (a finished one first)."""
    rows = session.exec(
        select(RunRow)
        .where(RunRow.config_hash == config_hash)
        .order_by(col(RunRow.started_at).desc())
    ).all()
    for row in rows:
        if row.status == "done":
            return run_record(row)
    return run_record(rows[0]) if rows else None


def _free_id(session: Session) -> str:
    for _ in range(20):
        candidate = "x" + secrets.token_hex(4)
        if session.get(ExperimentRow, candidate) is None:
            return candidate
    raise StoreError("could not find a free experiment id")  # pragma: no cover
