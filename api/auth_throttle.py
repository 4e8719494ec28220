"""Throttling of failed authentication, in memory per API process.

Every failed API key lookup costs a database query. Past a limit of failures per minute from
one client address, or against one key prefix, further attempts are answered 429 with
Retry-After *before* any query. The limits count failures only, and a key that authenticated
recently (kept as its SHA-256 for a few minutes) is let through even from a throttled address,
so an attacker sharing a NAT with the key's holder cannot lock the holder out.

Windows are moving windows from the `limits` library. The counts are per process: N API
processes behind a load balancer allow N times the limit (still bounded). Behind a proxy, run
uvicorn with `--proxy-headers` and `FORWARDED_ALLOW_IPS` so the client address is the caller's,
not the proxy's.
"""

from __future__ import annotations

import math
import time

from cachetools import TTLCache
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from api.error_responses import TooManyRequests

KEY_PREFIX_CHARS = 12  # "rs_" and 9 random characters: shared by no two real keys in practice
KNOWN_GOOD_TTL_S = 600.0
KNOWN_GOOD_MAX = 10_000


class AuthThrottle:
    """Failure counters per client address and per key prefix, plus recently good key hashes."""

    def __init__(self, failures_per_address_per_minute: int, failures_per_prefix_per_minute: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_address = RateLimitItemPerMinute(failures_per_address_per_minute)
        self._per_prefix = RateLimitItemPerMinute(failures_per_prefix_per_minute)
        self._known_good: TTLCache[str, bool] = TTLCache(maxsize=KNOWN_GOOD_MAX, ttl=KNOWN_GOOD_TTL_S)

    def _counters(self, address: str, api_key: str) -> list[tuple[RateLimitItemPerMinute, str, str]]:
        return [
            (self._per_address, f"address:{address}", "from this client address"),
            (self._per_prefix, f"prefix:{api_key[:KEY_PREFIX_CHARS]}", "for this API key prefix"),
        ]

    async def check(self, address: str, api_key: str, key_hash: str) -> None:
        """Raise TooManyRequests (429, code `auth_throttled`, Retry-After in seconds) when the
        address or the key prefix is over its failure limit, unless `key_hash` authenticated
        within the last KNOWN_GOOD_TTL_S seconds."""
        if key_hash in self._known_good:
            return
        for item, identifier, what in self._counters(address, api_key):
            if not await self._limiter.test(item, identifier):
                stats = await self._limiter.get_window_stats(item, identifier)
                retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                raise TooManyRequests(
                    f"too many failed authentication attempts {what}; retry in {retry_after} s",
                    retry_after_s=retry_after,
                    code="auth_throttled",
                )

    async def failed(self, address: str, api_key: str) -> None:
        """Count one failed attempt against the address and the key prefix."""
        for item, identifier, _ in self._counters(address, api_key):
            await self._limiter.hit(item, identifier)

    def succeeded(self, key_hash: str) -> None:
        """Remember that this key authenticated (it passes a throttled address for a while)."""
        self._known_good[key_hash] = True
