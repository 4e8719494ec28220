"""What a database error means for the caller: an outage to wait out, or a request to fix.

Classified by SQLSTATE (PostgreSQL manual, Appendix A "PostgreSQL Error Codes"), read from the
driver error SQLAlchemy wraps. The asyncpg dialect maps only integrity violations to
`sqlalchemy.exc.IntegrityError`; data exceptions such as `invalid byte sequence for encoding
"UTF8": 0x00` (22021) arrive as a plain `DBAPIError`, so the class of the exception alone
cannot tell an outage from bad data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

DbErrorKind = Literal["unavailable", "invalid", "conflict", "bug"]

# SQLSTATE classes that mean "the database cannot serve right now": connection exception (08),
# insufficient resources (53), operator intervention (57: shutdown, cannot connect now), system
# error (58), transaction rollback (40: serialization failure, deadlock: a retry succeeds).
_UNAVAILABLE_CLASSES = {"08", "40", "53", "57", "58"}


@dataclass(frozen=True)
class DbErrorInfo:
    """`kind`, the SQLSTATE if the server sent one, the column or constraint involved if
    known, and the server's one-line message."""

    kind: DbErrorKind
    sqlstate: str | None
    subject: str | None
    message: str


def classify_db_error(exc: BaseException) -> DbErrorInfo:
    """Classify an exception raised by SQLAlchemy/asyncpg.

    - `unavailable`: no connection, pool exhausted, server shutting down or overloaded,
      serialization failure: retry later (HTTP 503; a retryable activity failure).
    - `invalid`: a data exception (SQLSTATE class 22) or a NOT NULL violation (23502): the
      values themselves cannot be stored; retrying cannot help (HTTP 422; non-retryable).
    - `conflict`: another integrity violation (unique 23505, foreign key 23503, check 23514)
      (HTTP 409).
    - `bug`: anything else (syntax, permissions, internal): our defect, reported as such.
    """
    if isinstance(exc, PoolTimeoutError):
        return DbErrorInfo("unavailable", None, None, "no database connection became free in time")
    orig = getattr(exc, "orig", None)
    sqlstate: str | None = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    driver = getattr(orig, "__cause__", None) or orig
    subject = getattr(driver, "column_name", None) or getattr(driver, "constraint_name", None)
    message = str(getattr(driver, "message", None) or orig or exc).splitlines()[0][:300]
    if sqlstate is None:
        # No SQLSTATE: the driver failed before the server answered (connection refused or
        # closed, timeout): an outage, whatever class SQLAlchemy gave it.
        kind: DbErrorKind = "unavailable" if isinstance(exc, DBAPIError | OSError | ConnectionError) else "bug"
        if isinstance(exc, InterfaceError | OperationalError):
            kind = "unavailable"
        return DbErrorInfo(kind, None, subject, message)
    prefix = sqlstate[:2]
    if prefix in _UNAVAILABLE_CLASSES:
        return DbErrorInfo("unavailable", sqlstate, subject, message)
    if prefix == "22" or sqlstate == "23502":
        return DbErrorInfo("invalid", sqlstate, subject, message)
    if prefix == "23":
        return DbErrorInfo("conflict", sqlstate, subject, message)
    return DbErrorInfo("bug", sqlstate, subject, message)
