"""examples/run_service.py: its routes, tested with the pytest plugin's fixtures."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from apify_runs_async import ApifyRuns
from apify_runs_async.emulator import ActorContext, ApifyEmulator
from examples.run_service import make_app

pytestmark = [pytest.mark.anyio, pytest.mark.apify_emulator(ready_secs=0)]

Http = TestClient[web.Request, web.Application]


async def quick(ctx: ActorContext) -> None:
    ctx.set_status_message("Working")
    if await ctx.sleep(ctx.input.get("secs", 0)):
        return
    ctx.set_record("OUTPUT", {"echo": ctx.input})


@pytest.fixture
async def http(apify_emulator: ApifyEmulator, apify_client: ApifyRuns) -> AsyncIterator[Http]:
    apify_emulator.register_actor("janedoe~quick", quick)
    # The service borrows the test's client, as it would borrow any: it must not close it.
    app = make_app(lambda: contextlib.nullcontext((apify_client, "janedoe~quick")))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client
    await apify_client.list_runs()


async def job(http: Http, job_id: str) -> dict[str, Any]:
    async with http.get(f"/jobs/{job_id}") as response:
        assert response.status == 200
        found: dict[str, Any] = await response.json()
        return found


async def test_a_job_to_its_end(http: Http, apify_client: ApifyRuns) -> None:
    async with http.post("/jobs", json={"n": 1}) as response:
        assert response.status == 202
        started = await response.json()
        assert response.headers["Location"] == f"/jobs/{started['id']}"
    await apify_client.wait_for_finish(started["id"])
    assert await job(http, started["id"]) == {
        "id": started["id"],
        "status": "SUCCEEDED",
        "message": "Working",
        "output": {"echo": {"n": 1}},
    }


async def test_a_retried_post_starts_one_run(http: Http, apify_client: ApifyRuns) -> None:
    headers = {"Idempotency-Key": "order-1234"}
    ids = set()
    for _ in range(2):
        async with http.post("/jobs", json={"secs": 0}, headers=headers) as response:
            ids.add((await response.json())["id"])
    assert len(ids) == 1
    assert (await apify_client.list_runs()).total == 1


async def test_abort(http: Http) -> None:
    async with http.post("/jobs", json={"secs": 60}) as response:
        job_id = (await response.json())["id"]
    assert (await job(http, job_id))["status"] == "RUNNING"
    async with http.delete(f"/jobs/{job_id}") as response:
        assert (response.status, (await response.json())["status"]) == (200, "ABORTED")
    async with http.delete(f"/jobs/{job_id}") as response:
        assert response.status == 409


async def test_unknown_and_malformed_jobs(http: Http) -> None:
    for method in ("GET", "DELETE"):
        async with http.request(method, "/jobs/aaaaaaaaaaaaaaaaa") as response:
            assert response.status == 404
        async with http.request(method, "/jobs/not%20an%20id") as response:
            assert response.status == 400


async def test_a_body_that_is_not_json(http: Http) -> None:
    async with http.post(
        "/jobs", data=b"{not json", headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 400
