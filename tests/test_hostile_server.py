"""A hostile server gets typed errors, bounded waits and nothing leaked: each property tried
across every operation it applies to.

Every test talks real HTTP to a purpose-built server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any
from urllib.parse import quote, quote_plus

import aiohttp
import anyio
import msgspec
import pytest
from aiohttp import web

from apify_runs_async import (
    ApiError,
    ApifyError,
    ApifyRuns,
    ApifyTimeoutError,
    InvalidResponseError,
    Retries,
    Run,
    RunFailedError,
    ServerError,
    Timeouts,
    WrongEventLoopError,
)
from tests.fake_api import FakeApi, Reply, body_reply, error_reply, in_turn, json_reply
from tests.helpers import ONE_TRY, RUN_ID, everything_about, run_body

pytestmark = pytest.mark.anyio

TOKEN = "tok/SECRET+hostile=5f2a"  # its URL-encoded forms differ from it
TOKEN_FORMS = (TOKEN, quote(TOKEN), quote(TOKEN, safe=""), quote_plus(TOKEN))
RETRIES = Retries(max_tries=3, delay=lambda tries, retry_after: 0.001)

Operation = Callable[[ApifyRuns], Coroutine[Any, Any, object]]


async def _collect(items: Any) -> list[Any]:
    return [item async for item in items]


# Every operation of the client, each in the shape that sends its requests.
OPERATIONS: dict[str, Operation] = {
    "get": lambda c: c.get(RUN_ID),
    "abort": lambda c: c.abort(RUN_ID),
    "update": lambda c: c.update(RUN_ID, status_message="x"),
    "delete": lambda c: c.delete(RUN_ID),
    "metamorph": lambda c: c.metamorph(RUN_ID, target_actor_id="a~b"),
    "reboot": lambda c: c.reboot(RUN_ID),
    "resurrect": lambda c: c.resurrect(RUN_ID),
    "start": lambda c: c.start("a~b", {"x": 1}),
    "start_task": lambda c: c.start_task("me~task", {"x": 1}),
    "wait_for_finish": lambda c: c.wait_for_finish(RUN_ID),
    "watch": lambda c: _collect(c.watch(RUN_ID)),
    "list_runs": lambda c: c.list_runs("a~b"),
    "iterate_runs": lambda c: _collect(c.iterate_runs("a~b")),
    "last_run": lambda c: c.last_run("a~b"),
    "get_record": lambda c: c.get_record(RUN_ID),
    "record_exists": lambda c: c.record_exists(RUN_ID, "OUTPUT"),
    "download_record": lambda c: c.download_record(RUN_ID, "OUTPUT", to=io.BytesIO()),
    "iterate_keys": lambda c: _collect(c.iterate_keys(RUN_ID)),
    "get_log": lambda c: c.get_log(RUN_ID),
    "stream_log": lambda c: _collect(c.stream_log(RUN_ID)),
    "list_items": lambda c: c.list_items(RUN_ID),
    "iterate_items": lambda c: _collect(c.iterate_items(RUN_ID)),
    "download_items": lambda c: c.download_items(RUN_ID, to=io.BytesIO()),
    "dataset": lambda c: c.dataset("d1").get(),
    "charge": lambda c: c.charge(RUN_ID, "event"),
}
# Those that read a JSON body on success (the others take it as it is, or have none).
JSON_READERS = [
    name
    for name in OPERATIONS
    if name
    not in (
        "delete",
        "record_exists",
        "download_record",
        "get_log",
        "stream_log",
        "download_items",
        "charge",
        "get_record",
    )
]
# Those safe to send again as they are: a retried failure shows as one more request.
REPEATABLE = ["get", "update", "list_runs", "get_record", "get_log", "list_items", "dataset"]

HOSTILE_BODIES = {
    "nested": b'{"error": {"type": "x", "more": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
    "nested-unclosed": b'{"data": {"id": "x", "more": ' + b"[" * 100_000,
    "invalid-utf8": b'{"error": {"type": "x", "message": "\xff\xfe\xc3"}}',
    "huge-number": b'{"error": {"type": 1' + b"0" * 5000 + b', "message": 1e999}}',
    "duplicate-keys": b'{"error": {"type": "a", "type": "b", "message": "m", "message": 2}}',
    "not-json": b"\x00\x01<html>",
}


def client(fake_api: FakeApi, **options: Any) -> ApifyRuns:
    options = {"timeouts": Timeouts(read=2), "retries": ONE_TRY, **options}
    return ApifyRuns(TOKEN, base_url=fake_api.base_url, **options)


# --- Every body is read by one hardened path ---------------------------------------------------


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
@pytest.mark.parametrize("name", OPERATIONS)
async def test_a_hostile_error_body_is_a_typed_error(
    fake_api: FakeApi, name: str, body: bytes
) -> None:
    fake_api.reply = body_reply(400, body)
    async with client(fake_api) as c:
        with pytest.raises(ApiError) as caught:
            await OPERATIONS[name](c)
    assert caught.value.status == 400


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
@pytest.mark.parametrize("name", JSON_READERS)
async def test_a_hostile_success_body_is_a_typed_error(
    fake_api: FakeApi, name: str, body: bytes
) -> None:
    fake_api.reply = body_reply(200, body)
    async with client(fake_api) as c:
        with pytest.raises(InvalidResponseError):
            await OPERATIONS[name](c)


@pytest.mark.parametrize("name", REPEATABLE)
async def test_a_retryable_status_with_a_hostile_body_is_retried(
    fake_api: FakeApi, name: str
) -> None:
    fake_api.reply = body_reply(503, HOSTILE_BODIES["nested"])
    async with client(fake_api, retries=RETRIES) as c:
        with pytest.raises(ServerError):
            await OPERATIONS[name](c)
    assert len(fake_api.requests) == 3


async def test_a_bad_item_among_hostile_json_is_a_typed_error(fake_api: FakeApi) -> None:
    # The first item does not fit, so the page is read again item by item: that second read
    # meets the nesting too.
    body = b"[1, " + b"[" * 100_000 + b"]" * 100_000 + b"]"
    headers = {
        f"X-Apify-Pagination-{name}": value
        for name, value in (("Offset", "0"), ("Limit", "2"), ("Count", "2"), ("Total", "2"))
    }
    fake_api.reply = body_reply(200, body, headers=headers)
    async with client(fake_api) as c:
        with pytest.raises(InvalidResponseError):
            await c.list_items(RUN_ID, item_type=dict[str, int])


UNREADABLE = {name: body for name, body in HOSTILE_BODIES.items() if name != "duplicate-keys"}


@pytest.mark.parametrize("body", UNREADABLE.values(), ids=UNREADABLE.keys())
async def test_a_hostile_record_is_data_whose_json_fails_as_documented(
    fake_api: FakeApi, body: bytes
) -> None:
    fake_api.reply = body_reply(200, body)
    async with client(fake_api) as c:
        record = await c.get_record(RUN_ID)
    assert record is not None and record.body == body  # a record is data, whatever it holds
    with pytest.raises(msgspec.DecodeError):
        record.json()


# --- Whatever the server sends back is redacted ------------------------------------------------


def assert_no_token(texts: list[str]) -> None:
    """No form of the token, nor the first half of one (where a message is cut), in `texts`."""
    halves = [form[: len(form) // 2] for form in TOKEN_FORMS]
    assert not [text for text in texts if any(half in text for half in halves)]


ECHOES: dict[str, Callable[[str], Reply]] = {
    "message": lambda token: error_reply(400, "invalid-input", f"bad token {token}!"),
    "type": lambda token: error_reply(400, f"type-{token}", "m"),
    "text-body": lambda token: text_reply(400, f"<html>token={token}</html>"),
    "after-control-characters": lambda token: text_reply(400, f"\x1b[2J\r\n{token}\x00"),
    "far-in": lambda token: text_reply(400, "\u20ac" * 185 + token),  # across the excerpt's cut
}


def text_reply(status: int, text: str) -> Reply:
    async def reply(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, text=text, content_type="text/html")

    return reply


# Each operation with each echo, the token in each of its forms in turn: every form meets
# every echo and many operations, without the whole product.
ECHO_CASES = [
    (name, echo, TOKEN_FORMS[(n + e) % len(TOKEN_FORMS)])
    for n, name in enumerate(OPERATIONS)
    for e, echo in enumerate(ECHOES)
]


@pytest.mark.parametrize(("name", "echo", "form"), ECHO_CASES)
async def test_a_token_the_server_echoes_is_redacted(
    fake_api: FakeApi, caplog: pytest.LogCaptureFixture, name: str, echo: str, form: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="apify_runs_async")
    fake_api.reply = ECHOES[echo](form)
    async with client(fake_api, retries=RETRIES) as c:
        with pytest.raises(ApiError) as caught:
            await OPERATIONS[name](c)
    assert caught.value.status == 400
    assert_no_token([*everything_about(caught.value), caplog.text])
    if echo == "message" and name != "record_exists":  # a HEAD answer has no body
        assert "bad token ***!" in str(caught.value)


@pytest.mark.parametrize("name", JSON_READERS)
async def test_a_token_in_a_garbled_success_is_redacted(fake_api: FakeApi, name: str) -> None:
    fake_api.reply = text_reply(200, f'{{"data": "{TOKEN}"')
    async with client(fake_api) as c:
        with pytest.raises(InvalidResponseError) as caught:
            await OPERATIONS[name](c)
    assert_no_token(everything_about(caught.value))
    assert "***" in caught.value.excerpt


def run_route(status: str, log: str) -> Reply:
    """A run that has ended `status` with the token in its status message, and a log that
    has the token in it; no records."""

    async def reply(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/log"):
            return web.Response(text=log)
        if "/records/" in request.path:
            return await error_reply(404, "record-not-found", "no record")(request)
        return await json_reply(201, run_body(status=status, statusMessage=f"{TOKEN} left"))(
            request
        )

    return reply


async def test_a_token_in_a_failed_runs_status_message_is_redacted(fake_api: FakeApi) -> None:
    fake_api.reply = run_route("FAILED", "")
    async with client(fake_api) as c:
        with pytest.raises(RunFailedError) as caught:
            await c.call("a~b", raise_on_failure=True)
    assert str(caught.value).endswith("ended FAILED: *** left")
    assert caught.value.run.status_message == f"{TOKEN} left"  # the run itself is data
    assert_no_token([str(caught.value), repr(caught.value), repr(caught.value.args)])


async def test_a_token_in_a_forwarded_log_line_is_redacted(
    fake_api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tests.hostile_log")
    fake_api.reply = run_route("SUCCEEDED", f"one\nthe token is {quote(TOKEN)}\n")
    async with client(fake_api) as c:
        await c.call("a~b", log=logging.getLogger("tests.hostile_log"))
    lines = [record.getMessage() for record in caplog.records]
    assert lines[-1].endswith("the token is ***")
    assert_no_token(lines)


async def test_a_short_token_is_not_redacted_from_every_word(fake_api: FakeApi) -> None:
    fake_api.reply = error_reply(400, "invalid-input", "the input is bad")
    async with ApifyRuns("t", base_url=fake_api.base_url, retries=ONE_TRY) as c:
        with pytest.raises(ApifyError, match="the input is bad"):
            await c.get(RUN_ID)


# --- A client used from the wrong event loop fails clearly -------------------------------------


@pytest.mark.parametrize("name", OPERATIONS)
async def test_a_client_used_from_another_loop_fails_clearly(fake_api: FakeApi, name: str) -> None:
    fake_api.reply = json_reply(200, run_body())
    async with client(fake_api) as c:

        def in_another_loop() -> None:
            asyncio.run(OPERATIONS[name](c))

        with pytest.raises(WrongEventLoopError, match="opened in another event loop"):
            await anyio.to_thread.run_sync(in_another_loop)
        assert fake_api.requests == []  # its connections were not touched
        await c.get(RUN_ID)  # and in its own loop, it still works


async def test_a_client_opened_in_another_loop_fails_clearly(fake_api: FakeApi) -> None:
    fake_api.reply = json_reply(200, run_body())
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever)
    thread.start()

    async def in_its_loop(coroutine: Coroutine[Any, Any, object]) -> object:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, loop))

    try:
        c = client(fake_api)
        await in_its_loop(c.__aenter__())
        with pytest.raises(WrongEventLoopError):
            await c.get(RUN_ID)
        with pytest.raises(WrongEventLoopError):
            await _collect(c.stream_log(RUN_ID))
        assert fake_api.requests == []
        with pytest.raises(WrongEventLoopError, match="closed"):
            await c.aclose()
        await in_its_loop(c.get(RUN_ID))  # in its own loop, it works
        await in_its_loop(c.aclose())
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


# --- A response must be about the run asked for ------------------------------------------------

OTHER_RUN = run_body(id="SomeOtherRun42")
# Every operation whose answer names the run it asked about.
RUN_LEVEL = ["get", "abort", "update", "metamorph", "reboot", "resurrect", "wait_for_finish"]
RUN_LEVEL += ["watch"]


@pytest.mark.parametrize("name", RUN_LEVEL)
async def test_an_answer_about_another_run_is_invalid(fake_api: FakeApi, name: str) -> None:
    fake_api.reply = json_reply(200, OTHER_RUN)
    async with client(fake_api, retries=RETRIES) as c:
        with pytest.raises(InvalidResponseError, match="is about run 'SomeOtherRun42'"):
            await OPERATIONS[name](c)
    assert len(fake_api.requests) >= 3  # retried like a garbled answer, to the last try


@pytest.mark.parametrize("name", ["get", "abort", "update", "wait_for_finish"])
async def test_an_answer_about_another_run_is_retried(fake_api: FakeApi, name: str) -> None:
    fake_api.reply = in_turn(json_reply(200, OTHER_RUN), json_reply(200, run_body()))
    async with client(fake_api, retries=RETRIES) as c:
        run = await OPERATIONS[name](c)
    assert isinstance(run, Run) and run.id == RUN_ID
    assert len(fake_api.requests) == 2


COUNTS: dict[str, Callable[[int], dict[str, Any]]] = {
    "reboot": lambda done: run_body(status="RUNNING", stats={"rebootCount": done}),
    "resurrect": lambda done: run_body(status="RUNNING", stats={"resurrectCount": done}),
    "metamorph": lambda done: run_body(
        status="RUNNING",
        metamorphs=[{"createdAt": "2024-01-01T00:00:00.000Z", "actorId": "a", "buildId": "b"}]
        * done,
    ),
}


@pytest.mark.parametrize("name", COUNTS)
async def test_a_change_answered_about_another_run_is_not_done_twice(
    fake_api: FakeApi, name: str
) -> None:
    done = 0

    async def reply(request: web.Request) -> web.StreamResponse:
        nonlocal done
        if request.method == "POST":
            done += 1
            return await json_reply(200, OTHER_RUN)(request)
        return await json_reply(200, COUNTS[name](done))(request)

    fake_api.reply = reply
    async with client(fake_api, retries=RETRIES) as c:
        run = await OPERATIONS[name](c)
    assert isinstance(run, Run) and run.id == RUN_ID
    assert done == 1  # the answer took effect: found so, and not sent again


async def test_a_start_answered_with_garbled_json_does_not_start_twice(
    fake_api: FakeApi,
) -> None:
    started: list[str] = []

    async def reply(request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            started.append(request.headers["User-Agent"])
            return web.Response(status=201, body=b'{"data": {', content_type="application/json")
        if request.path.endswith("/runs"):  # the look-up for a run the try started
            item = {**run_body()["data"], "meta": {"origin": "API", "userAgent": started[-1]}}
            listed = {"items": [item], "total": 1, "offset": 0, "limit": 100, "count": 1}
            return await json_reply(200, {"data": {**listed, "desc": True}})(request)
        return await json_reply(200, run_body(status="RUNNING"))(request)

    fake_api.reply = reply
    async with client(fake_api, retries=RETRIES) as c:
        run = await c.start("a~b")
    assert run.id == RUN_ID
    assert len(started) == 1


# --- Every phase of a response is bounded by a timeout -----------------------------------------

FAST = Timeouts(connect=0.1, read=0.2)  # a response opens within 0.3 s, or never


@contextlib.asynccontextmanager
async def trickling_server(head: bytes) -> AsyncIterator[str]:
    """A server on 127.0.0.1 that answers each request with `head` (a status line and headers
    that never end), one byte every 20 ms: never silent long enough for a read timeout."""
    tasks: set[asyncio.Task[None]] = set()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await reader.readuntil(b"\r\n\r\n")
            for byte in head:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.02)
        except ConnectionError:
            pass  # the client gave up
        finally:
            writer.close()
            tasks.discard(task)

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        host, port = server.sockets[0].getsockname()[:2]
        yield f"http://{host}:{port}"
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


TRICKLED_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: " + b"a" * 10_000
# Those that read a response whole (`send`), and those that stream it (`stream`).
TRICKLED = ["get", "start", "update", "list_runs", "get_record", "list_items"]
TRICKLED += ["download_record", "download_items", "stream_log"]


@pytest.mark.parametrize("name", TRICKLED)
async def test_headers_trickled_a_byte_at_a_time_are_cut_off(name: str) -> None:
    async with (
        trickling_server(TRICKLED_HEAD) as base_url,
        ApifyRuns(TOKEN, base_url=base_url, timeouts=FAST, retries=ONE_TRY) as c,
    ):
        began = time.monotonic()
        with anyio.fail_after(5), pytest.raises(ApifyTimeoutError) as caught:
            await OPERATIONS[name](c)
    # 0.3 s, the time a response has to open (stream_log looks at the run too), with room for a
    # busy machine: the trickle would last 200 s.
    assert time.monotonic() - began < 4
    assert caught.value.maybe_processed  # the request was sent


async def test_a_cancellation_while_a_response_opens_stays_a_cancellation() -> None:
    # The deadline of opening is far off: the caller's own cancellation is not a timeout.
    slow = Timeouts(connect=0.1, read=5)
    async with (
        trickling_server(TRICKLED_HEAD) as base_url,
        ApifyRuns(TOKEN, base_url=base_url, timeouts=slow, retries=ONE_TRY) as c,
    ):
        began = time.monotonic()
        with anyio.move_on_after(0.3) as scope:
            await c.get(RUN_ID)
        assert scope.cancelled_caught
        assert time.monotonic() - began < 1
        await anyio.sleep(0.1)  # no stray cancellation reaches the caller later
        watching = [t for t in asyncio.all_tasks() if "Watchdog" in repr(t.get_coro())]
    assert all(task.done() for task in watching)  # nothing left running once it is closed


async def test_a_long_poll_gives_its_headers_the_hold_too() -> None:
    async with (
        trickling_server(TRICKLED_HEAD) as base_url,
        ApifyRuns(TOKEN, base_url=base_url, timeouts=FAST, retries=ONE_TRY) as c,
    ):
        began = time.monotonic()
        with anyio.fail_after(5), pytest.raises(ApifyTimeoutError):
            await c.get(RUN_ID, wait_for_finish=1)
    assert 1.2 < time.monotonic() - began < 3  # 0.3 s, and the 1 s the server may hold it


async def test_a_wait_for_a_free_connection_is_not_a_timeout(fake_api: FakeApi) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.1)  # well within the timeouts, but six in a row are not
        return await json_reply(200, run_body())(request)

    fake_api.reply = slow
    timeouts = Timeouts(connect=0.1, read=0.3)
    options = {"timeouts": timeouts, "retries": ONE_TRY, "max_connections": 1}
    async with client(fake_api, **options) as c, anyio.create_task_group() as group:
        for _ in range(6):
            group.start_soon(c.get, RUN_ID)
    assert len(fake_api.requests) == 6


async def test_a_wait_in_a_lent_sessions_pool_counts_against_the_timeout(
    fake_api: FakeApi,
) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.1)
        return await json_reply(200, run_body())(request)

    fake_api.reply = slow
    outcomes: list[str] = []
    timeouts = Timeouts(connect=0.1, read=0.3)

    async def get(c: ApifyRuns) -> None:
        try:
            await c.get(RUN_ID)
        except ApifyTimeoutError:
            outcomes.append("timed out")
        else:
            outcomes.append("done")

    # As documented: the client cannot tell a wait in a lent session's pool from a slow answer.
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session,
        ApifyRuns(
            TOKEN, base_url=fake_api.base_url, session=session, timeouts=timeouts, retries=ONE_TRY
        ) as c,
        anyio.create_task_group() as group,
    ):
        for _ in range(6):
            group.start_soon(get, c)
    assert "done" in outcomes and "timed out" in outcomes
