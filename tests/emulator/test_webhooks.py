"""Ad-hoc webhooks: the emulator delivers them over real HTTP to a receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web

import apify_runs_async
from apify_runs_async import ApifyRuns
from apify_runs_async.emulator import (
    ApifyEmulator,
    DispatchStatus,
    FaultKind,
    Faults,
    InjectedFault,
    WebhookDispatch,
    WebhookRetries,
    emulator_process,
)
from apify_runs_async.emulator._injection import FaultInjector
from apify_runs_async.emulator._webhook_templates import interpolate

from .support import Api, fast_emulator, steps

pytestmark = pytest.mark.anyio

# Quick retries; a call may take a second: on a busy machine a receiver can take 0.3 s.
FAST = WebhookRetries(max_retries=3, first_wait_secs=0.01, timeout_secs=1)
ALL_RUN_EVENTS = [
    "ACTOR.RUN.CREATED",
    "ACTOR.RUN.SUCCEEDED",
    "ACTOR.RUN.FAILED",
    "ACTOR.RUN.ABORTED",
    "ACTOR.RUN.TIMED_OUT",
    "ACTOR.RUN.RESURRECTED",
]


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event_type(self) -> str:
        event: str = self.json["eventType"]
        return event


@dataclass
class Receiver:
    """A webhook receiver: what it got, and what it answers (`answers` first, then 200;
    an answer of None holds the call until the test ends)."""

    url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    answers: list[int | None] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.deliveries.append(
            Delivery(dict(request.headers), await request.read(), time.monotonic())
        )
        self.arrived.set()
        answer = self.answers.pop(0) if self.answers else 200
        if answer is None:
            await self.release.wait()
            answer = 200
        return web.Response(status=answer)

    async def wait_for(self, count: int, *, within: float = 5.0) -> list[Delivery]:
        async with asyncio.timeout(within):
            while len(self.deliveries) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.deliveries


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    received = Receiver()
    app = web.Application()
    app.router.add_post("/hook", received.handle)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    received.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield received
    finally:
        received.release.set()
        await runner.cleanup()


def _param(*hooks: dict[str, Any]) -> dict[str, str]:
    return {"webhooks": base64.b64encode(json.dumps(list(hooks)).encode()).decode()}


def _hook(receiver: Receiver, *events: str, **more: Any) -> dict[str, Any]:
    return {"eventTypes": list(events), "requestUrl": receiver.url, **more}


async def _settled(emu: ApifyEmulator, count: int, *, within: float = 5.0) -> list[WebhookDispatch]:
    """The dispatches once `count` of them exist and none is ACTIVE any more."""
    async with asyncio.timeout(within):
        while True:
            dispatches = list(emu.webhook_dispatches)
            if len(dispatches) >= count and all(
                each.status is not DispatchStatus.ACTIVE for each in dispatches
            ):
                return dispatches
            await asyncio.sleep(0.01)


@pytest.fixture
async def emu() -> AsyncIterator[ApifyEmulator]:
    async with fast_emulator(webhook_retries=FAST) as emulator:
        yield emulator


# -- The payload and the headers -----------------------------------------------------------------


async def test_the_default_payload_is_the_platforms(api: Api, receiver: Receiver) -> None:
    hook = _hook(receiver, "ACTOR.RUN.CREATED", "ACTOR.RUN.SUCCEEDED")
    run = await api.start("emulator~scripted", {"steps": steps("a")}, params=_param(hook))
    await api.finished(run["id"])
    # (Two dispatches, each in its own task: their order is not guaranteed.)
    by_event = {each.event_type: each for each in await receiver.wait_for(2)}
    created, succeeded = by_event["ACTOR.RUN.CREATED"], by_event["ACTOR.RUN.SUCCEEDED"]
    payload = succeeded.json
    assert set(payload) == {"userId", "createdAt", "eventType", "eventData", "resource"}
    assert payload["userId"] == run["userId"]
    assert payload["eventData"] == {
        "actorId": run["actId"],
        "actorTaskId": None,
        "actorRunId": run["id"],
    }
    resource = msgspec.convert(payload["resource"], apify_runs_async.Run)
    assert (resource.id, resource.status) == (run["id"], "SUCCEEDED")
    assert created.json["resource"]["status"] == "READY"  # the run as it was at the event
    dispatches = await _settled(api.emulator, 2)
    assert [each.event_type for each in dispatches] == ["ACTOR.RUN.CREATED", "ACTOR.RUN.SUCCEEDED"]
    for delivery, dispatch in zip((created, succeeded), dispatches, strict=True):
        assert delivery.headers["Content-Type"] == "application/json"
        assert delivery.headers["X-Apify-Request-Origin"] == "WEBHOOK"
        assert delivery.headers["X-Apify-Webhook"] == dispatch.webhook_id
        assert delivery.headers["X-Apify-Webhook-Dispatch-Id"] == dispatch.id
        assert (dispatch.run_id, dispatch.request_url) == (run["id"], receiver.url)
        assert dispatch.status is DispatchStatus.SUCCEEDED
        assert [call.response_status for call in dispatch.calls] == [200]
    assert dispatches[0].webhook_id == dispatches[1].webhook_id
    assert dispatches[0].id != dispatches[1].id


async def test_templates_are_filled_in(api: Api, receiver: Receiver) -> None:
    hook = _hook(
        receiver,
        "ACTOR.RUN.SUCCEEDED",
        payloadTemplate='{"run": {{resource.id}}, "event": {{eventType}}, "missing": {{nope.x}},'
        ' "text": "run {{resource.id}}", "data": {{eventData}}}',
        headersTemplate='{"Authorization": "Bearer s3cret", "X-Run": "{{resource.id}}",'
        ' "X-Apify-Webhook": "forged"}',
        shouldInterpolateStrings=True,
    )
    plain = _hook(receiver, "ACTOR.RUN.SUCCEEDED", payloadTemplate='{"text": "{{userId}}"}')
    run = await api.start("emulator~scripted", {"steps": []}, params=_param(hook, plain))
    deliveries = await receiver.wait_for(2)
    by_template = {"run" in each.json: each for each in deliveries}
    filled = by_template[True]
    assert filled.json == {
        "run": run["id"],
        "event": "ACTOR.RUN.SUCCEEDED",
        "missing": None,
        "text": f"run {run['id']}",
        "data": {"actorId": run["actId"], "actorTaskId": None, "actorRunId": run["id"]},
    }
    assert filled.headers["Authorization"] == "Bearer s3cret"
    assert filled.headers["X-Run"] == run["id"]
    assert filled.headers["X-Apify-Webhook"] != "forged"  # the platform's own headers win
    assert by_template[False].json == {"text": "{{userId}}"}  # strings left alone by default


@pytest.mark.parametrize(
    "hook",
    [
        {"eventTypes": ["ACTOR.RUN.NEVER"], "requestUrl": "http://127.0.0.1:9/"},
        {"eventTypes": ["ACTOR.RUN.FAILED"], "requestUrl": "ftp://127.0.0.1/"},
        {"eventTypes": ["ACTOR.RUN.FAILED"], "requestUrl": "/relative"},
        {"eventTypes": ["ACTOR.RUN.FAILED"], "requestUrl": "http://x/", "payloadTemplate": "{"},
        {"eventTypes": ["ACTOR.RUN.FAILED"], "requestUrl": "http://x/", "headersTemplate": "[]"},
        {"eventTypes": ["ACTOR.RUN.FAILED"], "requestUrl": "http://x/", "doNotRetry": "yes"},
    ],
)
async def test_bad_webhooks_are_400(api: Api, hook: dict[str, Any]) -> None:
    await api.error(
        "POST", "/v2/actors/apify~hello-world/runs", 400, "invalid-input", params=_param(hook)
    )
    assert api.emulator.webhook_dispatches == ()


async def test_a_header_http_cannot_carry_fails_the_call(api: Api, receiver: Receiver) -> None:
    hook = _hook(
        receiver, "ACTOR.RUN.SUCCEEDED", headersTemplate='{"X-Bad": "a\\nb"}', doNotRetry=True
    )
    await api.start("emulator~scripted", {"steps": []}, params=_param(hook))
    (dispatch,) = await _settled(api.emulator, 1)
    assert dispatch.status is DispatchStatus.FAILED
    (call,) = dispatch.calls
    assert call.response_status is None
    assert call.error_message is not None and call.error_message.startswith("Cannot send")
    assert receiver.deliveries == []


def test_interpolation_replaces_variables_by_their_json() -> None:
    variables = {"resource": {"id": "r1", "stats": {"n": 2}}, "eventType": "E"}
    template = (
        '{"a": {{resource.stats}}, "b": {{ eventType }}, "c": "{{resource.id}}: \\"{{x}}\\""}'
    )
    assert json.loads(interpolate(template, variables)) == {
        "a": {"n": 2},
        "b": "E",
        "c": '{{resource.id}}: "{{x}}"',
    }
    assert json.loads(interpolate(template, variables, in_strings=True))["c"] == 'r1: "null"'
    assert json.loads(interpolate("{{resource.stats.n}}", variables)) == 2
    assert json.loads(interpolate("{{resource.id.deeper}}", variables)) is None


# -- The events ----------------------------------------------------------------------------------


async def test_failed_aborted_timed_out_and_resurrected(api: Api, receiver: Receiver) -> None:
    hook = _hook(receiver, *ALL_RUN_EVENTS[1:])  # not CREATED
    failed = await api.start(
        "emulator~scripted", {"steps": [], "outcome": "FAILED"}, params=_param(hook)
    )
    aborted = await api.start(
        "emulator~scripted", {"steps": steps("x", sleep=5)}, params=_param(hook)
    )
    timed_out = await api.start(
        "emulator~scripted",
        {"steps": steps("x", sleep=5)},
        params={**_param(hook), "timeout": 0.05},
    )
    await api.wait_for(aborted["id"], "RUNNING")
    await api.post_run(aborted["id"], "abort")
    for run in (failed, aborted, timed_out):
        await api.finished(run["id"])
    await api.post_run(failed["id"], "resurrect")
    await receiver.wait_for(5)
    events = {(each.json["resource"]["id"], each.event_type) for each in receiver.deliveries}
    assert (
        events
        == {
            (failed["id"], "ACTOR.RUN.FAILED"),
            (aborted["id"], "ACTOR.RUN.ABORTED"),
            (timed_out["id"], "ACTOR.RUN.TIMED_OUT"),
            (failed["id"], "ACTOR.RUN.RESURRECTED"),
            (failed["id"], "ACTOR.RUN.FAILED"),  # the resurrected run fails again
        }
        and len(receiver.deliveries) == 5
    )
    resurrected = next(d for d in receiver.deliveries if d.event_type == "ACTOR.RUN.RESURRECTED")
    assert resurrected.json["resource"]["stats"]["resurrectCount"] == 1


async def test_task_starts_call_webhooks(api: Api, receiver: Receiver) -> None:
    hook = {"event_types": ["ACTOR.RUN.SUCCEEDED"], "request_url": receiver.url}
    async with ApifyRuns(api.emulator.token, base_url=api.emulator.base_url) as client:
        run = await client.start_task("emulator~scripted-task", webhooks=[hook])
    (delivery,) = await receiver.wait_for(1)
    assert delivery.json["eventData"]["actorTaskId"] == run.actor_task_id is not None
    assert delivery.json["resource"]["actorTaskId"] == run.actor_task_id


# -- Retries -------------------------------------------------------------------------------------


async def test_a_non_2xx_answer_is_retried_with_the_same_dispatch_id(
    api: Api, receiver: Receiver
) -> None:
    receiver.answers = [500, 503]
    await api.start(
        "emulator~scripted", {"steps": []}, params=_param(_hook(receiver, "ACTOR.RUN.SUCCEEDED"))
    )
    deliveries = await receiver.wait_for(3)
    assert len({each.headers["X-Apify-Webhook-Dispatch-Id"] for each in deliveries}) == 1
    assert len({each.body for each in deliveries}) == 1
    (dispatch,) = await _settled(api.emulator, 1)
    assert dispatch.status is DispatchStatus.SUCCEEDED
    assert [call.response_status for call in dispatch.calls] == [500, 503, 200]
    # Doubling waits: 0.01 s, then 0.02 s.
    assert deliveries[2].at - deliveries[1].at >= 0.015


async def test_no_answer_within_the_timeout_is_retried(api: Api, receiver: Receiver) -> None:
    receiver.answers = [None]
    await api.start(
        "emulator~scripted", {"steps": []}, params=_param(_hook(receiver, "ACTOR.RUN.SUCCEEDED"))
    )
    (dispatch,) = await _settled(api.emulator, 1)
    assert dispatch.status is DispatchStatus.SUCCEEDED
    first, second = dispatch.calls
    assert first.response_status is None
    assert (
        first.error_message is not None
        and f"No answer within {FAST.timeout_secs:g} s" in first.error_message
    )
    assert second.response_status == 200


async def test_retries_run_out_and_do_not_retry_is_honoured(api: Api, receiver: Receiver) -> None:
    receiver.answers = [500] * 10
    hooks = (
        _hook(receiver, "ACTOR.RUN.SUCCEEDED"),
        _hook(receiver, "ACTOR.RUN.SUCCEEDED", doNotRetry=True),
    )
    await api.start("emulator~scripted", {"steps": []}, params=_param(*hooks))
    dispatches = await _settled(api.emulator, 2)
    assert all(each.status is DispatchStatus.FAILED for each in dispatches)
    assert sorted(len(each.calls) for each in dispatches) == [1, 1 + FAST.max_retries]


async def test_the_default_schedule_is_the_platforms_in_seconds() -> None:
    retries = WebhookRetries()
    assert retries.max_retries == 11
    assert retries.timeout_secs == 30
    assert [retries.wait_secs(n) for n in (1, 2, 3, 11)] == [1, 2, 4, 1024]
    with pytest.raises(ValueError, match="max_retries"):
        WebhookRetries(max_retries=-1)
    with pytest.raises(ValueError, match="first_wait_secs"):
        WebhookRetries(first_wait_secs=float("nan"))


@pytest.mark.parametrize(
    "answers", [[500] * 10, [None]], ids=["waiting-to-retry", "in-the-middle-of-a-call"]
)
async def test_close_cancels_deliveries_still_under_way(
    receiver: Receiver, answers: list[int | None]
) -> None:
    receiver.answers = answers
    async with (
        fast_emulator(webhook_retries=WebhookRetries(first_wait_secs=60)) as emu,
        aiohttp.ClientSession() as session,
    ):
        await Api(session, emu).start(
            "emulator~scripted",
            {"steps": []},
            params=_param(_hook(receiver, "ACTOR.RUN.SUCCEEDED")),
        )
        await receiver.wait_for(1)  # now waiting 60 s to retry, or for the answer
    (dispatch,) = emu.webhook_dispatches
    assert dispatch.status is DispatchStatus.ACTIVE
    assert not [
        task for task in asyncio.all_tasks() if task.get_name().startswith("apify-emulator-")
    ]


# -- Faults --------------------------------------------------------------------------------------


def _one(kind: str, **options: Any) -> Faults:
    return Faults.parse(f"{kind}=1", max_faults=1, seed=1, **options)


async def test_a_dropped_dispatch_is_never_sent(api: Api, receiver: Receiver) -> None:
    # `endpoints` limits request faults only: deliveries get theirs whatever it says.
    api.emulator.faults = _one("webhook_drop", endpoints=["get"])
    hook = _hook(receiver, "ACTOR.RUN.CREATED", "ACTOR.RUN.SUCCEEDED")
    run = await api.start("emulator~scripted", {"steps": steps("a")}, params=_param(hook))
    await api.finished(run["id"])  # a GET, which gets no fault: webhook_drop is no request fault
    dropped, sent = await _settled(api.emulator, 2)
    assert (dropped.status, dropped.fault, dropped.calls) == (
        DispatchStatus.DROPPED,
        FaultKind.WEBHOOK_DROP,
        (),
    )
    assert (sent.status, sent.fault) == (DispatchStatus.SUCCEEDED, None)
    assert [each.event_type for each in receiver.deliveries] == ["ACTOR.RUN.SUCCEEDED"]
    assert api.emulator.injected_faults == (
        InjectedFault(FaultKind.WEBHOOK_DROP, "webhook", "POST", "/hook"),
    )


async def test_a_duplicated_dispatch_arrives_twice(api: Api, receiver: Receiver) -> None:
    api.emulator.faults = _one("webhook_duplicate")
    await api.start(
        "emulator~scripted", {"steps": []}, params=_param(_hook(receiver, "ACTOR.RUN.SUCCEEDED"))
    )
    first, second = await receiver.wait_for(2)
    assert first.body == second.body
    assert (
        first.headers["X-Apify-Webhook-Dispatch-Id"]
        == second.headers["X-Apify-Webhook-Dispatch-Id"]
    )
    (dispatch,) = await _settled(api.emulator, 1)
    assert dispatch.fault is FaultKind.WEBHOOK_DUPLICATE


async def test_a_delayed_dispatch_arrives_late(api: Api, receiver: Receiver) -> None:
    api.emulator.faults = _one("webhook_delay", webhook_delay_secs=0.3)
    started = time.monotonic()
    await api.start(
        "emulator~scripted", {"steps": []}, params=_param(_hook(receiver, "ACTOR.RUN.SUCCEEDED"))
    )
    (delivery,) = await receiver.wait_for(1)
    assert delivery.at - started >= 0.3


async def test_a_reordered_dispatch_arrives_after_a_later_one(api: Api, receiver: Receiver) -> None:
    api.emulator.faults = Faults.parse("webhook_reorder=1", max_faults=1, webhook_delay_secs=2)
    hook = _hook(receiver, "ACTOR.RUN.CREATED", "ACTOR.RUN.SUCCEEDED")
    started = time.monotonic()
    await api.start("emulator~scripted", {"steps": steps("a")}, params=_param(hook))
    deliveries = await receiver.wait_for(2)
    assert [each.event_type for each in deliveries] == ["ACTOR.RUN.SUCCEEDED", "ACTOR.RUN.CREATED"]
    assert deliveries[1].at - started < 1.5  # released by the later one, not by the 2 s bound


def test_webhook_faults_follow_the_seed_apart_from_request_faults() -> None:
    def draws(faults: Faults) -> list[FaultKind | None]:
        injector = FaultInjector(faults, lambda request: None)
        picked = [injector.decide_webhook("http://127.0.0.1/hook") for _ in range(40)]
        return [None if each is None else each[0] for each in picked]

    faults = Faults(webhook_drop=0.3, webhook_duplicate=0.3, webhook_reorder=0.2, seed=7)
    assert draws(faults) == draws(faults)
    assert set(draws(faults)) == {
        None,
        FaultKind.WEBHOOK_DROP,
        FaultKind.WEBHOOK_DUPLICATE,
        FaultKind.WEBHOOK_REORDER,
    }
    assert draws(Faults(webhook_drop=1, max_faults=3)).count(FaultKind.WEBHOOK_DROP) == 3
    # Request faults never pick a webhook kind, and the two groups' rates sum apart.
    both = Faults(status503=1, webhook_drop=1)
    assert [both.choose(0.99), both.choose_webhook(0.99)] == [
        FaultKind.STATUS503,
        FaultKind.WEBHOOK_DROP,
    ]
    assert Faults.parse("webhook_delay=0.5:3").webhook_delay_secs == 3
    with pytest.raises(ValueError, match="a dispatch gets at most one fault"):
        Faults(webhook_drop=0.6, webhook_delay=0.6)


# -- The process form ----------------------------------------------------------------------------


async def test_the_process_form_takes_the_schedule_and_the_faults(receiver: Receiver) -> None:
    receiver.answers = [500]
    args = ["--webhook-max-retries", "1", "--webhook-first-wait-secs", "0.01"]
    args += ["--webhook-timeout-secs", "2", "--faults", "webhook_duplicate=1", "--seed", "1"]
    with emulator_process(*args, env={"PYTHONWARNINGS": "error"}) as emulator:
        async with aiohttp.ClientSession() as session:
            start = f"{emulator.base_url}/v2/actors/emulator~scripted/runs"
            hook = _hook(receiver, "ACTOR.RUN.SUCCEEDED")
            async with session.post(
                start,
                params=_param(hook),
                json={"steps": []},
                headers={"Authorization": f"Bearer {emulator.token}"},
            ) as response:
                assert response.status == 201
        # A 500, its one retry, then the duplicate of the call that succeeded.
        deliveries = await receiver.wait_for(3)
        assert len({each.headers["X-Apify-Webhook-Dispatch-Id"] for each in deliveries}) == 1
        assert "fault webhook_duplicate webhook POST /hook" in emulator.stderr()
