"""Timestamps: aware UTC datetimes everywhere (sqlmodel stores them as UTC text in SQLite)."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(timezone.utc)


def to_aware(value: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (a naive one is taken as UTC; None stays None)."""
    if value is None:
        return None
    return (
        value.replace(tzinfo=timezone.utc)
        if value.tzinfo is None
        else value.astimezone(timezone.utc)
    )


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with the UTC offset, for JSON output."""
    aware = to_aware(value)
    return aware.isoformat(timespec="seconds") if aware is not None else None
