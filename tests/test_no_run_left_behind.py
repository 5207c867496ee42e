"""Runs started for a caller end with it: call, call_task and call_many abort what they started
when they end without handing over the result; runs only watched are never aborted."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import pytest

from apify_runs_async import (
    ApifyRuns,
    ClientClosedError,
    RunFailedError,
    RunStatus,
    RunSummary,
    ServerError,
)
from apify_runs_async.emulator import ApifyEmulator, Faults
from tests.helpers import FAST_RETRIES, LONG, ONE_TRY, SCRIPTED, STOPPED, script

pytestmark = pytest.mark.anyio

QUICK = script("done", step_secs=0.05)


async def all_runs(client: ApifyRuns) -> Sequence[RunSummary]:
    return (await client.list_runs(SCRIPTED)).items


async def statuses(client: ApifyRuns) -> dict[str, str]:
    return {run.id: run.status for run in await all_runs(client)}


async def until_running(client: ApifyRuns, count: int) -> None:
    """Wait until `count` runs exist, each RUNNING (bounded)."""
    with anyio.fail_after(5):
        while list((await statuses(client)).values()).count(RunStatus.RUNNING) < count:  # noqa: ASYNC110 (polls the server)
            await anyio.sleep(0.05)


# --- call and call_task --------------------------------------------------------------------------


async def test_a_cancelled_call_aborts_its_run(client: ApifyRuns) -> None:
    with anyio.move_on_after(0.5) as scope:
        await client.call(SCRIPTED, LONG)
    assert scope.cancelled_caught
    [status] = (await statuses(client)).values()
    assert status in STOPPED


async def test_a_call_cancelled_with_abort_on_exit_off_leaves_its_run(client: ApifyRuns) -> None:
    with anyio.move_on_after(0.5):
        await client.call(SCRIPTED, LONG, abort_on_exit=False)
    assert list((await statuses(client)).values()) == [RunStatus.RUNNING]


async def test_a_cancelled_call_task_aborts_its_run(client: ApifyRuns) -> None:
    with anyio.move_on_after(0.5):
        await client.call_task("emulator~scripted-task", {"steps": LONG["steps"]})
    runs = (await client.list_runs(task_id="emulator~scripted-task")).items
    assert [run.status for run in runs] in ([RunStatus.ABORTING], [RunStatus.ABORTED])


async def test_a_call_that_fails_midway_aborts_its_run_and_names_it(
    client: ApifyRuns, emulator: ApifyEmulator
) -> None:
    # Every GET of a run fails, once the run has started: the call cannot follow it.
    emulator.faults = Faults(status500=1.0, endpoints=frozenset({"get"}))
    with pytest.raises(ServerError) as caught:
        await client.call(SCRIPTED, LONG, retries=ONE_TRY)
    emulator.faults = None
    [aborted] = caught.value.aborted_run_ids
    assert caught.value.running_run_ids == ()
    assert (await statuses(client))[aborted] in STOPPED
    assert any(aborted in note for note in caught.value.__notes__)


async def test_a_run_returned_at_wait_secs_is_left_running(client: ApifyRuns) -> None:
    result = await client.call(SCRIPTED, LONG, wait_secs=0.3)
    assert result.run.status == RunStatus.RUNNING
    await anyio.sleep(0.2)
    assert (await statuses(client))[result.run.id] == RunStatus.RUNNING


async def test_a_finished_run_is_not_aborted(client: ApifyRuns, emulator: ApifyEmulator) -> None:
    # The run fails; its OUTPUT cannot be read; the call raises, and must not abort anything.
    emulator.faults = Faults(status500=1.0, endpoints=frozenset({"record"}))
    with pytest.raises(ServerError) as caught:
        await client.call(SCRIPTED, script("x", step_secs=0.05, outcome="FAILED"), retries=ONE_TRY)
    emulator.faults = None
    assert caught.value.aborted_run_ids == caught.value.running_run_ids == ()
    assert list((await statuses(client)).values()) == [RunStatus.FAILED]


async def test_a_call_cancelled_while_its_start_is_in_flight_aborts_the_run(
    client: ApifyRuns, emulator: ApifyEmulator
) -> None:
    # The start is done, but its answer is held: the call is cancelled before it knows the run.
    emulator.faults = Faults(delay=1.0, delay_secs=2.0, endpoints=frozenset({"start"}))
    with anyio.move_on_after(0.5):
        await client.call(SCRIPTED, LONG)
    emulator.faults = None
    [status] = (await statuses(client)).values()
    assert status in STOPPED


async def test_a_call_cancelled_before_its_start_went_out_starts_nothing(
    client: ApifyRuns,
) -> None:
    with anyio.CancelScope() as scope:
        scope.cancel()
        await client.call(SCRIPTED, LONG)
    assert await all_runs(client) == []


async def test_abort_on_exit_must_be_a_bool(client: ApifyRuns) -> None:
    with pytest.raises(TypeError, match="abort_on_exit"):
        await client.call(SCRIPTED, LONG, abort_on_exit=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="abort_on_exit"):
        client.call_many(SCRIPTED, [LONG], concurrency=1, abort_on_exit=None)  # type: ignore[arg-type]
    assert await all_runs(client) == []


# --- call_many -----------------------------------------------------------------------------------


async def test_a_failed_run_in_call_many_aborts_its_siblings(client: ApifyRuns) -> None:
    doomed = script("doomed", step_secs=0.3, outcome="FAILED")
    with pytest.raises(RunFailedError) as caught:
        async with client.call_many(
            SCRIPTED, [LONG, LONG, doomed, LONG, LONG], concurrency=5, raise_on_failure=True
        ) as results:
            async for _ in results:
                pass
    final = await statuses(client)
    failed = caught.value.run.id
    assert final[failed] == RunStatus.FAILED
    assert sorted(caught.value.aborted_run_ids) == sorted(set(final) - {failed})
    assert all(final[run_id] in STOPPED for run_id in caught.value.aborted_run_ids)
    assert caught.value.running_run_ids == ()


async def test_leaving_call_many_early_aborts_the_runs_still_going(client: ApifyRuns) -> None:
    async with client.call_many(SCRIPTED, [QUICK, LONG, LONG], concurrency=3) as results:
        async for index, result in results:
            assert (index, result.run.status) == (0, RunStatus.SUCCEEDED)
            break
    final = sorted((await statuses(client)).values())
    assert len(final) == 3 and final.count(RunStatus.SUCCEEDED) == 1
    assert all(status in STOPPED for status in final if status != RunStatus.SUCCEEDED)


async def test_call_many_cancelled_aborts_its_runs_unless_told_not_to(client: ApifyRuns) -> None:
    async def cancel_when_running(abort_on_exit: bool) -> None:
        async with client.call_many(
            SCRIPTED, [LONG, LONG], concurrency=2, abort_on_exit=abort_on_exit
        ) as results:
            with anyio.move_on_after(0.6):
                async for _ in results:
                    pass

    await cancel_when_running(False)
    assert list((await statuses(client)).values()) == [RunStatus.RUNNING] * 2
    kept = set(await statuses(client))
    await cancel_when_running(True)
    final = await statuses(client)
    assert all(final[run_id] == RunStatus.RUNNING for run_id in kept)
    assert all(final[run_id] in STOPPED for run_id in set(final) - kept)


async def test_the_runs_in_flight_are_visible_with_their_latest_snapshots(
    client: ApifyRuns,
) -> None:
    slow = script("one", "two", step_secs=0.4)
    async with client.call_many(SCRIPTED, [QUICK, slow, slow], concurrency=3) as results:
        assert results.runs_in_flight == {}
        async for index, _ in results:
            if index == 0:
                in_flight = dict(results.runs_in_flight)
                assert len(in_flight) == 2
                assert all(run.id == run_id for run_id, run in in_flight.items())
                assert all(not run.is_terminal for run in in_flight.values())
        assert results.runs_in_flight == {}
    with pytest.raises(TypeError):
        results.runs_in_flight["x"] = in_flight.popitem()[1]  # type: ignore[index]


async def test_a_call_many_error_names_the_runs_left_running(client: ApifyRuns) -> None:
    doomed = script("doomed", step_secs=0.3, outcome="FAILED")
    with pytest.raises(RunFailedError) as caught:
        async with client.call_many(
            SCRIPTED, [LONG, doomed], concurrency=2, raise_on_failure=True, abort_on_exit=False
        ) as results:
            async for _ in results:
                pass
    [left] = caught.value.running_run_ids
    assert caught.value.aborted_run_ids == ()
    assert (await statuses(client))[left] == RunStatus.RUNNING


# --- Runs only watched ------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["watch", "watch_many", "as_completed", "wait_for_finish"])
async def test_a_run_only_watched_is_never_aborted(client: ApifyRuns, how: str) -> None:
    run = await client.start(SCRIPTED, LONG)
    with anyio.move_on_after(0.4):
        if how == "watch":
            async for _ in client.watch(run):
                pass
        elif how == "wait_for_finish":
            await client.wait_for_finish(run.id)
        else:
            stream = client.watch_many([run]) if how == "watch_many" else client.as_completed([run])
            async with stream as updates:
                async for _ in updates:
                    pass
    assert (await statuses(client))[run.id] == RunStatus.RUNNING


@pytest.mark.client_options(retries=FAST_RETRIES)
async def test_aborts_on_exit_are_retried_like_any_abort(
    client: ApifyRuns, emulator: ApifyEmulator
) -> None:
    # The first four aborts fail: one run's abort may fail four times, and still succeed.
    emulator.faults = Faults(status503=1.0, endpoints=frozenset({"abort"}), max_faults=4)
    async with client.call_many(SCRIPTED, [LONG] * 4, concurrency=4) as results:
        await until_running(client, 4)
    emulator.faults = None
    assert all(status in STOPPED for status in (await statuses(client)).values())
    assert results.runs_in_flight == {}


async def test_closing_the_client_aborts_the_runs_its_calls_going_on_started(
    emulator: ApifyEmulator,
) -> None:
    failures: list[BaseException] = []

    async def call(client: ApifyRuns, abort_on_exit: bool) -> None:
        try:
            await client.call(SCRIPTED, LONG, abort_on_exit=abort_on_exit)
        except ClientClosedError as error:
            failures.append(error)

    # The client is closed while both calls go on: they fail, and one run was aborted.
    async with (
        anyio.create_task_group() as group,
        ApifyRuns(emulator.token, base_url=emulator.base_url) as client,
    ):
        group.start_soon(call, client, True)
        group.start_soon(call, client, False)
        await until_running(client, 2)
    assert len(failures) == 2
    async with ApifyRuns(emulator.token, base_url=emulator.base_url) as client:
        assert sorted((await statuses(client)).values()) == [RunStatus.ABORTED, RunStatus.RUNNING]
