"""Which webhook URLs we will call (SSRF protection).

https only, to hosts that resolve to public addresses. In development, http and https to
loopback are allowed too, so a local receiver works. Private (RFC 1918, unique-local),
link-local (169.254/16, fe80::/10, cloud metadata), loopback outside development, multicast,
reserved and unspecified addresses are refused. Checked when the task is created and again
right before each delivery (DNS may have changed).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class UnsafeWebhookUrl(ValueError):
    """The URL may not be called; the message says why."""


def _refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address, development: bool) -> str | None:
    if address.is_loopback:
        return None if development else "resolves to a loopback address"
    for flag, why in (
        (address.is_link_local, "a link-local address"),
        (address.is_private, "a private address"),
        (address.is_multicast, "a multicast address"),
        (address.is_reserved, "a reserved address"),
        (address.is_unspecified, "an unspecified address"),
    ):
        if flag:
            return f"resolves to {why}"
    return None


async def check_webhook_url(url: str, *, development: bool) -> None:
    """Raise UnsafeWebhookUrl unless `url` may be called (scheme, host, every resolved address)."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise UnsafeWebhookUrl("webhook_url has no host")
    if parts.username or parts.password:
        raise UnsafeWebhookUrl("webhook_url may not carry credentials")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeWebhookUrl(f"webhook_url host {host} does not resolve") from exc
    addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
    for address in addresses:
        refusal = _refusal(address, development)
        if refusal:
            raise UnsafeWebhookUrl(f"webhook_url {refusal} ({address})")
    all_loopback = all(a.is_loopback for a in addresses)
    if parts.scheme != "https" and not (parts.scheme == "http" and development and all_loopback):
        raise UnsafeWebhookUrl("webhook_url must use https (http only to loopback in development)")
