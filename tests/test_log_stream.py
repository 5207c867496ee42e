"""`stream_log`: a run's log line by line while it runs; each line once, in order, however
often the connection drops."""

from __future__ import annotations

import logging
import random

import aiohttp
import anyio
import pytest
from aiohttp import web

from apify_runs_async import ApifyRuns, NotFoundError, Retries, Timeouts
from apify_runs_async.emulator import ApifyEmulator, Faults
from tests.fake_api import FakeApi, json_reply
from tests.helpers import FAST_RETRIES, RUN_ID, RequestCounter, run_body, script

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
        lines = [line async for line in client.stream_log(RUN_ID)]
    assert lines == log.decode().splitlines()
    assert streams == len(cut_at) + 1


async def test_call_passes_the_runs_log_to_a_logger(
    client: ApifyRuns, caplog: pytest.LogCaptureFixture
) -> None:
    log = logging.getLogger("tests.actor_log")
    caplog.set_level(logging.INFO, "tests.actor_log")
    result = await client.call("emulator~scripted", script("one", "two", step_secs=0.05), log=log)
    written = (await client.get_log(result.run)).splitlines()
    records = [r for r in caplog.records if r.name == "tests.actor_log"]
    assert [r.getMessage() for r in records] == [
        f"[run {result.run.id}] {line}" for line in written
    ]
    assert {getattr(r, "run_id", None) for r in records} == {result.run.id}


async def test_each_run_of_call_many_logs_its_own_lines(
    client: ApifyRuns, caplog: pytest.LogCaptureFixture
) -> None:
    log = logging.getLogger("tests.many_logs")
    caplog.set_level(logging.INFO, "tests.many_logs")
    inputs = [script(f"input {n}", step_secs=0.05) for n in range(3)]
    async with client.call_many("emulator~scripted", inputs, concurrency=3, log=log) as results:
        runs = {result.run.id async for _, result in results}
    by_run: dict[str, list[str]] = {}
    for record in caplog.records:
        if record.name == "tests.many_logs":
            by_run.setdefault(record.run_id, []).append(record.getMessage())  # type: ignore[attr-defined]
    assert set(by_run) == runs
    for run_id, messages in by_run.items():
        written = (await client.get_log(run_id)).splitlines()
        assert messages == [f"[run {run_id}] {line}" for line in written]


async def test_a_logger_must_be_a_logger(client: ApifyRuns) -> None:
    with pytest.raises(TypeError, match="log must be a Logger"):
        await client.call("emulator~scripted", log=print)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="log"):
        client.call_many("emulator~scripted", [{}], concurrency=1, log="me")  # type: ignore[arg-type]


async def test_the_emulators_dropped_streams_lose_no_line(emulator: ApifyEmulator) -> None:
    # Each of the first streams is reset in the middle of its first chunk, mid-line.
    lines = {"steps": [{"logLines": 500}, {"sleepSecs": 0.2}, {"logLines": 500}]}
    async with ApifyRuns(emulator.token, base_url=emulator.base_url, retries=FAST_RETRIES) as c:
        run = await c.start("emulator~scripted", lines)
        emulator.faults = Faults(reset_after=1.0, endpoints=frozenset({"log"}), max_faults=3)
        received = [line async for line in c.stream_log(run)]
        assert len(emulator.injected_faults) == 3
        assert received == (await c.get_log(run)).splitlines()
    written = [line.split(" ", 1)[1] for line in received if " line " in line]
    assert written == [f"Step {s} line {n}" for s in (0, 2) for n in range(500)]


async def test_a_quiet_run_keeps_its_log_stream_open(emulator: ApifyEmulator) -> None:
    # Quiet for 1.5 s, three times the read timeout: the stream is not opened again (which
    # would download the whole log again), as the run is only quiet.
    counter = RequestCounter()
    async with (
        aiohttp.ClientSession(trace_configs=[counter.trace]) as session,
        ApifyRuns(
            emulator.token, base_url=emulator.base_url, session=session, timeouts=Timeouts(read=0.5)
        ) as client,
    ):
        run = await client.start("emulator~scripted", script("quiet now", step_secs=1.5))
        lines = [line async for line in client.stream_log(run)]
    assert any(line.endswith("quiet now") for line in lines)
    assert counter.sent.count(("GET", f"/v2/actor-runs/{run.id}/log")) == 1
