"""POST to a checked webhook URL over a connection pinned to the addresses the check approved.

The request goes to `scheme://<approved ip>:<port><path?query>` with the original `Host`
header and, for https, the original host name as TLS server name: httpcore passes the
`sni_hostname` request extension to `start_tls` as `server_hostname`
(httpcore/_async/connection.py `_connect`), and anyio's TLS stream hands it to
`SSLContext.wrap_bio`, so the certificate is verified against the host name (with the default
context's `check_hostname`), not against the IP connected to. No DNS lookup happens here, so
the name cannot be rebound between the policy check and the connection.

Redirects are not followed and environment proxy settings are ignored (`trust_env=False`): a
proxy would connect by itself and, for https, verify against the IP instead of the name.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping

import httpx

from kernel.webhook_url_policy import CheckedUrl


async def post_pinned(
    target: CheckedUrl,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeouts: httpx.Timeout,
    verify: ssl.SSLContext | None = None,
) -> httpx.Response:
    """POST `body` with `headers` (plus `Host`) to `target`, connecting only to its addresses.

    Tries `target.addresses` in order, moving on when one cannot be connected to (including a
    failed TLS handshake); returns the first response, whatever its status. `verify` is the TLS
    context (default: httpx's, with the certifi CA bundle). Raises httpx.HTTPError (the last
    connect error when no address could be reached, or the error of the request that connected).
    """
    extensions = {} if target.host_is_ip else {"sni_hostname": target.host}
    request_headers = {k: v for k, v in headers.items() if k.lower() != "host"} | {"host": target.host_header}
    last_error: httpx.TransportError | None = None
    async with httpx.AsyncClient(
        timeout=timeouts, follow_redirects=False, trust_env=False, verify=verify if verify is not None else True
    ) as client:
        for address in target.addresses:
            try:
                return await client.post(
                    target.url_for(address), content=body, headers=request_headers, extensions=extensions
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last_error = exc
    raise last_error or httpx.ConnectError(f"no address to connect to for {target.host}")
