"""`watch` and `wait_for_finish`: every transition, the end at once, few requests, no leaks."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web

from apify_runs_async import ApifyRuns, NotFoundError, RunStatus, is_terminal
from apify_runs_async.emulator import EmulatorProcess
from tests.fake_api import FakeApi, in_turn, json_reply
from tests.helpers import RUN_ID, SHORT_GRACE, RequestCounter, run_body, script
from tests.spec import run_response_examples

pytestmark = pytest.mark.anyio


async def test_watch_yields_each_change_and_ends_on_the_terminal_status(
    client: ApifyRuns,
) -> None:
    run = await client.start(
        "emulator~scripted", script("Crawling 1/3", "Crawling 2/3", "Crawling 3/3", step_secs=1.2)
    )
    seen = [(s.status, s.status_message) async for s in client.watch(run.id, poll_interval=1)]
    assert seen[-1][0] == RunStatus.SUCCEEDED
    assert [status for status, _ in seen if is_terminal(status)] == [RunStatus.SUCCEEDED]
    messages = [message for _, message in seen]
    for expected in ("Crawling 1/3", "Crawling 2/3", "Crawling 3/3"):
        assert expected in messages
    assert all(a != b for a, b in itertools.pairwise(seen)), "no repeats"
    statuses = [status for status, _ in seen]
    assert statuses.index(RunStatus.RUNNING) < statuses.index(RunStatus.SUCCEEDED)


async def test_watch_sees_the_end_at_once_with_few_requests(
    counted: tuple[ApifyRuns, RequestCounter],
) -> None:
    client, counter = counted
    run = await client.start("emulator~scripted", script("only step", step_secs=0.6))
    last = None
    async for snapshot in client.watch(run.id, poll_interval=None):
        last = snapshot
        yielded_at = datetime.now(UTC)
    assert last is not None and last.status == RunStatus.SUCCEEDED
    assert last.finished_at is not None
    # A sleep-and-poll watcher would be up to a poll interval late; a long-poll is not.
    assert (yielded_at - last.finished_at).total_seconds() < 0.5
    gets = [sent for sent in counter.sent if sent[0] == "GET"]
    assert len(gets) == 2, gets  # the first status, then one long-poll to the end


async def test_watching_the_run_start_returned_saves_a_request(
    counted: tuple[ApifyRuns, RequestCounter],
) -> None:
    client, counter = counted
    run = await client.start("emulator~scripted", script("only step", step_secs=0.3))
    snapshots = [snapshot async for snapshot in client.watch(run, poll_interval=None)]
    assert snapshots[0] is run  # the known snapshot first, without asking
    assert snapshots[-1].status == RunStatus.SUCCEEDED
    assert [method for method, _ in counter.sent] == ["POST", "GET"]


async def test_wait_for_finish_costs_one_long_poll(
    counted: tuple[ApifyRuns, RequestCounter],
) -> None:
    client, counter = counted
    run = await client.start("emulator~scripted", script("step", step_secs=0.3))
    finished = await client.wait_for_finish(run.id)
    assert finished is not None and finished.status == RunStatus.SUCCEEDED
    assert [m for m, _ in counter.sent] == ["POST", "GET"]


@pytest.fixture
async def remote(
    separate_emulator: EmulatorProcess,
) -> AsyncIterator[tuple[ApifyRuns, RequestCounter]]:
    """A counting client of the emulator process."""
    counter = RequestCounter()
    async with (
        aiohttp.ClientSession(trace_configs=[counter.trace]) as session,
        ApifyRuns(
            separate_emulator.token, base_url=separate_emulator.base_url, session=session
        ) as client,
    ):
        yield client, counter
        assert not session.connector or not session.connector._acquired, "a connection leaked"


async def test_breaking_out_of_watch_leaks_nothing(
    remote: tuple[ApifyRuns, RequestCounter],
) -> None:
    client, _ = remote
    run = await client.start("emulator~scripted", script("long", step_secs=30))
    tasks_before = asyncio.all_tasks()
    async with contextlib.aclosing(client.watch(run.id)) as snapshots:
        async for _ in snapshots:
            break
    assert asyncio.all_tasks() == tasks_before
    assert (await client.abort(run.id)).status == RunStatus.ABORTED


async def test_cancelling_watch_mid_long_poll_leaks_nothing(
    remote: tuple[ApifyRuns, RequestCounter],
) -> None:
    client, counter = remote
    run = await client.start("emulator~scripted", script("long", step_secs=30))
    tasks_before = asyncio.all_tasks()
    seen: list[Any] = []
    with anyio.move_on_after(0.5):  # the second request is a 60 s long-poll when cancelled
        async for snapshot in client.watch(run.id, poll_interval=None):
            seen.append(snapshot)
    assert len(seen) == 1
    assert [method for method, _ in counter.sent] == ["POST", "GET", "GET"]
    assert asyncio.all_tasks() == tasks_before
    # The client is still usable, and the run was not disturbed.
    got = await client.get(run.id)
    assert got is not None and got.status == RunStatus.RUNNING
    await client.abort(run.id)


async def test_watch_of_a_run_that_does_not_exist(client: ApifyRuns) -> None:
    grace = SHORT_GRACE.not_found_grace_secs
    started = anyio.current_time()
    with pytest.raises(NotFoundError, match="GET /v2/actor-runs/NoSuchRun"):
        async for _ in client.watch("NoSuchRun", retries=SHORT_GRACE):
            pass
    # The 404 that can follow a start is waited out first, but not for long.
    assert grace <= anyio.current_time() - started < grace + 3


async def test_wait_for_finish_of_a_run_that_does_not_exist(client: ApifyRuns) -> None:
    started = anyio.current_time()
    assert await client.wait_for_finish("NoSuchRun", wait_secs=0.5) is None
    assert anyio.current_time() - started < 1.5  # the wait ends at wait_secs, grace or not


def _run_body(**changes: Any) -> dict[str, Any]:
    data = dict(run_response_examples()[0][1]["data"])
    data.update(changes)
    return {"data": data}


async def test_watch_paces_itself_when_the_server_does_not_hold(fake_api: FakeApi) -> None:
    # A server (or proxy) that ignores waitForFinish must not be polled in a tight loop.
    async def reply(request: web.Request) -> web.Response:
        return web.json_response(_run_body(status="RUNNING", finishedAt=None))

    fake_api.reply = reply
    async with ApifyRuns("t", base_url=fake_api.base_url) as client:
        with anyio.move_on_after(1.5):
            async for _ in client.watch(RUN_ID, poll_interval=1):
                pass
    assert 2 <= len(fake_api.requests) <= 4
    assert [r.query.get("waitForFinish") for r in fake_api.requests[:2]] == [None, "1"]


async def test_watch_tolerates_the_brief_404_after_a_start(fake_api: FakeApi) -> None:
    answers = iter([404, 404, 200])

    async def reply(request: web.Request) -> web.Response:
        if next(answers, 200) == 404:
            body = {"error": {"type": "record-not-found", "message": "Actor run was not found"}}
            return web.json_response(body, status=404)
        return web.json_response(_run_body(status="SUCCEEDED"))

    fake_api.reply = reply
    async with ApifyRuns("t", base_url=fake_api.base_url) as client:
        statuses = [s.status async for s in client.watch(RUN_ID)]
        assert statuses == [RunStatus.SUCCEEDED]


async def test_an_unknown_status_ends_watch_once_the_run_has_finished(
    fake_api: FakeApi,
) -> None:
    answers = iter(["RUNNING", "PAUSED", "ARCHIVED"])

    async def reply(request: web.Request) -> web.Response:
        status = next(answers)
        finished = "2030-01-01T00:00:00.000Z" if status == "ARCHIVED" else None
        return web.json_response(_run_body(status=status, finishedAt=finished))

    fake_api.reply = reply
    async with ApifyRuns("t", base_url=fake_api.base_url) as client:
        with anyio.fail_after(10):
            statuses = [s.status async for s in client.watch(RUN_ID, poll_interval=1)]
    assert statuses == [RunStatus.RUNNING, "PAUSED", "ARCHIVED"]


@pytest.mark.parametrize("start_from", ["id", "known snapshot"])
async def test_watch_yields_a_run_seen_again_unchanged_only_once(
    fake_client: ApifyRuns, fake_api: FakeApi, start_from: str
) -> None:
    # The server answers the same status and status message twice before the run ends.
    crawling = json_reply(
        200, run_body(status="RUNNING", statusMessage="Crawling", finishedAt=None)
    )
    done = json_reply(200, run_body(status="SUCCEEDED", statusMessage="Done"))
    fake_api.reply = in_turn(crawling, crawling, done)
    if start_from == "id":
        snapshots = fake_client.watch(RUN_ID, poll_interval=1)
    else:
        known = await fake_client.get(RUN_ID)
        assert known is not None
        snapshots = fake_client.watch(known, poll_interval=1)
    seen = [(run.status, run.status_message) async for run in snapshots]
    assert seen == [(RunStatus.RUNNING, "Crawling"), (RunStatus.SUCCEEDED, "Done")]
    assert len(fake_api.requests) == 3  # the unchanged answer did come, and was not yielded
