"""`stream_log`: a run's log line by line while it runs; each line once, in order, however
often the connection drops."""

from __future__ import annotations

import random

import anyio
import pytest
from aiohttp import web

from apify_runs_async import ApifyRuns, NotFoundError, Retries
from tests.fake_api import FakeApi, json_reply
from tests.helpers import run_body, script

pytestmark = pytest.mark.anyio


async def test_the_lines_of_a_live_run_as_they_come(client: ApifyRuns) -> None:
    run = await client.start("emulator~scripted", script("one", "two", "three", step_secs=0.1))
    lines = [line async for line in client.stream_log(run)]
    assert lines == (await client.get_log(run)).splitlines()
    messages = [line.split(" ", 1)[1] for line in lines]
    assert [m for m in messages if m.startswith("Status message")] == [
        "Status message: one",
        "Status message: two",
        "Status message: three",
    ]
    finished = await client.get(run.id)
    assert finished is not None and finished.is_terminal


async def test_a_finished_runs_log_is_read_whole(client: ApifyRuns) -> None:
    result = await client.call("apify/hello-world")
    lines = [line async for line in client.run(result.run.id).stream_log()]
    assert any(line.endswith("Hello world!") for line in lines)


async def test_a_missing_run(client: ApifyRuns) -> None:
    with pytest.raises(NotFoundError, match="GET /v2/actor-runs/noSuchRun/log"):
        async for _ in client.stream_log("noSuchRun"):
            pass


async def test_a_bad_run_id_fails_before_any_request(fake_api: FakeApi) -> None:
    async with ApifyRuns("t", base_url=fake_api.base_url) as client:
        with pytest.raises(ValueError, match="run"):
            client.stream_log("a/b")
    assert fake_api.requests == []


async def test_every_line_once_in_order_through_dropped_connections(fake_api: FakeApi) -> None:
    # Each stream sends the log from its start, as the API does, and drops the connection
    # at a random byte (mid-line too), further on each time; the last one is whole.
    log = b"".join(f"line {n:04d} {'x' * (n % 37)}\n".encode() for n in range(2000))
    shuffle = random.Random(7)
    cut_at = sorted(shuffle.sample(range(1, len(log)), 12))
    streams = 0

    async def reply(request: web.Request) -> web.StreamResponse:
        nonlocal streams
        if not request.path.endswith("/log"):
            return await json_reply(200, run_body(status="SUCCEEDED"))(request)
        assert request.query["stream"] == "1"
        streams += 1
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        if streams <= len(cut_at):
            await response.write(log[: cut_at[streams - 1]])
            await anyio.sleep(0.01)
            assert request.transport is not None
            request.transport.close()  # dropped, without the end of the chunked body
            return response
        await response.write(log)
        await response.write_eof()
        return response

    fake_api.reply = reply
    fast = Retries(max_tries=3, delay=lambda tries, retry_after: 0.001)
    async with ApifyRuns("t", base_url=fake_api.base_url, retries=fast) as client:
        lines = [line async for line in client.stream_log("r1")]
    assert lines == log.decode().splitlines()
    assert streams == len(cut_at) + 1
