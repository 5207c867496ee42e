"""The three ways the many-run APIs learn that runs have ended (long-poll, the runs list,
webhooks): each delivers every end exactly once, under the emulator's faults."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import anyio
import anyio.lowlevel
import msgspec
import pytest
from aiohttp import web

from apify_runs_async import (
    ApifyRuns,
    NotFoundError,
    Retries,
    Run,
    RunStatus,
    WebhookReceiver,
    parse_webhook,
)
from apify_runs_async.emulator import ApifyEmulator, DispatchStatus, FaultKind, Faults
from tests.fake_api import FakeApi
from tests.helpers import FAST_RETRIES, SHORT_GRACE, RequestCounter, run_body, script

pytestmark = pytest.mark.anyio

SECRET = "a-long-enough-secret"
RUNS = 24
REQUEST_FAULTS = {"status503": 0.05, "status500": 0.03, "reset_before": 0.03, "reset_after": 0.03}
WEBHOOK_FAULTS = {
    "webhook_drop": 0.2,
    "webhook_duplicate": 0.2,
    "webhook_delay": 0.1,
    "webhook_reorder": 0.1,
    "webhook_delay_secs": 0.3,
}
# The ways, as `as_completed` and `call_many` take them; webhooks come with a receiver.
WAYS: dict[str, dict[str, Any]] = {
    "long-poll": {"list_above": None},
    "runs list": {"list_above": 0, "list_interval": 0.2},
    "webhooks": {"list_interval": 0.5},  # the safety net, short so that lost ends come soon
}


def outcome(index: int) -> str:
    return RunStatus.FAILED if index % 4 == 0 else RunStatus.SUCCEEDED


def run_input(index: int) -> dict[str, Any]:
    return script("working", step_secs=0.02 + (index % 6) * 0.05, outcome=outcome(index))


@contextlib.asynccontextmanager
async def setting(faults: dict[str, Any], **client: Any) -> AsyncIterator[
    tuple[ApifyEmulator, WebhookReceiver, ApifyRuns]
]:  # fmt: skip
    """An emulator with these faults, a receiver it can call, and a client."""
    emulator = ApifyEmulator(ready_secs=0, faults=Faults(**faults, seed=5) if faults else None)
    receiver = WebhookReceiver(secret=SECRET)
    async with (
        emulator,
        receiver.serve(),
        ApifyRuns(emulator.token, base_url=emulator.base_url, retries=FAST_RETRIES, **client) as c,
    ):
        yield emulator, receiver, c


def way_options(way: str, receiver: WebhookReceiver) -> dict[str, Any]:
    return {**WAYS[way], **({"webhooks": receiver} if way == "webhooks" else {})}


@pytest.mark.parametrize("way", WAYS)
async def test_as_completed_yields_every_end_once_under_faults(way: str) -> None:
    faults = {**REQUEST_FAULTS, **(WEBHOOK_FAULTS if way == "webhooks" else {})}
    async with setting(faults) as (emulator, receiver, client):
        hooks = receiver if way == "webhooks" else None
        runs = [
            await client.start("emulator~scripted", run_input(i), webhooks=hooks)
            for i in range(RUNS)
        ]
        yielded: Counter[str] = Counter()
        statuses: dict[str, str] = {}
        with anyio.fail_after(20):
            async with client.as_completed(runs, **way_options(way, receiver)) as finished:
                async for run in finished:
                    yielded[run.id] += 1
                    statuses[run.id] = run.status
                    assert run.finished_at is not None
    assert yielded == {run.id: 1 for run in runs}
    assert statuses == {run.id: outcome(i) for i, run in enumerate(runs)}
    assert {fault.kind for fault in emulator.injected_faults} >= {FaultKind.STATUS503}
    if way == "webhooks":  # some ends came only through the safety net, some came twice
        dispatched = {d.fault for d in emulator.webhook_dispatches}
        assert {FaultKind.WEBHOOK_DROP, FaultKind.WEBHOOK_DUPLICATE} <= dispatched


@pytest.mark.parametrize("way", WAYS)
async def test_call_many_returns_every_end_once_under_faults(way: str) -> None:
    faults = {**REQUEST_FAULTS, **(WEBHOOK_FAULTS if way == "webhooks" else {})}
    async with setting(faults) as (emulator, receiver, client):
        inputs = [{**run_input(i), "output": {"n": i}} for i in range(RUNS)]
        results: Counter[int] = Counter()
        with anyio.fail_after(20):
            async with client.call_many(
                "emulator~scripted", inputs, concurrency=RUNS, **way_options(way, receiver)
            ) as calls:
                async for index, result in calls:
                    results[index] += 1
                    assert result.run.status == outcome(index)
                    assert result.output is not None and result.output.json() == {"n": index}
                    # Read in full even when the list showed the end: the status message too.
                    assert result.run.status_message is not None
    assert results == dict.fromkeys(range(RUNS), 1)
    if way == "webhooks":
        assert len({d.run_id for d in emulator.webhook_dispatches}) == RUNS


async def test_watch_many_with_webhooks_yields_each_run_then_its_end() -> None:
    async with setting(WEBHOOK_FAULTS) as (_, receiver, client):
        runs = [
            await client.start("emulator~scripted", run_input(i), webhooks=receiver)
            for i in range(8)
        ]
        seen: dict[str, list[str]] = {run.id: [] for run in runs}
        with anyio.fail_after(20):
            async with client.watch_many(runs, webhooks=receiver, list_interval=0.5) as updates:
                async for run_id, run in updates:
                    seen[run_id].append(run.status)
    for i, run in enumerate(runs):  # as started, then its end: no status message between
        assert seen[run.id] == [run.status, outcome(i)]


async def test_past_list_above_runs_hold_no_request_each() -> None:
    counter = RequestCounter()
    async with (
        ApifyEmulator(ready_secs=0) as emulator,
        aiohttp.ClientSession(trace_configs=[counter.trace]) as session,
        ApifyRuns(emulator.token, base_url=emulator.base_url, session=session) as client,
    ):
        runs = [await client.start("emulator~scripted", run_input(i)) for i in range(12)]
        counter.sent.clear()
        with anyio.fail_after(10):
            async with client.as_completed(runs, list_above=4, list_interval=0.2) as finished:
                ended = [run async for run in finished]
    assert sorted(run.id for run in ended) == sorted(run.id for run in runs)
    run_paths = {f"/v2/actor-runs/{run.id}" for run in runs}
    polled = {path for method, path in counter.sent if path in run_paths}
    assert len(polled) == 4  # the first four long-poll; the other eight wait on the list
    assert ("GET", "/v2/actor-runs") in counter.sent
    listed = [run for run in ended if f"/v2/actor-runs/{run.id}" not in polled]
    assert len(listed) == 8
    for run in listed:  # what the list shows, and not what it does not
        assert run.is_terminal and run.finished_at is not None
        assert run.status_message is None and run.stats.run_time_secs is None


async def test_an_end_received_before_the_run_is_followed_is_taken_at_once() -> None:
    async with setting({}) as (emulator, receiver, client):
        run = await client.start("emulator~scripted", run_input(1), webhooks=receiver)
        with anyio.fail_after(10):
            delivered = DispatchStatus.SUCCEEDED
            while delivered not in {d.status for d in emulator.webhook_dispatches}:  # noqa: ASYNC110 (a plain list)
                await anyio.sleep(0.02)
            # Not from the list, read an hour from now: from the receiver's queue.
            async with client.as_completed([run], webhooks=receiver, list_interval=3600) as ends:
                assert [end.id async for end in ends] == [run.id]
        with anyio.move_on_after(0.2) as nothing_queued:
            await receiver.next_event()
        assert nothing_queued.cancelled_caught  # taken out of the queue, not left for others


def webhook_body(run: Run) -> bytes:
    return msgspec.json.encode(
        {
            "userId": run.user_id,
            "createdAt": datetime.now(UTC),
            "eventType": f"ACTOR.RUN.{run.status.replace('-', '_')}",
            "eventData": {"actorId": run.act_id, "actorRunId": run.id},
            "resource": run,
        }
    )


async def test_an_end_from_before_a_resurrection_is_not_yielded() -> None:
    async with (
        setting({}) as (_, receiver, client),
        aiohttp.ClientSession() as http,
    ):
        first_life = await client.wait_for_finish(
            (await client.start("emulator~scripted", script("a", step_secs=0.01))).id
        )
        assert first_life is not None and first_life.status == RunStatus.SUCCEEDED
        second_life = await client.resurrect(first_life.id)
        headers = {receiver.secret_header: SECRET}

        async def deliver(run: Run, dispatch_id: str) -> None:
            sent = {**headers, "X-Apify-Webhook-Dispatch-Id": dispatch_id}
            async with http.post(receiver.public_url, data=webhook_body(run), headers=sent) as r:
                assert r.status == 200

        with anyio.fail_after(10):
            async with client.as_completed(
                [second_life], webhooks=receiver, list_interval=3600
            ) as ends:
                await deliver(first_life, "late")  # its first end, delivered late
                end = await client.wait_for_finish(second_life.id)
                assert end is not None
                await deliver(end, "second")
                await deliver(end, "second-again")  # a copy under another dispatch id
                yielded = [run async for run in ends]
    assert [(run.id, run.stats.resurrect_count) for run in yielded] == [(first_life.id, 1)]
    assert yielded[0].finished_at == end.finished_at != first_life.finished_at


async def test_a_run_gone_from_the_list_is_read_and_found_missing() -> None:
    running = run_body(status="RUNNING", id="GoneRun1")

    async def reply(request: web.Request) -> web.StreamResponse:
        if request.path == "/v2/actor-runs":
            empty = {"items": [], "total": 0, "offset": 0, "count": 0, "desc": False}
            return web.json_response({"data": empty})
        return web.json_response(
            {"error": {"type": "record-not-found", "message": "Actor run was not found"}},
            status=404,
        )

    async with FakeApi() as fake:
        fake.reply = reply
        async with ApifyRuns("t", base_url=fake.base_url, retries=SHORT_GRACE) as client:
            run = msgspec.convert(running["data"], Run, from_attributes=False)
            with anyio.fail_after(5), pytest.raises(NotFoundError, match="GoneRun1"):
                async with client.as_completed([run], list_above=0, list_interval=0.05) as ends:
                    async for _ in ends:
                        pass


async def test_call_many_returns_a_run_still_going_after_wait_secs() -> None:
    async with setting({}) as (_, _receiver, client):
        long = script("slow", step_secs=5)
        with anyio.fail_after(5):
            async with client.call_many(
                "emulator~scripted", [long], concurrency=1, wait_secs=0.3, list_above=0
            ) as calls:
                [(_, result)] = [item async for item in calls]
        assert not result.run.is_terminal
        await client.abort(result.run.id)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"list_above": -1}, ValueError, "list_above"),
        ({"list_above": 1.5}, ValueError, "list_above"),
        ({"list_interval": 0}, ValueError, "list_interval"),
        ({"webhooks": "http://example.com/hook"}, TypeError, "webhooks"),
    ],
)
async def test_bad_options_fail_before_any_request(
    fake_api: FakeApi, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    async with ApifyRuns("t", base_url=fake_api.base_url, retries=Retries(max_tries=1)) as client:
        with pytest.raises(error, match=message):
            client.as_completed(["abc"], **options)
        if "list_above" not in options:
            with pytest.raises(error, match=message):
                client.watch_many(["abc"], **options)
    assert not fake_api.requests


async def test_a_late_webhook_for_an_end_handed_over_is_not_queued() -> None:
    async with (
        setting({}) as (_, receiver, client),
        aiohttp.ClientSession() as http,
    ):
        run = await client.start("emulator~scripted", script("x", step_secs=0.01))
        with anyio.fail_after(10):
            async with client.as_completed([run], webhooks=receiver, list_interval=0.1) as ends:
                ended = await anext(ends)  # from the list: the run has no webhook
                assert ended.id == run.id
                # Nothing is waited for now, but the call is still open.
                headers = {receiver.secret_header: SECRET, "X-Apify-Webhook-Dispatch-Id": "d1"}
                as_it_ended = await client.get(run.id)
                assert as_it_ended is not None
                late = webhook_body(as_it_ended)
                async with http.post(receiver.public_url, data=late, headers=headers) as answer:
                    assert answer.status == 200
        with anyio.move_on_after(0.2) as nothing_queued:
            await receiver.next_event()
        assert nothing_queued.cancelled_caught


async def post_end(
    http: aiohttp.ClientSession, receiver: WebhookReceiver, run: Run, dispatch: str
) -> None:
    headers = {receiver.secret_header: SECRET, "X-Apify-Webhook-Dispatch-Id": dispatch}
    async with http.post(receiver.public_url, data=webhook_body(run), headers=headers) as answer:
        assert answer.status == 200


async def ended(client: ApifyRuns, run_id: str) -> Run:
    run = await client.wait_for_finish(run_id)
    assert run is not None and run.is_terminal
    return run


async def assert_nothing_queued(receiver: WebhookReceiver) -> None:
    with anyio.move_on_after(0.2) as nothing_queued:
        await receiver.next_event()
    assert nothing_queued.cancelled_caught


async def test_every_queued_end_of_a_run_is_taken_and_the_latest_yielded() -> None:
    async with setting({}) as (_, receiver, client), aiohttp.ClientSession() as http:
        first_life = await ended(
            client, (await client.start("emulator~scripted", script("a", step_secs=0.01))).id
        )
        second_life = await client.resurrect(first_life.id)
        end = await ended(client, second_life.id)
        # Before the run is followed: its end, the end before it, and the end again.
        for run, dispatch in ((end, "new"), (first_life, "late"), (end, "new-again")):
            await post_end(http, receiver, run, dispatch)
        with anyio.fail_after(5):  # from the queue, not the list read an hour from now
            async with client.as_completed(
                [second_life], webhooks=receiver, list_interval=3600
            ) as ends:
                yielded = [run async for run in ends]
        assert [run.finished_at for run in yielded] == [end.finished_at]
        await assert_nothing_queued(receiver)


async def test_a_run_given_by_id_takes_its_queued_end() -> None:
    async with setting({}) as (_, receiver, client), aiohttp.ClientSession() as http:
        run = await client.start("emulator~scripted", script("x", step_secs=0.01))
        await post_end(http, receiver, await ended(client, run.id), "d1")
        async with client.as_completed([run.id], webhooks=receiver, list_interval=3600) as ends:
            assert [end.id async for end in ends] == [run.id]
        await assert_nothing_queued(receiver)


async def test_two_calls_following_one_run_each_get_its_end() -> None:
    async with setting({}) as (_, receiver, client), aiohttp.ClientSession() as http:
        run = await client.start("emulator~scripted", script("x", step_secs=0.3))
        with anyio.fail_after(5):
            async with (
                client.as_completed([run], webhooks=receiver, list_interval=3600) as finished,
                client.watch_many([run], webhooks=receiver, list_interval=3600) as updates,
            ):
                await anyio.sleep(0.1)  # both follow the run
                await post_end(http, receiver, await ended(client, run.id), "d1")
                assert [end.status async for end in finished] == [RunStatus.SUCCEEDED]
                statuses = [update.status async for _, update in updates]
        assert statuses[-1] == RunStatus.SUCCEEDED


async def test_an_end_received_as_the_call_starts_listening_is_taken() -> None:
    # The narrow window between a run's first look at the receiver's queue and the call's
    # listening: a webhook handled in that loop turn. Handed to the receiver directly, as no
    # HTTP request can be timed into one turn.
    async with setting({}) as (_, receiver, client):
        run = await client.start("emulator~scripted", script("x", step_secs=0.01))
        event = parse_webhook(webhook_body(await ended(client, run.id)))
        with anyio.fail_after(5):
            async with client.as_completed([], webhooks=receiver, list_interval=3600) as ends:
                ends.add(run)  # as start() gave it: not ended
                await (
                    anyio.lowlevel.checkpoint()
                )  # the run looked at the queue; the listening is to start
                assert await receiver._hand_over(event, None) is None
                assert [end.id async for end in ends] == [run.id]


async def test_ends_past_the_buffer_are_kept_for_a_slow_consumer() -> None:
    # 1,100 runs end at once, two pages of the list, while the consumer is busy: more than
    # the stream's buffer of 1,024 holds. Each is yielded once all the same.
    template = run_body(status="RUNNING")["data"]
    runs = [msgspec.convert({**template, "id": f"HeldRun{i:010d}"}, Run) for i in range(1100)]
    summaries = [
        {"id": run.id, "status": "SUCCEEDED", "startedAt": template["startedAt"],
         "finishedAt": template["startedAt"], "meta": {"origin": "API"}}
        for run in runs
    ]  # fmt: skip

    async def reply(request: web.Request) -> web.StreamResponse:
        offset, limit = int(request.query["offset"]), int(request.query["limit"])
        page = summaries[offset : offset + limit]
        data = {"items": page, "total": len(summaries), "offset": offset, "count": len(page)}
        return web.json_response({"data": {**data, "desc": False, "limit": limit}})

    async with FakeApi() as fake:
        fake.reply = reply
        async with ApifyRuns("t", base_url=fake.base_url) as client:
            with anyio.fail_after(10):
                async with client.as_completed(runs, list_above=0, list_interval=0.05) as ends:
                    first = await anext(ends)
                    await anyio.sleep(0.5)  # busy: every other end arrives meanwhile
                    rest = [end.id async for end in ends]
    assert sorted([first.id, *rest]) == [run.id for run in runs]
    offsets = sorted(int(r.query["offset"]) for r in fake.requests)
    assert offsets == [0, 1000]
