"""Webhook SSRF policy: malformed URLs and internal addresses are refused with UnsafeWebhookUrl
(never another exception), and delivery connects only to the address the check approved.

Pure policy tests inject a resolver, so they never touch DNS or the network. The delivery
tests call the real `deliver_webhook` activity (its signing secret lives in Postgres) against
receivers on loopback only; `rebind.test` is a made-up name (RFC 6761) that only the injected
resolver knows, so a delivery that reaches the receiver was pinned to the checked address.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import string
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

import httpx
import pytest
import trustme
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from temporalio.exceptions import ApplicationError

from activities.webhook_delivery import WebhookActivities
from db.session import SessionFactory
from db.users import create_user, ensure_webhook_secret
from kernel import webhook_url_policy
from kernel.payloads import WebhookDelivery
from kernel.webhook_signing import verify
from kernel.webhook_url_policy import DEFAULT_PORTS, CheckedUrl, UnsafeWebhookUrl, address_refusal, check_webhook_url
from studio.localstack.ports import free_port

PUBLIC = "93.184.216.34"  # resolved to, never connected to


def resolving_to(*answers: str) -> webhook_url_policy.Resolver:
    """A resolver answering `answers` for every name (no DNS)."""

    async def resolve(host: str, port: int) -> list[str]:
        return list(answers)

    return resolve


async def unresolvable(host: str, port: int) -> list[str]:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


# --- malformed URLs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://127.0.0.1:99999/", "port 99999 is out of range"),
        ("https://127.0.0.1:-1/", "host[:port]"),
        ("https://127.0.0.1:abc/", "host[:port]"),
        ("https://127.0.0.1:0/", "port 0 is out of range"),
        ("https://example.com:٨٠/", "host[:port]"),  # Arabic-Indic digits: int() would take them
        ("https://[::1/", "not a valid URL"),
        ("https://[zz::1]/", "not a valid URL"),
        ("https://[fe80::1%25eth0]/", "host[:port]"),  # zone ids are not accepted
        ("https://a..b/", "not a valid domain name"),
        ("https://.invalid/", "not a valid domain name"),
        ("https://example.com./", "not a valid domain name"),
        (f"https://{'a' * 300}.example.com/", "not a valid domain name"),
        (f"https://{'a' * 300}.bücher.example/", "internationalised domain name"),
        ("https://127.1/", "ends in a number"),  # inet_aton would read these as 127.0.0.1
        ("https://0x7f000001/", "ends in a number"),
        ("https://2130706433/", "ends in a number"),
        ("https://exa mple.com/", "spaces"),
        ("https://example.com\\@127.0.0.1/", "backslashes"),
        ("https://example.com/\x00", "control characters"),
        ("https://exa\ud800mple.com/", "control characters"),  # lone surrogate
        ("https://example.com/" + "a" * 5000, "at most 2048 characters"),
        ("https://user:pw@example.com/", "credentials"),
        ("https://@example.com/", "credentials"),
        ("https:///hooks", "host[:port]"),
        ("https:example.com", "host[:port]"),
        ("ftp://example.com/", "must use https"),
        ("not a url at all", "spaces"),
        ("", "must use https"),
    ],
)
async def test_malformed_urls_are_refused_with_a_clear_message(url: str, why: str) -> None:
    with pytest.raises(UnsafeWebhookUrl) as refused:
        await check_webhook_url(url, development=True, resolver=resolving_to(PUBLIC))
    assert why in str(refused.value)


@pytest.mark.parametrize(
    ("resolver", "why"),
    [
        (unresolvable, "does not resolve (gaierror)"),
        (resolving_to(), "resolves to no address"),
        (resolving_to("not-an-ip"), "resolves to an invalid address"),
    ],
)
async def test_resolver_failures_are_refusals(resolver: webhook_url_policy.Resolver, why: str) -> None:
    with pytest.raises(UnsafeWebhookUrl) as refused:
        await check_webhook_url("https://hooks.example.com/", development=False, resolver=resolver)
    assert why in str(refused.value)


async def test_a_resolver_raising_unicode_error_or_hanging_is_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    async def bad_name(host: str, port: int) -> list[str]:
        raise UnicodeError("label too long")

    async def hangs(host: str, port: int) -> list[str]:
        await asyncio.sleep(60)
        return [PUBLIC]

    with pytest.raises(UnsafeWebhookUrl, match="UnicodeError"):
        await check_webhook_url("https://hooks.example.com/", development=False, resolver=bad_name)
    monkeypatch.setattr(webhook_url_policy, "RESOLVE_TIMEOUT_S", 0.05)
    with pytest.raises(UnsafeWebhookUrl, match="TimeoutError"):
        await check_webhook_url("https://hooks.example.com/", development=False, resolver=hangs)


# --- internal addresses ---------------------------------------------------------------------

INTERNAL = [
    ("100.100.100.200", "shared address space"),  # cloud metadata
    ("100.64.0.1", "shared address space"),
    ("169.254.169.254", "link-local"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.0.10", "private"),
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("0.0.0.0", "this-network"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.0.8", "IETF protocol assignment"),
    ("198.18.0.1", "benchmarking"),
    ("203.0.113.7", "documentation"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fd00::1", "unique-local"),
    ("fc12:3456::1", "unique-local"),
    ("fe80::1", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),  # global-scope multicast: ipaddress calls it global
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("64:ff9b:1::a9fe:a9fe", "local-use NAT64"),
    ("4000::1", "reserved by the IETF"),
    ("2002:a9fe:a9fe::", "embeds 169.254.169.254 (6to4): a link-local"),
    ("2002:7f00:1::", "embeds 127.0.0.1 (6to4): a loopback"),
    ("2002:a00:1::", "embeds 10.0.0.1 (6to4): a private"),
    ("::ffff:127.0.0.1", "embeds 127.0.0.1 (IPv4-mapped)"),
    ("::ffff:169.254.169.254", "embeds 169.254.169.254 (IPv4-mapped)"),
    ("::ffff:93.184.216.34", "IPv4-mapped address"),  # refused whole, even with a public IPv4
    ("::127.0.0.1", "embeds 127.0.0.1 (IPv4-compatible)"),
    ("64:ff9b::a9fe:a9fe", "embeds 169.254.169.254 (NAT64)"),
    ("64:ff9b::7f00:1", "embeds 127.0.0.1 (NAT64)"),
    ("2001:0:a9fe:a9fe::", "embeds 169.254.169.254 (Teredo server)"),
    # Teredo client 127.0.0.1 is stored inverted in the last 32 bits (RFC 4380 section 4)
    ("2001:0:5db8:d822:0:0:80ff:fffe", "embeds 127.0.0.1 (Teredo client)"),
    ("2001:0:5db8:d822::5db8:d822", "Teredo address"),  # refused whole even when both are public
]


@pytest.mark.parametrize(("address", "why"), INTERNAL)
async def test_internal_address_literals_are_refused_in_production(address: str, why: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(UnsafeWebhookUrl, match="resolves to") as refused:
        await check_webhook_url(f"https://{host}/latest/meta-data/", development=False, resolver=unresolvable)
    assert why in str(refused.value)


@pytest.mark.parametrize(("address", "why"), INTERNAL)
async def test_names_resolving_to_internal_addresses_are_refused(address: str, why: str) -> None:
    """Also when the name has a public address too: every address must pass."""
    with pytest.raises(UnsafeWebhookUrl) as refused:
        await check_webhook_url("https://hooks.example.com/", development=False, resolver=resolving_to(PUBLIC, address))
    assert why in str(refused.value)


@pytest.mark.parametrize(
    "address",
    [a for a, _ in INTERNAL if not ipaddress.ip_address(a).is_loopback],
)
async def test_development_allows_loopback_only(address: str) -> None:
    with pytest.raises(UnsafeWebhookUrl):
        await check_webhook_url("https://hooks.example.com/", development=True, resolver=resolving_to(address))


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hooks", "https://127.0.0.1:8443/hooks", "http://[::1]:8080/h", "http://127.9.9.9/"]
)
async def test_loopback_is_allowed_in_development_over_http_and_https(url: str) -> None:
    checked = await check_webhook_url(url, development=True, resolver=unresolvable)
    assert all(address.is_loopback for address in checked.addresses)
    with pytest.raises(UnsafeWebhookUrl):
        await check_webhook_url(url, development=False, resolver=unresolvable)


async def test_http_is_only_for_loopback_in_development() -> None:
    with pytest.raises(UnsafeWebhookUrl, match="must use https"):
        await check_webhook_url(f"http://{PUBLIC}/hooks", development=False)
    with pytest.raises(UnsafeWebhookUrl, match="must use https"):
        await check_webhook_url(f"http://{PUBLIC}/hooks", development=True)
    with pytest.raises(UnsafeWebhookUrl, match="must use https"):  # one answer is loopback, one is not
        await check_webhook_url("http://h.example/", development=True, resolver=resolving_to("127.0.0.1", PUBLIC))
    checked = await check_webhook_url("http://h.example/", development=True, resolver=resolving_to("127.0.0.1", "::1"))
    assert checked.addresses == (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


async def test_public_https_is_pinned_to_what_the_resolver_said() -> None:
    checked = await check_webhook_url(
        "HTTPS://Hooks.Bücher.example:8443/in?a=1#frag",
        development=False,
        resolver=resolving_to(PUBLIC, "2606:2800:220:1:248:1893:25c8:1946", PUBLIC),
    )
    assert checked == CheckedUrl(
        url="HTTPS://Hooks.Bücher.example:8443/in?a=1#frag",
        scheme="https",
        host="hooks.xn--bcher-kva.example",
        port=8443,
        target="/in?a=1",
        addresses=(ipaddress.ip_address(PUBLIC), ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946")),
    )
    assert checked.host_header == "hooks.xn--bcher-kva.example:8443"
    assert checked.url_for(checked.addresses[1]) == "https://[2606:2800:220:1:248:1893:25c8:1946]:8443/in?a=1"
    assert not checked.host_is_ip


@pytest.mark.parametrize(
    "address",
    [
        PUBLIC,
        "2606:2800:220:1:248:1893:25c8:1946",
        "2002:5db8:d822::",  # 6to4 of a public address
        "64:ff9b::5db8:d822",  # NAT64 of a public address
    ],
)
async def test_global_addresses_are_allowed(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    checked = await check_webhook_url(f"https://{host}", development=False, resolver=unresolvable)
    assert checked.addresses == (ipaddress.ip_address(address),)
    assert checked.target == "/"
    assert checked.host_is_ip
    assert checked.host_header == host


# --- properties: nothing but UnsafeWebhookUrl, whatever the input ----------------------------

RESOLVERS = st.sampled_from([resolving_to(PUBLIC), resolving_to(PUBLIC, "10.0.0.1"), unresolvable])
LABELS = st.text(alphabet=string.ascii_letters + string.digits + "-_", max_size=70)
HOSTS = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
    st.ip_addresses(v=6).map(str),  # unbracketed
    st.text(alphabet="0123456789abcdefxz:.%[]", max_size=45).map(lambda s: f"[{s}]"),
    st.text(alphabet="0123456789abcdefxz:.%[]", max_size=45),
    st.lists(LABELS, min_size=1, max_size=6).map(".".join),
    st.lists(st.text(min_size=0, max_size=20), min_size=1, max_size=4).map(".".join),  # any unicode
    st.integers(min_value=0, max_value=2**40).map(str),
)
PORTS = st.one_of(
    st.none(),
    st.integers(min_value=-100, max_value=100_000).map(str),
    st.text(max_size=8),
)
URLS = st.builds(
    lambda scheme, userinfo, host, port, path: f"{scheme}://{userinfo}{host}{'' if port is None else ':' + port}{path}",
    st.sampled_from(["https", "http", "HTTPS", "ftp", "", "javascript"]),
    st.sampled_from(["", "", "", "user@", "u:p@", "@"]),
    HOSTS,
    PORTS,
    st.one_of(st.text(alphabet=string.ascii_letters + string.digits + string.punctuation, max_size=40), st.text()).map(
        lambda p: "/" + p
    ),
)


def _returns_or_refuses(url: str, development: bool, resolver: webhook_url_policy.Resolver) -> None:
    """The policy answers a CheckedUrl or UnsafeWebhookUrl; what it accepts is deliverable."""
    try:
        checked = asyncio.run(check_webhook_url(url, development=development, resolver=resolver))
    except UnsafeWebhookUrl as exc:
        assert str(exc).startswith("webhook_url ")
        return
    assert checked.addresses
    for address in checked.addresses:
        assert address_refusal(address, development=development) is None
        assert development or not address.is_loopback
        request_url = httpx.URL(checked.url_for(address))  # httpx can send it as built
        assert ipaddress.ip_address(request_url.host) == address
        assert (request_url.port or DEFAULT_PORTS[checked.scheme]) == checked.port
    assert checked.scheme == "https" or (development and all(a.is_loopback for a in checked.addresses))
    assert checked.host_header.isascii()
    httpx.Headers({"host": checked.host_header})


@settings(max_examples=300, deadline=None)
@given(url=st.text(), development=st.booleans(), resolver=RESOLVERS)
def test_any_text_is_accepted_or_refused_never_an_error(
    url: str, development: bool, resolver: webhook_url_policy.Resolver
) -> None:
    _returns_or_refuses(url, development, resolver)


@settings(max_examples=300, deadline=None)
@given(url=URLS, development=st.booleans(), resolver=RESOLVERS)
def test_url_shaped_strings_are_accepted_or_refused_never_an_error(
    url: str, development: bool, resolver: webhook_url_policy.Resolver
) -> None:
    _returns_or_refuses(url, development, resolver)


# --- delivery is pinned to the checked address ----------------------------------------------


@dataclass
class LoopbackReceiver:
    """Requests seen by a loopback webhook endpoint, and the TLS server names asked for."""

    port: int
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)


@contextlib.asynccontextmanager
async def loopback_receiver(
    host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
) -> AsyncIterator[LoopbackReceiver]:
    """A webhook endpoint on a loopback address, answering 204; https when `tls` is given."""
    assert ipaddress.ip_address(host).is_loopback  # tests never send anywhere else
    state = LoopbackReceiver(port=free_port(host))

    async def handle(request: web.Request) -> web.Response:
        state.requests.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    def record_server_name(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        state.server_names.append(name)

    if tls is not None:
        tls.sni_callback = record_server_name
    app = web.Application()
    app.router.add_post("/hooks", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, state.port, ssl_context=tls).start()
    try:
        yield state
    finally:
        await runner.cleanup()


@dataclass
class CountingResolver:
    """Answers `answers[name]` and counts the lookups (the check's, and any other)."""

    answers: dict[str, list[str]]
    lookups: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> Iterable[str]:
        self.lookups.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]


@pytest.fixture
async def owner_id(sessions: SessionFactory) -> str:
    async with sessions() as session:
        user, _ = await create_user(session, f"hooks-{uuid.uuid4().hex[:8]}")
        await session.commit()
    return str(user.id)


def delivery(owner_id: str, url: str) -> WebhookDelivery:
    message_id = f"msg_{uuid.uuid4()}_succeeded"
    return WebhookDelivery(
        owner_id=owner_id, url=url, message_id=message_id, event_type="task.succeeded", payload={"type": "x"}
    )


async def test_delivery_connects_to_the_checked_address_with_the_original_host(
    sessions: SessionFactory, owner_id: str
) -> None:
    resolver = CountingResolver({"rebind.test": ["127.0.0.1"]})
    activities = WebhookActivities(sessions, development=True, resolver=resolver)
    async with loopback_receiver() as receiver:
        with pytest.raises(socket.gaierror):  # the premise: only our resolver knows this name
            await asyncio.get_running_loop().getaddrinfo("rebind.test", receiver.port)
        inp = delivery(owner_id, f"http://rebind.test:{receiver.port}/hooks?x=1")
        assert await activities.deliver_webhook(inp) == 204

    assert resolver.lookups == ["rebind.test"]  # one lookup: the check's, reused to connect
    [(headers, body)] = receiver.requests
    assert headers["Host"] == f"rebind.test:{receiver.port}"
    async with sessions() as session:
        secret = await ensure_webhook_secret(session, uuid.UUID(owner_id))
    assert verify(secret, inp.message_id, int(headers["webhook-timestamp"]), body, headers["webhook-signature"])


async def test_a_name_rebound_after_the_check_is_still_delivered_to_the_checked_address(
    sessions: SessionFactory, owner_id: str
) -> None:
    """Our resolver says localhost is 127.0.0.2, the system says 127.0.0.1 or ::1: the receiver
    listens on 127.0.0.2 only, so it is reached only through the address the check approved."""
    resolver = CountingResolver({"localhost": ["127.0.0.2"]})
    activities = WebhookActivities(sessions, development=True, resolver=resolver)
    async with loopback_receiver("127.0.0.2") as receiver:
        with pytest.raises(httpx.ConnectError):  # what an unpinned client would do
            async with httpx.AsyncClient(trust_env=False) as client:
                await client.post(f"http://localhost:{receiver.port}/hooks")
        assert await activities.deliver_webhook(delivery(owner_id, f"http://localhost:{receiver.port}/hooks")) == 204
    [(headers, _)] = receiver.requests
    assert headers["Host"] == f"localhost:{receiver.port}"


async def test_delivery_falls_back_to_the_next_checked_address(sessions: SessionFactory, owner_id: str) -> None:
    async with loopback_receiver("127.0.0.3") as receiver:
        resolver = CountingResolver({"two.test": ["127.0.0.4", "127.0.0.3"]})  # nothing listens on .4
        activities = WebhookActivities(sessions, development=True, resolver=resolver)
        assert await activities.deliver_webhook(delivery(owner_id, f"http://two.test:{receiver.port}/hooks")) == 204
    assert len(receiver.requests) == 1


async def test_delivery_refuses_when_the_name_now_resolves_somewhere_internal(
    sessions: SessionFactory, owner_id: str
) -> None:
    activities = WebhookActivities(sessions, development=True, resolver=resolving_to("169.254.169.254"))
    with pytest.raises(ApplicationError) as refused:
        await activities.deliver_webhook(delivery(owner_id, "https://rebind.test/hooks"))
    assert refused.value.type == "UnsafeWebhookUrl"
    assert refused.value.non_retryable
    assert "link-local" in str(refused.value)


# --- https: the certificate is verified against the name, on the pinned connection ----------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def client_trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def server_with_cert_for(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


async def test_https_delivery_verifies_the_certificate_for_the_name_over_the_pinned_ip(
    sessions: SessionFactory, owner_id: str, ca: trustme.CA
) -> None:
    resolver = CountingResolver({"rebind.test": ["127.0.0.1"]})
    activities = WebhookActivities(sessions, development=True, resolver=resolver, verify=client_trusting(ca))
    async with loopback_receiver(tls=server_with_cert_for(ca, "rebind.test")) as receiver:
        assert await activities.deliver_webhook(delivery(owner_id, f"https://rebind.test:{receiver.port}/hooks")) == 204
    assert receiver.server_names == ["rebind.test"]  # SNI is the name, not the IP
    [(headers, _)] = receiver.requests
    assert headers["Host"] == f"rebind.test:{receiver.port}"


@pytest.mark.parametrize("cert_names", [("other.test",), ("127.0.0.1",)])
async def test_https_delivery_fails_when_the_certificate_is_not_for_the_name(
    sessions: SessionFactory, owner_id: str, ca: trustme.CA, cert_names: tuple[str, ...]
) -> None:
    """A certificate for the IP connected to is not enough: it must be for the URL's host."""
    resolver = CountingResolver({"rebind.test": ["127.0.0.1"]})
    activities = WebhookActivities(sessions, development=True, resolver=resolver, verify=client_trusting(ca))
    async with loopback_receiver(tls=server_with_cert_for(ca, *cert_names)) as receiver:
        with pytest.raises(ApplicationError) as rejected:
            await activities.deliver_webhook(delivery(owner_id, f"https://rebind.test:{receiver.port}/hooks"))
    assert rejected.value.type == "WebhookRejected"
    assert "CERTIFICATE_VERIFY_FAILED" in str(rejected.value)
    assert receiver.requests == []
