"""What goes on the wire: every option's query parameter or body, exactly."""

from __future__ import annotations

import base64
import json
from typing import Any

import anyio
import pytest
from aiohttp import web

from apify_runs_async import ApifyRuns, RunStatus
from tests.fake_api import FakeApi, json_reply
from tests.helpers import RUN_ID, SHORT_GRACE
from tests.spec import run_response_examples

pytestmark = pytest.mark.anyio

RUN_BODY = run_response_examples()[0][1]


@pytest.fixture(autouse=True)
def a_run_by_default(fake_api: FakeApi) -> None:
    """The fake API answers with a run unless a test says otherwise."""
    fake_api.reply = json_reply(200, RUN_BODY)


async def test_start_sends_every_option(fake_client: ApifyRuns, fake_api: FakeApi) -> None:
    await fake_client.start(
        "janedoe/my-actor",
        {"url": "https://example.com"},
        build="1.2.3",
        timeout_secs=90.5,
        memory_mbytes=4096,
        max_items=100,
        max_total_charge_usd=1e-7,
        restart_on_error=True,
        wait_for_finish=0.5,
        force_permission_level="FULL_PERMISSIONS",
    )
    (sent,) = fake_api.requests
    assert (sent.method, sent.path) == ("POST", "/v2/actors/janedoe~my-actor/runs")
    assert sent.query == {
        "build": "1.2.3",
        "timeout": "91",
        "memory": "4096",
        "maxItems": "100",
        "maxTotalChargeUsd": "0.0000001",
        "restartOnError": "true",
        "waitForFinish": "1",
        "forcePermissionLevel": "FULL_PERMISSIONS",
    }
    assert json.loads(sent.body) == {"url": "https://example.com"}
    assert sent.headers["Content-Type"] == "application/json"


async def test_start_without_options_sends_nothing_extra(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    await fake_client.start("a~b")
    (sent,) = fake_api.requests
    assert sent.query == {}
    assert sent.body == b""
    assert "Content-Type" not in sent.headers


async def test_start_task_sends_its_options(fake_client: ApifyRuns, fake_api: FakeApi) -> None:
    await fake_client.start_task(
        "me/task",
        [1, 2],
        build="beta",
        timeout_secs=5,
        memory_mbytes=256,
        max_items=3,
        max_total_charge_usd=2,
        restart_on_error=False,
        wait_for_finish=60,
    )
    (sent,) = fake_api.requests
    assert (sent.method, sent.path) == ("POST", "/v2/actor-tasks/me~task/runs")
    assert sent.query == {
        "build": "beta",
        "timeout": "5",
        "memory": "256",
        "maxItems": "3",
        "maxTotalChargeUsd": "2",
        "restartOnError": "false",
        "waitForFinish": "60",
    }
    assert json.loads(sent.body) == [1, 2]


async def test_run_operations_send_their_options(fake_client: ApifyRuns, fake_api: FakeApi) -> None:
    await fake_client.abort(RUN_ID, gracefully=True)
    await fake_client.abort(RUN_ID)
    await fake_client.metamorph(
        RUN_ID,
        target_actor_id="me/other",
        target_actor_build="0.1",
        run_input=b"x",
        content_type="text/csv",
    )
    await fake_client.resurrect(
        RUN_ID,
        build="latest",
        memory_mbytes=512,
        timeout_secs=10,
        max_items=7,
        max_total_charge_usd=0.25,
        restart_on_error=True,
    )
    await fake_client.reboot(RUN_ID)
    await fake_client.get(RUN_ID, wait_for_finish=2.2)
    sent = [(r.method, r.path, r.query) for r in fake_api.requests]
    assert sent == [
        ("POST", f"/v2/actor-runs/{RUN_ID}/abort", {"gracefully": "true"}),
        ("POST", f"/v2/actor-runs/{RUN_ID}/abort", {}),
        (
            "GET",
            f"/v2/actor-runs/{RUN_ID}",
            {},
        ),  # the metamorphs before it, in case of doubt
        (
            "POST",
            f"/v2/actor-runs/{RUN_ID}/metamorph",
            {"targetActorId": "me~other", "build": "0.1"},
        ),
        ("GET", f"/v2/actor-runs/{RUN_ID}", {}),
        (
            "POST",
            f"/v2/actor-runs/{RUN_ID}/resurrect",
            {
                "build": "latest",
                "memory": "512",
                "timeout": "10",
                "maxItems": "7",
                "maxTotalChargeUsd": "0.25",
                "restartOnError": "true",
            },
        ),
        ("GET", f"/v2/actor-runs/{RUN_ID}", {}),
        ("POST", f"/v2/actor-runs/{RUN_ID}/reboot", {}),
        ("GET", f"/v2/actor-runs/{RUN_ID}", {"waitForFinish": "3"}),
    ]
    metamorph = fake_api.requests[3]
    assert metamorph.body == b"x"
    assert metamorph.headers["Content-Type"] == "text/csv"


async def test_update_sends_a_json_body_of_only_the_fields_given(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    await fake_client.update(RUN_ID, status_message="Done", is_status_message_terminal=True)
    await fake_client.update(RUN_ID, general_access="RESTRICTED")
    assert [json.loads(r.body) for r in fake_api.requests] == [
        {"statusMessage": "Done", "isStatusMessageTerminal": True},
        {"generalAccess": "RESTRICTED"},
    ]
    assert all(
        r.method == "PUT" and r.path == f"/v2/actor-runs/{RUN_ID}" for r in fake_api.requests
    )
    assert all(r.headers["Content-Type"] == "application/json" for r in fake_api.requests)


def _not_found() -> web.Response:
    body = {"error": {"type": "record-not-found", "message": "Actor run was not found"}}
    return web.json_response(body, status=404)


async def test_wait_for_finish_waits_out_the_404_after_a_start(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    answers = iter([_not_found(), _not_found(), web.json_response(RUN_BODY)])

    async def reply(request: web.Request) -> web.Response:
        return next(answers)

    fake_api.reply = reply
    run = await fake_client.wait_for_finish(RUN_ID)
    assert run is not None and run.status == RunStatus.ABORTED
    assert len(fake_api.requests) == 3


async def test_wait_for_finish_gives_up_on_a_lasting_404(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    async def reply(request: web.Request) -> web.Response:
        return _not_found()

    fake_api.reply = reply
    grace = SHORT_GRACE.not_found_grace_secs
    started = anyio.current_time()
    assert await fake_client.wait_for_finish(RUN_ID, retries=SHORT_GRACE) is None
    assert grace <= anyio.current_time() - started < grace + 2


async def test_wait_for_finish_keeps_to_a_fractional_wait(fake_api: FakeApi) -> None:
    running: dict[str, Any] = {"data": {**RUN_BODY["data"], "status": "RUNNING"}}

    async def reply(request: web.Request) -> web.Response:
        await anyio.sleep(float(request.query.get("waitForFinish", 0)))  # holds, as the API does
        return web.json_response(running)

    fake_api.reply = reply
    async with ApifyRuns("t", base_url=fake_api.base_url) as client:
        started = anyio.current_time()
        run = await client.wait_for_finish(RUN_ID, wait_secs=1.4)
        took = anyio.current_time() - started
    assert run is not None and run.status == RunStatus.RUNNING
    assert 1.4 <= took < 1.9
    assert [r.query.get("waitForFinish") for r in fake_api.requests] == ["1", None]


async def test_webhooks_are_sent_base64_encoded(fake_client: ApifyRuns, fake_api: FakeApi) -> None:
    await fake_client.start(
        "a~b",
        webhooks=[
            {"event_types": ["ACTOR.RUN.FAILED"], "request_url": "https://h.test/x"},
            {"eventTypes": ["ACTOR.RUN.SUCCEEDED"], "requestUrl": "https://h.test/y"},
        ],
    )
    sent = json.loads(base64.b64decode(fake_api.requests[0].query["webhooks"]))
    assert sent == [
        {"eventTypes": ["ACTOR.RUN.FAILED"], "requestUrl": "https://h.test/x"},
        {"eventTypes": ["ACTOR.RUN.SUCCEEDED"], "requestUrl": "https://h.test/y"},
    ]
