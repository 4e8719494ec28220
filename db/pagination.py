"""Keyset pagination, newest first: opaque cursors over (created_at, id)."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, or_


class InvalidCursor(ValueError):
    """The cursor string was not produced by `encode_cursor`."""


@dataclass(frozen=True)
class Cursor:
    """Position after the last row of a page."""

    created_at: datetime
    id: uuid.UUID


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    """URL-safe opaque cursor for the row a page ended on."""
    raw = f"{created_at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Cursor:
    """Parse a cursor; raises InvalidCursor when it is malformed, or names an instant that is
    naive or outside years 1-9999 in UTC (a forged cursor must not reach the database)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, row_id = raw.split("|", 1)
        created_at = datetime.fromisoformat(created)
        if created_at.tzinfo is None:
            raise ValueError("naive timestamp")
        return Cursor(created_at.astimezone(UTC), uuid.UUID(row_id))
    except (ValueError, UnicodeDecodeError, OverflowError) as exc:
        raise InvalidCursor("cursor is not valid") from exc


def newest_first(stmt: Select[Any], model: Any, cursor: str | None, limit: int) -> Select[Any]:
    """Order `stmt` newest first and start after `cursor`; fetches limit + 1 rows to detect more."""
    if cursor is not None:
        c = decode_cursor(cursor)
        stmt = stmt.where(or_(model.created_at < c.created_at, and_(model.created_at == c.created_at, model.id < c.id)))
    return stmt.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)


def page_of(rows: list[Any], limit: int) -> tuple[list[Any], str | None]:
    """Split the limit + 1 rows from `newest_first` into (page, next_cursor)."""
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(last.created_at, last.id)
