"""The caller's webhook signing secret (Standard Webhooks `whsec_...`)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import CurrentUser, SessionDep
from api.error_responses import responses
from db.users import ensure_webhook_secret

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


class WebhookSecret(BaseModel):
    """Verify deliveries with it: HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{body}"."""

    secret: str


@router.get("/secret", response_model=WebhookSecret, responses=responses(401))
async def webhook_secret(session: SessionDep, user: CurrentUser) -> WebhookSecret:
    """The secret that signs your webhooks (created on first use)."""
    secret = await ensure_webhook_secret(session, user.id)
    return WebhookSecret(secret=secret)
