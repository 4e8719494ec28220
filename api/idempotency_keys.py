"""Which row an Idempotency-Key names now, for tasks and exports alike.

A key maps to a deterministic id per generation (`kernel.contract.task_id_for_idempotency_key`,
`kernel.exports.export_id_for_idempotency_key`). Housekeeping clears a row's key after
IDEMPOTENCY_KEY_TTL_DAYS, so a POST with an expired key names the key's next generation: a new
row. An unexpired key costs one lookup.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from api.error_responses import InvalidInput

# Generations of one Idempotency-Key walked at most (each one a key expired by housekeeping).
MAX_KEY_GENERATIONS = 1000


class _Keyed(Protocol):
    idempotency_key: str | None


R = TypeVar("R", bound=_Keyed)


async def row_for_key(
    key: str | None, id_of: Callable[[int], uuid.UUID], load: Callable[[uuid.UUID], Awaitable[R | None]]
) -> tuple[uuid.UUID, R | None]:
    """The id a creation names and its row, if any: a random id without a key; with one, the id
    of the key's first generation (`id_of(n)`) whose row is absent or still holds the key.
    Raises InvalidInput (422) for a key used MAX_KEY_GENERATIONS times."""
    if key is None:
        return uuid.uuid4(), None
    for generation in range(MAX_KEY_GENERATIONS):
        row_id = id_of(generation)
        existing = await load(row_id)
        if existing is None or existing.idempotency_key is not None:
            return row_id, existing
    raise InvalidInput("this Idempotency-Key has been used too often; use a new one")
