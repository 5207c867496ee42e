"""Charging a pay-per-event run: counted, never twice through retries."""

from __future__ import annotations

from typing import Any

import pytest

from apify_runs_async import ApifyRuns, BadRequestError, NotFoundError
from apify_runs_async.emulator import ApifyEmulator, Faults
from tests.fake_api import FakeApi, error_reply, in_turn, json_reply
from tests.helpers import FAST_RETRIES, script

pytestmark = pytest.mark.anyio


async def charged(client: ApifyRuns, run_id: str) -> dict[str, int]:
    run = await client.get(run_id)
    assert run is not None
    return run.charged_event_counts or {}


async def test_charges_add_up(client: ApifyRuns) -> None:
    run = await client.start("emulator~scripted", script("working", step_secs=5))
    await client.charge(run, "page-crawled")
    await client.charge(run.id, "page-crawled", count=3)
    await client.run(run.id).charge("result", count=2)
    assert await charged(client, run.id) == {"page-crawled": 4, "result": 2}
    await client.abort(run.id)


async def test_a_key_given_twice_counts_once(client: ApifyRuns) -> None:
    run = await client.start("emulator~scripted", script("working", step_secs=5))
    await client.charge(run, "page", idempotency_key="page-1")
    await client.charge(run, "page", idempotency_key="page-1")
    await client.charge(run, "page")  # a key of its own
    await client.charge(run, "page")
    assert await charged(client, run.id) == {"page": 3}
    await client.abort(run.id)


@pytest.mark.parametrize("fault", ["reset_after", "status503", "truncate"])
async def test_a_retried_charge_is_billed_once(emulator: ApifyEmulator, fault: str) -> None:
    async with ApifyRuns(emulator.token, base_url=emulator.base_url, retries=FAST_RETRIES) as c:
        run = await c.start("emulator~scripted", script("working", step_secs=5))
        # The first try fails; after a reset or a cut body it was carried out all the same,
        # and the retry must not bill again.
        rates: dict[str, Any] = {fault: 1.0}
        emulator.faults = Faults(**rates, endpoints=frozenset({"charge"}), max_faults=1)
        await c.charge(run, "page", count=2)
        assert emulator.injected_faults  # the fault did happen
        assert await charged(c, run.id) == {"page": 2}
        await c.abort(run.id)


async def test_the_same_key_goes_with_every_try(fake_api: FakeApi) -> None:
    fake_api.reply = in_turn(error_reply(503, "busy", "try later"), json_reply(201, {}))
    async with ApifyRuns("t", base_url=fake_api.base_url, retries=FAST_RETRIES) as client:
        await client.charge("r1", "page")
        await client.charge("r1", "page")
    keys = [r.headers["idempotency-key"] for r in fake_api.requests]
    assert len(keys) == 3 and keys[0] == keys[1] != keys[2]
    assert fake_api.requests[0].body == b'{"eventName":"page","count":1}'


async def test_an_actor_that_is_not_pay_per_event(client: ApifyRuns) -> None:
    result = await client.call("apify/hello-world")
    with pytest.raises(BadRequestError, match="cannot-charge-non-pay-per-event-actor"):
        await client.charge(result.run, "page")
    with pytest.raises(NotFoundError, match="/v2/actor-runs/noSuchRun/charge"):
        await client.charge("noSuchRun", "page")


@pytest.mark.parametrize(
    ("arguments", "error", "name"),
    [
        ({"event_name": ""}, ValueError, "event_name"),
        ({"event_name": 5}, TypeError, "event_name"),
        ({"count": 0}, ValueError, "count"),
        ({"count": 1.5}, ValueError, "count"),
        ({"idempotency_key": "a\nb"}, ValueError, "idempotency_key"),
        ({"idempotency_key": "k" * 257}, ValueError, "idempotency_key"),
        ({"run": "a/b"}, ValueError, "run"),
    ],
)
async def test_bad_arguments_fail_before_any_request(
    fake_api: FakeApi, arguments: dict[str, object], error: type[Exception], name: str
) -> None:
    call: dict[str, object] = {"run": "r1", "event_name": "page", **arguments}
    async with ApifyRuns("t", base_url=fake_api.base_url) as client:
        with pytest.raises(error, match=name):
            await client.charge(**call)  # type: ignore[arg-type]
    assert fake_api.requests == []
