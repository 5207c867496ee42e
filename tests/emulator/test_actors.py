"""Custom Actors: what a handler sees and what its ways of ending do to the run."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from apify_runs_async.emulator import ActorContext

from .support import Api

pytestmark = pytest.mark.anyio


async def _finish(api: Api, handler: Any, **kwargs: Any) -> dict[str, Any]:
    api.emulator.register_actor("janedoe~custom", handler)
    run = await api.start("janedoe~custom", **kwargs)
    return await api.finished(run["id"])


async def test_returning_succeeds_with_exit_code_0(api: Api) -> None:
    async def handler(ctx: ActorContext) -> None:
        ctx.set_status_message("All good", is_terminal=True)

    done = await _finish(api, handler)
    assert (done["status"], done["exitCode"], done["statusMessage"]) == ("SUCCEEDED", 0, "All good")
    assert done["isStatusMessageTerminal"] is True


async def test_returning_with_an_exit_code(api: Api) -> None:
    async def handler(ctx: ActorContext) -> None:
        ctx.exit_code = 4

    done = await _finish(api, handler)
    assert (done["status"], done["exitCode"]) == ("SUCCEEDED", 4)


async def test_raising_fails_with_the_exception_as_status_message(api: Api) -> None:
    async def handler(ctx: ActorContext) -> None:
        raise ValueError("the page was empty")

    done = await _finish(api, handler)
    assert (done["status"], done["exitCode"]) == ("FAILED", 1)
    assert done["statusMessage"] == "the page was empty"


async def test_raising_without_a_message_names_the_exception(api: Api) -> None:
    async def handler(ctx: ActorContext) -> None:
        raise KeyError

    assert (await _finish(api, handler))["statusMessage"] == "KeyError"


async def test_raising_keeps_a_status_message_the_handler_set(api: Api) -> None:
    async def handler(ctx: ActorContext) -> None:
        ctx.set_status_message("Could not log in")
        ctx.exit_code = 2
        raise RuntimeError("details")

    done = await _finish(api, handler)
    assert (done["status"], done["exitCode"], done["statusMessage"]) == (
        "FAILED",
        2,
        "Could not log in",
    )


async def test_the_context_tells_the_run_and_actor(api: Api) -> None:
    seen: dict[str, Any] = {}

    async def handler(ctx: ActorContext) -> None:
        seen.update(run_id=ctx.run_id, actor_id=ctx.actor_id)

    done = await _finish(api, handler)
    assert seen == {"run_id": done["id"], "actor_id": done["actId"]}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"json": {"a": [1, 2]}}, {"a": [1, 2]}),
        ({"json": "just a string"}, "just a string"),
        ({"data": b"raw", "headers": {"Content-Type": "text/plain"}}, b"raw"),
        ({"data": b"\x00\xff", "headers": {"Content-Type": "image/png"}}, b"\x00\xff"),
        ({}, None),
    ],
)
async def test_input_as_the_handler_sees_it(
    api: Api, kwargs: dict[str, Any], expected: Any
) -> None:
    seen: list[Any] = []

    async def handler(ctx: ActorContext) -> None:
        seen.append(ctx.input)

    await _finish(api, handler, **kwargs)
    assert seen == [expected]


async def test_records_written_and_read_back(api: Api) -> None:
    read: dict[str, Any] = {}

    async def handler(ctx: ActorContext) -> None:
        ctx.set_record("STATE", {"page": 3})
        ctx.set_record("NOTE", "text")
        ctx.set_record("BLOB", b"\x01")
        read.update(
            state=ctx.get_record("STATE"),
            note=ctx.get_record("NOTE"),
            blob=ctx.get_record("BLOB"),
            input=ctx.get_record("INPUT"),
            missing=ctx.get_record("MISSING"),
        )

    await _finish(api, handler, json={"q": 1})
    assert read == {
        "state": {"page": 3},
        "note": "text",
        "blob": b"\x01",
        "input": {"q": 1},
        "missing": None,
    }


async def test_a_graceful_abort_signals_the_handler(api: Api) -> None:
    async def handler(ctx: ActorContext) -> None:
        ctx.set_status_message("Waiting for the signal")
        await ctx.aborting.wait()
        ctx.set_record("STATE", {"persisted": True})
        ctx.set_status_message("Saved my state")
        ctx.exit_code = 0

    api.emulator.register_actor("janedoe~graceful", handler)
    run = await api.start("janedoe~graceful")
    await api.wait_for(run["id"], "RUNNING")
    await api.post_run(run["id"], "abort", params={"gracefully": "true"})
    done = await api.finished(run["id"])
    assert (done["status"], done["statusMessage"]) == ("ABORTED", "Saved my state")
    assert (await api.record(run["id"], "STATE")).json == {"persisted": True}


async def test_a_timeout_signals_the_handler(api: Api) -> None:
    slept: list[bool] = []

    async def handler(ctx: ActorContext) -> None:
        slept.append(await ctx.sleep(30))

    done = await _finish(api, handler, params={"timeout": 0.2})
    assert done["status"] == "TIMED-OUT"
    assert slept == [True]


async def test_sleep_returns_false_when_not_disturbed(api: Api) -> None:
    slept: list[bool] = []

    async def handler(ctx: ActorContext) -> None:
        slept.append(await ctx.sleep(0.05))

    await _finish(api, handler)
    assert slept == [False]


async def test_messages_after_the_end_are_ignored(api: Api) -> None:
    contexts: list[ActorContext] = []

    async def handler(ctx: ActorContext) -> None:
        contexts.append(ctx)
        ctx.set_status_message("Final")

    done = await _finish(api, handler)
    contexts[0].set_status_message("Too late")
    assert (await api.run(done["id"]))["statusMessage"] == "Final"


async def test_a_non_graceful_abort_cancels_the_handler(api: Api) -> None:
    outcome: list[str] = []

    async def handler(ctx: ActorContext) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    api.emulator.register_actor("janedoe~cancel", handler)
    run = await api.start("janedoe~cancel")
    await api.wait_for(run["id"], "RUNNING")
    await api.post_run(run["id"], "abort")
    await asyncio.sleep(0.05)
    assert outcome == ["cancelled"]


async def test_a_handler_swallowing_cancellation_still_stops_the_run(api: Api) -> None:
    async def handler(ctx: ActorContext) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            ctx.set_status_message("Refusing to die")

    api.emulator.register_actor("janedoe~swallower", handler)
    run = await api.start("janedoe~swallower")
    await api.wait_for(run["id"], "RUNNING")
    await api.post_run(run["id"], "reboot")
    await asyncio.sleep(0.05)
    assert (await api.run(run["id"]))["status"] == "RUNNING"
    assert (await api.post_run(run["id"], "abort"))["status"] == "ABORTED"
    log = await api.log(run["id"])
    assert log.count("Starting janedoe~swallower") == 2
