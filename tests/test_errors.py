"""Server errors and broken responses become typed exceptions that name method, path, message."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

import anyio
import pytest
from aiohttp import web

from apify_runs_async import (
    ApiError,
    ApifyConnectionError,
    ApifyError,
    ApifyRuns,
    ApifyTimeoutError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    InvalidResponseError,
    NotFoundError,
    PaymentRequiredError,
    RateLimitError,
    RequestTooLargeError,
    ServerError,
    Timeouts,
    TransportError,
    UnauthorizedError,
)
from tests.fake_api import FakeApi, drop, error_reply, json_reply, raw_server
from tests.helpers import FAST_RETRIES, ONE_TRY, RUN_ID, everything_about
from tests.spec import run_response_examples

TOKEN = "tok-SECRET-4f9a"

pytestmark = [
    pytest.mark.anyio,
    # One try per request: these tests are about how each failure reads.
    pytest.mark.client_options(token=TOKEN, timeouts=Timeouts(read=2), retries=ONE_TRY),
]


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, UnauthorizedError),
        (402, PaymentRequiredError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, RequestTooLargeError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
        (405, ApiError),
        (418, ApiError),
    ],
)
async def test_status_maps_to_its_error_class(
    fake_client: ApifyRuns, fake_api: FakeApi, status: int, cls: type[ApiError]
) -> None:
    fake_api.reply = error_reply(status, "some-type", "The server's own words")
    with pytest.raises(cls) as caught:
        await fake_client.start("janedoe~my-actor", {"a": 1})
    error = caught.value
    assert type(error) is cls
    assert (error.status, error.error_type, error.message) == (
        status,
        "some-type",
        "The server's own words",
    )
    assert (error.method, error.path) == ("POST", "/v2/actors/janedoe~my-actor/runs")
    text = str(error)
    assert "POST /v2/actors/janedoe~my-actor/runs" in text
    assert "The server's own words" in text and "some-type" in text and str(status) in text
    assert isinstance(error, ApifyError)


async def test_every_operation_names_its_method_and_path(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    fake_api.reply = error_reply(400, "job-finished", "Run is finished")
    cases = [
        (fake_client.abort(RUN_ID), f"POST /v2/actor-runs/{RUN_ID}/abort"),
        (fake_client.reboot(RUN_ID), f"POST /v2/actor-runs/{RUN_ID}/reboot"),
        (
            fake_client.resurrect(RUN_ID),
            f"POST /v2/actor-runs/{RUN_ID}/resurrect",
        ),
        (
            fake_client.metamorph(RUN_ID, target_actor_id="a~b"),
            f"POST /v2/actor-runs/{RUN_ID}/metamorph",
        ),
        (
            fake_client.update(RUN_ID, status_message="x"),
            f"PUT /v2/actor-runs/{RUN_ID}",
        ),
        (fake_client.delete(RUN_ID), f"DELETE /v2/actor-runs/{RUN_ID}"),
        (fake_client.start_task("me~task"), "POST /v2/actor-tasks/me~task/runs"),
        (fake_client.get(RUN_ID), f"GET /v2/actor-runs/{RUN_ID}"),
    ]
    for call, where in cases:
        with pytest.raises(BadRequestError, match=f"^{where}: 400 job-finished: Run is finished"):
            await call


async def test_an_html_page_from_a_proxy(fake_client: ApifyRuns, fake_api: FakeApi) -> None:
    async def reply(request: web.Request) -> web.Response:
        html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
        return web.Response(status=502, text=html, content_type="text/html")

    fake_api.reply = reply
    with pytest.raises(ServerError, match="502 Bad Gateway") as caught:
        await fake_client.get(RUN_ID)
    assert caught.value.status == 502 and caught.value.error_type is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"data": {"id": "x", "actId"', "not valid JSON"),
        (b"<html>oops</html>", "not valid JSON"),
        (b'{"data": {"id": 17}}', "is not a run"),
        (b'{"data": []}', "is not a run"),
        (b"", "not valid JSON"),
    ],
)
async def test_a_bad_success_body(
    fake_client: ApifyRuns, fake_api: FakeApi, body: bytes, reason: str
) -> None:
    async def reply(request: web.Request) -> web.Response:
        return web.Response(status=200, body=body, content_type="application/json")

    fake_api.reply = reply
    with pytest.raises(InvalidResponseError, match=reason) as caught:
        await fake_client.get(RUN_ID)
    assert caught.value.status == 200
    assert caught.value.excerpt == body.decode()[:200]
    assert f"GET /v2/actor-runs/{RUN_ID}" in str(caught.value)


async def test_get_is_none_only_for_a_missing_run(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    fake_api.reply = error_reply(404, "record-not-found", "Actor run was not found")
    assert await fake_client.get(RUN_ID) is None
    # A 404 that is not the API's "no such run" (a wrong base URL, say) is an error.
    fake_api.reply = error_reply(404, "page-not-found", "Page not found")
    with pytest.raises(NotFoundError, match="page-not-found"):
        await fake_client.get(RUN_ID)


async def test_a_dropped_connection(fake_client: ApifyRuns, fake_api: FakeApi) -> None:
    fake_api.reply = drop
    with pytest.raises(ApifyConnectionError, match=f"GET /v2/actor-runs/{RUN_ID}") as caught:
        await fake_client.get(RUN_ID)
    assert isinstance(caught.value, TransportError)


async def test_a_cut_off_body(fake_client: ApifyRuns, fake_api: FakeApi) -> None:
    async def reply(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "5000"})
        response.content_type = "application/json"
        await response.prepare(request)
        await response.write(b'{"data": {"id": "abc"')
        assert request.transport is not None
        request.transport.close()
        return response

    fake_api.reply = reply
    with pytest.raises(ApifyConnectionError, match=f"GET /v2/actor-runs/{RUN_ID}"):
        await fake_client.get(RUN_ID)


async def test_a_slow_answer_is_a_timeout(fake_api: FakeApi) -> None:
    async def reply(request: web.Request) -> web.Response:
        await asyncio.sleep(1.0)
        return web.Response(status=204)

    fake_api.reply = reply
    async with ApifyRuns(
        TOKEN, base_url=fake_api.base_url, timeouts=Timeouts(read=0.2), retries=ONE_TRY
    ) as c:
        with pytest.raises(ApifyTimeoutError, match=f"DELETE /v2/actor-runs/{RUN_ID}") as caught:
            await c.delete(RUN_ID)
    assert isinstance(caught.value, TimeoutError)


async def test_a_long_poll_does_not_trip_the_read_timeout(fake_api: FakeApi) -> None:
    # The server holds a waitForFinish request for longer than the read timeout, as it may.
    run_json = (await _spec_run_body())["data"]

    async def reply(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("waitForFinish", 0)) * 0.6)
        return web.json_response({"data": run_json})

    fake_api.reply = reply
    async with ApifyRuns(TOKEN, base_url=fake_api.base_url, timeouts=Timeouts(read=0.3)) as c:
        run = await c.get(RUN_ID, wait_for_finish=1)
    assert run is not None and run.id == run_json["id"]
    assert fake_api.requests[-1].query == {"waitForFinish": "1"}


async def test_the_token_never_leaks(fake_api: FakeApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    async with ApifyRuns(
        TOKEN, base_url=fake_api.base_url, timeouts=Timeouts(read=0.2), retries=FAST_RETRIES
    ) as c:
        seen.append(repr(c))
        for reply in (
            error_reply(401, "invalid-token", "Authentication token is not valid"),
            error_reply(500, "internal-error", "boom"),
            json_reply(200, {"data": "nope"}),
        ):
            fake_api.reply = reply
            with pytest.raises(ApifyError) as caught:
                await c.start("a~b", {"x": 1})
            seen += everything_about(caught.value)
        seen.append(repr(c.run(RUN_ID)))

        async def redirect_loop(request: web.Request) -> web.Response:
            raise web.HTTPFound(f"/v2/actor-runs/{RUN_ID}/key-value-store/records/OUTPUT")

        fake_api.reply = redirect_loop  # aiohttp's TooManyRedirects carries the headers
        with pytest.raises(ApifyConnectionError) as caught:
            await c.get_record(RUN_ID)
        seen += everything_about(caught.value)
    async with (
        raw_server(b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n") as url,
        ApifyRuns(TOKEN, base_url=url, retries=FAST_RETRIES) as c,
    ):
        with pytest.raises(ApifyConnectionError) as caught:
            await c.get(RUN_ID)
        seen += everything_about(caught.value)
    assert caplog.records, "the client should log its requests at DEBUG"
    seen.append(caplog.text)
    for request in fake_api.requests:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        seen += [request.path, repr(request.query)]
    assert not [text for text in seen if TOKEN in text]


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (200, b'{"data": {"id": "\xff"}}', InvalidResponseError),
        (500, b'{"error": {"type": "x", "message": "caf\xe9"}}', ServerError),
        (404, b'{"error": {"type": "record-not-found", "message": "\xff"}}', NotFoundError),
    ],
)
async def test_invalid_utf8_in_a_body(
    fake_client: ApifyRuns, fake_api: FakeApi, status: int, body: bytes, error: type[ApifyError]
) -> None:
    async def reply(request: web.Request) -> web.Response:
        return web.Response(status=status, body=body, content_type="application/json")

    fake_api.reply = reply
    with pytest.raises(error, match=f"GET /v2/actor-runs/{RUN_ID}"):
        await fake_client.get(RUN_ID)


async def test_a_redirect_is_not_followed_with_the_body_dropped(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    async def reply(request: web.Request) -> web.Response:
        raise web.HTTPFound("/somewhere-else")

    fake_api.reply = reply
    with pytest.raises(ApiError, match="POST /v2/actors/a~b/runs: 302") as caught:
        await fake_client.start("a~b", {"x": 1})
    assert caught.value.status == 302
    assert [r.method for r in fake_api.requests] == ["POST"]


async def test_a_record_read_follows_a_redirect(fake_client: ApifyRuns, fake_api: FakeApi) -> None:
    async def reply(request: web.Request) -> web.Response:
        if request.path.startswith("/signed/"):
            return web.Response(body=b"a,b\n1,2\n", content_type="text/csv")
        raise web.HTTPFound("/signed/OUTPUT?signature=abc")

    fake_api.reply = reply
    record = await fake_client.get_record(RUN_ID)
    assert record is not None
    assert record.body == b"a,b\n1,2\n"
    assert record.content_type.startswith("text/csv")


async def test_the_connect_timeout() -> None:
    # A listening socket whose backlog is full: new connections hang in the handshake.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        async with ApifyRuns(
            TOKEN,
            base_url=f"http://127.0.0.1:{port}",
            timeouts=Timeouts(connect=0.3),
            retries=ONE_TRY,
        ) as client:
            started = anyio.current_time()
            with pytest.raises(ApifyTimeoutError, match=f"GET /v2/actor-runs/{RUN_ID}"):
                await client.get(RUN_ID)
            assert anyio.current_time() - started < 2
    finally:
        for filler in fillers:
            filler.close()
        server.close()


async def _spec_run_body() -> dict[str, Any]:
    return run_response_examples()[0][1]
