"""Which webhook URLs we will call, and at which addresses (SSRF protection).

`check_webhook_url` parses the URL strictly, resolves its host once and returns a `CheckedUrl`
naming the exact addresses it approved; delivery (`clients.pinned_http`) connects only
to those, so DNS cannot change between the check and the connection (no rebinding). The API
checks at task creation and ignores the result; the delivery activity checks again at every
attempt and sends to the result.

URL rules (anything else raises `UnsafeWebhookUrl`, and nothing else is ever raised):
- at most 2048 characters, all printable (`str.isprintable`: no control, format or unassigned
  characters, no lone surrogates), no spaces, no backslashes;
- scheme `https`; `http` only in development and only when every address is loopback;
- no user info (`user:pw@`), an explicit port must be 1-65535 in ASCII digits;
- the host is a dotted-quad IPv4 literal, a bracketed IPv6 literal without zone id, or a DNS
  name: internationalised names are converted with IDNA 2008 / UTS 46 (the `idna` package, as
  httpx and anyio do); the ASCII name has 1-63 character labels of letters, digits, `-`, `_`,
  at most 253 characters, no empty label (so no trailing dot) and a last label that is not a
  number (`127.1`, `0x7f.1`, `2130706433` are refused: resolvers read them as IPv4).

Address rules, for every address the host resolves to (a literal is its own only address):
- refused unless globally reachable: Python's `ipaddress` `is_global` (built from the IANA
  special-purpose registries, RFC 6890) must hold, and as Python versions lag the registries
  every registry block marked "Globally Reachable: False" is also refused explicitly
  (`_NOT_GLOBAL`), e.g. 100.64.0.0/10 shared address space (RFC 6598; 100.100.100.200 is a
  cloud metadata address), 64:ff9b:1::/48 local-use NAT64 (RFC 8215), 3fff::/20 documentation
  (RFC 9637). Large blocks are refused whole even where the registry carves out a globally
  reachable service address (e.g. 192.0.0.9, 2001:1::1): nobody hosts a webhook there;
- refused also: multicast (224.0.0.0/4, ff00::/8), deprecated site-local fec0::/10, and IPv6
  reserved by the IETF (outside 2000::/3 and the special blocks; Python's `is_reserved`) except
  the NAT64 well-known prefix 64:ff9b::/96;
- IPv6 forms that embed an IPv4 address are refused when the embedded address is refused
  by the IPv4 rules (the message names the embedded address): IPv4-mapped ::ffff:0:0/96 and
  IPv4-compatible ::/96 (RFC 4291; both refused anyway), 6to4 2002::/16 (RFC 3056), Teredo
  2001::/32 server and client addresses (RFC 4380; refused anyway), NAT64 64:ff9b::/96
  (RFC 6052); the local-use NAT64 prefix 64:ff9b:1::/48 (RFC 8215) is refused whole, as its
  embedding depends on the operator's prefix length;
- in development, loopback (127.0.0.0/8, ::1) is allowed over http or https so a local receiver
  works; everything else is as in production (an address embedding loopback stays refused).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Iterable[str]]]
"""`await resolver(ascii_host, port)` -> the host's addresses as strings; raises OSError when it
does not resolve. `system_resolver` is the default."""

MAX_URL_CHARS = 2048
RESOLVE_TIMEOUT_S = 5.0
DEFAULT_PORTS = {"http": 80, "https": 443}

_AUTHORITY = re.compile(r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<name>[^\[\]:@]+))(?::(?P<port>[0-9]{1,5}))?", re.ASCII)
_LABEL = re.compile(r"[a-z0-9_-]{1,63}", re.ASCII)
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*", re.ASCII)

_NOT_GLOBAL: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.ip_network(net), why)
    for net, why in (
        ("0.0.0.0/8", "a this-network (unspecified) address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a shared address space (carrier-grade NAT) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "an IETF protocol assignment address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("255.255.255.255/32", "the broadcast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("::ffff:0:0/96", "an IPv4-mapped address"),
        ("::/96", "an IPv4-compatible address (deprecated)"),
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
        ("100::/64", "a discard-only address"),
        ("100:0:0:1::/64", "a dummy-prefix address"),
        ("2001::/32", "a Teredo address"),
        ("2001::/23", "an IETF protocol assignment address"),
        ("2001:db8::/32", "a documentation address"),
        ("3fff::/20", "a documentation address"),
        ("5f00::/16", "a segment-routing (SRv6 SID) address"),
        ("fc00::/7", "a unique-local (private) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address (deprecated)"),
        ("ff00::/8", "a multicast address"),
    )
)
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class UnsafeWebhookUrl(ValueError):
    """The URL may not be called; the message says why."""


@dataclass(frozen=True)
class CheckedUrl:
    """A webhook URL that passed the policy, pinned to the addresses approved for it.

    `url` is the string as given; `scheme` is "http" or "https"; `host` is the ASCII host
    (IDNA-encoded, lower case; an IP literal without brackets); `port` is explicit or the
    scheme's default; `target` is the path and query to request (starts with "/");
    `addresses` are the approved addresses in resolver order, never empty.
    """

    url: str
    scheme: str
    host: str
    port: int
    target: str
    addresses: tuple[IPAddress, ...]

    @property
    def host_is_ip(self) -> bool:
        """True when the URL names an IP literal rather than a DNS name."""
        return _ip_literal(self.host) is not None

    @property
    def host_header(self) -> str:
        """The `Host` header the receiver expects: host, bracketed if IPv6, and a non-default port."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def url_for(self, address: IPAddress) -> str:
        """The URL to request when connecting to `address` (one of `addresses`)."""
        literal = f"[{address}]" if address.version == 6 else str(address)
        return f"{self.scheme}://{literal}:{self.port}{self.target}"


async def system_resolver(host: str, port: int) -> list[str]:
    """The event loop's getaddrinfo for TCP: the addresses as strings. Raises OSError."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def check_webhook_url(url: str, *, development: bool, resolver: Resolver | None = None) -> CheckedUrl:
    """Apply the module's rules to `url`; returns the `CheckedUrl` to deliver to.

    `resolver` looks names up (default `system_resolver`; tests inject their own); IP literals
    are not looked up. Raises UnsafeWebhookUrl (and nothing else, whatever `url` holds) when
    the URL is malformed, its host does not resolve within 5 s, or any address is refused.
    """
    scheme, host, port, target = _parse(url, development)
    literal = _ip_literal(host)
    addresses = [literal] if literal is not None else await _resolve(host, port, resolver or system_resolver)
    for address in addresses:
        refusal = address_refusal(address, development=development)
        if refusal:
            raise UnsafeWebhookUrl(f"webhook_url {refusal}")
    if scheme == "http" and not all(a.is_loopback for a in addresses):
        raise UnsafeWebhookUrl("webhook_url must use https (http only to loopback in development)")
    return CheckedUrl(url=url, scheme=scheme, host=host, port=port, target=target, addresses=tuple(addresses))


def address_refusal(address: IPAddress, *, development: bool) -> str | None:
    """Why `address` may not be called (e.g. "resolves to 10.0.0.1: a private address"), or None."""
    if development and address.is_loopback:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        for embedded, form in _embedded_ipv4(address):
            why = _refusal(embedded)
            if why:
                return f"resolves to {address}, which embeds {embedded} ({form}): {why}"
    why = _refusal(address)
    return f"resolves to {address}: {why}" if why else None


def _refusal(address: IPAddress) -> str | None:
    for network, why in _NOT_GLOBAL:
        if address.version == network.version and address in network:
            return why
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local:
            return "a site-local address (deprecated)"
        if address.is_reserved and address not in _NAT64_WELL_KNOWN:
            return "an address reserved by the IETF"
    if not address.is_global:
        return "not a globally routable address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[tuple[ipaddress.IPv4Address, str]]:
    found: list[tuple[ipaddress.IPv4Address, str]] = []
    if address.ipv4_mapped is not None:
        found.append((address.ipv4_mapped, "IPv4-mapped"))
    if address.sixtofour is not None:
        found.append((address.sixtofour, "6to4"))
    if address.teredo is not None:
        server, client = address.teredo
        found += [(server, "Teredo server"), (client, "Teredo client")]
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _NAT64_WELL_KNOWN:
        found.append((low32, "NAT64"))
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        found.append((low32, "IPv4-compatible"))
    return found


def _parse(url: str, development: bool) -> tuple[str, str, int, str]:
    """(scheme, ASCII host, port, path-and-query) or UnsafeWebhookUrl."""
    if not isinstance(url, str) or len(url) > MAX_URL_CHARS:
        raise UnsafeWebhookUrl(f"webhook_url must be a string of at most {MAX_URL_CHARS} characters")
    if not url.isprintable() or " " in url or "\\" in url:
        raise UnsafeWebhookUrl("webhook_url may not contain spaces, backslashes or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise UnsafeWebhookUrl(f"webhook_url is not a valid URL ({exc})") from None
    scheme = parts.scheme
    if scheme not in DEFAULT_PORTS or (scheme == "http" and not development):
        raise UnsafeWebhookUrl("webhook_url must use https (http only to loopback in development)")
    if "@" in parts.netloc:
        raise UnsafeWebhookUrl("webhook_url may not carry credentials")
    authority = _AUTHORITY.fullmatch(parts.netloc)
    if authority is None:
        raise UnsafeWebhookUrl("webhook_url has no valid host[:port] (a host, then optionally ':' and 1-5 digits)")
    port = int(authority["port"]) if authority["port"] else DEFAULT_PORTS[scheme]
    if not 1 <= port <= 65535:
        raise UnsafeWebhookUrl(f"webhook_url port {port} is out of range 1-65535")
    host = _ascii_host(authority["name"]) if authority["ipv6"] is None else _ipv6_literal(authority["ipv6"])
    query = f"?{parts.query}" if parts.query else ""
    return scheme, host, port, (parts.path or "/") + query


def _ipv6_literal(text: str) -> str:
    try:
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        raise UnsafeWebhookUrl(f"webhook_url host [{text}] is not a valid IPv6 address") from None


def _ascii_host(name: str) -> str:
    """A dotted-quad IPv4 literal or a valid ASCII DNS name (IDNA-encoded), lower case."""
    try:
        ascii_name = name.lower() if name.isascii() else idna.encode(name, uts46=True).decode("ascii").lower()
    except (UnicodeError, ValueError):  # idna.IDNAError is a UnicodeError
        raise UnsafeWebhookUrl("webhook_url host is not a valid internationalised domain name") from None
    if _ip_literal(ascii_name) is not None:
        return ascii_name
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise UnsafeWebhookUrl(
            "webhook_url host is not a valid domain name (labels of 1-63 letters, digits, '-' or '_',"
            " at most 253 characters, no empty label)"
        )
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        raise UnsafeWebhookUrl("webhook_url host ends in a number but is not a dotted-quad IPv4 address")
    return ascii_name


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def _resolve(host: str, port: int, resolver: Resolver) -> list[IPAddress]:
    """The distinct addresses of `host`, in resolver order, or UnsafeWebhookUrl."""
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            answers = [str(a) for a in await resolver(host, port)]
    except (OSError, UnicodeError, ValueError) as exc:  # gaierror and TimeoutError are OSErrors
        raise UnsafeWebhookUrl(f"webhook_url host {host} does not resolve ({type(exc).__name__})") from None
    addresses: list[IPAddress] = []
    for answer in answers:
        try:
            address = ipaddress.ip_address(answer)
        except ValueError:
            raise UnsafeWebhookUrl(f"webhook_url host {host} resolves to an invalid address") from None
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeWebhookUrl(f"webhook_url host {host} resolves to no address")
    return addresses
