"""Listing runs (all, of an Actor, of a task) and the last run of an Actor or a task."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from .support import Api, fast_emulator, steps

pytestmark = pytest.mark.anyio


async def _list(api: Api, path: str = "/v2/actor-runs", **params: Any) -> dict[str, Any]:
    response = await api.request(
        "GET", path, schema="ListOfRunsResponse", expect=200, params=params
    )
    page: dict[str, Any] = response.data
    return page


async def _three_runs(api: Api) -> list[dict[str, Any]]:
    """A SUCCEEDED hello-world, a FAILED scripted and a RUNNING scripted run, in that order."""
    first = await api.start("apify~hello-world", params={"waitForFinish": 10})
    second = await api.start(
        "emulator~scripted", {"outcome": "FAILED"}, params={"waitForFinish": 10}
    )
    third = await api.start("emulator~scripted", {"steps": steps("a", sleep=30)})
    await api.wait_for(third["id"], "RUNNING")
    return [first, second, third]


async def test_an_empty_list(api: Api) -> None:
    page = await _list(api)
    assert page == {"total": 0, "offset": 0, "limit": 1000, "desc": False, "count": 0, "items": []}


async def test_lists_every_run_oldest_first(api: Api) -> None:
    runs = await _three_runs(api)
    page = await _list(api)
    assert [item["id"] for item in page["items"]] == [run["id"] for run in runs]
    assert (page["total"], page["count"], page["offset"], page["limit"]) == (3, 3, 0, 1000)
    assert [item["status"] for item in page["items"]] == ["SUCCEEDED", "FAILED", "RUNNING"]
    item = page["items"][0]
    assert item["actId"] == runs[0]["actId"]
    assert item["defaultKeyValueStoreId"] == runs[0]["defaultKeyValueStoreId"]
    assert item["finishedAt"] is not None
    assert item["meta"]["origin"] == "API"
    assert item["usageTotalUsd"] >= 0


async def test_desc_offset_and_limit(api: Api) -> None:
    runs = await _three_runs(api)
    ids = [run["id"] for run in runs]
    page = await _list(api, desc="true")
    assert page["desc"] is True
    assert [item["id"] for item in page["items"]] == ids[::-1]
    page = await _list(api, offset=1, limit=1)
    assert (page["total"], page["count"], page["offset"], page["limit"]) == (3, 1, 1, 1)
    assert [item["id"] for item in page["items"]] == ids[1:2]
    page = await _list(api, offset=1, desc=1)
    assert [item["id"] for item in page["items"]] == ids[::-1][1:]
    page = await _list(api, offset=10)
    assert (page["total"], page["count"], page["items"]) == (3, 0, [])
    page = await _list(api, limit=5000)
    assert page["limit"] == 1000
    page = await _list(api, limit=0)  # the official client's "no limit"
    assert (page["limit"], page["count"]) == (1000, 3)


@pytest.mark.parametrize(
    "params",
    [{"limit": -1}, {"limit": 2.5}, {"offset": -1}, {"offset": "x"}, {"desc": "backwards"}],
)
async def test_bad_paging_is_400(api: Api, params: dict[str, Any]) -> None:
    await api.error("GET", "/v2/actor-runs", 400, "invalid-input", params=params)


async def test_status_filter(api: Api) -> None:
    runs = await _three_runs(api)
    ids = [run["id"] for run in runs]
    by_status = await _list(api, status="FAILED")
    assert [item["id"] for item in by_status["items"]] == [ids[1]]
    assert by_status["total"] == 1
    comma_list = await _list(api, status="SUCCEEDED,RUNNING")
    assert [item["id"] for item in comma_list["items"]] == [ids[0], ids[2]]
    repeated = await api.request(
        "GET",
        "/v2/actor-runs",
        schema="ListOfRunsResponse",
        params=[("status", "SUCCEEDED"), ("status", "FAILED")],
    )
    assert [item["id"] for item in repeated.data["items"]] == ids[:2]
    none = await _list(api, status="ABORTED")
    assert none["items"] == []


async def test_unknown_status_is_400(api: Api) -> None:
    await api.error("GET", "/v2/actor-runs", 400, "invalid-input", params={"status": "DONE"})


async def test_started_after_and_before_are_inclusive(api: Api) -> None:
    runs = []
    for _ in range(3):
        runs.append(await api.start("apify~hello-world"))
        await asyncio.sleep(0.01)  # distinct startedAt milliseconds
    ids = [run["id"] for run in runs]
    middle = runs[1]["startedAt"]
    after = await _list(api, startedAfter=middle)
    assert [item["id"] for item in after["items"]] == ids[1:]
    before = await _list(api, startedBefore=middle)
    assert [item["id"] for item in before["items"]] == ids[:2]
    both = await _list(api, startedAfter=middle, startedBefore=middle)
    assert [item["id"] for item in both["items"]] == [ids[1]]
    future = await _list(api, startedAfter="2999-01-01T00:00:00.000Z")
    assert future["total"] == 0


async def test_bad_dates_are_400(api: Api) -> None:
    for name in ("startedAfter", "startedBefore"):
        await api.error("GET", "/v2/actor-runs", 400, "invalid-input", params={name: "Tuesday"})


async def test_runs_of_one_actor(api: Api) -> None:
    runs = await _three_runs(api)
    for ref in ("emulator~scripted", runs[1]["actId"]):
        for prefix in ("actors", "acts"):
            page = await _list(api, f"/v2/{prefix}/{ref}/runs")
            assert [item["id"] for item in page["items"]] == [runs[1]["id"], runs[2]["id"]]
    page = await _list(api, "/v2/actors/emulator~scripted/runs", status="RUNNING", desc="1")
    assert [item["id"] for item in page["items"]] == [runs[2]["id"]]
    await api.error("GET", "/v2/actors/no~actor/runs", 404, "record-not-found")


async def test_runs_of_one_task(api: Api) -> None:
    await api.start("emulator~scripted")
    started = await api.request(
        "POST", "/v2/actor-tasks/emulator~scripted-task/runs", schema="RunResponse", expect=201
    )
    task_id = started.data["actorTaskId"]
    for ref in ("emulator~scripted-task", task_id):
        page = await _list(api, f"/v2/actor-tasks/{ref}/runs")
        assert [item["id"] for item in page["items"]] == [started.data["id"]]
        assert page["items"][0]["actorTaskId"] == task_id
    await api.error("GET", "/v2/actor-tasks/no~task/runs", 404, "record-not-found")


async def test_last_run_of_an_actor(api: Api) -> None:
    runs = await _three_runs(api)
    for prefix in ("actors", "acts"):
        last = await api.request(
            "GET", f"/v2/{prefix}/emulator~scripted/runs/last", schema="RunResponse", expect=200
        )
        assert last.data["id"] == runs[2]["id"]
    failed = await api.request(
        "GET",
        "/v2/actors/emulator~scripted/runs/last",
        schema="RunResponse",
        params={"status": "FAILED"},
    )
    assert failed.data["id"] == runs[1]["id"]
    from_api = await api.request(
        "GET",
        f"/v2/actors/{runs[0]['actId']}/runs/last",
        schema="RunResponse",
        params={"origin": "API"},
    )
    assert from_api.data["id"] == runs[0]["id"]
    await api.error(
        "GET",
        "/v2/actors/emulator~scripted/runs/last",
        404,
        "record-not-found",
        params={"origin": "WEB"},
    )
    await api.error(
        "GET",
        "/v2/actors/emulator~scripted/runs/last",
        404,
        "record-not-found",
        params={"status": "TIMED-OUT"},
    )
    await api.error(
        "GET",
        "/v2/actors/emulator~scripted/runs/last",
        400,
        "invalid-input",
        params={"status": "DONE"},
    )
    await api.error(
        "GET",
        "/v2/actors/emulator~scripted/runs/last",
        400,
        "invalid-input",
        params={"origin": "SPACE"},
    )


async def test_last_run_waits_for_finish(api: Api) -> None:
    run = await api.start("emulator~scripted", {"steps": steps("a", sleep=0.2)})
    last = await api.request(
        "GET",
        "/v2/actors/emulator~scripted/runs/last",
        schema="RunResponse",
        params={"waitForFinish": 10},
    )
    assert (last.data["id"], last.data["status"]) == (run["id"], "SUCCEEDED")


async def test_no_last_run_is_404(api: Api) -> None:
    await api.error("GET", "/v2/actors/apify~hello-world/runs/last", 404, "record-not-found")
    await api.error("GET", "/v2/actors/no~actor/runs/last", 404, "record-not-found")
    await api.error(
        "GET", "/v2/actor-tasks/emulator~scripted-task/runs/last", 404, "record-not-found"
    )


async def test_operations_on_the_last_run(api: Api) -> None:
    run = await api.start("emulator~scripted", {"steps": steps("a", sleep=30), "x": 1})
    await api.wait_for(run["id"], "RUNNING")
    base = "/v2/actors/emulator~scripted/runs/last"
    rebooted = await api.request("POST", f"{base}/reboot", schema="RunResponse", expect=200)
    assert rebooted.data["stats"]["rebootCount"] == 1
    record = await api.request("GET", f"{base}/key-value-store/records/INPUT", raw=True)
    assert record.json["x"] == 1
    log = await api.request("GET", f"{base}/log", expect=200)
    assert b"Rebooting" in log.body
    aborted = await api.request("POST", f"{base}/abort", schema="RunResponse", expect=200)
    assert aborted.data["status"] == "ABORTED"
    resurrected = await api.request(
        "POST", "/v2/acts/emulator~scripted/runs/last/resurrect", schema="RunResponse"
    )
    assert resurrected.data["status"] == "RUNNING"
    morphed = await api.request(
        "POST",
        f"{base}/metamorph",
        schema="RunResponse",
        params={"targetActorId": "apify~hello-world"},
    )
    assert morphed.data["id"] == run["id"]
    assert morphed.data["stats"]["metamorph"] == 1


async def test_operations_on_the_last_task_run(api: Api) -> None:
    started = await api.request(
        "POST",
        "/v2/actor-tasks/emulator~scripted-task/runs",
        schema="RunResponse",
        expect=201,
        json={"steps": steps("a", sleep=30)},
    )
    base = "/v2/actor-tasks/emulator~scripted-task/runs/last"
    last = await api.request("GET", base, schema="RunResponse", expect=200)
    assert last.data["id"] == started.data["id"]
    aborted = await api.request(
        "POST", f"{base}/abort", schema="RunResponse", params={"gracefully": "false"}
    )
    assert aborted.data["status"] == "ABORTED"
    # Only `last` names a run under a task.
    await api.error(
        "GET",
        f"/v2/actor-tasks/emulator~scripted-task/runs/{started.data['id']}",
        404,
        "page-not-found",
    )


async def test_the_deprecated_run_paths_under_an_actor(api: Api) -> None:
    run = await api.start("emulator~scripted", {"steps": steps("a", sleep=30)})
    base = f"/v2/actors/emulator~scripted/runs/{run['id']}"
    got = await api.request("GET", base, schema="RunResponse", expect=200)
    assert got.data["id"] == run["id"]
    aborted = await api.request("POST", f"{base}/abort", schema="RunResponse", expect=200)
    assert aborted.data["status"] == "ABORTED"
    await api.error(
        "GET", "/v2/actors/emulator~scripted/runs/AAAAAAAAAAAAAAAAA", 404, "record-not-found"
    )


async def test_lists_stay_consistent_with_many_runs(session: aiohttp.ClientSession) -> None:
    async with fast_emulator() as emu:
        api = Api(session, emu)
        ids = [(await api.start("emulator~scripted"))["id"] for _ in range(25)]
        seen: list[str] = []
        for offset in range(0, 25, 10):
            page = await _list(api, offset=offset, limit=10)
            assert page["total"] == 25
            seen += [item["id"] for item in page["items"]]
        assert seen == ids


async def _ids(api: Api, path: str, **params: Any) -> list[str]:
    return [item["id"] for item in (await _list(api, path, **params))["items"]]


async def test_a_metamorphed_run_is_listed_under_its_new_actor_in_start_order(api: Api) -> None:
    hello = "/v2/actors/apify~hello-world/runs"
    scripted = "/v2/actors/emulator~scripted/runs"
    morphing = await api.start("emulator~scripted", {"steps": steps("a", sleep=30)})
    older = await api.start("apify~hello-world", params={"waitForFinish": 10})
    await api.wait_for(morphing["id"], "RUNNING")
    # A hello-world run started later than the morphing run, and one started after it.
    newer = await api.start("apify~hello-world", params={"waitForFinish": 10})
    await api.post_run(morphing["id"], "metamorph", params={"targetActorId": "apify~hello-world"})
    assert await _ids(api, scripted) == []
    assert await _ids(api, hello) == [morphing["id"], older["id"], newer["id"]]
    assert await _ids(api, hello, desc=1, limit=2) == [newer["id"], older["id"]]
    last = await api.request(
        "GET", f"{hello}/last", schema="RunResponse", params={"status": "RUNNING"}
    )
    assert last.data["id"] == morphing["id"]
    await api.error("GET", f"{scripted}/last", 404, "record-not-found")


async def test_a_deleted_run_leaves_every_list(api: Api) -> None:
    task = "/v2/actor-tasks/emulator~scripted-task/runs"
    kept = await api.start("emulator~scripted", params={"waitForFinish": 10})
    deleted = (
        await api.request("POST", task, schema="RunResponse", params={"waitForFinish": 10})
    ).data
    assert deleted["status"] == "SUCCEEDED"
    await api.request("DELETE", f"/v2/actor-runs/{deleted['id']}", expect=204)
    assert await _ids(api, "/v2/actor-runs") == [kept["id"]]
    assert await _ids(api, "/v2/actors/emulator~scripted/runs") == [kept["id"]]
    assert await _ids(api, task) == []
    await api.error("GET", f"{task}/last", 404, "record-not-found")
    last = await api.request("GET", "/v2/acts/emulator~scripted/runs/last", schema="RunResponse")
    assert last.data["id"] == kept["id"]
