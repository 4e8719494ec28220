"""`deliver_webhook`: POST one signed Standard Webhooks message; any non-2xx is retried."""

from __future__ import annotations

import json
import ssl
import time
import uuid
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from clients.pinned_http import post_pinned
from db.costs import task_costs
from db.session import SessionFactory
from db.users import ensure_webhook_secret
from kernel.payloads import WebhookDelivery
from kernel.webhook_signing import sign
from kernel.webhook_url_policy import Resolver, UnsafeWebhookUrl, check_webhook_url

DELIVERY_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0  # per address: a host may resolve to several


class WebhookActivities:
    """Webhook delivery; constructed once per worker.

    `resolver` looks webhook hosts up (default: the system's getaddrinfo) and `verify` is the
    TLS context for https receivers (default: httpx's, with the certifi CA bundle); both are
    for tests."""

    def __init__(
        self,
        sessions: SessionFactory,
        development: bool,
        *,
        resolver: Resolver | None = None,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        self._sessions = sessions
        self._development = development
        self._resolver = resolver
        self._verify = verify

    @activity.defn(name="deliver_webhook")
    async def deliver_webhook(self, inp: WebhookDelivery) -> int:
        """POST the message with `webhook-id`, `webhook-timestamp` and `webhook-signature`;
        returns the receiver's 2xx status. Raises a retryable WebhookRejected for other
        answers or network errors, a non-retryable UnsafeWebhookUrl when the URL now resolves
        somewhere we refuse to call (checked again at every attempt: DNS can change). The POST
        connects only to the addresses that check approved (no second lookup: no rebinding)."""
        try:
            target = await check_webhook_url(inp.url, development=self._development, resolver=self._resolver)
        except UnsafeWebhookUrl as exc:
            raise ApplicationError(str(exc), type="UnsafeWebhookUrl", non_retryable=True) from exc
        async with self._sessions() as session, session.begin():
            secret = await ensure_webhook_secret(session, uuid.UUID(inp.owner_id))
            payload = await _with_task_cost(session, inp.payload)
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": inp.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, inp.message_id, timestamp, body),
            "user-agent": "render-studio-webhooks/1",
        }
        timeout = httpx.Timeout(DELIVERY_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        try:
            response = await post_pinned(target, body, headers, timeouts=timeout, verify=self._verify)
        except httpx.HTTPError as exc:
            raise ApplicationError(
                f"webhook delivery failed: {type(exc).__name__}: {exc}", type="WebhookRejected"
            ) from None
        if not 200 <= response.status_code < 300:
            raise ApplicationError(f"webhook receiver answered {response.status_code}", type="WebhookRejected")
        return response.status_code


async def _with_task_cost(session: AsyncSession, payload: dict[str, Any]) -> dict[str, Any]:
    """A task event's payload with `data.cost`: what its recorded images cost, read when the
    message is sent (the same at every attempt: an image is priced once, when recorded).
    `{"micro_usd": int, "usd": "<exact decimal>"}`, or null when nothing was billed."""
    data = payload.get("data")
    if not isinstance(data, dict) or "task_id" not in data:
        return payload
    task_id = uuid.UUID(str(data["task_id"]))
    total = (await task_costs(session, [task_id])).get(task_id)
    cost = None if total is None else {"micro_usd": total, "usd": str(Decimal(total).scaleb(-6))}
    return {**payload, "data": {**data, "cost": cost}}
