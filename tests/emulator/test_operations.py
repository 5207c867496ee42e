"""Operations on a run: update, delete, resurrect, reboot, metamorph."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiohttp
import pytest

from apify_runs_async.emulator import ActorContext

from .support import Api, fast_emulator, steps

pytestmark = pytest.mark.anyio

LONG = {"steps": steps("working", sleep=30)}


# Update


async def test_update_sets_the_status_message(api: Api) -> None:
    run = await api.start("emulator~scripted", LONG)
    response = await api.request(
        "PUT",
        f"/v2/actor-runs/{run['id']}",
        schema="RunResponse",
        expect=200,
        json={"statusMessage": "Halfway", "isStatusMessageTerminal": True},
    )
    assert response.data["statusMessage"] == "Halfway"
    assert response.data["isStatusMessageTerminal"] is True
    again = await api.run(run["id"])
    assert (again["statusMessage"], again["isStatusMessageTerminal"]) == ("Halfway", True)


async def test_update_without_the_terminal_flag_clears_it(api: Api) -> None:
    run = await api.start("emulator~scripted", LONG)
    path = f"/v2/actor-runs/{run['id']}"
    body = {"statusMessage": "x", "isStatusMessageTerminal": True}
    await api.request("PUT", path, schema="RunResponse", json=body)
    response = await api.request("PUT", path, schema="RunResponse", json={"statusMessage": "y"})
    assert response.data["isStatusMessageTerminal"] is False


@pytest.mark.parametrize(
    "access",
    ["ANYONE_WITH_ID_CAN_READ", "ANYONE_WITH_NAME_CAN_READ", "FOLLOW_USER_SETTING", "RESTRICTED"],
)
async def test_update_sets_general_access(api: Api, access: str) -> None:
    run = await api.start("apify~hello-world")
    response = await api.request(
        "PUT",
        f"/v2/actor-runs/{run['id']}",
        schema="RunResponse",
        expect=200,
        json={"generalAccess": access},
    )
    assert response.data["generalAccess"] == access
    assert (await api.run(run["id"]))["generalAccess"] == access


async def test_terminal_flag_without_a_message_is_400(api: Api) -> None:
    run = await api.start("apify~hello-world")
    await api.error(
        "PUT",
        f"/v2/actor-runs/{run['id']}",
        400,
        "cannot-set-is-status-message-terminal",
        json={"isStatusMessageTerminal": True},
    )


@pytest.mark.parametrize(
    "body",
    [
        {"generalAccess": "EVERYBODY"},
        {"statusMessage": 42},
        {"statusMessage": "x", "isStatusMessageTerminal": "yes"},
        ["statusMessage"],
    ],
)
async def test_invalid_updates_are_400_invalid_input(api: Api, body: Any) -> None:
    run = await api.start("apify~hello-world")
    await api.error("PUT", f"/v2/actor-runs/{run['id']}", 400, "invalid-input", json=body)


async def test_update_with_a_broken_body_is_400(api: Api) -> None:
    run = await api.start("apify~hello-world")
    await api.error(
        "PUT",
        f"/v2/actor-runs/{run['id']}",
        400,
        "invalid-input",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )


async def test_update_of_a_missing_run_is_404(api: Api) -> None:
    await api.error(
        "PUT",
        "/v2/actor-runs/AAAAAAAAAAAAAAAAA",
        404,
        "record-not-found",
        json={"statusMessage": "x"},
    )


# Delete


async def test_delete_of_a_finished_run(api: Api) -> None:
    run = await api.start("apify~hello-world", params={"waitForFinish": 10})
    response = await api.request("DELETE", f"/v2/actor-runs/{run['id']}", expect=204)
    assert response.body == b""
    await api.error("GET", f"/v2/actor-runs/{run['id']}", 404, "record-not-found")
    await api.error("DELETE", f"/v2/actor-runs/{run['id']}", 404, "record-not-found")
    listed = await api.request("GET", "/v2/actor-runs", schema="ListOfRunsResponse")
    assert run["id"] not in [item["id"] for item in listed.data["items"]]
    await api.error(
        "GET",
        f"/v2/key-value-stores/{run['defaultKeyValueStoreId']}/records/OUTPUT",
        404,
        "record-not-found",
    )


@pytest.mark.parametrize("wait_for", ["READY", "RUNNING"])
async def test_delete_of_an_unfinished_run_is_400(
    session: aiohttp.ClientSession, wait_for: str
) -> None:
    # A READY run stays READY for the whole test, however busy the machine is.
    timings = {"ready_secs": 30} if wait_for == "READY" else {}
    async with fast_emulator(**timings) as emu:
        api = Api(session, emu)
        run = await api.start("emulator~scripted", LONG)
        if wait_for == "RUNNING":
            await api.wait_for(run["id"], "RUNNING")
        await api.error("DELETE", f"/v2/actor-runs/{run['id']}", 400, "cannot-remove-running-run")
        assert (await api.run(run["id"]))["status"] == wait_for


# Resurrect


async def test_resurrect_brings_the_same_run_back(api: Api) -> None:
    run = await api.start(
        "emulator~scripted",
        {"steps": steps("step 1", "step 2", sleep=0.05), "output": {"n": 1}},
        params={"waitForFinish": 10},
    )
    assert run["status"] == "SUCCEEDED"
    resurrected = await api.post_run(run["id"], "resurrect")
    assert resurrected["id"] == run["id"]
    assert resurrected["status"] == "RUNNING"
    assert resurrected["finishedAt"] is None
    assert resurrected["exitCode"] is None
    assert resurrected["stats"]["resurrectCount"] == 1
    assert resurrected["defaultKeyValueStoreId"] == run["defaultKeyValueStoreId"]
    assert resurrected["startedAt"] == run["startedAt"]
    assert resurrected["options"] == run["options"]
    done = await api.finished(run["id"])
    assert (done["status"], done["exitCode"]) == ("SUCCEEDED", 0)
    assert done["stats"]["runTimeSecs"] > run["stats"]["runTimeSecs"]
    log = await api.log(run["id"])
    assert log.count("Status message: step 1") == 2  # it ran its steps again


async def test_resurrect_counts_and_overrides_options(api: Api) -> None:
    run = await api.start(
        "emulator~scripted",
        {"outcome": "FAILED"},
        params={"memory": 256, "timeout": 100, "maxItems": 5, "waitForFinish": 10},
    )
    assert run["status"] == "FAILED"
    once = await api.post_run(run["id"], "resurrect", params={"memory": 512, "build": "0.0.1"})
    assert once["options"] == {
        "build": "0.0.1",
        "timeoutSecs": 100,
        "memoryMbytes": 512,
        "diskMbytes": 1024,
        "maxItems": 5,
    }
    await api.finished(run["id"])
    twice = await api.post_run(run["id"], "resurrect", params={"timeout": 50, "maxItems": 9})
    assert twice["stats"]["resurrectCount"] == 2
    assert twice["options"]["timeoutSecs"] == 50
    assert twice["options"]["memoryMbytes"] == 512
    assert twice["options"]["maxItems"] == 9


async def test_resurrect_keeps_restart_on_error_unless_told(api: Api) -> None:
    run = await api.start(
        "emulator~scripted",
        {"outcome": "FAILED"},
        params={"restartOnError": "true", "waitForFinish": 10},
    )
    assert run["stats"]["restartCount"] == 3
    await api.post_run(run["id"], "resurrect")
    assert (await api.finished(run["id"]))["stats"]["restartCount"] == 6
    await api.post_run(run["id"], "resurrect", params={"restartOnError": "false"})
    assert (await api.finished(run["id"]))["stats"]["restartCount"] == 6


async def test_resurrect_an_aborted_run(api: Api) -> None:
    run = await api.start("emulator~scripted", LONG)
    await api.post_run(run["id"], "abort")
    resurrected = await api.post_run(run["id"], "resurrect")
    assert resurrected["status"] == "RUNNING"
    assert (await api.post_run(run["id"], "abort"))["status"] == "ABORTED"


async def test_resurrect_of_an_unfinished_run_is_400(api: Api) -> None:
    run = await api.start("emulator~scripted", LONG)
    await api.error("POST", f"/v2/actor-runs/{run['id']}/resurrect", 400, "operation-not-allowed")


async def test_resurrect_with_bad_options_is_400(api: Api) -> None:
    run = await api.start("apify~hello-world", params={"waitForFinish": 10})
    path = f"/v2/actor-runs/{run['id']}/resurrect"
    await api.error("POST", path, 400, "unknown-build-tag", params={"build": "nope"})
    await api.error("POST", path, 400, "invalid-input", params={"memory": 1000})
    assert (await api.run(run["id"]))["stats"]["resurrectCount"] == 0


# Reboot


async def test_reboot_restarts_the_actor_from_scratch(api: Api) -> None:
    script = {"steps": [*steps("first", "second", "third", sleep=0.05), *steps("x", sleep=30)]}
    run = await api.start("emulator~scripted", script)
    await _wait_for_message(api, run["id"], "second")
    rebooted = await api.post_run(run["id"], "reboot")
    assert rebooted["status"] == "RUNNING"
    assert rebooted["stats"]["rebootCount"] == 1
    await _wait_for_message(api, run["id"], "third")
    log = await api.log(run["id"])
    assert log.count("Starting emulator~scripted") == 2
    assert log.count("Status message: first") == 2
    assert log.index("Rebooting") < log.rindex("Status message: first")
    again = await api.post_run(run["id"], "reboot")
    assert again["stats"]["rebootCount"] == 2
    assert (await api.run(run["id"]))["status"] == "RUNNING"


async def _wait_for_message(api: Api, run_id: str, message: str) -> None:
    for _ in range(200):
        if (await api.run(run_id))["statusMessage"] == message:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the status message never became {message!r}")


async def test_reboot_cancels_and_restarts_the_handler(api: Api) -> None:
    starts: list[str] = []
    cancelled = asyncio.Event()

    async def actor(ctx: ActorContext) -> None:
        starts.append(ctx.run_id)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    api.emulator.register_actor("janedoe~rebootable", actor)
    run = await api.start("janedoe~rebootable", {"a": 1})
    await api.wait_for(run["id"], "RUNNING")
    await asyncio.sleep(0.02)
    await api.post_run(run["id"], "reboot")
    await asyncio.wait_for(cancelled.wait(), 1)
    for _ in range(100):
        if len(starts) == 2:
            break
        await asyncio.sleep(0.01)
    assert starts == [run["id"], run["id"]]


async def test_reboot_of_a_run_that_is_not_running_is_400(api: Api) -> None:
    done = await api.start("apify~hello-world", params={"waitForFinish": 10})
    await api.error("POST", f"/v2/actor-runs/{done['id']}/reboot", 400, "job-finished")

    async def stubborn(ctx: ActorContext) -> None:
        await asyncio.sleep(3600)  # ignores `ctx.aborting`

    api.emulator.register_actor("janedoe~stubborn", stubborn)
    run = await api.start("janedoe~stubborn")
    await api.wait_for(run["id"], "RUNNING")
    await api.post_run(run["id"], "abort", params={"gracefully": "true"})
    path = f"/v2/actor-runs/{run['id']}"
    await api.error("POST", f"{path}/reboot", 400, "operation-not-allowed")
    await api.error(
        "POST",
        f"{path}/metamorph",
        400,
        "operation-not-allowed",
        params={"targetActorId": "emulator~scripted"},
    )
    assert (await api.run(run["id"]))["stats"]["rebootCount"] == 0


# Metamorph


async def _waiting(ctx: ActorContext) -> None:
    await asyncio.sleep(3600)


async def _running(api: Api) -> dict[str, Any]:
    """A RUNNING run of `janedoe~waiting`, which waits until it is stopped."""
    with contextlib.suppress(ValueError):  # registered already
        api.emulator.register_actor("janedoe~waiting", _waiting)
    run = await api.start("janedoe~waiting", {"original": True})
    return await api.wait_for(run["id"], "RUNNING")


async def test_metamorph_turns_the_run_into_a_run_of_another_actor(api: Api) -> None:
    run = await _running(api)
    target = await api.start("emulator~scripted")
    new_input = {"steps": steps("metamorphed", sleep=0.05), "output": {"from": "target"}}
    morphed = await api.post_run(
        run["id"], "metamorph", params={"targetActorId": "emulator~scripted"}, json=new_input
    )
    assert morphed["status"] == "RUNNING"
    assert morphed["actId"] == target["actId"] != run["actId"]
    assert morphed["buildId"] == target["buildId"] != run["buildId"]
    assert morphed["stats"]["metamorph"] == 1
    assert morphed["defaultKeyValueStoreId"] == run["defaultKeyValueStoreId"]
    [event] = morphed["metamorphs"]
    assert event["actorId"] == target["actId"]
    assert event["buildId"] == target["buildId"]
    assert event["inputKey"] == "INPUT-METAMORPH-1"
    stored = await api.record(run["id"], "INPUT-METAMORPH-1")
    assert stored.json == new_input
    assert (await api.record(run["id"], "INPUT")).json == {"original": True}
    done = await api.finished(run["id"])
    assert (done["status"], done["statusMessage"]) == ("SUCCEEDED", "metamorphed")
    assert (await api.record(run["id"], "OUTPUT")).json == {"from": "target"}


async def test_metamorph_by_actor_id_with_a_build(api: Api) -> None:
    run = await _running(api)
    target = await api.start("apify~hello-world")
    morphed = await api.post_run(
        run["id"], "metamorph", params={"targetActorId": target["actId"], "build": "0.0"}
    )
    assert morphed["actId"] == target["actId"]
    assert morphed["options"]["build"] == "0.0"
    assert morphed["metamorphs"][0]["inputKey"] is None  # no body, no input record
    assert (await api.finished(run["id"]))["statusMessage"] == "Done"


async def test_at_most_ten_metamorphs(api: Api) -> None:
    run = await _running(api)
    for number in range(1, 11):
        morphed = await api.post_run(
            run["id"],
            "metamorph",
            params={"targetActorId": "janedoe~waiting"},
            json={"number": number},
        )
        assert morphed["stats"]["metamorph"] == number
        assert morphed["metamorphs"][-1]["inputKey"] == f"INPUT-METAMORPH-{number}"
    assert (await api.record(run["id"], "INPUT-METAMORPH-10")).json == {"number": 10}
    await api.error(
        "POST",
        f"/v2/actor-runs/{run['id']}/metamorph",
        400,
        "max-metamorphs-exceeded",
        params={"targetActorId": "janedoe~waiting"},
        json={"number": 11},
    )
    await api.error(
        "GET",
        f"/v2/actor-runs/{run['id']}/key-value-store/records/INPUT-METAMORPH-11",
        404,
        "record-not-found",
    )


async def test_metamorph_errors(api: Api) -> None:
    run = await _running(api)
    path = f"/v2/actor-runs/{run['id']}/metamorph"
    await api.error("POST", path, 400, "invalid-input")
    await api.error("POST", path, 404, "record-not-found", params={"targetActorId": "no~body"})
    await api.error(
        "POST",
        path,
        400,
        "unknown-build-tag",
        params={"targetActorId": "emulator~scripted", "build": "9.9"},
    )
    await api.error(
        "POST",
        path,
        400,
        "run-input-body-not-valid-json",
        params={"targetActorId": "emulator~scripted"},
        data=b"{",
        headers={"Content-Type": "application/json"},
    )
    assert (await api.run(run["id"]))["metamorphs"] == []
    await api.post_run(run["id"], "abort")
    await api.error(
        "POST", path, 400, "job-finished", params={"targetActorId": "emulator~scripted"}
    )


async def test_metamorph_hands_the_new_input_to_the_target(api: Api) -> None:
    seen: list[Any] = []

    async def target(ctx: ActorContext) -> None:
        seen.append((ctx.actor_id, ctx.input))

    target_id = api.emulator.register_actor("janedoe~target", target)
    run = await _running(api)
    body = json.dumps({"hello": "target"}).encode()
    await api.post_run(
        run["id"],
        "metamorph",
        params={"targetActorId": "janedoe~target"},
        data=body,
        headers={"Content-Type": "application/json"},
    )
    await api.finished(run["id"])
    assert seen == [(target_id, {"hello": "target"})]
