"""The client against the emulator's injected faults: every kind, against every operation.

Each case injects exactly one fault into the operation's own endpoint, then checks the state
the emulator ends in: the operation done once, and never twice (a start whose answer was
lost leaves exactly one run). Then many faults at once, against following runs.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import aiohttp
import pytest

from apify_runs_async import ApifyRuns, NotFoundError, Retries, Run, RunStatus, Timeouts
from apify_runs_async.emulator import ApifyEmulator, Faults
from tests.fake_api import FakeApi, error_reply, in_turn, json_reply
from tests.helpers import FAST_RETRIES, LONG, REQUEST_FAULT_KINDS, RUN_ID, run_body, script

pytestmark = [pytest.mark.anyio, pytest.mark.client_options(retries=FAST_RETRIES)]


def one_fault(kind: str, endpoint: str) -> Faults:
    rates: dict[str, Any] = {kind: 1.0}
    return Faults(**rates, endpoints=frozenset({endpoint}), max_faults=1, delay_secs=0.05)


async def runs_of(emulator: ApifyEmulator, actor: str) -> list[str]:
    """The ids of the Actor's runs, as the emulator lists them (read without faults)."""
    emulator.faults = None
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {emulator.token}"}) as session,
        session.get(f"{emulator.base_url}/v2/actors/{actor}/runs") as response,
    ):
        body = await response.json()
    return [item["id"] for item in body["data"]["items"]]


async def finished_run(client: ApifyRuns, **output: Any) -> Run:
    run = await client.start("emulator~scripted", script(step_secs=0.01, **output))
    finished = await client.wait_for_finish(run.id)
    assert finished is not None and finished.is_terminal
    return finished


# --- Starts: exactly one run, whatever went wrong ----------------------------------------------


@pytest.mark.parametrize("kind", REQUEST_FAULT_KINDS)
async def test_a_start_under_a_fault_starts_exactly_one_run(
    client: ApifyRuns, emulator: ApifyEmulator, kind: str
) -> None:
    emulator.faults = one_fault(kind, "start")
    run = await client.start("emulator~scripted", LONG)
    assert [fault.kind for fault in emulator.injected_faults] == [kind]
    assert await runs_of(emulator, "emulator~scripted") == [run.id]


async def test_a_start_that_timed_out_after_starting_is_adopted(emulator: ApifyEmulator) -> None:
    # The run is created, but the answer comes after the client's read timeout.
    emulator.faults = Faults(
        delay=1.0, delay_secs=1.0, endpoints=frozenset({"start"}), max_faults=1
    )
    async with ApifyRuns(
        emulator.token,
        base_url=emulator.base_url,
        retries=FAST_RETRIES,
        timeouts=Timeouts(read=0.3),
    ) as client:
        run = await client.start("emulator~scripted", LONG)
    assert await runs_of(emulator, "emulator~scripted") == [run.id]


@pytest.mark.parametrize("kind", REQUEST_FAULT_KINDS)
async def test_a_task_start_under_a_fault_starts_exactly_one_run(
    client: ApifyRuns, emulator: ApifyEmulator, kind: str
) -> None:
    emulator.faults = one_fault(kind, "start-task")
    run = await client.start_task("emulator~scripted-task")
    assert [fault.kind for fault in emulator.injected_faults] == [kind]
    assert await runs_of(emulator, "emulator~scripted") == [run.id]


@pytest.mark.parametrize("kind", REQUEST_FAULT_KINDS)
async def test_a_lookup_under_a_fault_still_finds_the_run(
    emulator: ApifyEmulator, kind: str
) -> None:
    # The start's answer is lost, and then the lookup for its run meets a fault too.
    emulator.faults = one_fault("reset_after", "start")
    switched = False

    def delay(tries: int, retry_after: float | None) -> float:
        nonlocal switched
        if not switched:  # the first wait comes between the lost start and the lookup
            switched = True
            emulator.faults = one_fault(kind, "list")
        return 0.001

    retries = Retries(delay=delay)
    async with ApifyRuns(emulator.token, base_url=emulator.base_url, retries=retries) as client:
        run = await client.start("emulator~scripted", LONG)
        kinds = [fault.kind for fault in emulator.injected_faults]
        assert kinds == ["reset_after", kind]
        assert await runs_of(emulator, "emulator~scripted") == [run.id]


# --- Every other operation: done once ----------------------------------------------------------


@pytest.mark.parametrize("kind", REQUEST_FAULT_KINDS)
async def test_get_under_a_fault(client: ApifyRuns, emulator: ApifyEmulator, kind: str) -> None:
    started = await client.start("emulator~scripted", LONG)
    emulator.faults = one_fault(kind, "get")
    run = await client.get(started.id)
    assert run is not None and run.id == started.id
    assert len(emulator.injected_faults) == 1


@pytest.mark.parametrize("kind", REQUEST_FAULT_KINDS)
async def test_update_under_a_fault(client: ApifyRuns, emulator: ApifyEmulator, kind: str) -> None:
    started = await client.start("emulator~scripted", LONG)
    emulator.faults = one_fault(kind, "update")
    run = await client.update(started.id, status_message="set once")
    assert run.status_message == "set once"
    assert len(emulator.injected_faults) == 1


@pytest.mark.parametrize("kind", REQUEST_FAULT_KINDS)
async def test_abort_under_a_fault(client: ApifyRuns, emulator: ApifyEmulator, kind: str) -> None:
    started = await client.start("emulator~scripted", LONG)
    emulator.faults = one_fault(kind, "abort")
    run = await client.abort(started.id)
    assert run.status == RunStatus.ABORTED
    assert len(emulator.injected_faults) == 1


@pytest.mark.parametrize("kind", REQUEST_FAULT_KINDS)
async def test_delete_under_a_fault(client: ApifyRuns, emulator: ApifyEmulator, kind: str) -> None:
    finished = await finished_run(client)
    emulator.faults = one_fault(kind, "delete")
    await client.delete(finished.id)
    assert len(emulator.injected_faults) == 1
    emulator.faults = None
    assert await client.get(finished.id) is None


@pytest.mark.parametrize("kind", REQUEST_FAULT_KINDS)
async def test_metamorph_under_a_fault_happens_once(
    client: ApifyRuns, emulator: ApifyEmulator, kind: str
) -> None:
    started = await client.start("emulator~scripted", LONG)
    await _until_running(client, started.id)
    emulator.faults = one_fault(kind, "metamorph")
    run = await client.metamorph(started.id, target_actor_id="emulator~scripted", run_input=LONG)
    assert len(emulator.injected_faults) == 1
    emulator.faults = None
    now = await client.get(run.id)
    assert now is not None and now.metamorphs is not None and len(now.metamorphs) == 1


@pytest.mark.parametrize("kind", REQUEST_FAULT_KINDS)
async def test_reboot_under_a_fault_happens_once(
    client: ApifyRuns, emulator: ApifyEmulator, kind: str
) -> None:
    started = await client.start("emulator~scripted", LONG)
    await _until_running(client, started.id)
    emulator.faults = one_fault(kind, "reboot")
    await client.reboot(started.id)
    assert len(emulator.injected_faults) == 1
    emulator.faults = None
    now = await client.get(started.id)
    assert now is not None and now.stats.reboot_count == 1


@pytest.mark.parametrize("kind", REQUEST_FAULT_KINDS)
async def test_resurrect_under_a_fault_happens_once(
    client: ApifyRuns, emulator: ApifyEmulator, kind: str
) -> None:
    finished = await finished_run(client)
    emulator.faults = one_fault(kind, "resurrect")
    run = await client.resurrect(finished.id)
    assert not run.is_terminal or run.stats.resurrect_count == 1
    assert len(emulator.injected_faults) == 1
    emulator.faults = None
    now = await client.get(finished.id)
    assert now is not None and now.stats.resurrect_count == 1


@pytest.mark.parametrize("kind", REQUEST_FAULT_KINDS)
async def test_get_record_under_a_fault(
    client: ApifyRuns, emulator: ApifyEmulator, kind: str
) -> None:
    finished = await finished_run(client, output={"answer": 42})
    emulator.faults = one_fault(kind, "record")
    record = await client.get_record(finished.id)
    assert record is not None and record.json() == {"answer": 42}
    assert len(emulator.injected_faults) == 1


@pytest.mark.parametrize("kind", REQUEST_FAULT_KINDS)
async def test_wait_for_finish_under_a_fault(
    client: ApifyRuns, emulator: ApifyEmulator, kind: str
) -> None:
    started = await client.start("emulator~scripted", script("a", step_secs=0.1))
    emulator.faults = one_fault(kind, "get")
    run = await client.wait_for_finish(started.id)
    assert run is not None and run.status == RunStatus.SUCCEEDED
    assert len(emulator.injected_faults) == 1


@pytest.mark.parametrize("kind", REQUEST_FAULT_KINDS)
async def test_watch_under_a_fault(client: ApifyRuns, emulator: ApifyEmulator, kind: str) -> None:
    started = await client.start("emulator~scripted", script("a", "b", step_secs=0.1))
    emulator.faults = one_fault(kind, "get")
    statuses = [run.status async for run in client.watch(started.id, poll_interval=1)]
    assert statuses[-1] == RunStatus.SUCCEEDED
    assert statuses.count(RunStatus.SUCCEEDED) == 1
    assert len(emulator.injected_faults) == 1


async def _until_running(client: ApifyRuns, run_id: str) -> None:
    async for run in client.watch(run_id, poll_interval=1):
        if run.status == RunStatus.RUNNING:
            return
    raise AssertionError("the run ended before it was seen RUNNING")


# --- Many faults, many runs -------------------------------------------------------------------


async def test_following_many_runs_survives_many_faults(emulator: ApifyEmulator) -> None:
    retries = Retries(max_tries=20, delay=lambda tries, retry_after: 0.01)
    async with ApifyRuns(emulator.token, base_url=emulator.base_url, retries=retries) as client:
        runs = [
            await client.start("emulator~scripted", script("a", "b", step_secs=0.2))
            for _ in range(20)
        ]
        emulator.faults = Faults.parse(
            "status503=0.1,status500=0.1,status429=0.1,reset_before=0.05,reset_after=0.1,"
            "truncate=0.1,delay=0.05:0.1",
            seed=7,
        )
        ends: Counter[str] = Counter()
        async with client.watch_many(runs, poll_interval=1) as updates:
            async for run_id, run in updates:
                if run.is_terminal:
                    ends[run_id] += 1
        async with client.as_completed([run.id for run in runs]) as finished:
            completed = [run.id async for run in finished]
    assert ends == Counter({run.id: 1 for run in runs})
    assert sorted(completed) == sorted(run.id for run in runs)
    assert len(emulator.injected_faults) >= 10  # the faults did happen


async def test_a_run_that_disappears_ends_the_watch(fake_api: FakeApi) -> None:
    running = run_body(status="RUNNING", finishedAt=None)
    fake_api.reply = in_turn(json_reply(200, running), error_reply(404, "record-not-found", "gone"))
    retries = dataclasses.replace(FAST_RETRIES, not_found_grace_secs=0.5)
    async with ApifyRuns("t", base_url=fake_api.base_url, retries=retries) as client:
        seen: list[Run] = []
        with pytest.raises(NotFoundError, match=f"GET /v2/actor-runs/{RUN_ID}"):
            async for run in client.watch(RUN_ID, poll_interval=1):
                seen.append(run)
    assert [run.status for run in seen] == [RunStatus.RUNNING]
