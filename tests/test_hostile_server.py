"""A hostile server gets typed errors, bounded waits and nothing leaked: each property tried
across every operation it applies to.

Every test talks real HTTP to a purpose-built server on 127.0.0.1.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from aiohttp import web

from apify_runs_async import (
    ApiError,
    ApifyRuns,
    InvalidResponseError,
    Retries,
    ServerError,
    Timeouts,
)
from tests.fake_api import FakeApi, Reply
from tests.helpers import ONE_TRY, run_body

pytestmark = pytest.mark.anyio

TOKEN = "tok-SECRET-hostile-5f2a"
RUN_ID = str(run_body()["data"]["id"])
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


def body_reply(status: int, body: bytes, headers: dict[str, str] | None = None) -> Reply:
    async def reply(request: web.Request) -> web.StreamResponse:
        return web.Response(
            status=status, body=body, content_type="application/json", headers=headers
        )

    return reply


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
    fake_api.reply = body_reply(200, body, headers)
    async with client(fake_api) as c:
        with pytest.raises(InvalidResponseError):
            await c.list_items(RUN_ID, item_type=dict[str, int])
