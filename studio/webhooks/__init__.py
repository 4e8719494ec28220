"""Outgoing webhooks: URL safety checks (SSRF) and Standard Webhooks signing."""
