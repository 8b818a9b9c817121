"""Prompt versions (append-only, content-hashed), their movable aliases, and their scores.

A reference is ``lineage`` (its ``latest``), ``lineage@vN`` or ``lineage@alias``.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, or_
from sqlalchemy.dialects.sqlite import insert
from sqlmodel import Session, col, select

from core.cache import content_hash
from store.clock import utc_now
from store.domain import LineageSummary, PromptVersion, ScoreRecord
from store.errors import StoreError
from store.mapping import encode, finite, prompt_version, score_record
from store.tables import AliasRow, PromptVersionRow, RunRow, ScoreRow

LATEST = "latest"
LINEAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+-]{0,199}$")
ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")
VERSION_RE = re.compile(r"^v?(\d+)$")
MESSAGE_ROLES = ("system", "user", "assistant")


# ------------------------------------------------------------------------------------ validation
def check_lineage(lineage: str) -> str:
    text = (lineage or "").strip()
    if not LINEAGE_RE.match(text) or ".." in text:
        raise StoreError(
            f"{lineage!r} is not a valid lineage name; use letters, digits and . _ - : / + (no '@', spaces or '..')"
        )
    return text


def check_alias(name: str) -> str:
    text = (name or "").strip()
    if not ALIAS_RE.match(text) or VERSION_RE.match(text):
        raise StoreError(
            f"{name!r} is not a valid alias; start with a letter, use letters, digits and . _ - "
            "(and not v<number>, which names a version)"
        )
    return text


def check_content(content: Any) -> dict[str, Any]:
    """A prompt version's content must be a dict; messages and shots, when given, well formed."""
    if not isinstance(content, dict):
        raise StoreError(f"a prompt version's content must be a dict, not {type(content).__name__}")
    messages = content.get("messages", [])
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and m.get("role") in MESSAGE_ROLES and isinstance(m.get("content"), str)
        for m in messages
    ):
        raise StoreError(
            "a prompt version's messages must be a list of {role, content} with roles system/user/assistant"
        )
    shots = content.get("shots", [])
    if not isinstance(shots, list) or not all(isinstance(s, dict) for s in shots):
        raise StoreError("a prompt version's shots must be a list of dicts")
    if "context" in content and not isinstance(content["context"], str):
        raise StoreError("a prompt version's context must be text")
    return content


# ------------------------------------------------------------------------------------ versions
def _aliases_by_version(session: Session, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    if not ids:
        return {}
    found: dict[int, list[str]] = defaultdict(list)
    for row in session.exec(select(AliasRow).where(col(AliasRow.version_id).in_(list(ids)))).all():
        found[row.version_id].append(row.name)
    return {
        key: tuple(sorted(names, key=lambda n: (n != LATEST, n))) for key, names in found.items()
    }


def to_domain(session: Session, rows: Sequence[PromptVersionRow]) -> list[PromptVersion]:
    aliases = _aliases_by_version(session, [row.id for row in rows if row.id is not None])
    return [prompt_version(row, aliases.get(row.id or 0, ())) for row in rows]


def set_alias_row(session: Session, lineage: str, name: str, version_id: int) -> None:
    statement = insert(AliasRow.__table__).values(  # type: ignore[attr-defined]
        lineage=lineage, name=name, version_id=version_id, updated_at=utc_now()
    )
    statement = statement.on_conflict_do_update(
        index_elements=["lineage", "name"],
        set_={
            "version_id": statement.excluded.version_id,
            "updated_at": statement.excluded.updated_at,
        },
    )
    session.exec(statement)


def _latest_row(session: Session, lineage: str) -> PromptVersionRow | None:
    alias = session.get(AliasRow, (lineage, LATEST))
    if alias is not None:
        return session.get(PromptVersionRow, alias.version_id)
    return session.exec(
        select(PromptVersionRow)
        .where(PromptVersionRow.lineage == lineage)
        .order_by(col(PromptVersionRow.version).desc())
        .limit(1)
    ).first()


def save(
    session: Session, lineage: str, content: dict[str, Any], run_id: str | None
) -> tuple[PromptVersion, bool]:
    """Store ``content`` as the next version of ``lineage`` (or find the identical one).

    Returns the version and whether it is new. Call inside a write (BEGIN IMMEDIATE)
    transaction, so that concurrent savers number versions without gaps or clashes."""
    digest = content_hash(content)
    existing = session.exec(
        select(PromptVersionRow).where(
            PromptVersionRow.lineage == lineage, PromptVersionRow.content_hash == digest
        )
    ).first()
    if existing is not None:
        return to_domain(session, [existing])[0], False
    if run_id is not None and session.get(RunRow, run_id) is None:
        raise StoreError(f"there is no run {run_id!r} to attach this prompt version to")
    top = session.exec(
        select(func.max(PromptVersionRow.version)).where(PromptVersionRow.lineage == lineage)
    ).one()
    parent = _latest_row(session, lineage)
    shots = content.get("shots") or []
    row = PromptVersionRow(
        lineage=lineage,
        version=int(top or 0) + 1,
        content_hash=digest,
        parent_id=parent.id if parent is not None else None,
        content=encode(content, "the prompt version's content"),
        run_id=run_id,
        method=str(content.get("method") or ""),
        model_ref=str(content.get("model") or ""),
        dataset=str(content.get("dataset") or ""),
        n_shots=len(shots) if isinstance(shots, list) else 0,
        created_at=utc_now(),
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    set_alias_row(session, lineage, LATEST, row.id)
    return to_domain(session, [row])[0], True


def lineage_names(session: Session) -> list[str]:
    return list(
        session.exec(
            select(PromptVersionRow.lineage).distinct().order_by(PromptVersionRow.lineage)
        ).all()
    )


def _missing_lineage(session: Session, lineage: str) -> StoreError:
    near = difflib.get_close_matches(lineage, lineage_names(session), n=3, cutoff=0.4)
    hint = f"; did you mean {', '.join(near)}?" if near else "; see sa-tui prompts list"
    return StoreError(f"there is no prompt lineage {lineage!r}{hint}")


def resolve(session: Session, ref: str) -> PromptVersion:
    """The version that ``lineage``, ``lineage@vN`` or ``lineage@alias`` names."""
    text = (ref or "").strip()
    if not text:
        raise StoreError("no prompt was given; write lineage, lineage@vN or lineage@alias")
    lineage, sep, label = text.rpartition("@") if "@" in text else (text, "", "")
    if not sep:
        lineage, label = text, LATEST
    if not lineage or not label:
        raise StoreError(
            f"{ref!r} is not a prompt reference; write lineage, lineage@vN or lineage@alias"
        )
    exists = session.exec(
        select(PromptVersionRow.id).where(PromptVersionRow.lineage == lineage).limit(1)
    ).first()
    if exists is None:
        raise _missing_lineage(session, lineage)
    number = VERSION_RE.match(label)
    if number:
        row = session.exec(
            select(PromptVersionRow).where(
                PromptVersionRow.lineage == lineage,
                PromptVersionRow.version == int(number.group(1)),
            )
        ).first()
        if row is None:
            top = session.exec(
                select(func.max(PromptVersionRow.version)).where(
                    PromptVersionRow.lineage == lineage
                )
            ).one()
            raise StoreError(
                f"the lineage {lineage!r} has no version v{int(number.group(1))}; its versions are v1 to v{top}"
            )
        return to_domain(session, [row])[0]
    alias = session.get(AliasRow, (lineage, label))
    if alias is None:
        if label == LATEST:
            row = _latest_row(session, lineage)
            if row is not None:
                return to_domain(session, [row])[0]
        names = list(session.exec(select(AliasRow.name).where(AliasRow.lineage == lineage)).all())
        near = difflib.get_close_matches(label, names, n=3, cutoff=0.4)
        hint = (
            f"; did you mean {', '.join(near)}?"
            if near
            else f"; its aliases are {', '.join(sorted(names)) or 'none'}"
        )
        raise StoreError(f"the lineage {lineage!r} has no alias {label!r}{hint}")
    row = session.get(PromptVersionRow, alias.version_id)
    assert row is not None
    return to_domain(session, [row])[0]


def _search_filter(search: str) -> Any:
    pattern = f"%{search}%"
    columns = (
        PromptVersionRow.lineage,
        PromptVersionRow.method,
        PromptVersionRow.model_ref,
        PromptVersionRow.dataset,
    )
    return or_(*(col(column).like(pattern) for column in columns))


def listing(
    session: Session, *, lineage: str | None, search: str | None, limit: int, offset: int
) -> list[PromptVersion]:
    statement = select(PromptVersionRow)
    if lineage:
        statement = statement.where(PromptVersionRow.lineage == lineage)
    if search:
        statement = statement.where(_search_filter(search))
    statement = (
        statement.order_by(col(PromptVersionRow.id).desc())
        .offset(max(0, offset))
        .limit(max(0, limit))
    )
    return to_domain(session, session.exec(statement).all())


def count(session: Session, *, lineage: str | None, search: str | None) -> int:
    statement = select(func.count()).select_from(PromptVersionRow)
    if lineage:
        statement = statement.where(PromptVersionRow.lineage == lineage)
    if search:
        statement = statement.where(_search_filter(search))
    return int(session.exec(statement).one())


def lineages(session: Session) -> list[LineageSummary]:
    top = (
        select(
            PromptVersionRow.lineage,
            func.count().label("versions"),
            func.max(PromptVersionRow.version).label("latest"),
        )
        .group_by(PromptVersionRow.lineage)
        .subquery()
    )
    rows = session.exec(
        select(PromptVersionRow, top.c.versions)
        .join(
            top,
            and_(
                col(PromptVersionRow.lineage) == top.c.lineage,
                col(PromptVersionRow.version) == top.c.latest,
            ),
        )
        .order_by(PromptVersionRow.lineage)
    ).all()
    alias_rows = session.exec(
        select(AliasRow.lineage, AliasRow.name, PromptVersionRow.version).join(
            PromptVersionRow, col(PromptVersionRow.id) == AliasRow.version_id
        )
    ).all()
    aliases: dict[str, dict[str, int]] = defaultdict(dict)
    for lineage, name, version in alias_rows:
        aliases[lineage][name] = version
    return [
        LineageSummary(
            lineage=row.lineage,
            versions=int(versions),
            latest_version=row.version,
            method=row.method,
            model=row.model_ref,
            dataset=row.dataset,
            updated_at=row.created_at,
            aliases=dict(sorted(aliases.get(row.lineage, {}).items())),
        )
        for row, versions in rows
    ]


def set_alias(session: Session, lineage: str, name: str, version: int | str) -> PromptVersion:
    label = str(version).strip()
    match = VERSION_RE.match(label)
    target = resolve(session, f"{lineage}@{label}" if match else f"{lineage}@{check_alias(label)}")
    assert target.id is not None
    set_alias_row(session, target.lineage, name, target.id)
    return to_domain(session, [session.get(PromptVersionRow, target.id)])[0]  # type: ignore[list-item]


# ------------------------------------------------------------------------------------ scores
# Measured alongside a score, not part of what it is: the work it took, and the faithfulness of
# the rationales (core/faithfulness.py; floats that another device may round differently).
MEASURED_EXTRA = ("forward_passes", "generated_tokens", "faithfulness")


def score_row(
    prompt_version_id: int,
    *,
    run_id: str | None,
    metric: str,
    value: float,
    n: int,
    ci95: tuple[float, float] | Sequence[float] | None,
    parse_failures: int,
    seconds: float | None,
    predictions: list[dict[str, Any]] | None,
    extra: dict[str, Any] | None,
) -> ScoreRow:
    """A validated score row (StoreError on bad values, before anything is written)."""
    if not metric or not isinstance(metric, str):
        raise StoreError("a score needs a metric name (e.g. accuracy)")
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise StoreError(f"a score's n must be a count, not {n!r}")
    low: float | None = None
    high: float | None = None
    if ci95 is not None:
        interval = list(ci95)
        if len(interval) != 2:
            raise StoreError("a score's ci95 must be a (low, high) pair")
        low, high = finite(interval[0], "ci95 low"), finite(interval[1], "ci95 high")
        if low > high:
            raise StoreError(f"a score's ci95 is reversed ({low} > {high})")
    predictions = list(predictions or [])
    if not all(isinstance(p, dict) for p in predictions):
        raise StoreError("a score's predictions must be a list of dicts")
    if extra is not None and not isinstance(extra, dict):
        raise StoreError("a score's extra must be a dict")
    number = finite(value, f"the {metric} value")
    digest = content_hash(
        {
            "prompt_version_id": prompt_version_id,
            "metric": metric,
            "value": number,
            "n": int(n),
            "ci95": [low, high],
            "parse_failures": int(parse_failures or 0),
            "predictions": predictions,
            # what it took to compute (like ``seconds``) is not part of what the score is: a
            # resumed run whose predictions come from the store measures less work
            "extra": {k: v for k, v in (extra or {}).items() if k not in MEASURED_EXTRA},
        }
    )
    return ScoreRow(
        prompt_version_id=prompt_version_id,
        run_id=run_id,
        content_hash=digest,
        metric=metric,
        value=number,
        n=int(n),
        ci_low=low,
        ci_high=high,
        parse_failures=int(parse_failures or 0),
        seconds=finite(seconds, "seconds") if seconds is not None else None,
        predictions=encode(predictions, "the score's predictions"),
        extra=encode(extra or {}, "the score's extra"),
        created_at=utc_now(),
    )


def save_score(session: Session, row: ScoreRow) -> ScoreRecord:
    if session.get(PromptVersionRow, row.prompt_version_id) is None:
        raise StoreError(f"there is no prompt version with id {row.prompt_version_id}")
    if row.run_id is not None and session.get(RunRow, row.run_id) is None:
        raise StoreError(f"there is no run {row.run_id!r} to attach this score to")
    existing = session.exec(
        select(ScoreRow).where(
            ScoreRow.content_hash == row.content_hash,
            func.coalesce(ScoreRow.run_id, "") == (row.run_id or ""),
        )
    ).first()
    if existing is not None:
        return score_record(existing)
    session.add(row)
    session.flush()
    return score_record(row)


def scores_for(session: Session, prompt_version_id: int) -> list[ScoreRecord]:
    rows = session.exec(
        select(ScoreRow)
        .where(ScoreRow.prompt_version_id == prompt_version_id)
        .order_by(col(ScoreRow.id))
    ).all()
    return [score_record(row) for row in rows]


def scores_for_run(session: Session, run_id: str) -> list[ScoreRecord]:
    rows = session.exec(
        select(ScoreRow).where(ScoreRow.run_id == run_id).order_by(col(ScoreRow.id))
    ).all()
    return [score_record(row) for row in rows]


def method_scores_for_run(
    session: Session, run_id: str, metric: str = "accuracy"
) -> dict[str, ScoreRecord]:
    """Each method's score in run ``run_id`` (a version's method, even when the version was
    first saved by an earlier run with the same content)."""
    rows = session.exec(
        select(ScoreRow, PromptVersionRow.method)
        .join(PromptVersionRow, col(PromptVersionRow.id) == col(ScoreRow.prompt_version_id))
        .where(ScoreRow.run_id == run_id, ScoreRow.metric == metric)
        .order_by(col(ScoreRow.id))
    ).all()
    return {method: score_record(row) for row, method in rows}


def versions_for_run(session: Session, run_id: str) -> list[PromptVersion]:
    rows = session.exec(
        select(PromptVersionRow)
        .where(PromptVersionRow.run_id == run_id)
        .order_by(col(PromptVersionRow.id))
    ).all()
    return to_domain(session, rows)


def latest_scores(
    session: Session, version_ids: Sequence[int], metric: str | None = None
) -> dict[int, ScoreRecord]:
    """The most recent score of each version (of ``metric`` if given)."""
    if not version_ids:
        return {}
    statement = select(ScoreRow).where(col(ScoreRow.prompt_version_id).in_(list(version_ids)))
    if metric:
        statement = statement.where(ScoreRow.metric == metric)
    found: dict[int, ScoreRecord] = {}
    for row in session.exec(statement.order_by(col(ScoreRow.id))).all():
        found[row.prompt_version_id] = score_record(row)
    return found
