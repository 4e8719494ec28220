"""The cost of every image, task and project (issue 12): priced from the model catalogue when
recorded, summed on the task, reported by `GET /projects/{id}/usage`; and the catalogue itself is
data that ops extend without a code change."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml

from clients.settings import Settings
from kernel.catalog import PACKAGED_CATALOG, load_catalog
from studio.localstack.ports import free_port
from tests.helpers import create_project, create_task, wait_for_task

PRO = "gemini-3-pro-image-preview"
FLASH = "gemini-2.5-flash-image"


async def test_each_image_task_and_project_says_what_it_cost(http: httpx.AsyncClient, token: str) -> None:
    project_id = await create_project(http)
    pro = await create_task(http, project_id, prompt=f"a 4K poster {token}", n=2, image_size="4K")
    flash = await create_task(http, project_id, prompt=f"a flash sketch {token}", model=FLASH)
    pro_done, flash_done = await wait_for_task(http, pro["id"]), await wait_for_task(http, flash["id"])

    assert pro_done["status"] == flash_done["status"] == "succeeded"
    assert pro_done["cost"] == {"micro_usd": 480_000, "usd": "0.480000"}  # 2 x $0.24 (3 Pro, 4K)
    assert flash_done["cost"] == {"micro_usd": 39_000, "usd": "0.039000"}
    assets = (await http.get(f"/api/v1/projects/{project_id}/rendered-assets")).json()["items"]
    assert sorted(a["cost"]["micro_usd"] for a in assets) == [39_000, 240_000, 240_000]
    listed = (await http.get(f"/api/v1/projects/{project_id}/tasks")).json()["items"]
    assert {t["id"]: t["cost"]["micro_usd"] for t in listed} == {pro["id"]: 480_000, flash["id"]: 39_000}

    by_model = (await http.get(f"/api/v1/projects/{project_id}/usage", params={"group_by": "model"})).json()
    assert [(g["key"], g["images"], g["cost"]["micro_usd"]) for g in by_model["items"]] == [
        (FLASH, 1, 39_000),
        (PRO, 2, 480_000),
    ]
    assert by_model["total"]["cost"] == {"micro_usd": 519_000, "usd": "0.519000"}
    assert by_model["total"]["images"] == len(assets)
    by_mode = (await http.get(f"/api/v1/projects/{project_id}/usage", params={"group_by": "mode"})).json()
    assert [(g["key"], g["images"]) for g in by_mode["items"]] == [("standard", 3)]
    by_day = (await http.get(f"/api/v1/projects/{project_id}/usage")).json()
    assert [g["key"] for g in by_day["items"]] == [datetime.now(UTC).date().isoformat()]
    before = (
        await http.get(
            f"/api/v1/projects/{project_id}/usage", params={"to": "2020-01-01T00:00:00Z", "from": "2019-01-01"}
        )
    ).json()
    assert before["items"] == [] and before["total"]["images"] == 0
    backwards = await http.get(
        f"/api/v1/projects/{project_id}/usage", params={"from": "2030-01-01", "to": "2020-01-01"}
    )
    assert backwards.status_code == 422


async def test_another_users_usage_is_404(http: httpx.AsyncClient, other_http: httpx.AsyncClient) -> None:
    project_id = await create_project(http)
    assert (await other_http.get(f"/api/v1/projects/{project_id}/usage")).status_code == 404


async def test_models_are_served_from_the_catalogue_with_prices(http: httpx.AsyncClient) -> None:
    models = {m["name"]: m for m in (await http.get("/api/v1/models")).json()}
    assert set(models) == {PRO, FLASH}
    assert models[PRO]["price_micro_usd"]["batch"]["4K"] == 120_000
    assert models[PRO]["image_sizes"] == ["1K", "2K", "4K"] and models[FLASH]["image_sizes"] == []
    assert models[FLASH]["batch"] is True and models[PRO]["prices_as_of"] == "2026-03"


def test_a_broken_catalogue_is_refused_naming_the_entry(tmp_path: Path) -> None:
    data = yaml.safe_load(PACKAGED_CATALOG.read_text())
    del data["models"][FLASH]["price_micro_usd"]["standard"]
    broken = tmp_path / "models.yaml"
    broken.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=FLASH):
        load_catalog(broken)


async def test_a_model_added_in_the_catalogue_file_is_accepted_without_code_changes(
    http: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    """Ops add Google's GA id next to the preview one: the API (its own process, started with
    MODEL_CATALOG_FILE) lists it with its price and accepts tasks for it; the running API,
    started without the file, refuses it."""
    data = yaml.safe_load(PACKAGED_CATALOG.read_text())
    data["models"]["gemini-3-pro-image"] = {
        **data["models"][PRO],
        "price_micro_usd": {
            "standard": {"1K": 111_111, "2K": 111_111, "4K": 222_222},
            "batch": {"1K": 55_555, "2K": 55_555, "4K": 111_111},
        },
    }
    catalog = tmp_path / "models.yaml"
    catalog.write_text(yaml.safe_dump(data))
    port = free_port()
    env = {
        **os.environ,
        **_settings_env(settings),
        "MODEL_CATALOG_FILE": str(catalog),
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
    }
    api = subprocess.Popen(  # noqa: ASYNC220 (starting a child is instant; it is awaited by polling)
        [str(Path(sys.executable).parent / "studio"), "api", "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        await _wait_ready(base, api)
        key = http.headers["authorization"]
        async with httpx.AsyncClient(base_url=base, headers={"authorization": key}, timeout=30) as client:
            models = {m["name"]: m for m in (await client.get("/api/v1/models")).json()}
            assert models["gemini-3-pro-image"]["price_micro_usd"]["standard"]["4K"] == 222_222
            project_id = await create_project(client)
            body = {"name": "ga", "prompt": "a GA model render", "model": "gemini-3-pro-image", "image_size": "2K"}
            accepted = await client.post(f"/api/v1/projects/{project_id}/tasks", json=body)
            assert accepted.status_code == 202, accepted.text
            bad_size = await client.post(f"/api/v1/projects/{project_id}/tasks", json={**body, "image_size": "8K"})
            assert bad_size.status_code == 422 and "gemini-3-pro-image's" in bad_size.text
        refused = await http.post(f"/api/v1/projects/{project_id}/tasks", json=body)  # same user, same project
        assert refused.status_code == 422 and "unknown model" in refused.text
    finally:
        api.terminate()
        api.wait(timeout=15)


def _settings_env(settings: Settings) -> dict[str, str]:
    """The settings fixture as the environment a process of ours reads (field name, upper case)."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None or isinstance(value, (dict, list)):
            continue
        env[name.upper()] = str(value)
    return env


async def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    async with httpx.AsyncClient(timeout=2) as client:
        while asyncio.get_running_loop().time() < deadline:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise AssertionError(f"studio api exited {proc.returncode}: {err}")
            try:
                if (await client.get(f"{base}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise AssertionError("studio api did not become ready")


async def test_a_budget_refuses_the_creation_that_would_pass_it(http: httpx.AsyncClient, token: str) -> None:
    project_id = await create_project(http)
    patched = await http.patch(f"/api/v1/projects/{project_id}", json={"daily_budget_micro_usd": 520_000})
    assert patched.json()["daily_budget_micro_usd"] == 520_000
    url = f"/api/v1/projects/{project_id}/tasks"

    first = await http.post(url, json={"name": "a", "prompt": f"budget one {token}", "n": 2, "image_size": "4K"})
    assert first.status_code == 202, first.text
    assert first.json()["estimated_cost"] == {"micro_usd": 480_000, "usd": "0.480000"}
    over = await http.post(url, json={"name": "b", "prompt": f"budget two {token}", "n": 1})

    assert over.status_code == 429
    assert over.json()["error"]["code"] == "budget_exceeded"
    assert "$0.520000" in over.json()["error"]["message"] and "$0.134000" in over.json()["error"]["message"]
    assert int(over.headers["retry-after"]) > 0
    cheap = await http.post(url, json={"name": "c", "prompt": f"budget three {token}", "model": FLASH})
    assert cheap.status_code == 202, cheap.text  # $0.480 + $0.039 <= $0.520
    listed = (await http.get(url)).json()["items"]
    assert sorted(t["name"] for t in listed) == ["a", "c"]


async def test_a_replayed_creation_says_what_its_task_cost(http: httpx.AsyncClient, token: str) -> None:
    """The same Idempotency-Key and body after the task finished: 200 with the task, its cost
    included, alone and in a batch."""
    project_id = await create_project(http)
    body = {"name": "again", "prompt": f"asked twice {token}", "model": FLASH}
    url = f"/api/v1/projects/{project_id}/tasks"
    first = await http.post(url, json=body, headers={"Idempotency-Key": f"once-{token}"})
    assert (await wait_for_task(http, first.json()["id"]))["status"] == "succeeded"

    again = await http.post(url, json=body, headers={"Idempotency-Key": f"once-{token}"})
    batch = await http.post(f"{url}:batch", json={"tasks": [{**body, "idempotency_key": f"batch-{token}"}]})
    assert (await wait_for_task(http, batch.json()["items"][0]["task"]["id"]))["status"] == "succeeded"
    batch_again = await http.post(f"{url}:batch", json={"tasks": [{**body, "idempotency_key": f"batch-{token}"}]})

    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.json()["cost"] == {"micro_usd": 39_000, "usd": "0.039000"}
    (item,) = batch_again.json()["items"]
    assert item["status"] == 200
    assert item["task"]["cost"] == {"micro_usd": 39_000, "usd": "0.039000"}


async def test_a_budget_set_during_the_day_counts_what_the_day_already_spent(
    http: httpx.AsyncClient, token: str
) -> None:
    """$0.268 of tasks, then a $0.300 daily budget: the next $0.134 task would pass it."""
    project_id = await create_project(http)
    url = f"/api/v1/projects/{project_id}/tasks"
    before = await http.post(url, json={"name": "a", "prompt": f"spent early {token}", "n": 2})
    assert before.status_code == 202, before.text

    await http.patch(f"/api/v1/projects/{project_id}", json={"daily_budget_micro_usd": 300_000})
    after = await http.post(url, json={"name": "b", "prompt": f"spent later {token}"})

    assert after.status_code == 429, after.text
    assert after.json()["error"]["code"] == "budget_exceeded"
    assert "$0.268000 reserved" in after.json()["error"]["message"]


async def test_a_monthly_budget_holds_under_20_concurrent_creations(http: httpx.AsyncClient, token: str) -> None:
    """20 creations of $0.134 at once against a $1.00 budget: exactly 7 fit, whatever the race."""
    project_id = await create_project(http)
    await http.patch(f"/api/v1/projects/{project_id}", json={"monthly_budget_micro_usd": 1_000_000})
    url = f"/api/v1/projects/{project_id}/tasks"

    answers = await asyncio.gather(
        *(http.post(url, json={"name": f"t{i}", "prompt": f"race {i} {token}"}) for i in range(20))
    )

    codes = sorted(a.status_code for a in answers)
    assert codes == [202] * 7 + [429] * 13, [a.text for a in answers if a.status_code not in (202, 429)]
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 429} == {"budget_exceeded"}
    assert len((await http.get(url)).json()["items"]) == 7
