"""`deliver_webhook`: POST one signed Standard Webhooks message; any non-2xx is retried."""

from __future__ import annotations

import json
import ssl
import time
import uuid

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from clients.pinned_http import post_pinned
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
        body = json.dumps(inp.payload, separators=(",", ":"), sort_keys=True).encode()
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
