"""The life of a run: statuses, outcomes, timeouts, aborts, restarts, waiting."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
from multidict import MultiDict

from apify_runs_async.emulator import ActorContext, _params

from .support import Api, fast_emulator, steps

pytestmark = pytest.mark.anyio


async def _stubborn(ctx: ActorContext) -> None:
    """Ignores every request to stop: only cancellation ends it."""
    ctx.set_status_message("Not listening")
    await asyncio.sleep(3600)


async def test_ready_then_running_then_succeeded(api: Api) -> None:
    run = await api.start("emulator~scripted", {"steps": steps("one", "two", sleep=0.1)})
    assert run["status"] == "READY"
    running = await api.wait_for(run["id"], "RUNNING")
    assert running["finishedAt"] is None
    done = await api.finished(run["id"])
    assert done["status"] == "SUCCEEDED"
    assert done["statusMessage"] == "two"
    assert done["exitCode"] == 0
    log = await api.log(run["id"])
    assert log.index("one") < log.index("two") < log.index("SUCCEEDED")


async def test_scripted_output_and_exit_codes(api: Api) -> None:
    run = await api.start("emulator~scripted", {"output": {"items": [1, 2]}, "exitCode": 0})
    done = await api.finished(run["id"])
    assert done["status"] == "SUCCEEDED"
    assert (await api.record(run["id"], "OUTPUT")).json == {"items": [1, 2]}


@pytest.mark.parametrize(
    ("script", "exit_code"), [({"outcome": "FAILED"}, 1), ({"outcome": "FAILED", "exitCode": 3}, 3)]
)
async def test_scripted_failure(api: Api, script: dict[str, Any], exit_code: int) -> None:
    run = await api.start("emulator~scripted", script)
    done = await api.finished(run["id"])
    assert done["status"] == "FAILED"
    assert done["exitCode"] == exit_code
    assert done["statusMessage"]


async def test_scripted_without_input_just_succeeds(api: Api) -> None:
    run = await api.start("emulator~scripted")
    done = await api.finished(run["id"])
    assert (done["status"], done["exitCode"]) == ("SUCCEEDED", 0)
    await api.error(
        "GET", f"/v2/actor-runs/{run['id']}/key-value-store/records/OUTPUT", 404, "record-not-found"
    )


@pytest.mark.parametrize(
    ("script", "complaint"),
    [
        ([1, 2], "JSON object"),
        ({"steps": "fast"}, "'steps'"),
        ({"steps": [{"sleepSecs": -1}]}, "steps[0].sleepSecs"),
        ({"steps": [{"statusMessage": 5}]}, "steps[0].statusMessage"),
        ({"outcome": "MAYBE"}, "'outcome'"),
        ({"exitCode": "zero"}, "'exitCode'"),
    ],
)
async def test_invalid_script_fails_the_run_not_the_request(
    api: Api, script: Any, complaint: str
) -> None:
    run = await api.start("emulator~scripted", script)
    done = await api.finished(run["id"])
    assert done["status"] == "FAILED"
    assert done["exitCode"] == 1
    assert done["statusMessage"].startswith("Invalid input")
    assert complaint in done["statusMessage"]


async def test_scripted_with_a_non_json_input_fails(api: Api) -> None:
    run = await api.start(
        "emulator~scripted", data=b"steps", headers={"Content-Type": "text/plain"}
    )
    done = await api.finished(run["id"])
    assert done["status"] == "FAILED"
    assert "JSON object" in done["statusMessage"]


async def test_hello_world(api: Api) -> None:
    run = await api.start("apify~hello-world")
    running = await api.wait_for(run["id"], "RUNNING")
    assert running["statusMessage"] == "Starting"
    done = await api.finished(run["id"])
    assert (done["status"], done["statusMessage"], done["isStatusMessageTerminal"]) == (
        "SUCCEEDED",
        "Done",
        True,
    )
    output = await api.record(run["id"], "OUTPUT")
    assert output.headers["Content-Type"].startswith("application/json")
    assert output.json == {"message": "Hello world!"}


async def test_hello_world_takes_its_configured_time(session: aiohttp.ClientSession) -> None:
    async with fast_emulator(hello_world_secs=0.5) as emu:
        api = Api(session, emu)
        began = time.monotonic()
        run = await api.start("apify~hello-world", params={"waitForFinish": 10})
        assert run["status"] == "SUCCEEDED"
        assert 0.5 <= time.monotonic() - began < 2


async def test_timeout_stops_a_cooperative_actor_promptly(api: Api) -> None:
    run = await api.start(
        "emulator~scripted", {"steps": steps("long", sleep=30)}, params={"timeout": 0.3}
    )
    assert run["options"]["timeoutSecs"] == 1  # fractions are honoured, shown rounded up
    began = time.monotonic()
    done = await api.finished(run["id"])
    assert done["status"] == "TIMED-OUT"
    assert done["exitCode"] == 0
    assert time.monotonic() - began < 1.5
    assert "timed out" in await api.log(run["id"])


async def test_timeout_goes_through_timing_out_and_kills_after_the_grace(api: Api) -> None:
    api.emulator.register_actor("janedoe~stubborn", _stubborn)
    run = await api.start("janedoe~stubborn", params={"timeout": 0.2})
    timing_out = await api.wait_for(run["id"], "TIMING-OUT")
    assert timing_out["finishedAt"] is None
    done = await api.finished(run["id"])
    assert done["status"] == "TIMED-OUT"
    assert done["exitCode"] == 137
    finished = done["stats"]["runTimeSecs"]
    assert 0.5 <= finished < 2  # the 0.2 s timeout plus the 0.3 s grace


async def test_timeout_zero_means_no_timeout(api: Api) -> None:
    run = await api.start(
        "emulator~scripted", {"steps": steps("a", sleep=0.3)}, params={"timeout": 0}
    )
    assert run["options"]["timeoutSecs"] == 0
    assert (await api.finished(run["id"]))["status"] == "SUCCEEDED"


async def test_abort_at_once(api: Api) -> None:
    cancelled = asyncio.Event()

    async def actor(ctx: ActorContext) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    api.emulator.register_actor("janedoe~abortable", actor)
    run = await api.start("janedoe~abortable")
    await api.wait_for(run["id"], "RUNNING")
    aborted = await api.post_run(run["id"], "abort")
    assert aborted["status"] == "ABORTED"
    assert aborted["finishedAt"] is not None
    assert aborted["exitCode"] == 137
    await asyncio.wait_for(cancelled.wait(), 1)


async def test_abort_of_a_ready_run(session: aiohttp.ClientSession) -> None:
    async with fast_emulator(ready_secs=30) as emu:
        api = Api(session, emu)
        run = await api.start("apify~hello-world")
        aborted = await api.post_run(run["id"], "abort", params={"gracefully": "true"})
        assert aborted["status"] == "ABORTED"
        assert "Starting" not in await api.log(run["id"])


async def test_graceful_abort_of_a_cooperative_actor(api: Api) -> None:
    run = await api.start("emulator~scripted", {"steps": steps("long", sleep=30)})
    await api.wait_for(run["id"], "RUNNING")
    aborting = await api.post_run(run["id"], "abort", params={"gracefully": "true"})
    assert aborting["status"] == "ABORTING"
    done = await api.finished(run["id"])
    assert done["status"] == "ABORTED"
    assert done["exitCode"] == 0  # it stopped by itself


async def test_graceful_abort_force_stops_after_the_grace(api: Api) -> None:
    api.emulator.register_actor("janedoe~stubborn", _stubborn)
    run = await api.start("janedoe~stubborn")
    await api.wait_for(run["id"], "RUNNING")
    began = time.monotonic()
    aborting = await api.post_run(run["id"], "abort", params={"gracefully": "1"})
    assert aborting["status"] == "ABORTING"
    assert (await api.run(run["id"], wait=0.1))["status"] == "ABORTING"
    done = await api.finished(run["id"])
    assert 0.25 <= time.monotonic() - began < 2
    assert (done["status"], done["exitCode"]) == ("ABORTED", 137)


async def test_abort_of_an_aborting_run_ends_it_at_once(api: Api) -> None:
    api.emulator.register_actor("janedoe~stubborn", _stubborn)
    run = await api.start("janedoe~stubborn")
    await api.wait_for(run["id"], "RUNNING")
    await api.post_run(run["id"], "abort", params={"gracefully": "true"})
    again = await api.post_run(run["id"], "abort", params={"gracefully": "true"})
    assert again["status"] == "ABORTING"
    assert (await api.post_run(run["id"], "abort"))["status"] == "ABORTED"


async def test_graceful_abort_of_a_timing_out_run(api: Api) -> None:
    api.emulator.register_actor("janedoe~stubborn", _stubborn)
    run = await api.start("janedoe~stubborn", params={"timeout": 0.1})
    await api.wait_for(run["id"], "TIMING-OUT")
    aborting = await api.post_run(run["id"], "abort", params={"gracefully": "true"})
    assert aborting["status"] == "ABORTING"
    assert (await api.finished(run["id"]))["status"] == "ABORTED"


async def test_abort_of_a_finished_run_is_400_job_finished(api: Api) -> None:
    run = await api.start("apify~hello-world", params={"waitForFinish": 10})
    await api.error("POST", f"/v2/actor-runs/{run['id']}/abort", 400, "job-finished")


async def test_abort_of_a_missing_run_is_404(api: Api) -> None:
    await api.error("POST", "/v2/actor-runs/AAAAAAAAAAAAAAAAA/abort", 404, "record-not-found")


async def test_wait_for_finish_answers_as_soon_as_the_run_ends(api: Api) -> None:
    run = await api.start("emulator~scripted", {"steps": steps("a", sleep=0.2)})
    began = time.monotonic()
    done = await api.run(run["id"], wait=30)
    assert done["status"] == "SUCCEEDED"
    assert time.monotonic() - began < 1.5


async def test_wait_for_finish_answers_at_the_deadline_with_the_current_run(api: Api) -> None:
    run = await api.start("emulator~scripted", {"steps": steps("a", sleep=30)})
    began = time.monotonic()
    current = await api.run(run["id"], wait=0.3)
    assert 0.3 <= time.monotonic() - began < 1.5
    assert current["status"] == "RUNNING"


async def test_wait_for_finish_of_a_finished_run_answers_at_once(api: Api) -> None:
    run = await api.start("apify~hello-world", params={"waitForFinish": 10})
    began = time.monotonic()
    await api.run(run["id"], wait=60)
    assert time.monotonic() - began < 0.5


async def test_wait_for_finish_is_capped(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_params, "MAX_WAIT_SECS", 0.3)
    run = await api.start("emulator~scripted", {"steps": steps("a", sleep=30)})
    began = time.monotonic()
    current = await api.run(run["id"], wait=999999)
    assert current["status"] == "RUNNING"
    assert time.monotonic() - began < 1.5


@pytest.mark.parametrize(("given", "used"), [("999", 60.0), ("60", 60.0), ("0.5", 0.5), ("", 0.0)])
def test_wait_for_finish_values(given: str, used: float) -> None:
    query = MultiDict({"waitForFinish": given} if given else {})
    assert _params.wait_secs(query) == used


async def test_wait_for_finish_rejects_bad_values(api: Api) -> None:
    run = await api.start("apify~hello-world")
    for value in ("-1", "soon", "inf"):
        await api.error(
            "GET",
            f"/v2/actor-runs/{run['id']}",
            400,
            "invalid-input",
            params={"waitForFinish": value},
        )


async def test_restart_on_error_restarts_until_the_limit(session: aiohttp.ClientSession) -> None:
    async with fast_emulator(max_restarts_on_error=2) as emu:
        api = Api(session, emu)
        run = await api.start(
            "emulator~scripted", {"outcome": "FAILED"}, params={"restartOnError": "true"}
        )
        done = await api.finished(run["id"])
        assert done["status"] == "FAILED"
        assert done["stats"]["restartCount"] == 2
        assert (await api.log(run["id"])).count("Restarting") == 2


async def test_restart_on_error_can_recover(api: Api) -> None:
    starts = 0

    async def flaky(ctx: ActorContext) -> None:
        nonlocal starts
        starts += 1
        if starts == 1:
            raise RuntimeError("first start fails")
        ctx.set_record("OUTPUT", {"starts": starts})

    api.emulator.register_actor("janedoe~flaky", flaky)
    run = await api.start("janedoe~flaky", params={"restartOnError": "1"})
    done = await api.finished(run["id"])
    assert (done["status"], done["stats"]["restartCount"], done["exitCode"]) == ("SUCCEEDED", 1, 0)
    assert (await api.record(run["id"], "OUTPUT")).json == {"starts": 2}


async def test_without_restart_on_error_a_failure_is_final(api: Api) -> None:
    run = await api.start("emulator~scripted", {"outcome": "FAILED"})
    done = await api.finished(run["id"])
    assert (done["status"], done["stats"]["restartCount"]) == ("FAILED", 0)


async def test_concurrent_runs_limit(session: aiohttp.ClientSession) -> None:
    async with fast_emulator(max_concurrent_runs=2) as emu:
        api = Api(session, emu)
        first = await api.start("emulator~scripted", {"steps": steps("a", sleep=30)})
        await api.start("emulator~scripted", {"steps": steps("a", sleep=30)})
        path = "/v2/actors/emulator~scripted/runs"
        await api.error("POST", path, 400, "concurrent-runs-limit-exceeded")
        await api.post_run(first["id"], "abort")
        await api.start("emulator~scripted")


async def test_memory_limit(session: aiohttp.ClientSession) -> None:
    async with fast_emulator(max_total_memory_mbytes=4096) as emu:
        api = Api(session, emu)
        path = "/v2/actors/emulator~scripted/runs"
        long_input = {"steps": steps("a", sleep=30)}
        first = await api.start("emulator~scripted", long_input, params={"memory": 2048})
        await api.start("emulator~scripted", long_input, params={"memory": 2048})
        await api.error("POST", path, 400, "actor-memory-limit-exceeded", params={"memory": 128})
        await api.post_run(first["id"], "abort")
        await api.start("emulator~scripted", long_input, params={"memory": 2048})
        # Resurrecting counts too.
        await api.error(
            "POST", f"/v2/actor-runs/{first['id']}/resurrect", 400, "actor-memory-limit-exceeded"
        )
