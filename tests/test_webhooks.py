"""Webhooks the client receives: `parse_webhook` on recorded and hostile bodies, and the
`WebhookReceiver` over real HTTP on 127.0.0.1 (secret, size cap, duplicates, back-pressure);
and the ad-hoc webhook a start sends for a receiver."""

from __future__ import annotations

import base64
import hmac
import json
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import msgspec
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from apify_runs_async import (
    ApifyRuns,
    InvalidWebhookError,
    RunStatus,
    WebhookEvent,
    WebhookEventType,
    WebhookReceiver,
    parse_webhook,
)
from apify_runs_async.emulator import ApifyEmulator
from tests.fake_api import FakeApi, json_reply
from tests.spec import run_response_examples

pytestmark = pytest.mark.anyio

SECRET = "s3cret-" + "x" * 20
HEADER = "X-Apify-Webhook-Secret"
RUNS = [example["data"] for _, example in run_response_examples()]
TERMINAL = ["ACTOR.RUN.SUCCEEDED", "ACTOR.RUN.FAILED", "ACTOR.RUN.ABORTED", "ACTOR.RUN.TIMED_OUT"]


def payload(event_type: str = "ACTOR.RUN.SUCCEEDED", **extra: Any) -> dict[str, Any]:
    """Apify's default payload for a run event, its run in the status the event says."""
    status = event_type.rpartition(".")[2].replace("_", "-")
    run = {**RUNS[0], "status": status} if status in RunStatus.__members__.values() else RUNS[0]
    return {
        "userId": run["userId"],
        "createdAt": "2025-01-02T03:04:05.678Z",
        "eventType": event_type,
        "eventData": {"actorId": run["actId"], "actorRunId": run["id"]},
        "resource": run,
        **extra,
    }


# --- parse_webhook ------------------------------------------------------------------------------


@pytest.mark.parametrize("run", RUNS)
def test_every_spec_run_decodes_as_a_resource(run: dict[str, Any]) -> None:
    body = json.dumps(payload("ACTOR.RUN.FAILED", resource=run))
    event = parse_webhook(body)
    assert event.event_type == WebhookEventType.FAILED
    assert event.resource is not None and event.resource.id == run["id"]
    assert event.event_data.actor_run_id == RUNS[0]["id"]
    assert event.event_data.actor_task_id is None
    assert event.created_at.year == 2025
    assert parse_webhook(body.encode()) == event


def test_unknown_fields_and_event_types_are_kept_forward_compatible() -> None:
    run = {**RUNS[0], "someNewField": {"nested": [1]}, "status": "PAUSED"}
    body = payload("ACTOR.RUN.PAUSED", resource=run, newTopLevel=True)
    body["eventData"]["newId"] = "x"
    event = parse_webhook(json.dumps(body))
    assert event.event_type == "ACTOR.RUN.PAUSED" and type(event.event_type) is str
    assert event.resource is not None and event.resource.status == "PAUSED"
    # A kind of event whose resource is not a run (a build's): the event, without a resource.
    build = payload("ACTOR.BUILD.SUCCEEDED", resource={"id": "b1", "status": "SUCCEEDED"})
    assert parse_webhook(json.dumps(build)).resource is None
    assert parse_webhook(json.dumps(payload("TEST", resource=None))).resource is None


def test_event_types_compare_equal_to_the_wire_strings() -> None:
    assert [str(member) for member in WebhookEventType] == [
        "ACTOR.RUN.CREATED",
        *TERMINAL[:2],
        "ACTOR.RUN.ABORTED",
        "ACTOR.RUN.TIMED_OUT",
        "ACTOR.RUN.RESURRECTED",
    ]
    wire: str = "ACTOR.RUN.TIMED_OUT"
    assert wire == WebhookEventType.TIMED_OUT and wire in set(WebhookEventType)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        "\ud800",
        b"[]",
        b"{}",
        b"[" * 100_000,
        json.dumps(payload(resource={"id": "only an id"})),
        json.dumps({k: v for k, v in payload().items() if k != "resource"}),
        json.dumps(payload(createdAt="yesterday")),
        json.dumps(payload(eventType=7)),
        b'{"userId": "u", "createdAt": "2025-01-01T00:00:00Z", "eventType": "TEST", "resource": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}",
    ],
)
def test_malformed_bodies_raise_a_typed_value_error(body: bytes | str) -> None:
    with pytest.raises(InvalidWebhookError) as raised:
        parse_webhook(body)
    assert isinstance(raised.value, ValueError)


def test_a_body_of_another_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="body must be bytes or str"):
        parse_webhook({"userId": "u"})  # type: ignore[arg-type]


def _json_like() -> st.SearchStrategy[bytes]:
    leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
    values = st.recursive(
        leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner)
    )
    keys = st.sampled_from(["userId", "createdAt", "eventType", "eventData", "resource"])
    return st.dictionaries(keys, values).map(lambda d: json.dumps(d).encode())


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300) | _json_like() | st.text(max_size=100))
def test_any_body_is_an_event_or_an_invalid_webhook_error(body: bytes | str) -> None:
    try:
        event = parse_webhook(body)
    except InvalidWebhookError:
        return
    assert isinstance(event, WebhookEvent)


@settings(max_examples=50, deadline=None)
@given(cut=st.integers(min_value=0, max_value=len(json.dumps(payload())) - 1))
def test_a_cut_payload_is_invalid(cut: int) -> None:
    with pytest.raises(InvalidWebhookError):
        parse_webhook(json.dumps(payload())[:cut])


# --- The receiver over HTTP ---------------------------------------------------------------------


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession,
    url: str,
    body: bytes | str | dict[str, Any],
    *,
    secret: str | None = SECRET,
    dispatch_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> int:
    sent = {"Content-Type": "application/json", **(headers or {})}
    if secret is not None:
        sent[HEADER] = secret
    if dispatch_id is not None:
        sent["X-Apify-Webhook-Dispatch-Id"] = dispatch_id
    data = json.dumps(body) if isinstance(body, dict) else body
    async with http.post(url, data=data, headers=sent) as response:
        await response.read()
        return response.status


async def test_an_event_is_handed_over_once_received(http: aiohttp.ClientSession) -> None:
    receiver = WebhookReceiver(secret=SECRET)
    async with receiver.serve() as url:
        assert url.startswith("http://127.0.0.1:") and receiver.public_url == url
        assert await post(http, url + "any/path", payload(), dispatch_id="d1") == 200
        with anyio.fail_after(2):
            event = await receiver.next_event()
    assert event.event_type == WebhookEventType.SUCCEEDED
    assert event.resource is not None and event.resource.status == RunStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("secret", "query"),
    [
        (None, ""),
        ("wrong-" + "y" * 20, ""),
        (SECRET[:-1], ""),
        ("é" * 30, ""),
        (None, "?secret=no"),
    ],
)
async def test_a_wrong_or_missing_secret_is_401(
    http: aiohttp.ClientSession, secret: str | None, query: str
) -> None:
    receiver = WebhookReceiver(secret=SECRET)
    async with receiver.serve() as url:
        headers = {HEADER: secret.encode().decode("latin-1")} if secret else {}
        assert await post(http, url + query, payload(), secret=None, headers=headers) == 401
    assert not receiver._events


async def test_the_secret_may_come_in_the_query_instead(http: aiohttp.ClientSession) -> None:
    receiver = WebhookReceiver(secret=SECRET)
    async with receiver.serve() as url:
        assert await post(http, f"{url}?secret={SECRET}", payload(), secret=None) == 200


async def test_the_secret_is_compared_in_constant_time(
    http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    receiver = WebhookReceiver(secret=SECRET, secret_header="X-My-Secret")
    async with receiver.serve() as url:
        assert (
            await post(http, url, payload(), secret=None, headers={"X-My-Secret": "a" * 26}) == 401
        )
        assert await post(http, url, payload(), secret=None, headers={"X-My-Secret": SECRET}) == 200
    assert compared == [(b"a" * 26, SECRET.encode()), (SECRET.encode(), SECRET.encode())]


async def test_a_body_over_the_cap_is_413(http: aiohttp.ClientSession) -> None:
    receiver = WebhookReceiver(secret=SECRET, max_body_bytes=5000)
    big = payload(padding="x" * 5000)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the cap is met reading
        for _ in range(10):
            yield b"x" * 1000

    async with receiver.serve() as url:
        assert await post(http, url, big) == 413
        async with http.post(url, data=chunks(), headers={HEADER: SECRET}) as response:
            assert response.status == 413
        assert await post(http, url, payload()) == 200  # under the cap
    assert len(receiver._events) == 1


async def test_a_malformed_payload_is_400(http: aiohttp.ClientSession) -> None:
    receiver = WebhookReceiver(secret=SECRET)
    async with receiver.serve() as url:
        assert await post(http, url, b"{not json") == 400
        assert await post(http, url, payload(resource={"id": "x"})) == 400
    assert not receiver._events


async def test_a_repeated_dispatch_is_handed_over_once(http: aiohttp.ClientSession) -> None:
    receiver = WebhookReceiver(secret=SECRET, remember_dispatches=2)
    async with receiver.serve() as url:
        for dispatch_id in ["d1", "d1", "d2", "d1", "d3", "d1"]:
            assert await post(http, url, payload(), dispatch_id=dispatch_id) == 200
    # d1 was forgotten once d2 and d3 came after it: only the last 2 ids are kept.
    assert len(receiver._events) == 4


async def test_an_unknown_event_type_is_handed_over_as_it_is(http: aiohttp.ClientSession) -> None:
    receiver = WebhookReceiver(secret=SECRET)
    async with receiver.serve() as url:
        assert await post(http, url, payload("ACTOR.RUN.SOMETHING_NEW")) == 200
        assert await post(http, url, payload("TEST", resource={"not": "a run"})) == 200
        with anyio.fail_after(2):
            first, second = [await receiver.next_event() for _ in range(2)]
    assert first.event_type == "ACTOR.RUN.SOMETHING_NEW" and first.resource is not None
    assert second.event_type == "TEST" and second.resource is None


async def test_a_full_queue_is_503_until_the_consumer_catches_up(
    http: aiohttp.ClientSession,
) -> None:
    receiver = WebhookReceiver(secret=SECRET, max_queued=2)
    async with receiver.serve() as url:
        assert await post(http, url, payload(), dispatch_id="d1") == 200
        assert await post(http, url, payload(), dispatch_id="d2") == 200
        assert await post(http, url, payload(), dispatch_id="d3") == 503
        await receiver.next_event()
        # The platform retries d3: not a duplicate, as it was never handed over.
        assert await post(http, url, payload(), dispatch_id="d3") == 200
        receiver.close()
        assert await post(http, url, payload(), dispatch_id="d4") == 503
    assert [event async for event in receiver] == [parse_webhook(json.dumps(payload()))] * 2


async def test_a_waiting_consumer_wakes_for_each_event(http: aiohttp.ClientSession) -> None:
    receiver = WebhookReceiver(secret=SECRET)
    got: list[str] = []

    async def consume() -> None:
        async for event in receiver:
            got.append(event.event_type)

    async with receiver.serve() as url, anyio.create_task_group() as group:
        group.start_soon(consume)
        for event_type in TERMINAL:
            assert await post(http, url, payload(event_type)) == 200
        receiver.close()
    assert got == TERMINAL


async def test_on_event_is_awaited_before_the_answer(http: aiohttp.ClientSession) -> None:
    taken: list[WebhookEvent] = []
    fail = [True]

    async def on_event(event: WebhookEvent) -> None:
        if fail.pop() if fail else False:
            raise RuntimeError("database down")
        taken.append(event)

    receiver = WebhookReceiver(secret=SECRET, on_event=on_event)
    async with receiver.serve() as url:
        assert await post(http, url, payload(), dispatch_id="d1") == 503
        assert await post(http, url, payload(), dispatch_id="d1") == 200
        assert await post(http, url, payload(), dispatch_id="d1") == 200
    assert len(taken) == 1 and not receiver._events


async def test_mounted_in_your_own_app(http: aiohttp.ClientSession) -> None:
    receiver = WebhookReceiver(secret=SECRET, public_url="https://hooks.example.com/apify")
    app = web.Application()
    app.router.add_post("/apify-webhook", receiver)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        assert await post(http, f"http://127.0.0.1:{port}/apify-webhook", payload()) == 200
    finally:
        await runner.cleanup()
    assert receiver.public_url == "https://hooks.example.com/apify"
    assert len(receiver._events) == 1


async def test_the_secret_is_never_logged(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = WebhookReceiver(secret=SECRET, max_queued=1)
    async with receiver.serve() as url:
        query = f"{url}?secret={SECRET}"
        assert await post(http, query, b"{" + SECRET.encode(), secret=None) == 400
        assert await post(http, query, payload(userId=SECRET), secret=None) == 200
        assert await post(http, query, payload(userId=SECRET), secret=None) == 503
        assert await post(http, url, payload(), secret=SECRET + "x") == 401
    assert "refused 400" in caplog.text and "refused 401" in caplog.text
    assert SECRET not in caplog.text and SECRET not in repr(receiver)


# --- The ad-hoc webhook -------------------------------------------------------------------------


def test_the_ad_hoc_webhook_calls_the_receiver_with_its_secret() -> None:
    receiver = WebhookReceiver(secret=SECRET, public_url="https://hooks.example.com/apify")
    hook = receiver.ad_hoc_webhook()
    assert hook == {
        "eventTypes": TERMINAL,
        "requestUrl": "https://hooks.example.com/apify",
        "headersTemplate": json.dumps({HEADER: SECRET}),
    }
    assert all(type(event) is str for event in hook["eventTypes"])  # plain, as JSON has them
    assert receiver.ad_hoc_webhook([WebhookEventType.CREATED])["eventTypes"] == [
        "ACTOR.RUN.CREATED"
    ]


def _sent_webhooks(fake_api: FakeApi) -> list[list[dict[str, Any]]]:
    starts = [r for r in fake_api.requests if r.method == "POST"]
    return [json.loads(base64.b64decode(r.query["webhooks"])) for r in starts]


async def test_start_adds_the_receivers_webhook(fake_client: ApifyRuns, fake_api: FakeApi) -> None:
    fake_api.reply = json_reply(200, {"data": RUNS[0]})
    receiver = WebhookReceiver(secret=SECRET, public_url="https://hooks.example.com/apify")
    other = {"event_types": ["ACTOR.RUN.CREATED"], "request_url": "https://other.test/"}
    await fake_client.start("me/actor", webhooks=receiver)
    await fake_client.start_task("me/task", webhooks=[receiver, other])
    hook = receiver.ad_hoc_webhook()
    assert _sent_webhooks(fake_api) == [
        [hook],
        [hook, {"eventTypes": ["ACTOR.RUN.CREATED"], "requestUrl": "https://other.test/"}],
    ]


async def test_call_many_adds_the_receivers_webhook_to_each_start(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    async def reply(request: web.Request) -> web.StreamResponse:
        if "/records/" in request.path:
            return web.json_response({"error": {"type": "record-not-found"}}, status=404)
        return web.json_response({"data": RUNS[0]})

    fake_api.reply = reply
    receiver = WebhookReceiver(secret=SECRET, public_url="https://hooks.example.com/apify")
    calls = fake_client.call_many(
        "me/actor", [{"n": 1}, {"n": 2}], concurrency=2, webhooks=receiver
    )
    async with calls as results:
        assert len([result async for result in results]) == 2
    assert _sent_webhooks(fake_api) == [[receiver.ad_hoc_webhook()]] * 2


async def test_the_emulator_takes_the_receivers_webhook(client: ApifyRuns) -> None:
    receiver = WebhookReceiver(secret=SECRET)
    async with receiver.serve() as url:
        run = await client.start("apify/hello-world", webhooks=receiver)
    assert run.id and receiver.public_url == url


# --- Arguments ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"secret": "short"}, ValueError, "secret must be at least 16"),
        ({"secret": "has spaces in it, so no"}, ValueError, "secret must be"),
        ({"secret": b"x" * 20}, TypeError, "secret must be a str"),
        ({"public_url": "ftp://x"}, ValueError, "public_url must be an http"),
        ({"public_url": 7}, TypeError, "public_url must be a str"),
        ({"public_url": "https://a b/"}, ValueError, "public_url must be non-empty"),
        ({"secret_header": "X-Apify-Webhook"}, ValueError, "secret_header"),
        ({"secret_header": "Bad Header"}, ValueError, "secret_header"),
        ({"max_body_bytes": 0}, ValueError, "max_body_bytes"),
        ({"max_queued": 1.5}, ValueError, "max_queued"),
        ({"remember_dispatches": -1}, ValueError, "remember_dispatches"),
        ({"on_event": "print"}, TypeError, "on_event"),
    ],
)
def test_bad_arguments_name_themselves(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        WebhookReceiver(**{"secret": SECRET, **options})


def test_the_ad_hoc_webhook_needs_a_public_url_and_event_types() -> None:
    receiver = WebhookReceiver(secret=SECRET)
    with pytest.raises(ValueError, match="public_url is not known"):
        receiver.ad_hoc_webhook()
    receiver = WebhookReceiver(secret=SECRET, public_url="http://127.0.0.1:1/")
    with pytest.raises(TypeError, match="event_types"):
        receiver.ad_hoc_webhook("ACTOR.RUN.FAILED")
    with pytest.raises(ValueError, match="event_types"):
        receiver.ad_hoc_webhook([])


def test_a_webhook_event_round_trips_through_msgspec() -> None:
    event = parse_webhook(json.dumps(payload()))
    assert msgspec.json.decode(msgspec.json.encode(event), type=WebhookEvent) == event
    assert json.loads(msgspec.json.encode(event))["eventData"]["actorRunId"] == RUNS[0]["id"]


def test_a_random_secret_is_accepted() -> None:
    WebhookReceiver(secret=secrets.token_urlsafe())


@pytest.mark.parametrize(
    ("host", "port", "error"),
    [("", 0, ValueError), ("127.0.0.1", 65536, ValueError), ("127.0.0.1", -1, ValueError)],
)
async def test_serve_checks_its_address(host: str, port: int, error: type[Exception]) -> None:
    receiver = WebhookReceiver(secret=SECRET)
    with pytest.raises(error, match="host" if not host else "port"):
        async with receiver.serve(host, port):
            pass


def test_event_data_may_be_missing_or_null() -> None:
    for event_data in ({}, {"eventData": None}):
        body = {k: v for k, v in payload().items() if k != "eventData"} | event_data
        assert parse_webhook(json.dumps(body)).event_data.actor_run_id is None


async def test_a_repeat_while_on_event_runs_is_503(http: aiohttp.ClientSession) -> None:
    entered, release = anyio.Event(), anyio.Event()
    taken: list[WebhookEvent] = []

    async def on_event(event: WebhookEvent) -> None:
        entered.set()
        await release.wait()
        taken.append(event)

    receiver = WebhookReceiver(secret=SECRET, on_event=on_event)
    statuses: list[int] = []

    async def deliver() -> None:
        statuses.append(await post(http, url, payload(), dispatch_id="d1"))

    async with receiver.serve() as url, anyio.create_task_group() as group:
        group.start_soon(deliver)
        with anyio.fail_after(2):
            await entered.wait()
        # Not handed over yet, nor refused: the platform is to try again later.
        assert await post(http, url, payload(), dispatch_id="d1") == 503
        release.set()
    assert statuses == [200] and len(taken) == 1


async def test_a_receiver_without_a_public_url_fails_the_start_before_sending(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    with pytest.raises(ValueError, match="public_url is not known"):
        await fake_client.start("me/actor", webhooks=WebhookReceiver(secret=SECRET))
    assert not fake_api.requests


# --- End to end: the emulator delivers, the receiver hands over --------------------------------


@pytest.mark.anyio
async def test_the_emulators_webhooks_reach_the_receiver_once_each(emulator: ApifyEmulator) -> None:
    receiver = WebhookReceiver(secret="a-long-enough-secret")
    async with (
        receiver.serve() as url,
        ApifyRuns(emulator.token, base_url=emulator.base_url) as client,
    ):
        assert url.startswith("http://127.0.0.1:")
        quick = {"steps": [{"sleepSecs": 0.05, "statusMessage": "done"}]}
        doomed = {**quick, "outcome": "FAILED"}
        runs = [
            await client.start("emulator~scripted", run_input, webhooks=receiver)
            for run_input in (quick, doomed)
        ]
        with anyio.fail_after(10):
            events = [await receiver.next_event() for _ in runs]
    by_run = {event.event_data.actor_run_id: event for event in events}
    assert set(by_run) == {run.id for run in runs}
    assert by_run[runs[0].id].event_type == WebhookEventType.SUCCEEDED
    assert by_run[runs[1].id].event_type == WebhookEventType.FAILED
    for run_id, event in by_run.items():
        assert event.resource is not None and event.resource.id == run_id
        assert event.resource.is_terminal
    assert [d.status for d in emulator.webhook_dispatches] == ["SUCCEEDED", "SUCCEEDED"]
