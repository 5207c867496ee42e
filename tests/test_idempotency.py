"""Starts with an idempotency key: at most one run per key, Actor and window, whoever starts it."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import anyio
import pytest

from apify_runs_async import ApifyRuns, Retries, RunStatus, RunSummary
from apify_runs_async.emulator import ApifyEmulator, FaultKind, Faults
from tests.helpers import LONG, REQUEST_FAULT_KINDS, SCRIPTED, STOPPED, RequestCounter, script

pytestmark = pytest.mark.anyio

QUICK = script("done", step_secs=0.05, output={"ok": True})


async def runs_with_keys(client: ApifyRuns, actor: str = SCRIPTED) -> dict[str, list[RunSummary]]:
    """Every run of the Actor, by the key its User-Agent carries ("" for none)."""
    by_key: dict[str, list[RunSummary]] = {}
    offset = 0
    while True:
        page = await client.list_runs(actor, offset=offset, limit=1000)
        for run in page.items:
            words = (run.meta.user_agent or "").split()
            keys = [w.removeprefix("idempotency-key/") for w in words if "idempotency-key/" in w]
            by_key.setdefault(keys[0] if keys else "", []).append(run)
        if len(page.items) < 1000:
            return by_key
        offset += 1000


def survivors(runs: list[RunSummary]) -> list[RunSummary]:
    return [run for run in runs if run.status not in STOPPED]


async def test_a_key_started_twice_starts_one_run(client: ApifyRuns) -> None:
    first = await client.start(SCRIPTED, LONG, idempotency_key="order-1")
    again = await client.start(SCRIPTED, LONG, idempotency_key="order-1")
    assert again.id == first.id
    other = await client.start(SCRIPTED, LONG, idempotency_key="order-2")
    assert other.id != first.id
    keyed = await runs_with_keys(client)
    assert [run.id for run in keyed["order-1"]] == [first.id]
    assert [run.id for run in keyed["order-2"]] == [other.id]


async def test_a_key_is_per_actor(client: ApifyRuns) -> None:
    scripted = await client.start(SCRIPTED, LONG, idempotency_key="k")
    hello = await client.start("apify/hello-world", idempotency_key="k")
    assert scripted.id != hello.id


async def test_a_key_is_found_for_a_task_too(client: ApifyRuns) -> None:
    first = await client.start_task("emulator~scripted-task", idempotency_key="nightly")
    again = await client.start_task("emulator~scripted-task", idempotency_key="nightly")
    assert again.id == first.id


async def test_a_finished_run_with_the_key_is_returned_too(client: ApifyRuns) -> None:
    first = await client.call(SCRIPTED, QUICK, idempotency_key="once")
    assert first.run.status == RunStatus.SUCCEEDED
    again = await client.call(SCRIPTED, QUICK, idempotency_key="once")
    assert again.run.id == first.run.id
    assert again.output is not None and again.output.json() == {"ok": True}


async def test_a_call_follows_the_run_started_with_its_key(client: ApifyRuns) -> None:
    started = await client.start(SCRIPTED, QUICK, idempotency_key="job-7")
    result = await client.call(SCRIPTED, QUICK, idempotency_key="job-7")
    assert result.run.id == started.id
    assert result.run.status == RunStatus.SUCCEEDED
    assert len((await runs_with_keys(client))["job-7"]) == 1


@pytest.mark.client_options(idempotency_window=0.5)
async def test_a_key_outside_the_window_starts_a_new_run(client: ApifyRuns) -> None:
    first = await client.start(SCRIPTED, QUICK, idempotency_key="hourly")
    await anyio.sleep(1.2)
    again = await client.start(SCRIPTED, QUICK, idempotency_key="hourly")
    assert again.id != first.id


async def test_a_keyed_start_costs_a_look_before_and_after(
    counted: tuple[ApifyRuns, RequestCounter],
) -> None:
    client, counter = counted
    await client.start(SCRIPTED, QUICK, idempotency_key="counted")
    assert counter.sent == [
        ("GET", "/v2/actors/emulator~scripted/runs"),
        ("POST", "/v2/actors/emulator~scripted/runs"),
        ("GET", "/v2/actors/emulator~scripted/runs"),
    ]
    counter.sent.clear()
    await client.start(SCRIPTED, QUICK)
    assert counter.sent == [("POST", "/v2/actors/emulator~scripted/runs")]


async def test_two_clients_racing_on_a_key_keep_one_run(emulator: ApifyEmulator) -> None:
    results: dict[int, str] = {}

    async def start(number: int) -> None:
        async with ApifyRuns(emulator.token, base_url=emulator.base_url) as client:
            results[number] = (await client.start(SCRIPTED, LONG, idempotency_key="race")).id

    async with anyio.create_task_group() as group:
        for number in range(4):
            group.start_soon(start, number)
    async with ApifyRuns(emulator.token, base_url=emulator.base_url) as client:
        keyed = (await runs_with_keys(client))["race"]
    assert len(keyed) > 1  # they did race: each started a run
    [kept] = survivors(keyed)
    assert set(results.values()) == {kept.id}
    assert kept.id == min(keyed, key=lambda run: (run.started_at, run.id)).id


async def test_200_keyed_starts_under_faults_leave_200_runs() -> None:
    # Every kind of fault at 10% of requests (70% in all), on every endpoint: enough tries
    # for a request to get through. No rate limits: keyed starts of one Actor would keep to
    # its 60 requests a second, and take seconds.
    rates: dict[str, Any] = dict.fromkeys(REQUEST_FAULT_KINDS, 0.1)
    faults = Faults(**rates, delay_secs=0.05, retry_after_secs=0, seed=12)
    retries = Retries(max_tries=40, delay=lambda tries, retry_after: 0.001)
    keys = [f"item-{number}" for number in range(200)]
    returned: dict[str, str] = {}
    async with (
        ApifyEmulator(ready_secs=0, rate_limits=None, faults=faults) as emulator,
        ApifyRuns(
            emulator.token, base_url=emulator.base_url, retries=retries, rate_limits=None
        ) as client,
    ):

        async def start(key: str) -> None:
            returned[key] = (await client.start(SCRIPTED, LONG, idempotency_key=key)).id

        async with anyio.create_task_group() as group:
            for key in keys:
                group.start_soon(start, key)
        # The same keys again, as a job queue would redeliver them: nothing new starts.
        async with anyio.create_task_group() as group:
            for key in keys[:50]:
                group.start_soon(start, key)
        assert {fault.kind for fault in emulator.injected_faults} == set(
            map(FaultKind, REQUEST_FAULT_KINDS)
        )
        emulator.faults = None
        keyed = await runs_with_keys(client)
    assert "" not in keyed
    assert Counter(len(survivors(keyed[key])) for key in keys) == {1: 200}
    assert all(returned[key] == survivors(keyed[key])[0].id for key in keys)


async def test_call_many_gives_each_input_its_key(client: ApifyRuns) -> None:
    inputs = [script(f"input {n}", step_secs=0.05) for n in range(3)]

    def key(index: int, run_input: object) -> str:
        return f"batch-{index}"

    async with client.call_many(SCRIPTED, inputs, concurrency=3, idempotency_key=key) as first:
        ids = {index: result.run.id async for index, result in first}
    async with client.call_many(SCRIPTED, inputs, concurrency=3, idempotency_key=key) as again:
        assert {index: result.run.id async for index, result in again} == ids
    keyed = await runs_with_keys(client)
    assert {k: [run.id for run in runs] for k, runs in keyed.items()} == {
        f"batch-{index}": [run_id] for index, run_id in ids.items()
    }


@pytest.mark.parametrize(
    "key", ["", "has space", "x" * 129, "slash/y", "new\nline", "ünï", "semi;colon"]
)
async def test_a_bad_key_is_refused_before_any_request(
    counted: tuple[ApifyRuns, RequestCounter], key: str
) -> None:
    client, counter = counted
    with pytest.raises(ValueError, match="idempotency_key"):
        await client.start(SCRIPTED, idempotency_key=key)
    with pytest.raises(ValueError, match="idempotency_key"):
        await client.call(SCRIPTED, idempotency_key=key)
    with pytest.raises(ValueError, match=r"idempotency_key\(0, inputs\[0\]\)"):
        async with client.call_many(
            SCRIPTED, [QUICK], concurrency=1, idempotency_key=lambda i, x: key
        ) as results:
            async for _ in results:
                pass
    assert counter.sent == []


async def test_the_key_and_window_have_types(counted: tuple[ApifyRuns, RequestCounter]) -> None:
    client, counter = counted
    with pytest.raises(TypeError, match="idempotency_key"):
        await client.start(SCRIPTED, idempotency_key=7)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="idempotency_key"):
        client.call_many(SCRIPTED, [], concurrency=1, idempotency_key="same")  # type: ignore[arg-type]
    for window in (0, -1, timedelta(0), "1h"):
        with pytest.raises((TypeError, ValueError), match="idempotency_window"):
            ApifyRuns("t", idempotency_window=window)  # type: ignore[arg-type]
    assert counter.sent == []


async def test_an_aborted_run_with_the_key_does_not_count(client: ApifyRuns) -> None:
    # A worker shut down midway aborted its run: the job, delivered again, starts afresh.
    with anyio.move_on_after(0.3):
        await client.call(SCRIPTED, LONG, idempotency_key="job-9")
    again = await client.call(SCRIPTED, QUICK, idempotency_key="job-9")
    assert again.run.status == RunStatus.SUCCEEDED
    runs = (await runs_with_keys(client))["job-9"]
    assert sorted(run.status for run in runs) == [RunStatus.ABORTED, RunStatus.SUCCEEDED]
    assert (await client.start(SCRIPTED, LONG, idempotency_key="job-9")).id == again.run.id
