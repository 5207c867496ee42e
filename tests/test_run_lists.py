"""Lists of runs: one page, every page, and the last run, against the emulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from apify_runs_async import ApifyRuns, NotFoundError, RunList, RunOrigin, RunStatus, RunSummary
from apify_runs_async.emulator import ApifyEmulator
from tests.fake_api import FakeApi, json_reply
from tests.helpers import script

pytestmark = pytest.mark.anyio

ACTOR = "emulator~scripted"


async def start_some(client: ApifyRuns, outcomes: list[str]) -> list[str]:
    """Runs of the scripted Actor, one per outcome, each finished before the next starts."""
    ids = []
    for outcome in outcomes:
        result = await client.call(ACTOR, script(step_secs=0, outcome=outcome))
        ids.append(result.run.id)
    return ids


async def test_a_page_of_an_actors_runs(client: ApifyRuns) -> None:
    ids = await start_some(client, ["SUCCEEDED", "FAILED", "SUCCEEDED"])
    page = await client.list_runs("emulator/scripted")
    assert isinstance(page, RunList)
    assert (page.total, page.offset, page.count, page.desc) == (3, 0, 3, False)
    assert [run.id for run in page.items] == ids
    assert all(isinstance(run, RunSummary) and run.is_terminal for run in page.items)
    assert [run.status for run in page.items] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]

    newest = await client.list_runs(ACTOR, desc=True, limit=2, offset=0)
    assert [run.id for run in newest.items] == ids[::-1][:2]
    assert (newest.total, newest.count, newest.limit) == (3, 2, 2)


async def test_one_status_or_several(client: ApifyRuns) -> None:
    ids = await start_some(client, ["SUCCEEDED", "FAILED"])
    aborted = await client.start(ACTOR, script("slow", step_secs=30))
    await client.abort(aborted.id)
    ids.append(aborted.id)
    failed = await client.list_runs(ACTOR, status=RunStatus.FAILED)
    assert [run.id for run in failed.items] == [ids[1]]
    ended_badly = await client.list_runs(ACTOR, status=["FAILED", RunStatus.ABORTED])
    assert [run.id for run in ended_badly.items] == ids[1:]


async def test_runs_started_in_a_window(client: ApifyRuns) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    ids = await start_some(client, ["SUCCEEDED", "SUCCEEDED"])
    after = datetime.now(UTC) + timedelta(seconds=1)
    assert [r.id for r in (await client.list_runs(started_after=before)).items] == ids
    assert (await client.list_runs(started_after=after)).items == []
    assert (await client.list_runs(started_before=before)).items == []


async def test_all_of_the_users_runs_and_a_tasks(
    client: ApifyRuns, emulator: ApifyEmulator
) -> None:
    ids = await start_some(client, ["SUCCEEDED"])
    await client.call("apify/hello-world")
    assert (await client.list_runs()).total == 2
    assert [r.id for r in (await client.list_runs(ACTOR)).items] == ids
    assert (await client.list_runs(task_id="emulator~scripted-task")).total == 0


async def test_every_page(client: ApifyRuns) -> None:
    ids = await start_some(client, ["SUCCEEDED"] * 5)
    listed = [run.id async for run in client.iterate_runs(ACTOR)]
    assert listed == ids
    assert [run.id async for run in client.iterate_runs(ACTOR, offset=1, limit=3)] == ids[1:4]
    assert [run.id async for run in client.iterate_runs(ACTOR, desc=True, limit=2)] == [
        ids[4],
        ids[3],
    ]


async def test_pages_are_read_until_a_short_one(fake_api: FakeApi) -> None:
    # A server that serves 2 runs a page, whatever is asked: every page is read, in order.
    runs = [run_summary(f"run{n}") for n in range(5)]

    async def pages(request: Any) -> Any:
        offset = int(request.query["offset"])
        items = runs[offset : offset + 2] if offset < 4 else runs[4:]
        body = {"total": 5, "offset": offset, "limit": 2, "count": len(items), "desc": False}
        return await json_reply(200, {"data": {**body, "items": items}})(request)

    fake_api.reply = pages
    async with ApifyRuns("t", base_url=fake_api.base_url) as client:
        listed = [run.id async for run in client.iterate_runs(limit=4)]
    assert listed == ["run0", "run1", "run2", "run3"]


def run_summary(run_id: str) -> dict[str, Any]:
    return {
        "id": run_id,
        "actId": "a1",
        "status": "SUCCEEDED",
        "startedAt": "2026-11-29T10:00:00.000Z",
        "finishedAt": "2026-11-29T10:01:00.000Z",
        "buildId": "b1",
        "meta": {"origin": "API"},
        "usageTotalUsd": 0.01,
        "defaultKeyValueStoreId": "k1",
        "defaultDatasetId": "d1",
        "defaultRequestQueueId": "q1",
        "someFieldFromTheFuture": {"x": 1},
    }


async def test_the_last_run(client: ApifyRuns) -> None:
    assert await client.last_run(ACTOR) is None
    ids = await start_some(client, ["SUCCEEDED", "FAILED"])
    last = await client.last_run(ACTOR)
    assert last is not None and last.id == ids[1]
    succeeded = await client.last_run(ACTOR, status=RunStatus.SUCCEEDED)
    assert succeeded is not None and succeeded.id == ids[0]
    assert await client.last_run(ACTOR, origin=RunOrigin.WEB) is None
    by_api = await client.last_run(ACTOR, origin=RunOrigin.API)
    assert by_api is not None and by_api.id == ids[1]


async def test_the_users_last_run(client: ApifyRuns) -> None:
    assert await client.last_run() is None
    ids = await start_some(client, ["SUCCEEDED", "FAILED"])
    last = await client.last_run()
    assert last is not None and last.id == ids[1]
    succeeded = await client.last_run(status="SUCCEEDED")
    assert succeeded is not None and succeeded.id == ids[0]
    assert await client.last_run(origin="WEB") is None


async def test_a_list_of_an_actor_that_does_not_exist(client: ApifyRuns) -> None:
    with pytest.raises(NotFoundError, match=r"GET /v2/actors/nobody~nothing/runs"):
        await client.list_runs("nobody/nothing")


@pytest.mark.parametrize(
    ("arguments", "error", "name"),
    [
        ({"actor_id": "a~b", "task_id": "c~d"}, ValueError, "not both"),
        ({"limit": 0}, ValueError, "limit"),
        ({"limit": 1001}, ValueError, "limit"),
        ({"offset": -1}, ValueError, "offset"),
        ({"offset": 1.5}, ValueError, "offset"),
        ({"status": []}, ValueError, "status"),
        ({"status": "has space"}, ValueError, "status"),
        ({"status": [1]}, TypeError, "status"),
        ({"desc": "yes"}, TypeError, "desc"),
        ({"started_after": "2026-01-01"}, TypeError, "started_after"),
        ({"started_before": datetime(2026, 1, 1)}, ValueError, "started_before"),
        ({"actor_id": "a/b/c"}, ValueError, "actor_id"),
    ],
)
async def test_bad_arguments_fail_before_any_request(
    fake_api: FakeApi, arguments: dict[str, Any], error: type[Exception], name: str
) -> None:
    async with ApifyRuns("t", base_url=fake_api.base_url) as client:
        with pytest.raises(error, match=name):
            await client.list_runs(**arguments)
        if "limit" not in arguments:  # iterate_runs takes any total limit
            with pytest.raises(error, match=name):
                client.iterate_runs(**arguments)
        with pytest.raises(ValueError, match="limit"):
            client.iterate_runs(limit=0)
        with pytest.raises(ValueError, match="origin"):
            await client.last_run(origin="has space")
        with pytest.raises(ValueError, match="status"):
            await client.last_run("a~b", status="")
    assert fake_api.requests == []
