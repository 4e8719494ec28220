"""The emulator's Batch API, driven by the real google-genai SDK (`client.batches.*`).

Every shape here is the SDK's: create with inline requests, get, list, cancel, delete, states
mapped to JOB_STATE_*, inlined responses parsed into GenerateContentResponse objects.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import httpx
import pytest
from google import genai
from google.genai import errors, types
from PIL import Image

from gemini_emulator import EmulatorServer

FLASH = "gemini-2.5-flash-image"
TURNAROUND_S = 0.6
KEY = "batch-test-key"
NAMED = types.CreateBatchJobConfig(display_name="a-job")


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(batch_turnaround_s=TURNAROUND_S) as running:
        yield running


@pytest.fixture(autouse=True)
def _reset(server: EmulatorServer) -> None:
    server.reset()


@pytest.fixture
def client(server: EmulatorServer) -> Iterator[genai.Client]:
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=server.url, api_version="v1beta"))
    yield client
    client.close()


def _request(prompt: str, key: str) -> types.InlinedRequest:
    return types.InlinedRequest(
        contents=[types.Content(role="user", parts=[types.Part.from_text(text=prompt)])],
        config=types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"], image_config=types.ImageConfig(aspect_ratio="16:9")
        ),
        metadata={"key": key},
    )


def _wait(client: genai.Client, name: str, timeout_s: float = 10.0) -> types.BatchJob:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.batches.get(name=name)
        if job.done:
            return job
        assert time.monotonic() < deadline, f"{name} still {job.state}"
        time.sleep(0.1)


def test_create_poll_and_read_the_results_in_request_order(client: genai.Client, server: EmulatorServer) -> None:
    job = client.batches.create(
        model=FLASH,
        src=[_request(f"castle number {i}", f"item-{i}") for i in range(3)],
        config=types.CreateBatchJobConfig(display_name="render-job-1"),
    )
    assert job.name is not None and job.name.startswith("batches/")
    assert job.state == types.JobState.JOB_STATE_PENDING
    assert job.display_name == "render-job-1"
    assert job.model == f"models/{FLASH}"
    assert server.batch_stats(KEY) == {"jobs_created": 1, "items_billed": 0, "cancels": 0}

    finished = _wait(client, job.name)
    assert finished.state == types.JobState.JOB_STATE_SUCCEEDED
    assert finished.end_time is not None
    assert finished.dest is not None and finished.dest.inlined_responses is not None
    responses = finished.dest.inlined_responses
    assert [r.metadata for r in responses] == [{"key": f"item-{i}"} for i in range(3)]
    for response in responses:
        assert response.error is None and response.response is not None
        parts = response.response.candidates[0].content.parts  # type: ignore[index,union-attr]
        image = next(p.inline_data for p in parts if p.inline_data is not None)  # type: ignore[union-attr]
        assert image.mime_type == "image/png" and image.data
        assert Image.open(io.BytesIO(image.data)).size == (1344, 768)
    # Billed once, however often the finished job is read.
    client.batches.get(name=job.name)
    assert server.batch_stats(KEY) == {"jobs_created": 1, "items_billed": 3, "cancels": 0}
    assert [c.batch for c in server.calls("castle number")] == [job.name] * 3


def test_state_moves_through_running(client: genai.Client, server: EmulatorServer) -> None:
    server.batch_script("slowpoke", turnaround_s=2.0)
    job = client.batches.create(model=FLASH, src=[_request("slowpoke lighthouse", "a")], config=NAMED)
    assert job.name is not None
    time.sleep(0.7)
    assert client.batches.get(name=job.name).state == types.JobState.JOB_STATE_RUNNING
    assert _wait(client, job.name).state == types.JobState.JOB_STATE_SUCCEEDED


def test_a_blocked_item_fails_alone(client: genai.Client, server: EmulatorServer) -> None:
    server.script("forbidden", [{"kind": "prompt_block", "reason": "PROHIBITED_CONTENT"}])
    server.script("unsafe", [{"kind": "finish_block", "reason": "IMAGE_SAFETY"}])
    server.script("broken", [{"kind": "server_error", "code": 500}])
    job = client.batches.create(
        model=FLASH,
        src=[_request(prompt, str(i)) for i, prompt in enumerate(("a forbidden scene", "fine", "unsafe", "broken"))],
        config=NAMED,
    )
    assert job.name is not None
    done = _wait(client, job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    responses = done.dest.inlined_responses  # type: ignore[union-attr]
    assert responses is not None
    blocked, fine, unsafe, broken = responses
    assert blocked.response is not None and blocked.response.prompt_feedback is not None
    assert blocked.response.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT
    assert not blocked.response.candidates
    assert fine.response is not None and fine.response.candidates
    assert unsafe.response is not None
    assert unsafe.response.candidates[0].finish_reason == types.FinishReason.IMAGE_SAFETY  # type: ignore[index]
    assert broken.error is not None and broken.error.code == 13 and broken.response is None
    assert server.batch_stats(KEY)["items_billed"] == 4


def test_cancel_stops_the_job_and_bills_nothing(client: genai.Client, server: EmulatorServer) -> None:
    server.batch_script("patient", turnaround_s=30)
    job = client.batches.create(
        model=FLASH, src=[_request("patient tortoise", "a"), _request("patient owl", "b")], config=NAMED
    )
    assert job.name is not None
    client.batches.cancel(name=job.name)
    cancelled = client.batches.get(name=job.name)
    assert cancelled.state == types.JobState.JOB_STATE_CANCELLED
    assert cancelled.done and cancelled.dest is None
    client.batches.cancel(name=job.name)  # again: no-op
    assert server.batch_stats(KEY) == {"jobs_created": 1, "items_billed": 0, "cancels": 1}
    assert server.calls("patient") == []


@pytest.mark.parametrize(
    ("outcome", "state"), [("expire", types.JobState.JOB_STATE_EXPIRED), ("fail", types.JobState.JOB_STATE_FAILED)]
)
def test_scripted_job_outcomes(
    client: genai.Client, server: EmulatorServer, outcome: str, state: types.JobState
) -> None:
    server.batch_script("doomed", outcome)
    job = client.batches.create(model=FLASH, src=[_request("doomed ship", "a"), _request("other", "b")], config=NAMED)
    assert job.name is not None
    done = _wait(client, job.name)
    assert done.state == state and done.dest is None
    assert server.batch_stats(KEY)["items_billed"] == 0


def test_list_get_and_delete_are_per_api_key(client: genai.Client, server: EmulatorServer) -> None:
    names = []
    for i in range(3):
        job = client.batches.create(
            model=FLASH, src=[_request(f"listed {i}", "k")], config={"display_name": f"listed-{i}"}
        )
        names.append(job.name)
    listed = list(client.batches.list(config=types.ListBatchJobsConfig(page_size=2)))
    assert [j.name for j in listed] == names[::-1]  # newest first, across pages
    assert [j.display_name for j in listed] == ["listed-2", "listed-1", "listed-0"]

    stranger = genai.Client(api_key="someone-else", http_options=types.HttpOptions(base_url=server.url))
    assert list(stranger.batches.list()) == []
    with pytest.raises(errors.ClientError) as err:
        stranger.batches.get(name=names[0])  # type: ignore[arg-type]
    assert err.value.code == 404

    client.batches.delete(name=names[0])  # type: ignore[arg-type]
    with pytest.raises(errors.ClientError):
        client.batches.get(name=names[0])  # type: ignore[arg-type]


def test_bad_requests_are_400_naming_the_item(client: genai.Client, server: EmulatorServer) -> None:
    bad = types.InlinedRequest(
        contents="no image modality here", config=types.GenerateContentConfig(response_modalities=["TEXT"])
    )
    with pytest.raises(errors.ClientError) as err:
        client.batches.create(model=FLASH, src=[_request("good", "a"), bad], config=NAMED)
    assert err.value.code == 400 and "requests[1]" in str(err.value.message)
    with pytest.raises(errors.ClientError) as missing:
        client.batches.create(model="not-a-model", src=[_request("good", "a")], config=NAMED)
    with pytest.raises(errors.ClientError) as unnamed:  # displayName is required (Google's reference)
        client.batches.create(model=FLASH, src=[_request("good", "a")])
    assert unnamed.value.code == 400
    assert missing.value.code == 404
    anonymous = httpx.get(f"{server.url}/v1beta/batches")
    assert anonymous.status_code == 403
    assert server.batch_stats() == {"jobs_created": 0, "items_billed": 0, "cancels": 0}
