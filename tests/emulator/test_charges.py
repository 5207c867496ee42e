"""Charging pay-per-event runs: `POST /v2/actor-runs/{runId}/charge`."""

from __future__ import annotations

from typing import Any

import pytest

from apify_runs_async.emulator import ActorContext, ApifyEmulator

from .support import Api, steps

pytestmark = pytest.mark.anyio

LONG = {"steps": steps("working", sleep=30)}


async def _idle(ctx: ActorContext) -> None:
    await ctx.sleep(30)


async def _charge(
    api: Api, run_id: str, body: Any, *, key: str | None = None, expect: int = 201
) -> Any:
    headers = {} if key is None else {"idempotency-key": key}
    response = await api.request(
        "POST",
        f"/v2/actor-runs/{run_id}/charge",
        raw=True,
        expect=expect,
        json=body,
        headers=headers,
    )
    return response.json


async def test_a_scripted_run_is_pay_per_event_for_any_event(api: Api) -> None:
    run = await api.start("emulator~scripted", LONG)
    assert run["pricingInfo"]["pricingModel"] == "PAY_PER_EVENT"
    assert run["chargedEventCounts"] == {}
    assert await _charge(api, run["id"], {"eventName": "page", "count": 2}) == {}
    await _charge(api, run["id"], {"eventName": "page", "count": 3})
    await _charge(api, run["id"], {"eventName": "result", "count": 1})
    assert (await api.run(run["id"]))["chargedEventCounts"] == {"page": 5, "result": 1}


async def test_a_repeated_idempotency_key_counts_once(api: Api) -> None:
    run = await api.start("emulator~scripted", LONG)
    for _ in range(3):
        await _charge(api, run["id"], {"eventName": "page", "count": 2}, key="k-1")
    await _charge(api, run["id"], {"eventName": "page", "count": 1}, key="k-2")
    assert (await api.run(run["id"]))["chargedEventCounts"] == {"page": 3}


async def test_a_registered_actor_declares_its_events(api: Api) -> None:
    api.emulator.register_actor(
        "janedoe~paid", _idle, pay_per_event={"page-crawled": 0.001, "item": 0.5}
    )
    run = await api.start("janedoe~paid")
    pricing = run["pricingInfo"]
    assert pricing["pricingModel"] == "PAY_PER_EVENT"
    events = pricing["pricingPerEvent"]["actorChargeEvents"]
    assert {name: event["eventPriceUsd"] for name, event in events.items()} == {
        "page-crawled": 0.001,
        "item": 0.5,
    }
    await _charge(api, run["id"], {"eventName": "item", "count": 4})
    message = await api.error(
        "POST",
        f"/v2/actor-runs/{run['id']}/charge",
        400,
        "invalid-input",
        json={"eventName": "other", "count": 1},
    )
    assert "other" in message
    assert (await api.run(run["id"]))["chargedEventCounts"] == {"item": 4}


async def test_a_run_of_an_actor_that_is_not_pay_per_event_cannot_be_charged(api: Api) -> None:
    run = await api.start("apify~hello-world")
    assert "pricingInfo" not in run
    await api.error(
        "POST",
        f"/v2/actor-runs/{run['id']}/charge",
        400,
        "cannot-charge-non-pay-per-event-actor",
        json={"eventName": "page", "count": 1},
        headers={"idempotency-key": "k"},
    )
    assert (await api.run(run["id"]))["chargedEventCounts"] == {}


async def test_platform_events_cannot_be_charged(api: Api) -> None:
    run = await api.start("emulator~scripted", LONG)
    await api.error(
        "POST",
        f"/v2/actor-runs/{run['id']}/charge",
        400,
        "cannot-charge-apify-event",
        json={"eventName": "apify-actor-start", "count": 1},
    )


@pytest.mark.parametrize(
    "body",
    [
        {"count": 1},
        {"eventName": "", "count": 1},
        {"eventName": 7, "count": 1},
        {"eventName": "page"},
        {"eventName": "page", "count": 0},
        {"eventName": "page", "count": -1},
        {"eventName": "page", "count": 1.5},
        {"eventName": "page", "count": "1"},
        {"eventName": "page", "count": True},
        ["page", 1],
    ],
)
async def test_bad_bodies_are_400(api: Api, body: Any) -> None:
    run = await api.start("emulator~scripted", LONG)
    await api.error("POST", f"/v2/actor-runs/{run['id']}/charge", 400, "invalid-input", json=body)
    assert (await api.run(run["id"]))["chargedEventCounts"] == {}


async def test_a_body_that_is_not_json_is_400(api: Api) -> None:
    run = await api.start("emulator~scripted", LONG)
    await api.error(
        "POST",
        f"/v2/actor-runs/{run['id']}/charge",
        400,
        "invalid-input",
        data=b"eventName=page",
        headers={"Content-Type": "application/json"},
    )


async def test_charging_a_missing_run_is_404(api: Api) -> None:
    await api.error(
        "POST",
        "/v2/actor-runs/AAAAAAAAAAAAAAAAA/charge",
        404,
        "record-not-found",
        json={"eventName": "page", "count": 1},
    )


async def test_charging_needs_a_token(api: Api) -> None:
    run = await api.start("emulator~scripted", LONG)
    await api.error(
        "POST",
        f"/v2/actor-runs/{run['id']}/charge",
        401,
        "token-not-provided",
        json={"eventName": "page", "count": 1},
        token=None,
    )


def test_pay_per_event_names_and_prices_are_checked() -> None:
    emulator = ApifyEmulator()
    with pytest.raises(ValueError, match="apify-"):
        emulator.register_actor("janedoe~a", _idle, pay_per_event={"apify-actor-start": 1.0})
    with pytest.raises(ValueError, match="empty"):
        emulator.register_actor("janedoe~b", _idle, pay_per_event={"": 1.0})
    with pytest.raises(ValueError, match=">= 0"):
        emulator.register_actor("janedoe~c", _idle, pay_per_event={"page": -1.0})
