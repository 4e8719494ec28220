"""Render Studio: shared settings, domain types, the local stack and the `studio` CLI."""
