"""The plugin's fixtures as a user's own tests use them."""

from __future__ import annotations

import asyncio

import pytest

from apify_runs_async import ApifyRuns
from apify_runs_async.emulator import ActorContext, ApifyEmulator


async def crawler(ctx: ActorContext) -> None:
    """A user's Actor: every `ActorContext` method once."""
    ctx.set_status_message("Crawling")
    ctx.log(f"run {ctx.run_id} of Actor {ctx.actor_id}")
    ctx.set_record("STATE", {"done": 0})
    for url in ctx.input["urls"]:
        if await ctx.sleep(0.01):  # True: the run is being aborted
            return
        ctx.push_data({"url": url})
        ctx.set_record("STATE", {"done": ctx.get_record("STATE")["done"] + 1})
    ctx.set_record("OUTPUT", {"pages": ctx.get_record("STATE")["done"]})
    ctx.set_status_message("Crawled", is_terminal=True)


async def test_builtin_actor(apify_emulator: ApifyEmulator, apify_client: ApifyRuns) -> None:
    assert apify_emulator.base_url.startswith("http://127.0.0.1:")
    assert apify_client.base_url.startswith(apify_emulator.base_url)
    result = await apify_client.call("emulator~scripted", {"output": {"ok": True}})
    assert result.run.status == "SUCCEEDED"
    assert result.output is not None and result.output.json() == {"ok": True}


async def test_registered_actor(apify_emulator: ApifyEmulator, apify_client: ApifyRuns) -> None:
    apify_emulator.register_actor("janedoe~crawler", crawler)
    urls = ["https://example.com/1", "https://example.com/2"]
    result = await apify_client.call("janedoe~crawler", {"urls": urls})
    assert result.run.status == "SUCCEEDED"
    assert result.run.status_message == "Crawled"
    assert result.output is not None and result.output.json() == {"pages": 2}
    page = await apify_client.list_items(result.run)
    assert page.items == [{"url": url} for url in urls]
    assert f"run {result.run.id}" in await apify_client.get_log(result.run)


@pytest.mark.apify_emulator(ready_secs=0, actors={"janedoe~crawler": crawler})
async def test_marker(apify_client: ApifyRuns) -> None:
    result = await apify_client.call("janedoe~crawler", {"urls": []})
    assert result.output is not None and result.output.json() == {"pages": 0}


async def patient(ctx: ActorContext) -> None:
    while not await ctx.sleep(60):
        pass
    # Asked to stop: a graceful abort waits for the handler to save its state.
    assert ctx.aborting.is_set()
    ctx.set_record("STATE", {"stopped": True})


async def failing(ctx: ActorContext) -> None:
    ctx.exit_code = 3
    raise RuntimeError("no pages")


@pytest.mark.apify_emulator(
    ready_secs=0, actors={"janedoe~patient": patient, "janedoe~failing": failing}
)
async def test_abort_and_failure(apify_client: ApifyRuns) -> None:
    run = await apify_client.start("janedoe~patient")
    # A READY run is aborted at once; a RUNNING one (ready_secs=0: once asked about) is
    # asked to stop.
    now = await apify_client.get(run.id)
    assert now is not None and now.status == "RUNNING"
    await apify_client.abort(run.id, gracefully=True)
    done = await apify_client.wait_for_finish(run.id)
    assert done is not None and done.status == "ABORTED"
    state = await apify_client.get_record(run.id, "STATE")
    assert state is not None and state.json() == {"stopped": True}
    result = await apify_client.call("janedoe~failing")
    assert result.run.status == "FAILED" and result.run.exit_code == 3


async def test_same_loop(apify_emulator: ApifyEmulator, apify_client: ApifyRuns) -> None:
    # The emulator serves on the test's own loop: its Actors can share the test's objects.
    started = asyncio.Event()

    async def signal(ctx: ActorContext) -> None:
        started.set()

    apify_emulator.register_actor("janedoe~signal", signal)
    await apify_client.start("janedoe~signal")
    await asyncio.wait_for(started.wait(), 5)


@pytest.mark.parametrize("attempt", [1, 2])
async def test_fresh_per_test(apify_client: ApifyRuns, attempt: int) -> None:
    assert (await apify_client.list_runs()).total == 0
    await apify_client.start("emulator~scripted")
    assert (await apify_client.list_runs()).total == 1
