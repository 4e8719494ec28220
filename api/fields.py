"""Field types for request bodies, query strings and headers: strict where JSON or a query
string could be read two ways, and bounded to what Postgres can store.

- `Timestamp`: an ISO 8601 date-time string only (a bare number is refused, not read as Unix
  seconds); without an offset it is UTC; it must be representable in UTC within years 1-9999
  (`0001-01-01T00:00:00+14:00` is year 0 in UTC: Python cannot convert it and asyncpg could
  not send it).
- `StrictCount` / `StrictFlag`: JSON integers and booleans only (`false` is not 0, `1` is not
  true, `"5"` is not 5).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import BeforeValidator, Field

_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?([Zz]|[+-]\d{2}:?\d{2})?$")


def to_utc(value: datetime) -> datetime:
    """`value` as an aware UTC datetime (naive means UTC); raises ValueError when it falls
    outside years 1-9999 once converted."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("date-time is outside the supported range (years 1-9999 in UTC)") from exc


def parse_timestamp(value: Any) -> datetime:
    """An ISO 8601 string (or a datetime) as an aware UTC datetime; raises ValueError for
    numbers, other strings and out-of-range instants."""
    if isinstance(value, datetime):
        return to_utc(value)
    if not isinstance(value, str) or not _ISO_DATETIME.match(value):
        raise ValueError("expected an ISO 8601 date-time such as 2026-01-31T12:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError as exc:
        raise ValueError(f"not a valid date-time: {exc}") from exc
    return to_utc(parsed)


Timestamp = Annotated[
    datetime,
    BeforeValidator(parse_timestamp),
    Field(description="ISO 8601 date-time; UTC when no offset is given"),
]

LimitQuery = Annotated[int, Query(ge=1, le=100, description="page size")]

StrictCount = Annotated[int, Field(strict=True)]
StrictFlag = Annotated[bool, Field(strict=True)]
