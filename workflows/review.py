"""The review step's pure decisions (deterministic, so they run inside the workflow)."""

from __future__ import annotations

from kernel.payloads import ReviewExpiry, ReviewOutcome


def decide(asset_ids: list[str], winner: str | None, on_expiry: ReviewExpiry) -> ReviewOutcome:
    """The winner is approved and the others archived; with no winner (the review expired),
    `on_expiry` decides: approve the first variation, archive all, or leave all as drafts."""
    if winner is not None:
        return ReviewOutcome(
            decided_by="user",
            winner_asset_id=winner,
            approved=[winner],
            archived=[a for a in asset_ids if a != winner],
        )
    if on_expiry == "approve_first" and asset_ids:
        return ReviewOutcome(
            decided_by="expiry", winner_asset_id=asset_ids[0], approved=asset_ids[:1], archived=asset_ids[1:]
        )
    if on_expiry == "archive_all":
        return ReviewOutcome(decided_by="expiry", winner_asset_id=None, approved=[], archived=list(asset_ids))
    return ReviewOutcome(decided_by="expiry", winner_asset_id=None, approved=[], archived=[])
