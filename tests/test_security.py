"""Security and hostile input: the token stays secret, and neither a hostile server nor a bad
argument can do more than raise a clear, typed error.

Every test talks real HTTP to a `FakeApi` on 127.0.0.1 (two of them where a redirect must
cross origins). What `test_errors.py` and `test_validation.py` already show is not repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import inspect
import json
import logging
import math
from collections.abc import AsyncGenerator, Callable
from typing import Any

import anyio
import msgspec
import pytest
from aiohttp import web

from apify_runs_async import (
    ApiError,
    ApifyConnectionError,
    ApifyError,
    ApifyRuns,
    ApifyTimeoutError,
    InvalidResponseError,
    ResponseTooLargeError,
    Retries,
    RunStream,
    ServerError,
    Timeouts,
    UncertainOutcomeError,
)
from tests.fake_api import (
    FakeApi,
    Received,
    Reply,
    body_reply,
    drop,
    error_reply,
    in_turn,
    json_reply,
    raw_server,
)
from tests.helpers import FAST_RETRIES, ONE_TRY, everything_about
from tests.spec import run_response_examples

TOKEN = "tok-SECRET-security-7e31"

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.client_options(token=TOKEN, timeouts=Timeouts(read=2), retries=ONE_TRY),
]
RUN_BODY: dict[str, Any] = run_response_examples()[0][1]
RUN_ID: str = RUN_BODY["data"]["id"]
RUN_JSON = json.dumps(RUN_BODY).encode()
EMPTY_RUN_LIST = {
    "data": {"items": [], "total": 0, "offset": 0, "limit": 100, "count": 0, "desc": True}
}
RECORD_PATH = f"/v2/actor-runs/{RUN_ID}/key-value-store/records/OUTPUT"
EXCERPT_MAX = 203  # 200 characters of the body, then "..."


# --- Helpers -----------------------------------------------------------------------------------


def sent_as(body: bytes, mode: str, content_type: str = "application/json") -> Reply:
    """`body` with a Content-Length ("length"), chunked without one, or gzip-compressed."""

    async def reply(request: web.Request) -> web.StreamResponse:
        if mode == "length":
            return web.Response(body=body, content_type=content_type)
        if mode == "gzip":
            compressed = gzip.compress(body)
            headers = {"Content-Encoding": "gzip"}
            return web.Response(body=compressed, content_type=content_type, headers=headers)
        assert mode == "chunked"
        response = web.StreamResponse()
        response.content_type = content_type
        await response.prepare(request)
        for start in range(0, len(body), 256):
            await response.write(body[start : start + 256])
        await response.write_eof()
        return response

    return reply


def cut_off(body: bytes, mode: str) -> Reply:
    """Half of `body`, then the connection closes; announced as whole by its headers."""

    async def reply(request: web.Request) -> web.StreamResponse:
        payload = gzip.compress(body) if mode == "gzip" else body
        response = web.StreamResponse()
        response.content_type = "application/json"
        if mode == "gzip":
            response.headers["Content-Encoding"] = "gzip"
        if mode in ("gzip", "length"):
            response.content_length = len(payload)
        await response.prepare(request)
        await response.write(payload[: len(payload) // 2])
        assert request.transport is not None
        request.transport.close()
        return response

    return reply


def padded_run(size: int) -> bytes:
    """The spec's run response, padded with spaces to exactly `size` bytes."""
    assert size >= len(RUN_JSON)
    return RUN_JSON + b" " * (size - len(RUN_JSON))


def assert_token_absent(texts: list[str], requests: list[Received]) -> None:
    """The token is in none of `texts`, and only in the Authorization header of requests."""
    assert not [text for text in texts if TOKEN in text]
    for request in requests:
        assert TOKEN not in request.path
        assert TOKEN not in repr(request.query)
        assert TOKEN.encode() not in request.body
        for name, value in request.headers.items():
            if name.lower() == "authorization":
                assert value == f"Bearer {TOKEN}"
            else:
                assert TOKEN not in value, name


def debug_everywhere(caplog: pytest.LogCaptureFixture) -> None:
    """Capture DEBUG from every logger, including those that set a level of their own."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    for name in ("apify_runs_async", "apify_runs_async.retries", "aiohttp", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)


# --- The token ---------------------------------------------------------------------------------


async def test_no_token_in_logs_or_errors_through_retries(
    fake_api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    debug_everywhere(caplog)
    seen: list[str] = []

    async with ApifyRuns(
        TOKEN, base_url=fake_api.base_url, timeouts=Timeouts(read=2), retries=FAST_RETRIES
    ) as c:
        seen += [repr(c), repr(c.run(RUN_ID)), repr(c.retries), repr(c.timeouts)]
        # Passing failures, then success.
        fake_api.reply = in_turn(error_reply(503, "x", "busy"), drop, json_reply(200, RUN_BODY))
        assert (await c.get(RUN_ID)) is not None
        slow_down = error_reply(429, "rate-limit-exceeded", "slow down")
        fake_api.reply = in_turn(slow_down, drop, json_reply(200, RUN_BODY))
        assert (await c.abort(RUN_ID)).id == RUN_ID
        # Failures to the last try.
        for reply in (drop, error_reply(502, "x", "bad gateway"), body_reply(200, b"{bad")):
            fake_api.reply = reply
            with pytest.raises(ApifyError) as caught:
                await c.update(RUN_ID, status_message="hi")
            seen += everything_about(caught.value)
        fake_api.reply = error_reply(500, "x", "boom")
        with pytest.raises(ServerError) as server_error:
            await c.delete(RUN_ID)
        seen += everything_about(server_error.value)
    retried = [r for r in caplog.records if r.name == "apify_runs_async.retries"]
    assert retried, "the retries should have been logged"
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    seen += [caplog.text, *(repr(r.args) for r in caplog.records)]
    assert len(fake_api.requests) > 10
    assert_token_absent(seen, fake_api.requests)


async def test_no_token_while_a_start_in_doubt_is_reconciled(
    fake_api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    debug_everywhere(caplog)
    posts = 0

    async def reply(request: web.Request) -> web.StreamResponse:
        nonlocal posts
        if request.method == "GET":  # the Actor's runs: none carries the nonce
            return web.json_response(EMPTY_RUN_LIST)
        posts += 1
        if posts == 1:
            return web.json_response({"error": {"type": "x", "message": "unavailable"}}, status=503)
        return web.json_response(RUN_BODY)

    fake_api.reply = reply
    async with ApifyRuns(TOKEN, base_url=fake_api.base_url, retries=FAST_RETRIES) as c:
        run = await c.start("janedoe/my-actor", {"x": 1})
    assert run.id == RUN_ID
    methods = [(r.method, r.path) for r in fake_api.requests]
    runs = "/v2/actors/janedoe~my-actor/runs"
    assert methods == [("POST", runs), ("GET", runs), ("POST", runs)]
    listing = fake_api.requests[1]
    assert {"desc", "limit", "offset"} <= set(listing.query)
    first, second = (fake_api.requests[0].headers, fake_api.requests[2].headers)
    assert "nonce/" in first["User-Agent"] and first["User-Agent"] != second["User-Agent"]
    assert caplog.records
    assert_token_absent([caplog.text, *(repr(r.args) for r in caplog.records)], fake_api.requests)


async def test_no_token_in_an_uncertain_outcome_and_its_causes(
    fake_api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    # The start may have happened, and listing the runs keeps failing: the client cannot tell.
    debug_everywhere(caplog)
    fake_api.reply = error_reply(503, "x", "unavailable")
    async with ApifyRuns(TOKEN, base_url=fake_api.base_url, retries=FAST_RETRIES) as c:
        with pytest.raises(UncertainOutcomeError) as caught:
            await c.start("a~b", {"x": 1})
        seen = everything_about(caught.value)
        fake_api.reply = in_turn(json_reply(200, RUN_BODY), error_reply(503, "x", "unavailable"))
        with pytest.raises(UncertainOutcomeError) as reboot:
            await c.reboot(RUN_ID)
        seen += everything_about(reboot.value)
    assert isinstance(caught.value.__cause__, ServerError)
    assert caught.value.nonce is not None and caught.value.nonce in str(caught.value)
    assert sum(r.method == "GET" for r in fake_api.requests) > 5  # it did try to find out
    assert_token_absent([*seen, caplog.text], fake_api.requests)


async def test_no_token_from_the_environment_either(
    fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APIFY_TOKEN", TOKEN)
    fake_api.reply = error_reply(401, "invalid-token", "Authentication token is not valid")
    async with ApifyRuns(base_url=fake_api.base_url) as c:
        seen = [repr(c)]
        with pytest.raises(ApiError) as caught:
            await c.get(RUN_ID)
        seen += everything_about(caught.value)
    assert "token=set" in seen[0]
    (sent,) = fake_api.requests
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert_token_absent(seen, fake_api.requests)


# --- Redirects ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_record_redirected_to_another_origin_goes_without_the_token(
    fake_client: ApifyRuns, fake_api: FakeApi, status: int
) -> None:
    async with FakeApi() as signed:  # another port: another origin

        async def to_signed(request: web.Request) -> web.StreamResponse:
            location = f"{signed.base_url}/signed/OUTPUT?signature=abc"
            return web.Response(status=status, headers={"Location": location})

        fake_api.reply = to_signed
        signed.reply = body_reply(200, b"a,b\n1,2\n", content_type="text/csv")
        record = await fake_client.get_record(RUN_ID)
    assert record is not None and record.body == b"a,b\n1,2\n"
    (asked,) = fake_api.requests
    assert (asked.path, asked.headers["Authorization"]) == (RECORD_PATH, f"Bearer {TOKEN}")
    (fetched,) = signed.requests
    assert (fetched.path, fetched.query) == ("/signed/OUTPUT", {"signature": "abc"})
    assert "authorization" not in {name.lower() for name in fetched.headers}
    assert_token_absent([], [fetched])


async def test_a_record_redirected_within_the_origin_keeps_the_token(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    async def reply(request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/signed/"):
            return web.Response(body=b"{}", content_type="application/json")
        raise web.HTTPFound("/signed/OUTPUT?signature=abc")

    fake_api.reply = reply
    record = await fake_client.get_record(RUN_ID)
    assert record is not None and record.body == b"{}"
    assert [r.path for r in fake_api.requests] == [RECORD_PATH, "/signed/OUTPUT"]
    assert [r.headers.get("Authorization") for r in fake_api.requests] == [f"Bearer {TOKEN}"] * 2


OPERATIONS: list[tuple[str, str, Callable[[ApifyRuns], Any]]] = [
    ("start", "POST", lambda c: c.start("a~b", {"x": 1})),
    ("start_task", "POST", lambda c: c.start_task("me~task", {"x": 1})),
    ("get", "GET", lambda c: c.get(RUN_ID)),
    ("abort", "POST", lambda c: c.abort(RUN_ID)),
    ("metamorph", "GET", lambda c: c.metamorph(RUN_ID, target_actor_id="a~b")),
    ("resurrect", "GET", lambda c: c.resurrect(RUN_ID)),
    ("reboot", "GET", lambda c: c.reboot(RUN_ID)),  # the three first read the run's counts
    ("update", "PUT", lambda c: c.update(RUN_ID, status_message="x")),
    ("delete", "DELETE", lambda c: c.delete(RUN_ID)),
    ("wait_for_finish", "GET", lambda c: c.wait_for_finish(RUN_ID)),
]


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize(
    ("name", "method", "operation"), OPERATIONS, ids=[o[0] for o in OPERATIONS]
)
async def test_no_other_operation_follows_a_redirect(
    fake_api: FakeApi,
    status: int,
    name: str,
    method: str,
    operation: Callable[[ApifyRuns], Any],
) -> None:
    async with FakeApi() as elsewhere:
        elsewhere.reply = json_reply(200, RUN_BODY)

        async def away(request: web.Request) -> web.StreamResponse:
            location = f"{elsewhere.base_url}{request.path_qs}"
            return web.Response(status=status, headers={"Location": location})

        fake_api.reply = away
        async with ApifyRuns(TOKEN, base_url=fake_api.base_url, retries=FAST_RETRIES) as c:
            with pytest.raises(ApiError) as caught:
                await operation(c)
    assert caught.value.status == status
    assert caught.value.method == method
    assert elsewhere.requests == []
    assert len(fake_api.requests) == 1  # a redirect is not a passing failure: no retry


# --- Plain http:// -----------------------------------------------------------------------------

OFF_MACHINE = [
    "http://example.com",
    "http://api.apify.com/v2",
    "http://10.0.0.7:8080",
    "http://0.0.0.0:3000",
    "http://[2001:db8::1]",
    "http://127.0.0.1.nip.io",
    "http://localhost.example.com",
    "HTTP://EXAMPLE.COM",
]
LOOPBACK = [
    ("http://localhost", "http://localhost"),
    ("http://localhost:4321/", "http://localhost:4321"),
    ("http://127.0.0.1", "http://127.0.0.1"),
    ("http://127.0.0.1:8080/v2", "http://127.0.0.1:8080"),
    ("http://[::1]", "http://[::1]"),
    ("http://[::1]:8080", "http://[::1]:8080"),
]
HTTPS = ["https://api.apify.com", "https://example.com:8443", "https://10.0.0.7", "https://[::1]"]


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("APIFY_API_BASE_URL", raising=False)
    monkeypatch.delenv("APIFY_TOKEN", raising=False)
    return monkeypatch


@pytest.mark.parametrize("url", OFF_MACHINE)
def test_plain_http_off_the_machine_is_refused(no_env: pytest.MonkeyPatch, url: str) -> None:
    # Refused by the constructor: no session exists yet, so nothing can have been sent.
    with pytest.raises(ValueError, match=r"base_url .*http://.*allow_insecure_http"):
        ApifyRuns(TOKEN, base_url=url)
    no_env.setenv("APIFY_API_BASE_URL", url)
    with pytest.raises(ValueError, match="base_url") as caught:
        ApifyRuns(TOKEN)
    assert repr(url) in str(caught.value)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("url", OFF_MACHINE)
def test_plain_http_off_the_machine_when_explicitly_allowed(
    no_env: pytest.MonkeyPatch, url: str
) -> None:
    client = ApifyRuns(TOKEN, base_url=url, allow_insecure_http=True)
    assert client.base_url.lower().startswith("http://")
    no_env.setenv("APIFY_API_BASE_URL", url)
    assert ApifyRuns(TOKEN, allow_insecure_http=True).base_url == client.base_url


@pytest.mark.parametrize(("url", "base_url"), LOOPBACK)
def test_plain_http_to_this_machine_is_fine(
    no_env: pytest.MonkeyPatch, url: str, base_url: str
) -> None:
    assert ApifyRuns(TOKEN, base_url=url).base_url == base_url
    no_env.setenv("APIFY_API_BASE_URL", url)
    assert ApifyRuns(TOKEN).base_url == base_url


@pytest.mark.parametrize("url", HTTPS)
def test_https_is_always_fine(no_env: pytest.MonkeyPatch, url: str) -> None:
    assert ApifyRuns(TOKEN, base_url=url).base_url == url
    no_env.setenv("APIFY_API_BASE_URL", "http://example.com")  # the argument wins over $ENV
    assert ApifyRuns(TOKEN, base_url=url).base_url == url


def test_allow_insecure_http_must_be_a_bool(no_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(TypeError, match="allow_insecure_http"):
        ApifyRuns(TOKEN, base_url="http://example.com", allow_insecure_http=wrong("false"))


# --- Size caps ---------------------------------------------------------------------------------


def _too_large(error: ResponseTooLargeError, method: str, path: str, cap: int) -> None:
    assert isinstance(error, InvalidResponseError)
    assert (error.method, error.path, error.status) == (method, path, 200)
    assert str(error).startswith(f"{method} {path}: 200 response is over the {cap:,}-byte limit")
    assert len(error.excerpt) <= EXCERPT_MAX


@pytest.mark.parametrize("mode", ["length", "chunked", "gzip"])
async def test_a_body_at_the_cap_is_read_and_one_byte_more_is_refused(
    fake_api: FakeApi, mode: str
) -> None:
    # For gzip, the cap counts the bytes once decoded.
    cap = len(RUN_JSON) + 100
    fake_api.reply = sent_as(padded_run(cap), mode)
    async with ApifyRuns(TOKEN, base_url=fake_api.base_url, max_response_bytes=cap) as c:
        run = await c.get(RUN_ID)
    assert run is not None and run.id == RUN_ID
    fake_api.reply = sent_as(padded_run(cap + 1), mode)
    async with ApifyRuns(TOKEN, base_url=fake_api.base_url, max_response_bytes=cap) as c:
        with pytest.raises(ResponseTooLargeError) as caught:
            await c.get(RUN_ID)
    _too_large(caught.value, "GET", f"/v2/actor-runs/{RUN_ID}", cap)
    if mode != "length":  # what was read is shown; a declared length is refused unread
        assert caught.value.excerpt == RUN_JSON[:200].decode() + "..."
    assert len(fake_api.requests) == 2  # refused, not retried


async def test_a_declared_length_over_the_cap_is_refused_without_reading(
    fake_api: FakeApi,
) -> None:
    # The server announces a gigabyte, sends a few bytes and then nothing: a client that
    # waited for the body would hang until its read timeout.
    release = asyncio.Event()

    async def reply(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(10**9)})
        response.content_type = "application/json"
        await response.prepare(request)
        await response.write(b'{"data": ')
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), 5)
        return response

    fake_api.reply = reply
    try:
        async with ApifyRuns(
            TOKEN,
            base_url=fake_api.base_url,
            max_response_bytes=1000,
            timeouts=Timeouts(read=5),
            retries=FAST_RETRIES,
        ) as c:
            started = anyio.current_time()
            with pytest.raises(ResponseTooLargeError) as caught:
                await c.update(RUN_ID, status_message="x")
            assert anyio.current_time() - started < 1
    finally:
        release.set()
    _too_large(caught.value, "PUT", f"/v2/actor-runs/{RUN_ID}", 1000)
    assert len(fake_api.requests) == 1


async def test_an_endless_body_is_read_only_up_to_the_cap(fake_api: FakeApi) -> None:
    chunk = b'"' + b"x" * 998 + b'",'
    written = 0
    stopped = asyncio.Event()

    async def reply(request: web.Request) -> web.StreamResponse:
        nonlocal written
        response = web.StreamResponse()  # no Content-Length: chunked
        response.content_type = "application/json"
        await response.prepare(request)
        try:
            await response.write(b'{"data": {"items": [')
            for _ in range(3000):  # 30 s, 3 MB: far past the cap and the test's patience
                await response.write(chunk)
                written += 1
                await asyncio.sleep(0.01)
        except ConnectionError:  # the client hung up
            pass
        finally:
            stopped.set()
        return response

    fake_api.reply = reply
    async with ApifyRuns(
        TOKEN, base_url=fake_api.base_url, max_response_bytes=10_000, retries=FAST_RETRIES
    ) as c:
        started = anyio.current_time()
        with pytest.raises(ResponseTooLargeError) as caught:
            await c.get(RUN_ID)
        assert anyio.current_time() - started < 3
    with anyio.fail_after(3):  # the client closed the connection: the server's writes fail
        await stopped.wait()
    assert written < 100
    _too_large(caught.value, "GET", f"/v2/actor-runs/{RUN_ID}", 10_000)
    assert caught.value.excerpt == ('{"data": {"items": ["' + "x" * 998)[:200] + "..."
    assert len(fake_api.requests) == 1


@functools.cache
def gzip_bomb() -> bytes:
    """16 MiB of JSON-ish text, gzip-compressed to about 16 KB."""
    return gzip.compress(b'{"data": ' + b" " * 16 * 2**20, 9)


@pytest.mark.parametrize("operation", ["get", "get_record"])
async def test_a_gzip_bomb_is_refused_as_it_inflates(fake_api: FakeApi, operation: str) -> None:
    cap = 100_000
    assert len(gzip_bomb()) < cap  # small on the wire: only its decoded size is over the cap

    async def reply(request: web.Request) -> web.StreamResponse:
        headers = {"Content-Encoding": "gzip"}
        return web.Response(body=gzip_bomb(), content_type="application/json", headers=headers)

    fake_api.reply = reply
    async with ApifyRuns(
        TOKEN,
        base_url=fake_api.base_url,
        max_response_bytes=cap,
        max_record_bytes=cap,
        retries=FAST_RETRIES,
    ) as c:
        with pytest.raises(ResponseTooLargeError) as caught:
            if operation == "get":
                await c.get(RUN_ID)
            else:
                await c.get_record(RUN_ID)
    path = RECORD_PATH if operation == "get_record" else f"/v2/actor-runs/{RUN_ID}"
    _too_large(caught.value, "GET", path, cap)
    assert caught.value.excerpt.startswith('{"data": ')
    assert len(fake_api.requests) == 1


@pytest.mark.parametrize("mode", ["length", "chunked", "gzip"])
async def test_records_have_their_own_larger_cap(fake_api: FakeApi, mode: str) -> None:
    api_cap, record_cap = 1000, 10_000
    async with ApifyRuns(
        TOKEN,
        base_url=fake_api.base_url,
        max_response_bytes=api_cap,
        max_record_bytes=record_cap,
        retries=ONE_TRY,
    ) as c:
        for size in (5000, record_cap):  # over the API cap, within the record cap: whole
            body = bytes(range(256)) * (size // 256) + b"!" * (size % 256)
            fake_api.reply = sent_as(body, mode, content_type="application/octet-stream")
            record = await c.get_record(RUN_ID)
            assert record is not None and record.body == body
        fake_api.reply = sent_as(b"z" * (record_cap + 1), mode, "application/octet-stream")
        with pytest.raises(ResponseTooLargeError) as caught:
            await c.get_record(RUN_ID)
        _too_large(caught.value, "GET", RECORD_PATH, record_cap)
        # Everything else keeps to the API cap.
        fake_api.reply = sent_as(padded_run(len(RUN_JSON)), mode)
        with pytest.raises(ResponseTooLargeError) as run_too_large:
            await c.get(RUN_ID)
        _too_large(run_too_large.value, "GET", f"/v2/actor-runs/{RUN_ID}", api_cap)


async def test_a_redirected_record_keeps_to_the_record_cap(fake_api: FakeApi) -> None:
    async with (
        FakeApi() as signed,
        ApifyRuns(TOKEN, base_url=fake_api.base_url, max_record_bytes=5000, retries=ONE_TRY) as c,
    ):
        signed.reply = sent_as(b"r" * 5001, "chunked", "application/octet-stream")

        async def to_signed(request: web.Request) -> web.StreamResponse:
            raise web.HTTPFound(f"{signed.base_url}/signed/OUTPUT")

        fake_api.reply = to_signed
        with pytest.raises(ResponseTooLargeError) as caught:
            await c.get_record(RUN_ID)
    _too_large(caught.value, "GET", RECORD_PATH, 5000)
    assert caught.value.excerpt == "r" * 200 + "..."


# --- Broken bodies: typed errors with a short excerpt ------------------------------------------


def _short_excerpt(error: InvalidResponseError, body: bytes) -> None:
    assert len(error.excerpt) <= EXCERPT_MAX
    start = body[:200].decode("utf-8", "replace")
    # Control characters become spaces: they could forge log lines.
    printable = "".join(char if char.isprintable() else " " for char in start)
    assert error.excerpt.removesuffix("...") == printable
    assert repr(error.excerpt) in str(error)
    assert len(str(error)) < 500


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<?xml version='1.0'?>" + b"<run>" * 5000, "is not valid JSON"),
        (b"\x00\x01\x02garbage" * 1000, "is not valid JSON"),
        (RUN_JSON[: len(RUN_JSON) // 2], "is not valid JSON"),  # complete, but half a JSON text
        (RUN_JSON + b"}", "is not valid JSON"),
        (b'{"data": ' + RUN_JSON + b"}", "is not a run"),  # a run inside a run
        (b"[" + RUN_JSON + b"]", "is not a run"),
        (b"{}", "is not a run"),
        (b'{"data": null}', "is not a run"),
        (json.dumps({"data": {**RUN_BODY["data"], "status": 42}}).encode(), "is not a run"),
        (json.dumps({"data": {**RUN_BODY["data"], "startedAt": "soon"}}).encode(), "is not a run"),
        (json.dumps({"data": {**RUN_BODY["data"], "stats": []}}).encode(), "is not a run"),
    ],
    ids=[
        "xml",
        "binary",
        "half-json",
        "extra-brace",
        "nested",
        "list",
        "no-data",
        "null",
        "status-int",
        "bad-date",
        "stats-list",
    ],
)
async def test_a_broken_run_body_is_an_invalid_response_with_an_excerpt(
    fake_client: ApifyRuns, fake_api: FakeApi, body: bytes, reason: str
) -> None:
    fake_api.reply = body_reply(200, body)
    with pytest.raises(InvalidResponseError, match=reason) as caught:
        await fake_client.get(RUN_ID)
    assert type(caught.value) is InvalidResponseError
    assert (caught.value.method, caught.value.path) == ("GET", f"/v2/actor-runs/{RUN_ID}")
    _short_excerpt(caught.value, body)


async def test_a_broken_run_list_while_reconciling_is_reported(fake_api: FakeApi) -> None:
    bad_list = b'{"data": {"items": "none"}}'

    async def reply(request: web.Request) -> web.StreamResponse:
        if request.method == "GET":
            return web.Response(body=bad_list, content_type="application/json")
        return web.json_response({"error": {"type": "x", "message": "unavailable"}}, status=503)

    fake_api.reply = reply
    async with ApifyRuns(TOKEN, base_url=fake_api.base_url, retries=FAST_RETRIES) as c:
        with pytest.raises(UncertainOutcomeError) as caught:
            await c.start("a~b")
    # It never guesses: the start is not repeated once the list cannot be read.
    assert [r.method for r in fake_api.requests].count("POST") == 1
    text = str(caught.value)
    assert "GET /v2/actors/a~b/runs: 200 response is not a list of runs" in text
    assert repr(bad_list.decode()) in text


@pytest.mark.parametrize("mode", ["length", "chunked", "gzip"])
async def test_a_cut_off_body_is_a_connection_error(
    fake_client: ApifyRuns, fake_api: FakeApi, mode: str
) -> None:
    fake_api.reply = cut_off(padded_run(len(RUN_JSON) + 20_000), mode)
    with pytest.raises(ApifyConnectionError, match=f"^GET /v2/actor-runs/{RUN_ID}: ") as caught:
        await fake_client.get(RUN_ID)
    assert caught.value.maybe_processed


async def test_a_cut_off_body_is_retried(fake_api: FakeApi) -> None:
    whole = json_reply(200, RUN_BODY)
    fake_api.reply = in_turn(cut_off(RUN_JSON, "chunked"), cut_off(RUN_JSON, "gzip"), whole)
    async with ApifyRuns(TOKEN, base_url=fake_api.base_url, retries=FAST_RETRIES) as c:
        run = await c.get(RUN_ID)
    assert run is not None and run.id == RUN_ID
    assert len(fake_api.requests) == 3


@pytest.mark.parametrize(
    "content_type", ["text/plain", "text/html", "application/xml", "text/json"]
)
async def test_json_under_another_content_type_is_refused(
    fake_client: ApifyRuns, fake_api: FakeApi, content_type: str
) -> None:
    fake_api.reply = body_reply(200, RUN_JSON, content_type=content_type)
    with pytest.raises(InvalidResponseError, match="Content-Type") as caught:
        await fake_client.get(RUN_ID)
    assert content_type in str(caught.value)
    _short_excerpt(caught.value, RUN_JSON)
    # The same body as JSON is fine, whatever the case or parameters of its type.
    fake_api.reply = body_reply(200, RUN_JSON, content_type="Application/JSON")
    assert await fake_client.get(RUN_ID) is not None


async def test_json_without_a_content_type_is_refused() -> None:
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(RUN_JSON)}\r\nConnection: close\r\n\r\n"
    async with (
        raw_server(head.encode() + RUN_JSON) as url,
        ApifyRuns(TOKEN, base_url=url, retries=ONE_TRY) as c,
    ):
        with pytest.raises(InvalidResponseError, match="has Content-Type '', not JSON") as caught:
            await c.get(RUN_ID)
    _short_excerpt(caught.value, RUN_JSON)


async def test_a_proxy_error_page_is_retried_and_its_excerpt_kept(fake_api: FakeApi) -> None:
    page = (
        b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
        b"</h1></center>" + b"<!-- padding -->" * 500 + b"<hr><center>nginx</center></body></html>"
    )
    fake_api.reply = body_reply(502, page, content_type="text/html")
    async with ApifyRuns(TOKEN, base_url=fake_api.base_url, retries=FAST_RETRIES) as c:
        with pytest.raises(ServerError) as caught:
            await c.get(RUN_ID)
    assert len(fake_api.requests) == FAST_RETRIES.max_tries
    error = caught.value
    assert (error.status, error.error_type) == (502, None)
    assert error.message == page[:200].decode() + "..."
    assert str(error) == f"GET /v2/actor-runs/{RUN_ID}: 502: {error.message}"


# --- Bad arguments fail before any request, naming the argument ---------------------------------

NAN = math.nan


def wrong(value: object) -> Any:
    """A value of the wrong type, passed on purpose (and past the type checker)."""
    return value


BAD_RETRIES = wrong(3)  # what someone meaning "three tries" might pass


def _bad(label: str, argument: str, call: Callable[[ApifyRuns], object]) -> Any:
    return pytest.param(argument, call, id=label)


BAD_CALLS = [
    # retries= of the wrong type, for every public operation
    _bad("start-retries", "retries", lambda c: c.start("a~b", retries=BAD_RETRIES)),
    _bad("start_task-retries", "retries", lambda c: c.start_task("me~t", retries=BAD_RETRIES)),
    _bad("get-retries", "retries", lambda c: c.get("r1", retries=BAD_RETRIES)),
    _bad("abort-retries", "retries", lambda c: c.abort("r1", retries=BAD_RETRIES)),
    _bad(
        "metamorph-retries",
        "retries",
        lambda c: c.metamorph("r1", target_actor_id="a~b", retries=BAD_RETRIES),
    ),
    _bad("resurrect-retries", "retries", lambda c: c.resurrect("r1", retries=BAD_RETRIES)),
    _bad("reboot-retries", "retries", lambda c: c.reboot("r1", retries=BAD_RETRIES)),
    _bad(
        "update-retries",
        "retries",
        lambda c: c.update("r1", status_message="x", retries=BAD_RETRIES),
    ),
    _bad("delete-retries", "retries", lambda c: c.delete("r1", retries=BAD_RETRIES)),
    _bad("get_record-retries", "retries", lambda c: c.get_record("r1", retries=BAD_RETRIES)),
    _bad("wait-retries", "retries", lambda c: c.wait_for_finish("r1", retries=BAD_RETRIES)),
    _bad("watch-retries", "retries", lambda c: c.watch("r1", retries=BAD_RETRIES)),
    _bad("call-retries", "retries", lambda c: c.call("a~b", retries=BAD_RETRIES)),
    _bad("call_task-retries", "retries", lambda c: c.call_task("me~t", retries=BAD_RETRIES)),
    _bad(
        "call_many-retries",
        "retries",
        lambda c: c.call_many("a~b", [{}], concurrency=1, retries=BAD_RETRIES),
    ),
    _bad("watch_many-retries", "retries", lambda c: c.watch_many(["r1"], retries=BAD_RETRIES)),
    _bad("as_completed-retries", "retries", lambda c: c.as_completed(["r1"], retries=BAD_RETRIES)),
    _bad("retries-none", "retries", lambda c: c.get("r1", retries=wrong(Retries))),  # the class
    # start_task's options (test_validation checks start's)
    _bad("start_task-id", "task_id", lambda c: c.start_task("../other")),
    _bad("start_task-input", "task_input", lambda c: c.start_task("me~t", wrong(42))),
    _bad("start_task-timeout", "timeout_secs", lambda c: c.start_task("me~t", timeout_secs=NAN)),
    _bad("start_task-memory", "memory_mbytes", lambda c: c.start_task("me~t", memory_mbytes=-128)),
    _bad("start_task-items", "max_items", lambda c: c.start_task("me~t", max_items=-1)),
    _bad(
        "start_task-usd",
        "max_total_charge_usd",
        lambda c: c.start_task("me~t", max_total_charge_usd=NAN),
    ),
    _bad("start_task-wait", "wait_for_finish", lambda c: c.start_task("me~t", wait_for_finish=NAN)),
    _bad("start_task-build", "build", lambda c: c.start_task("me~t", build="a\nb")),
    _bad("start_task-webhooks", "webhooks", lambda c: c.start_task("me~t", webhooks=wrong("x"))),
    _bad(
        "start_task-restart",
        "restart_on_error",
        lambda c: c.start_task("me~t", restart_on_error=wrong(1)),
    ),
    # the run operations' own options
    _bad("start-id-query", "actor_id", lambda c: c.start("a~b?token=x")),
    _bad(
        "start-usd-inf",
        "max_total_charge_usd",
        lambda c: c.start("a~b", max_total_charge_usd=math.inf),
    ),
    _bad("get-wait-nan", "wait_for_finish", lambda c: c.get("r1", wait_for_finish=NAN)),
    _bad("get-wait-bool", "wait_for_finish", lambda c: c.get("r1", wait_for_finish=True)),
    _bad(
        "metamorph-build",
        "target_actor_build",
        lambda c: c.metamorph("r1", target_actor_id="a~b", target_actor_build=""),
    ),
    _bad(
        "metamorph-input",
        "run_input",
        lambda c: c.metamorph("r1", target_actor_id="a~b", run_input=wrong(3.5)),
    ),
    _bad(
        "metamorph-type",
        "content_type",
        lambda c: c.metamorph("r1", target_actor_id="a~b", run_input=b"x", content_type="a\r\nb"),
    ),
    _bad("resurrect-timeout", "timeout_secs", lambda c: c.resurrect("r1", timeout_secs=-1)),
    _bad("resurrect-items", "max_items", lambda c: c.resurrect("r1", max_items=0)),
    _bad(
        "resurrect-usd",
        "max_total_charge_usd",
        lambda c: c.resurrect("r1", max_total_charge_usd=-1),
    ),
    _bad("resurrect-build", "build", lambda c: c.resurrect("r1", build="")),
    _bad(
        "resurrect-restart",
        "restart_on_error",
        lambda c: c.resurrect("r1", restart_on_error=wrong("no")),
    ),
    _bad(
        "update-terminal",
        "is_status_message_terminal",
        lambda c: c.update("r1", is_status_message_terminal=wrong("yes")),
    ),
    _bad("get_record-key", "key", lambda c: c.get_record("r1", "../../x")),
    _bad("get_record-key-type", "key", lambda c: c.get_record("r1", wrong(None))),
    _bad("wait-nan", "wait_secs", lambda c: c.wait_for_finish("r1", wait_secs=NAN)),
    _bad("wait-negative", "wait_secs", lambda c: c.wait_for_finish("r1", wait_secs=-0.1)),
    _bad("watch-nan", "poll_interval", lambda c: c.watch("r1", poll_interval=NAN)),
    _bad("watch-id", "run_id", lambda c: c.watch("r1/abort")),
    # call and call_task: their own arguments, and start's passed on
    _bad("call-id", "actor_id", lambda c: c.call("..")),
    _bad("call-wait", "wait_secs", lambda c: c.call("a~b", wait_secs=NAN)),
    _bad("call-memory", "memory_mbytes", lambda c: c.call("a~b", memory_mbytes=1000)),
    _bad("call-input", "run_input", lambda c: c.call("a~b", wrong({1, 2}))),
    _bad("call-type", "content_type", lambda c: c.call("a~b", "text")),
    _bad("call_task-id", "task_id", lambda c: c.call_task("me/t/x")),
    _bad("call_task-wait", "wait_secs", lambda c: c.call_task("me~t", wait_secs=-1)),
    _bad("call_task-items", "max_items", lambda c: c.call_task("me~t", max_items=0)),
    # the many-run streams
    _bad("call_many-id", "actor_id", lambda c: c.call_many("", [{}], concurrency=1)),
    _bad("call_many-concurrency", "concurrency", lambda c: c.call_many("a~b", [{}], concurrency=0)),
    _bad(
        "call_many-concurrency-nan",
        "concurrency",
        lambda c: c.call_many("a~b", [{}], concurrency=wrong(NAN)),
    ),
    _bad(
        "call_many-wait",
        "wait_secs",
        lambda c: c.call_many("a~b", [{}], concurrency=1, wait_secs=-1),
    ),
    _bad(
        "call_many-option",
        "timeout_secs",
        lambda c: c.call_many("a~b", [{}], concurrency=1, timeout_secs=NAN),
    ),
    _bad(
        "call_many-permission",
        "force_permission_level",
        lambda c: c.call_many("a~b", [{}], concurrency=1, force_permission_level="ALL"),
    ),
    _bad(
        "call_many-type",
        "content_type",
        lambda c: c.call_many("a~b", [b"x"], concurrency=1, content_type=""),
    ),
    _bad(
        "call_many-input", "inputs[1]", lambda c: c.call_many("a~b", [{}, wrong(7)], concurrency=1)
    ),
    _bad("watch_many-id", "run_id", lambda c: c.watch_many(["r1", "r2?x=1"])),
    _bad("watch_many-type", "run_id", lambda c: c.watch_many([wrong(None)])),
    _bad("watch_many-interval", "poll_interval", lambda c: c.watch_many(["r1"], poll_interval=NAN)),
    _bad("as_completed-id", "run_id", lambda c: c.as_completed(["r1", ".."])),
    _bad("as_completed-empty", "run_id", lambda c: c.as_completed([""])),
    _bad("as_completed-lazy", "run_id", lambda c: c.as_completed(iter(["r1/x"]))),
]


async def _drive(result: object) -> None:
    """Run what a call returned: await it, iterate it, or enter and iterate the stream."""
    if inspect.isawaitable(result):
        await result
    elif isinstance(result, RunStream):
        async with result as stream:
            async for _ in stream:
                pass
    elif isinstance(result, AsyncGenerator):
        async with contextlib.aclosing(result) as generator:
            async for _ in generator:
                pass


@pytest.mark.parametrize(("argument", "call"), BAD_CALLS)
async def test_a_bad_argument_fails_before_any_request(
    fake_client: ApifyRuns, fake_api: FakeApi, argument: str, call: Callable[[ApifyRuns], object]
) -> None:
    # Had a request gone out, the fake API's 500 would surface instead.
    with pytest.raises((ValueError, TypeError)) as caught:
        await _drive(call(fake_client))
    assert argument in str(caught.value)
    assert fake_api.requests == []


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: Retries(max_tries=0), "Retries.max_tries"),
        (lambda: Retries(max_tries=wrong(2.5)), "Retries.max_tries"),
        (lambda: Retries(max_tries=True), "Retries.max_tries"),
        (lambda: Retries(first_delay_secs=0), "Retries.first_delay_secs"),
        (lambda: Retries(first_delay_secs=NAN), "Retries.first_delay_secs"),
        (lambda: Retries(max_delay_secs=-1), "Retries.max_delay_secs"),
        (lambda: Retries(max_delay_secs=math.inf), "Retries.max_delay_secs"),
        (lambda: Retries(max_retry_after_secs=-1), "Retries.max_retry_after_secs"),
        (lambda: Retries(max_retry_after_secs=wrong("60")), "Retries.max_retry_after_secs"),
        (lambda: Retries(delay=wrong(0.1)), "Retries.delay"),
        (lambda: Timeouts(total=0), "Timeouts.total"),
        (lambda: Timeouts(total=-5), "Timeouts.total"),
        (lambda: Timeouts(total=NAN), "Timeouts.total"),
        (lambda: Timeouts(connect=math.inf), "Timeouts.connect"),
        (lambda: ApifyRuns(TOKEN, max_response_bytes=0), "max_response_bytes"),
        (lambda: ApifyRuns(TOKEN, max_response_bytes=-1), "max_response_bytes"),
        (lambda: ApifyRuns(TOKEN, max_response_bytes=wrong(1e6)), "max_response_bytes"),
        (lambda: ApifyRuns(TOKEN, max_response_bytes=True), "max_response_bytes"),
        (lambda: ApifyRuns(TOKEN, max_record_bytes=0), "max_record_bytes"),
        (lambda: ApifyRuns(TOKEN, max_record_bytes=wrong("64MiB")), "max_record_bytes"),
        (lambda: ApifyRuns(TOKEN, retries=wrong(None)), "retries"),
        (lambda: ApifyRuns(TOKEN, retries=wrong(5)), "retries"),
        (lambda: ApifyRuns(TOKEN, max_connections=-1), "max_connections"),
        (lambda: ApifyRuns(TOKEN, base_url="https://example.com?token=x"), "base_url"),
        (lambda: ApifyRuns(TOKEN, base_url="https://"), "base_url"),
        (lambda: ApifyRuns("tok\x00en"), "token"),
    ],
)
def test_bad_settings_are_refused_at_once(
    no_env: pytest.MonkeyPatch, make: Callable[[], object], name: str
) -> None:
    # These fail in a constructor: no client, let alone a request, comes to be.
    with pytest.raises((ValueError, TypeError)) as caught:
        make()
    assert name in str(caught.value)


# --- Bugs found --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "call"),
    [
        ("runs", lambda c: c.as_completed("run1")),
        ("runs", lambda c: c.watch_many("run1")),
        ("inputs", lambda c: c.call_many("a~b", "hi", concurrency=1, content_type="text/plain")),
    ],
    ids=["as_completed", "watch_many", "call_many"],
)
async def test_a_str_is_not_taken_for_many_runs(
    fake_client: ApifyRuns, fake_api: FakeApi, argument: str, call: Callable[[ApifyRuns], object]
) -> None:
    fake_api.reply = json_reply(200, RUN_BODY)  # every run has finished already
    with pytest.raises(TypeError, match=argument):
        await _drive(call(fake_client))
    assert fake_api.requests == []


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.call("a~b", raise_on_failure="no"),
        lambda c: c.call_task("me~t", raise_on_failure="no"),
        lambda c: c.call_many("a~b", [{}], concurrency=1, raise_on_failure="no"),
    ],
    ids=["call", "call_task", "call_many"],
)
async def test_raise_on_failure_must_be_a_bool(
    fake_client: ApifyRuns, fake_api: FakeApi, call: Callable[[ApifyRuns], object]
) -> None:
    fake_api.reply = json_reply(200, RUN_BODY)
    with pytest.raises(TypeError, match="raise_on_failure"):
        await _drive(call(fake_client))
    assert fake_api.requests == []


@pytest.mark.parametrize("argument", ["timeouts", "rate_limits", "limit_cool_down", "session"])
async def test_client_settings_of_the_wrong_type(fake_api: FakeApi, argument: str) -> None:
    # Expected from the constructor; today it comes (if at all) from `async with` or later.
    settings: dict[str, Any] = {argument: "fast"}
    with pytest.raises(TypeError, match=argument):
        async with ApifyRuns(TOKEN, base_url=fake_api.base_url, **settings):
            pass


HOSTILE_ID = "../../v2/actors/someone~else/runs?limit=1000"


async def test_as_completed_checks_the_id_of_a_run_it_is_given(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    running = {"data": {**RUN_BODY["data"], "status": "RUNNING"}}
    fake_api.reply = json_reply(200, running)
    run = await fake_client.get(RUN_ID)
    assert run is not None
    hostile = msgspec.structs.replace(run)
    hostile.id = HOSTILE_ID  # set after decoding, which would refuse it
    fake_api.reply = json_reply(200, RUN_BODY)  # finished: a request, if sent, ends it
    fake_api.requests.clear()
    with pytest.raises(ValueError, match="run_id"):
        async with fake_client.as_completed([hostile]) as finished:
            async for _ in finished:
                pass
    assert fake_api.requests == []


async def test_a_hostile_run_id_from_the_server_is_an_invalid_response(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    fake_api.reply = json_reply(200, {"data": {**RUN_BODY["data"], "id": HOSTILE_ID}})
    with pytest.raises(InvalidResponseError, match="is not a run"):
        await fake_client.call("a~b")


async def test_a_trickling_body_is_not_read_for_hours() -> None:
    # Each byte arrives within the read timeout, but the whole body would take hours.
    stop = asyncio.Event()
    answered = asyncio.Event()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: 100000\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            while not stop.is_set():
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.1)
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        answered.set()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        host, port = server.sockets[0].getsockname()[:2]
        async with ApifyRuns(
            TOKEN, base_url=f"http://{host}:{port}", timeouts=Timeouts(read=0.5), retries=ONE_TRY
        ) as client:
            started = anyio.current_time()
            with pytest.raises(ApifyTimeoutError, match="GET /v2/actor-runs/r1"):
                await client.get("r1")
            assert anyio.current_time() - started < 2
        stop.set()
        await answered.wait()


async def test_errors_never_show_the_query_string() -> None:
    # Webhooks travel in the query, and their headers may hold secrets of their own.
    hook = {
        "event_types": ["ACTOR.RUN.SUCCEEDED"],
        "request_url": "https://example.com/hook",
        "headers_template": '{"Authorization": "Bearer webhook-secret"}',
    }
    async with (
        raw_server(b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n") as url,
        ApifyRuns(TOKEN, base_url=url, retries=ONE_TRY) as client,
    ):
        with pytest.raises(ApifyConnectionError) as caught:
            await client.start("me~actor", webhooks=[hook])
    texts = everything_about(caught.value)
    assert not [text for text in texts if "webhooks=" in text or "?" in text]
