"""What a run produced, read from servers that misbehave: typed errors, bounded waits, no line
or item lost, repeated or overrun."""

from __future__ import annotations

import io
import logging
import time
from typing import Any

import anyio
import pytest
from aiohttp import web

from apify_runs_async import (
    ApifyRuns,
    ApifyTimeoutError,
    InvalidResponseError,
    Retries,
    RunFailedError,
    Timeouts,
)
from tests.fake_api import FakeApi, json_reply
from tests.helpers import ONE_TRY, RUN_ID, run_body, script

pytestmark = pytest.mark.anyio


async def test_call_with_a_log_raises_the_calls_own_error(client: ApifyRuns) -> None:
    log = logging.getLogger("tests.failing_run")
    with pytest.raises(RunFailedError):  # not an exception group
        await client.call(
            "emulator~scripted", script(outcome="FAILED"), raise_on_failure=True, log=log
        )


async def test_call_with_a_log_returns_at_wait_secs(client: ApifyRuns) -> None:
    log = logging.getLogger("tests.slow_run")
    began = time.monotonic()
    result = await client.call(
        "emulator~scripted", script("slow", step_secs=30), wait_secs=0.5, log=log
    )
    assert not result.run.is_terminal
    assert time.monotonic() - began < 3  # no wait for the tail of a log still being written
    await client.abort(result.run.id)


async def test_a_line_cut_on_a_live_run_comes_whole(fake_api: FakeApi) -> None:
    streams = [b"one\ntw", b"one\ntwo\nthree\n"]
    states = ["RUNNING", "SUCCEEDED", "SUCCEEDED"]

    async def reply(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/log"):
            response = web.StreamResponse()
            await response.prepare(request)
            await response.write(streams.pop(0))
            await response.write_eof()
            return response
        return await json_reply(200, run_body(status=states.pop(0)))(request)

    fake_api.reply = reply
    async with ApifyRuns("t", base_url=fake_api.base_url) as client:
        assert [line async for line in client.stream_log(RUN_ID)] == [
            "one",
            "two",
            "three",
        ]


async def test_a_trickled_error_body_is_a_timeout(fake_api: FakeApi) -> None:
    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=503)
        await response.prepare(request)
        while True:
            await response.write(b"x")
            await anyio.sleep(0.05)

    fake_api.reply = trickle
    timeouts = Timeouts(read=0.3)
    async with ApifyRuns("t", base_url=fake_api.base_url, timeouts=timeouts, retries=ONE_TRY) as c:
        with anyio.fail_after(3), pytest.raises(ApifyTimeoutError):
            await c.download_record(RUN_ID, "OUTPUT", to=io.BytesIO())


async def test_a_huge_pagination_figure_is_an_invalid_response(fake_api: FakeApi) -> None:
    headers = {
        "X-Apify-Pagination-Offset": "0",
        "X-Apify-Pagination-Limit": "10",
        "X-Apify-Pagination-Count": "0",
        "X-Apify-Pagination-Total": "9" * 5000,
    }
    fake_api.reply = json_reply(200, [], headers)
    async with ApifyRuns("t", base_url=fake_api.base_url, retries=ONE_TRY) as client:
        with pytest.raises(InvalidResponseError, match="X-Apify-Pagination-Total"):
            await client.list_items(RUN_ID)


async def test_keys_that_do_not_move_on_end_in_an_error(fake_api: FakeApi) -> None:
    page = {"items": [{"key": "a", "size": 1}], "isTruncated": True, "nextExclusiveStartKey": "a"}
    fake_api.reply = json_reply(200, {"data": page})
    fast = Retries(delay=lambda tries, retry_after: 0.001)
    async with ApifyRuns("t", base_url=fake_api.base_url, retries=fast) as client:
        with anyio.fail_after(3), pytest.raises(InvalidResponseError, match="move past key"):
            [stored async for stored in client.iterate_keys(RUN_ID)]
    assert len(fake_api.requests) == 2


async def test_an_overfull_page_of_runs_keeps_to_the_limit(fake_api: FakeApi) -> None:
    items: list[dict[str, Any]] = [
        {"id": f"run{n}", "status": "SUCCEEDED", "startedAt": "2026-11-29T10:00:00Z"}
        for n in range(5)
    ]
    for item in items:
        item["meta"] = {"origin": "API"}
    body = {"total": 5, "offset": 0, "count": 5, "limit": 5, "desc": False, "items": items}
    fake_api.reply = json_reply(200, {"data": body})
    async with ApifyRuns("t", base_url=fake_api.base_url) as client:
        listed = [run.id async for run in client.iterate_runs(limit=2)]
    assert listed == ["run0", "run1"]
