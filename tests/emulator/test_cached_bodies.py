"""A run's encoded body is cached until the run changes: every kind of change shows at once.

Each test GETs the run first, so that its body is cached, then changes it and GETs it again.
The figures that grow with time are measured again only every `USAGE_SAMPLE_SECS` of a live
run; the `frozen_time` fixture stretches that past the test, so that only the change itself
can bring a new body.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from apify_runs_async.emulator import ActorContext, Faults
from apify_runs_async.emulator import _runs as runs
from apify_runs_async.emulator import _shapes as shapes

from .support import Api, fast_emulator, steps

pytestmark = pytest.mark.anyio

LONG = {"steps": steps("working", sleep=3600)}


@pytest.fixture
def frozen_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shapes, "USAGE_SAMPLE_SECS", 3600.0)


async def _until(api: Api, run_id: str, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """GET the run until `check` holds (fails after 5 s: a stale body never changes)."""
    deadline = time.monotonic() + 5
    while not check(run := await api.run(run_id)):
        assert time.monotonic() < deadline, run
        await asyncio.sleep(0.01)
    return run


async def _running(api: Api, actor: str = "emulator~scripted", run_input: Any = LONG) -> str:
    """Start a run and GET it once it is RUNNING (so its body is cached); its id."""
    run = await api.start(actor, run_input)
    await api.wait_for(run["id"], "RUNNING")
    return str(run["id"])


class Gate:
    """Lets a test Actor take one step at a time: the Actor `await gate.wait()`s before each
    step and calls `gate.took()` after it; the test's `await gate.step()` lets it take one and
    returns when it has."""

    def __init__(self) -> None:
        self._go = asyncio.Event()
        self._done = asyncio.Event()

    async def step(self) -> None:
        self._done.clear()
        self._go.set()
        await self._done.wait()

    async def wait(self) -> None:
        await self._go.wait()
        self._go.clear()

    def took(self) -> None:
        self._done.set()


async def _sleeper(ctx: ActorContext) -> None:
    await ctx.sleep(3600)


async def test_an_unchanged_run_is_served_from_the_cache(api: Api, frozen_time: None) -> None:
    run_id = await _running(api)
    first = await api.request("GET", f"/v2/actor-runs/{run_id}", schema="RunResponse")
    await asyncio.sleep(0.05)
    second = await api.request("GET", f"/v2/actor-runs/{run_id}", schema="RunResponse")
    assert second.body == first.body  # the duration did not move: nothing was encoded again


async def test_status_message_and_status_set_by_the_actor(api: Api, frozen_time: None) -> None:
    gate = Gate()

    async def actor(ctx: ActorContext) -> None:
        await gate.wait()
        ctx.set_status_message("Halfway", is_terminal=False)
        gate.took()
        await gate.wait()
        ctx.exit_code = 3
        gate.took()

    api.emulator.register_actor("janedoe~gated", actor)
    run_id = await _running(api, "janedoe~gated", None)
    assert (await api.run(run_id))["statusMessage"] is None
    await gate.step()
    assert (await api.run(run_id))["statusMessage"] == "Halfway"
    await gate.step()
    done = await _until(api, run_id, lambda run: run["status"] == "SUCCEEDED")
    assert done["exitCode"] == 3
    assert done["finishedAt"] is not None
    assert done["stats"]["runTimeSecs"] > 0


async def test_ready_then_running(session: aiohttp.ClientSession, frozen_time: None) -> None:
    async with fast_emulator(ready_secs=0.3) as emulator:
        api = Api(session, emulator)
        run = await api.start("emulator~scripted", LONG)
        ready = await api.run(run["id"])
        assert (ready["status"], ready["stats"]["cpuCurrentUsage"]) == ("READY", 0)
        running = await api.wait_for(run["id"], "RUNNING")
        assert running["stats"]["cpuCurrentUsage"] > 0


async def test_update(api: Api, frozen_time: None) -> None:
    run_id = await _running(api)
    path = f"/v2/actor-runs/{run_id}"
    body = {"statusMessage": "Updated", "isStatusMessageTerminal": True}
    await api.request("PUT", path, schema="RunResponse", expect=200, json=body)
    run = await api.run(run_id)
    assert (run["statusMessage"], run["isStatusMessageTerminal"]) == ("Updated", True)
    await api.request(
        "PUT", path, schema="RunResponse", expect=200, json={"generalAccess": "RESTRICTED"}
    )
    assert (await api.run(run_id))["generalAccess"] == "RESTRICTED"


async def test_abort_gracefully_then_at_once(api: Api, frozen_time: None) -> None:
    run_id = await _running(api)
    aborting = await api.post_run(run_id, "abort", params={"gracefully": "true"})
    assert aborting["status"] == "ABORTING"
    # The scripted Actor stops as soon as it is asked: ABORTED, or ABORTING a moment longer.
    run = await api.run(run_id)
    assert run["status"] in ("ABORTING", "ABORTED")
    done = await _until(api, run_id, lambda run: run["status"] == "ABORTED")
    assert done["finishedAt"] is not None

    run_id = await _running(api)
    await api.post_run(run_id, "abort")
    run = await api.run(run_id)
    assert (run["status"], run["exitCode"]) == ("ABORTED", 137)
    assert run["stats"]["cpuCurrentUsage"] == 0


async def test_timeout(api: Api, frozen_time: None) -> None:
    timed_out = asyncio.Event()

    async def stubborn(ctx: ActorContext) -> None:
        await ctx.aborting.wait()
        timed_out.set()
        await asyncio.sleep(3600)  # killed when the grace is over

    api.emulator.register_actor("janedoe~stubborn", stubborn)
    run = await api.start("janedoe~stubborn", params={"timeout": 0.2})
    await api.wait_for(run["id"], "RUNNING")
    await timed_out.wait()
    assert (await api.run(run["id"]))["status"] == "TIMING-OUT"
    done = await _until(api, run["id"], lambda run: run["status"] == "TIMED-OUT")
    assert done["exitCode"] == 137


async def test_reboot(api: Api, frozen_time: None) -> None:
    run_id = await _running(api)
    await api.post_run(run_id, "reboot")
    assert (await api.run(run_id))["stats"]["rebootCount"] == 1


async def test_metamorph(api: Api, frozen_time: None) -> None:
    api.emulator.register_actor("janedoe~sleeper", _sleeper)
    run_id = await _running(api)
    before = await api.run(run_id)
    # Without an input: nothing is written to the store, only the run changes.
    await api.post_run(run_id, "metamorph", params={"targetActorId": "janedoe~sleeper"})
    run = await api.run(run_id)
    assert run["actId"] != before["actId"]
    assert run["buildId"] != before["buildId"]
    assert run["stats"]["metamorph"] == 1
    assert [event["inputKey"] for event in run["metamorphs"]] == [None]
    assert run["usage"]["KEY_VALUE_STORE_WRITES"] == before["usage"]["KEY_VALUE_STORE_WRITES"]


async def test_resurrect(api: Api, frozen_time: None) -> None:
    run_id = await _running(api)
    await api.post_run(run_id, "abort")
    aborted = await api.run(run_id)
    assert aborted["finishedAt"] is not None
    await api.post_run(run_id, "resurrect", params={"memory": 512})
    run = await api.run(run_id)
    assert (run["status"], run["finishedAt"], run["exitCode"]) == ("RUNNING", None, None)
    assert run["stats"]["resurrectCount"] == 1
    assert run["options"]["memoryMbytes"] == 512


async def test_restart_on_error(api: Api, frozen_time: None) -> None:
    gate = Gate()

    async def flaky(ctx: ActorContext) -> None:
        await gate.wait()
        gate.took()
        raise RuntimeError("flaky")

    api.emulator.register_actor("janedoe~flaky", flaky)
    run = await api.start("janedoe~flaky", params={"restartOnError": "true"})
    await api.wait_for(run["id"], "RUNNING")
    await gate.step()
    restarted = await _until(api, run["id"], lambda run: run["stats"]["restartCount"] == 1)
    assert restarted["status"] == "RUNNING"
    assert restarted["statusMessage"] == "flaky"


async def test_record_writes_and_reads(api: Api, frozen_time: None) -> None:
    gate = Gate()

    async def writer(ctx: ActorContext) -> None:
        await gate.wait()
        ctx.set_record("OUTPUT", {"n": 1})
        gate.took()
        await asyncio.sleep(3600)

    api.emulator.register_actor("janedoe~writer", writer)
    run_id = await _running(api, "janedoe~writer", None)
    before = (await api.run(run_id))["usage"]
    await gate.step()
    usage = (await api.run(run_id))["usage"]
    assert usage["KEY_VALUE_STORE_WRITES"] == before["KEY_VALUE_STORE_WRITES"] + 1
    assert (await api.record(run_id, "OUTPUT")).status == 200
    usage = (await api.run(run_id))["usage"]
    assert usage["KEY_VALUE_STORE_READS"] == before["KEY_VALUE_STORE_READS"] + 1


async def test_costs_are_shown_to_the_token_only(api: Api, frozen_time: None) -> None:
    run_id = await _running(api)
    path = f"/v2/actor-runs/{run_id}"
    for _ in range(2):
        assert "usageTotalUsd" in (await api.run(run_id))
        anonymous = await api.request("GET", path, schema="RunResponse", token=None)
        assert "usageTotalUsd" not in anonymous.data


async def test_the_figures_of_a_live_run_grow_with_time(api: Api) -> None:
    run_id = await _running(api)
    first = await api.run(run_id)
    await asyncio.sleep(shapes.USAGE_SAMPLE_SECS * 1.5)
    second = await api.run(run_id)
    assert second["stats"]["durationMillis"] > first["stats"]["durationMillis"]
    await api.post_run(run_id, "abort")
    done = await api.run(run_id)
    await asyncio.sleep(shapes.USAGE_SAMPLE_SECS * 1.5)
    assert await api.run(run_id) == done  # a finished run's figures are final


async def test_only_the_last_bodies_encoded_are_kept(
    api: Api, frozen_time: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs, "MAX_KEPT_BODIES", 2)
    run_ids = [await _running(api) for _ in range(3)]
    before = [await api.run(run_id) for run_id in run_ids]
    await asyncio.sleep(0.05)
    # The last run's body is still kept; the first one's went when the last one's came, and
    # encoded again it shows the time that has passed.
    assert await api.run(run_ids[2]) == before[2]
    again = await api.run(run_ids[0])
    assert again["stats"]["durationMillis"] > before[0]["stats"]["durationMillis"]


async def test_a_truncated_answer_leaves_the_cached_body_whole(
    api: Api, session: aiohttp.ClientSession, frozen_time: None
) -> None:
    run_id = await _running(api)
    url = f"{api.emulator.base_url}/v2/actor-runs/{run_id}"
    whole = await api.request("GET", f"/v2/actor-runs/{run_id}", schema="RunResponse")
    api.emulator.faults = Faults.parse("truncate=1", endpoints=["get"], max_faults=1)
    headers = {"Authorization": f"Bearer {api.emulator.token}"}
    async with session.get(url, headers=headers) as response:
        assert int(response.headers["Content-Length"]) == len(whole.body)
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    again = await api.request("GET", f"/v2/actor-runs/{run_id}", schema="RunResponse")
    assert again.body == whole.body
