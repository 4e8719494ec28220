"""The Gemini emulator, driven over HTTP by the real google-genai SDK (and raw httpx).

Wire facts asserted here come from shared/GEMINI.md; sizes from kernel.catalog.
"""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from google import genai
from google.genai import errors, types
from PIL import Image

from gemini_emulator import EmulatorServer
from gemini_emulator.images import realistic_image, render_image
from gemini_emulator.quota import EmulatorConfig, QuotaRefusal, SlidingWindowQuota
from gemini_emulator.validation import decode_base64

PRO = "gemini-3-pro-image-preview"
FLASH = "gemini-2.5-flash-image"


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer() as running:
        yield running


@pytest.fixture(autouse=True)
def _reset(server: EmulatorServer) -> None:
    server.reset()


@pytest_asyncio.fixture
async def client(server: EmulatorServer) -> AsyncIterator[genai.Client]:
    client = genai.Client(
        api_key="test-key",
        http_options=types.HttpOptions(base_url=server.url, api_version="v1beta"),
    )
    yield client
    await client.aio.aclose()


def _config(ratio: str | None = "16:9", size: str | None = "1K") -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        response_modalities=["TEXT", "IMAGE"],
        image_config=types.ImageConfig(aspect_ratio=ratio, image_size=size),
    )


async def _generate(
    client: genai.Client,
    model: str,
    prompt: str,
    config: types.GenerateContentConfig | None = None,
    *references: types.Part,
) -> types.GenerateContentResponse:
    contents: list[types.ContentUnion] = [prompt, *references]
    return await client.aio.models.generate_content(model=model, contents=contents, config=config or _config())


def _final_image(response: types.GenerateContentResponse) -> Image.Image:
    assert response.candidates and response.candidates[0].content
    parts = response.candidates[0].content.parts or []
    images = [p for p in parts if p.inline_data and not p.thought]
    assert images, "no non-thought image part"
    data = images[-1].inline_data
    assert data is not None and data.data is not None
    image = Image.open(io.BytesIO(data.data))
    image.load()
    return image


def _png(size: tuple[int, int] = (16, 16), shade: int = 250) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (shade, 251, 252)).save(buffer, "PNG")
    return buffer.getvalue()


def _urlsafe_png() -> bytes:
    """A PNG whose base64 needs the URL-safe characters and padding (like the SDK sends)."""
    for shade in range(256):
        png = _png(shade=shade)
        encoded = base64.urlsafe_b64encode(png).decode()
        if ("-" in encoded or "_" in encoded) and encoded.endswith("="):
            return png
    raise AssertionError("no suitable PNG")


def _raw(server: EmulatorServer, model: str, body: dict[str, Any], key: str | None = "k") -> httpx.Response:
    headers = {"x-goog-api-key": key} if key else {}
    url = f"{server.url}/v1beta/models/{model}:generateContent"
    return httpx.post(url, json=body, headers=headers, timeout=10)


def _body(prompt: str, *parts: dict[str, Any], ratio: str = "1:1") -> dict[str, Any]:
    return {
        "contents": [{"role": "user", "parts": [{"text": prompt}, *parts]}],
        "generation_config": {
            "response_modalities": ["IMAGE"],
            "image_config": {"aspect_ratio": ratio},
        },
    }


@pytest.mark.asyncio
async def test_pro_success_has_thoughts_and_expected_png(client: genai.Client) -> None:
    response = await _generate(client, PRO, "a lighthouse at dusk")
    image = _final_image(response)
    assert (image.format, image.size) == ("PNG", (1376, 768))
    candidate = response.candidates[0]  # type: ignore[index]
    assert candidate.finish_reason == types.FinishReason.STOP
    parts = candidate.content.parts  # type: ignore[union-attr]
    thoughts = [p for p in parts if p.thought]  # type: ignore[union-attr]
    assert thoughts and thoughts[0].text
    thought_images = [p for p in thoughts if p.inline_data]
    assert 1 <= len(thought_images) <= 2
    for part in thought_images:
        Image.open(io.BytesIO(part.inline_data.data)).load()  # type: ignore[union-attr, arg-type]
    assert parts[-1].thought_signature  # type: ignore[index]
    usage = response.usage_metadata
    assert usage and usage.thoughts_token_count and usage.total_token_count
    assert response.model_version == PRO and response.response_id


@pytest.mark.asyncio
async def test_flash_has_no_thoughts_and_jpeg_outcome(server: EmulatorServer, client: genai.Client) -> None:
    server.script("jpeg please", [{"kind": "ok", "mime": "image/jpeg"}])
    config = _config(size=None)
    response = await _generate(client, FLASH, "jpeg please", config)
    parts = response.candidates[0].content.parts  # type: ignore[index, union-attr]
    assert not any(p.thought for p in parts)  # type: ignore[union-attr]
    image = _final_image(response)
    assert (image.format, image.size) == ("JPEG", (1344, 768))


@pytest.mark.asyncio
async def test_v1_and_every_call_draws_a_new_image(server: EmulatorServer) -> None:
    options = types.HttpOptions(base_url=server.url, api_version="v1")
    client = genai.Client(api_key="test-key", http_options=options)
    first = await _generate(client, PRO, "same", _config())
    second = await _generate(client, PRO, "same", _config())
    assert _final_image(first).size == _final_image(second).size
    assert _final_image(first).tobytes() != _final_image(second).tobytes()
    await client.aio.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("model", "ratio", "size"),
    [(FLASH, "16:9", "1K"), (PRO, "16:9", "1k"), (PRO, "7:3", "1K"), (PRO, "16:9", "8K")],
)
async def test_invalid_config_is_400(client: genai.Client, model: str, ratio: str, size: str) -> None:
    with pytest.raises(errors.ClientError) as info:
        await _generate(client, model, "x", _config(ratio, size))
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"


@pytest.mark.asyncio
async def test_text_only_modality_and_unknown_model(client: genai.Client) -> None:
    config = types.GenerateContentConfig(response_modalities=["TEXT"])
    with pytest.raises(errors.ClientError) as info:
        await _generate(client, PRO, "x", config)
    assert info.value.code == 400
    with pytest.raises(errors.ClientError) as info:
        await _generate(client, "gemini-9", "x", _config())
    assert info.value.code == 404 and info.value.status == "NOT_FOUND"


@pytest.mark.asyncio
@pytest.mark.parametrize("per_day", [False, True])
async def test_rate_limit_carries_retry_info(server: EmulatorServer, client: genai.Client, per_day: bool) -> None:
    server.script("quota", [{"kind": "rate_limit", "retry_delay_s": 7, "per_day": per_day}])
    with pytest.raises(errors.ClientError) as info:
        await _generate(client, PRO, "quota", _config())
    assert info.value.code == 429 and info.value.status == "RESOURCE_EXHAUSTED"
    assert info.value.message and info.value.message.endswith("Please retry in 7s.")
    details = {d["@type"].rsplit(".", 1)[-1]: d for d in info.value.details["error"]["details"]}
    assert details["RetryInfo"]["retryDelay"] == "7s"
    quota_id = details["QuotaFailure"]["violations"][0]["quotaId"]
    assert ("PerDay" in quota_id) is per_day
    # The queue is used up: the next call succeeds.
    response = await _generate(client, PRO, "quota", _config())
    assert _final_image(response).size == (1376, 768)


@pytest.mark.asyncio
@pytest.mark.parametrize(("code", "status"), [(500, "INTERNAL"), (503, "UNAVAILABLE"), (504, "DEADLINE_EXCEEDED")])
async def test_server_errors(server: EmulatorServer, client: genai.Client, code: int, status: str) -> None:
    server.script("flaky", [{"kind": "server_error", "code": code}])
    with pytest.raises(errors.ServerError) as info:
        await _generate(client, PRO, "flaky", _config())
    assert (info.value.code, info.value.status) == (code, status)


@pytest.mark.asyncio
async def test_blocks_and_no_image(server: EmulatorServer, client: genai.Client) -> None:
    server.script(
        "blocked",
        [
            {"kind": "prompt_block", "reason": "PROHIBITED_CONTENT"},
            {"kind": "finish_block", "reason": "IMAGE_SAFETY"},
            {"kind": "no_image", "reason": "NO_IMAGE"},
        ],
    )

    async def call() -> types.GenerateContentResponse:
        return await _generate(client, PRO, "blocked", _config())

    first = await call()
    assert not first.candidates
    assert first.prompt_feedback and first.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT
    second = await call()
    assert second.candidates and second.candidates[0].finish_reason == types.FinishReason.IMAGE_SAFETY
    third = await call()
    assert third.candidates and third.candidates[0].finish_reason == types.FinishReason.NO_IMAGE
    assert all(not p.inline_data for p in third.candidates[0].content.parts)  # type: ignore[union-attr]


def test_corrupt_images(server: EmulatorServer) -> None:
    server.script("corrupt", [{"kind": "bad_base64"}, {"kind": "not_image"}])
    for expected in (ValueError, OSError):
        response = _raw(server, FLASH, _body("corrupt"))
        assert response.status_code == 200
        data = response.json()["candidates"][0]["content"]["parts"][-1]["inlineData"]["data"]
        with pytest.raises(expected):
            Image.open(io.BytesIO(decode_base64(data)))


def test_latency_and_hang(server: EmulatorServer) -> None:
    server.script("slow", [{"kind": "ok", "latency_s": 0.3}, {"kind": "hang", "seconds": 0.3}])
    for _ in range(2):
        started = time.monotonic()
        assert _raw(server, FLASH, _body("slow")).status_code == 200
        assert time.monotonic() - started >= 0.3


def test_reference_images_both_base64_alphabets(server: EmulatorServer) -> None:
    png = _urlsafe_png()
    urlsafe = base64.urlsafe_b64encode(png).decode().rstrip("=")
    standard = base64.b64encode(png).decode()
    parts = [
        {"inline_data": {"data": urlsafe, "mime_type": "image/png"}},
        {"inlineData": {"data": standard, "mimeType": "image/png"}},
    ]
    assert _raw(server, FLASH, _body("refs", *parts)).status_code == 200
    too_many = [parts[1]] * 4
    assert _raw(server, FLASH, _body("refs", *too_many)).status_code == 400
    assert _raw(server, PRO, _body("refs", *too_many)).status_code == 200
    bad = {"inlineData": {"data": "!!notbase64", "mimeType": "image/png"}}
    response = _raw(server, FLASH, _body("refs", bad))
    assert response.status_code == 400 and "Base64" in response.json()["error"]["message"]


@pytest.mark.asyncio
async def test_sdk_reference_image_accepted(client: genai.Client) -> None:
    reference = types.Part.from_bytes(data=_png((40, 30)), mime_type="image/png")
    response = await _generate(client, PRO, "restyle this", _config("21:9", "2K"), reference)
    assert _final_image(response).size == (3168, 1344)


def test_api_key_required_and_query_key(server: EmulatorServer) -> None:
    response = _raw(server, PRO, _body("nokey"), key=None)
    assert response.status_code == 403
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"
    url = f"{server.url}/v1/models/{PRO}:generateContent?key=abc"
    assert httpx.post(url, json=_body("querykey"), timeout=10).status_code == 200


def test_control_endpoints_count_calls(server: EmulatorServer) -> None:
    control = f"{server.url}/_emulator"
    created = httpx.post(f"{control}/scripts", json={"match": "count-me", "outcomes": [{"kind": "rate_limit"}]})
    assert created.status_code == 201
    bad = httpx.post(f"{control}/scripts", json={"match": "x", "outcomes": [{"kind": "explode"}]})
    assert bad.status_code == 422
    assert _raw(server, PRO, _body("count-me 1")).status_code == 429
    assert _raw(server, PRO, _body("count-me 2", ratio="9:9")).status_code == 400
    assert _raw(server, PRO, _body("count-me 3")).status_code == 200
    assert _raw(server, PRO, _body("other")).status_code == 200
    calls = httpx.get(f"{control}/calls", params={"match": "count-me"}).json()
    assert calls["count"] == 3
    assert [c["outcome"] for c in calls["calls"]] == ["rate_limit", "INVALID_ARGUMENT", "ok"]
    assert httpx.get(f"{control}/calls").json()["count"] == 4
    assert httpx.post(f"{control}/reset").status_code == 200
    assert httpx.get(f"{control}/calls").json()["count"] == 0


def test_render_image_is_exact_and_deterministic() -> None:
    png = render_image(1376, 768, "image/png", "seed")
    assert png == render_image(1376, 768, "image/png", "seed")
    assert Image.open(io.BytesIO(png)).size == (1376, 768)
    assert render_image(64, 64, "image/png", "a") != render_image(64, 64, "image/png", "b")


def _details(error: errors.APIError) -> dict[str, dict[str, Any]]:
    return {d["@type"].rsplit(".", 1)[-1]: d for d in error.details["error"]["details"]}


def test_sliding_window_counts_admissions_only() -> None:
    quota = SlidingWindowQuota(EmulatorConfig(quota_images_per_minute=3))
    assert [quota.admit("k", PRO, now=t) for t in (0.0, 10.0, 20.0)] == [None, None, None]
    refusal = quota.admit("k", PRO, now=30.0)
    assert refusal == QuotaRefusal(limit=3, retry_delay_s=30.0, per_day=False)  # the call at 0 leaves at 60
    assert quota.admit("k", PRO, now=59.2) == QuotaRefusal(3, 1.0, False)  # rounded up to whole seconds
    assert quota.admit("other", PRO, now=30.0) is None  # per API key
    assert quota.admit("k", FLASH, now=30.0) is None  # and per model
    assert quota.admit("k", PRO, now=60.0) is None  # refused calls did not count
    assert quota.admit("k", PRO, now=61.0) == QuotaRefusal(3, 9.0, False)  # window: 10, 20, 60


def test_per_day_quota_resets_at_utc_midnight() -> None:
    quota = SlidingWindowQuota(EmulatorConfig(quota_images_per_day=1))
    day = 20_000 * 86_400.0
    assert quota.admit("k", PRO, now=day + 100) is None
    assert quota.admit("k", PRO, now=day + 200) == QuotaRefusal(1, 86_400.0 - 200, True)
    assert quota.admit("k", PRO, now=day + 86_400) is None


@pytest.mark.asyncio
async def test_quota_answers_429_with_retry_info_then_recovers() -> None:
    window = 1.0
    with EmulatorServer(quota_images_per_minute=3, quota_window_s=window) as server:
        options = types.HttpOptions(base_url=server.url, api_version="v1beta")
        client = genai.Client(api_key="tenant-a", http_options=options)
        other = genai.Client(api_key="tenant-b", http_options=options)
        for i in range(3):
            await _generate(client, FLASH, f"burst {i}", _config("1:1", None))
        with pytest.raises(errors.ClientError) as info:
            await _generate(client, FLASH, "burst 3", _config("1:1", None))
        refused_at = time.time()
        assert info.value.code == 429 and info.value.status == "RESOURCE_EXHAUSTED"
        details = _details(info.value)
        delay = float(details["RetryInfo"]["retryDelay"].removesuffix("s"))
        assert delay == int(delay) and 1 <= delay <= window  # whole seconds until the oldest leaves
        assert info.value.message and info.value.message.endswith(f"Please retry in {int(delay)}s.")
        violation = details["QuotaFailure"]["violations"][0]
        assert "PerMinute" in violation["quotaId"] and violation["quotaValue"] == "3"
        await _generate(other, FLASH, "another key", _config("1:1", None))  # its own quota

        await asyncio.sleep(max(0.0, refused_at + delay - time.time()))  # as RetryInfo says
        response = await _generate(client, FLASH, "burst 4", _config("1:1", None))
        assert _final_image(response).size == (1024, 1024)
        await client.aio.aclose()
        await other.aio.aclose()

        assert server.stats(api_key="tenant-a") == {
            "calls": 5,
            "ok": 4,
            "rate_limited": 1,
            "quota_exceeded": 1,
            "outcomes": {"ok": 4, "quota_exceeded": 1},
        }
        async with httpx.AsyncClient(base_url=server.url) as http:
            stats = (await http.get("/_emulator/stats", params={"api_key": "tenant-b"})).json()
        assert (stats["calls"], stats["ok"], stats["rate_limited"]) == (1, 1, 0)


def test_per_day_quota_over_http_and_config_endpoint(server: EmulatorServer) -> None:
    control = f"{server.url}/_emulator"
    assert httpx.post(f"{control}/config", json={"quota_images_per_day": 1}).status_code == 200
    try:
        assert _raw(server, FLASH, _body("daily 1"), key="daily").status_code == 200
        refused = _raw(server, FLASH, _body("daily 2"), key="daily")
        assert refused.status_code == 429
        details = {d["@type"].rsplit(".", 1)[-1]: d for d in refused.json()["error"]["details"]}
        assert "PerDay" in details["QuotaFailure"]["violations"][0]["quotaId"]
        assert _raw(server, FLASH, _body("daily 3"), key="someone else").status_code == 200
        bad = httpx.post(f"{control}/config", json={"quota_images_per_day": -1, "latency_s": 5})
        assert bad.status_code == 422
        bad = httpx.post(f"{control}/config", json={"no_such_setting": 1})
        assert bad.status_code == 422
        assert httpx.get(f"{control}/config").json()["latency_s"] == 0  # nothing changed
        assert httpx.post(f"{control}/reset").status_code == 200  # forgets the day's count
        assert _raw(server, FLASH, _body("daily 4"), key="daily").status_code == 200
    finally:
        httpx.post(f"{control}/config", json={"quota_images_per_day": None})
    assert _raw(server, FLASH, _body("daily 5"), key="daily").status_code == 200


def test_realistic_bytes_are_large_and_differ_per_call(server: EmulatorServer) -> None:
    server.configure(realistic_bytes=True)
    try:
        images = [_raw(server, FLASH, _body("big")).json()["candidates"][0]["content"]["parts"][-1] for _ in range(2)]
    finally:
        server.configure(realistic_bytes=False)
    raw = [decode_base64(part["inlineData"]["data"]) for part in images]
    assert raw[0] != raw[1]
    for data in raw:
        assert 1.1 * 1024 * 1024 <= len(data) <= 1.5 * 1024 * 1024  # about 1.2 bytes per pixel
        image = Image.open(io.BytesIO(data))
        image.load()
        assert image.size == (1024, 1024)
    assert len(realistic_image(64, 48, "image/jpeg", "n")) > 0
