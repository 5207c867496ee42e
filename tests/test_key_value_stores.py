"""Key-value stores: a run's default store or one given by its id; keys page by page; a
missing store told from a missing key."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from apify_runs_async import (
    ApifyRuns,
    KeyValueStore,
    NotFoundError,
    ResponseTooLargeError,
    Run,
)
from apify_runs_async.emulator import ActorContext, ApifyEmulator
from tests.fake_api import FakeApi, json_reply

pytestmark = pytest.mark.anyio


async def with_records(client: ApifyRuns, emulator: ApifyEmulator, count: int) -> Run:
    async def writer(ctx: ActorContext) -> None:
        for n in range(count):
            ctx.set_record(f"page-{n:04d}", {"n": n})
        ctx.set_record("screenshot", b"\x89PNG", content_type="image/png")

    emulator.register_actor("me~writer", writer)
    result = await client.call("me~writer")
    return result.run


async def test_every_key_in_order_past_a_page(client: ApifyRuns, emulator: ApifyEmulator) -> None:
    run = await with_records(client, emulator, 1203)
    keys = [stored.key async for stored in client.iterate_keys(run)]
    # A run started without input has no INPUT record.
    assert keys == sorted(["screenshot", *(f"page-{n:04d}" for n in range(1203))])
    pages = [s async for s in client.iterate_keys(run.id, prefix="page-")]
    assert [s.key for s in pages] == [f"page-{n:04d}" for n in range(1203)]
    assert all(s.size == len(b'{"n":%d}' % int(s.key[5:])) for s in pages)


async def test_a_store_by_its_id(client: ApifyRuns, emulator: ApifyEmulator) -> None:
    run = await with_records(client, emulator, 3)
    store = client.key_value_store(run.default_key_value_store_id)
    assert isinstance(store, KeyValueStore)
    record = await store.get_record("page-0002")
    assert record is not None and record.json() == {"n": 2}
    screenshot = await store.get_record("screenshot")
    assert screenshot is not None and (screenshot.content_type, screenshot.body) == (
        "image/png",
        b"\x89PNG",
    )
    assert await store.get_record("nothing") is None
    assert await store.record_exists("page-0000") is True
    assert await store.record_exists("nothing") is False
    assert [s.key async for s in store.iterate_keys(prefix="page-")] == [
        "page-0000",
        "page-0001",
        "page-0002",
    ]


async def test_a_missing_store_is_not_a_missing_key(client: ApifyRuns) -> None:
    store = client.key_value_store("noSuchStore00000")
    with pytest.raises(NotFoundError, match="/v2/key-value-stores/noSuchStore00000"):
        await store.get_record("OUTPUT")
    with pytest.raises(NotFoundError, match="noSuchStore00000"):
        await store.record_exists("OUTPUT")
    with pytest.raises(NotFoundError, match="noSuchStore00000"):
        [s async for s in store.iterate_keys()]
    with pytest.raises(NotFoundError, match="noSuchRun"):
        [s async for s in client.iterate_keys("noSuchRun")]


async def test_keys_follow_the_next_start_key(fake_api: FakeApi) -> None:
    # A server that pages two keys at a time: each page asks from the last key seen.
    keys = ["a", "b", "c", "d", "e"]

    async def pages(request: Any) -> Any:
        after = request.query.get("exclusiveStartKey")
        start = 0 if after is None else keys.index(after) + 1
        items = [{"key": key, "size": 1} for key in keys[start : start + 2]]
        more = start + 2 < len(keys)
        body = {
            "items": items,
            "count": len(items),
            "limit": 2,
            "isTruncated": more,
            "nextExclusiveStartKey": items[-1]["key"] if more else None,
        }
        return await json_reply(200, {"data": body})(request)

    fake_api.reply = pages
    async with ApifyRuns("t", base_url=fake_api.base_url) as client:
        listed = [stored.key async for stored in client.iterate_keys("r1", prefix="x")]
    assert listed == keys
    assert [r.query.get("exclusiveStartKey") for r in fake_api.requests] == [None, "b", "d"]
    assert {r.query["prefix"] for r in fake_api.requests} == {"x"}


async def test_bad_arguments_fail_before_any_request(fake_api: FakeApi) -> None:
    async with ApifyRuns("t", base_url=fake_api.base_url) as client:
        with pytest.raises(ValueError, match="prefix"):
            client.iterate_keys("r1", prefix="a/b")
        with pytest.raises(ValueError, match="run"):
            client.iterate_keys("a/b")
        with pytest.raises(ValueError, match="store_id"):
            client.key_value_store("a/b")
        with pytest.raises(ValueError, match="key"):
            await client.key_value_store("s1").get_record("a/b")
    assert fake_api.requests == []


async def test_a_record_over_the_cap_is_streamed_to_a_file(
    emulator: ApifyEmulator, tmp_path: Path
) -> None:
    big = bytes(range(256)) * 400  # 100 KiB, over the client's 1 KiB cap below
    small_cap = ApifyRuns(emulator.token, base_url=emulator.base_url, max_record_bytes=1024)
    async with small_cap as client:

        async def writer(ctx: ActorContext) -> None:
            ctx.set_record("BIG", big, content_type="application/octet-stream")

        emulator.register_actor("me~big", writer)
        run = (await client.call("me~big")).run
        with pytest.raises(ResponseTooLargeError):
            await client.get_record(run, "BIG")
        target = tmp_path / "big.bin"
        assert await client.download_record(run, "BIG", to=target) == len(big)
        assert target.read_bytes() == big
        into = io.BytesIO()
        store = client.key_value_store(run.default_key_value_store_id)
        assert await store.download_record("BIG", to=into) == len(big)
        assert into.getvalue() == big
        # A missing key writes nothing; a missing run raises.
        assert await client.download_record(run, "NONE", to=tmp_path / "none") is None
        assert not (tmp_path / "none").exists()
        with pytest.raises(NotFoundError, match="noSuchRun"):
            await client.download_record("noSuchRun", "BIG", to=tmp_path / "x")
        with pytest.raises(TypeError, match="to must be a file path or a binary stream"):
            await client.download_record(run, "BIG", to=42)  # type: ignore[arg-type]
