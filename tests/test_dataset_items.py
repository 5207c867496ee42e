"""Dataset items: pages and their headers, every item once through filters that change the
count, typed items, following a live run, and exports; against the emulator."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
from pathlib import Path
from typing import Any, TypedDict

import anyio
import msgspec
import pytest
from aiohttp import web

from apify_runs_async import (
    ApifyRuns,
    BadRequestError,
    Dataset,
    InvalidItemError,
    InvalidResponseError,
    ItemPage,
    NotFoundError,
)
from apify_runs_async.emulator import EmulatorProcess
from tests.fake_api import FakeApi, error_reply, in_turn, json_reply
from tests.helpers import FAST_RETRIES, RequestCounter, script

pytestmark = pytest.mark.anyio

ACTOR = "emulator~scripted"
MISSING = "noSuchRun0000000"
NO_LIMIT = 999999999999


async def run_with(client: ApifyRuns, items: list[Any]) -> str:
    """A finished run whose default dataset holds `items`."""
    result = await client.call(ACTOR, {**script(), "pushItems": items})
    return result.run.id


def numbered(count: int) -> list[dict[str, Any]]:
    return [{"n": n, "tags": ["a", "b"] if n % 2 else [], "#secret": n} for n in range(count)]


class Item(msgspec.Struct):
    n: int
    tags: list[str]


class ItemDict(TypedDict):
    n: int


@dataclasses.dataclass
class ItemData:
    n: int
    tags: list[str]


async def test_a_page_and_its_headers(client: ApifyRuns) -> None:
    run_id = await run_with(client, numbered(5))
    page = await client.list_items(run_id)
    assert isinstance(page, ItemPage)
    figures = (page.total, page.offset, page.limit, page.count, page.desc)
    assert figures == (5, 0, NO_LIMIT, 5, False)
    assert [item["n"] for item in page.items] == [0, 1, 2, 3, 4]
    page = await client.list_items(run_id, offset=1, limit=2, desc=True)
    assert (page.total, page.offset, page.limit, page.count, page.desc) == (5, 1, 2, 2, True)
    assert [item["n"] for item in page.items] == [3, 2]
    past = await client.list_items(run_id, offset=9)
    assert (past.items, past.count, past.total) == ([], 0, 5)


async def test_every_filter_reaches_the_api(fake_api: FakeApi) -> None:
    headers = {f"X-Apify-Pagination-{name}": "0" for name in ("Offset", "Count", "Total")}
    fake_api.reply = json_reply(200, [], {**headers, "X-Apify-Pagination-Limit": "5"})
    async with ApifyRuns("t", base_url=fake_api.base_url) as client:
        await client.list_items(
            "r1",
            offset=3,
            limit=5,
            fields=["a", "b"],
            omit="c",
            unwind="d",
            flatten=["e"],
            clean=True,
            desc=False,
            skip_empty=True,
            skip_hidden=False,
            view="overview",
        )
        await client.dataset("d1").list_items(fields="x")
        assert [item async for item in client.iterate_items("r2", omit="z", chunk_size=7)] == []
        await client.dataset("d2").download_items(format="csv", unwind=["u"], skip_hidden=True)
    first, second, third, fourth = fake_api.requests
    assert (first.method, first.path) == ("GET", "/v2/actor-runs/r1/dataset/items")
    assert first.query == {
        "offset": "3",
        "limit": "5",
        "fields": "a,b",
        "omit": "c",
        "unwind": "d",
        "flatten": "e",
        "clean": "true",
        "desc": "false",
        "skipEmpty": "true",
        "skipHidden": "false",
        "view": "overview",
    }
    assert second.path == "/v2/datasets/d1/items"
    assert second.query == {"fields": "x", "offset": "0"}
    assert (third.path, third.query) == (
        "/v2/actor-runs/r2/dataset/items",
        {"omit": "z", "offset": "0", "limit": "7"},
    )
    assert (fourth.path, fourth.query) == (
        "/v2/datasets/d2/items",
        {"unwind": "u", "skipHidden": "true", "format": "csv"},
    )


async def test_filters_shape_the_items(client: ApifyRuns) -> None:
    run_id = await run_with(client, [{"a": 1, "b": {"c": 2}, "#h": 3}, {}])
    page = await client.list_items(run_id, fields="a")
    assert page.items == [{"a": 1}, {}]
    assert (await client.list_items(run_id, omit=["a", "b"])).items == [{"#h": 3}, {}]
    assert (await client.list_items(run_id, clean=True)).items == [{"a": 1, "b": {"c": 2}}]
    assert (await client.list_items(run_id, skip_empty=True)).count == 2
    flat = await client.list_items(run_id, flatten="b", skip_hidden=True, skip_empty=True)
    assert flat.items == [{"a": 1, "b.c": 2}]
    with pytest.raises(BadRequestError, match="view"):
        await client.list_items(run_id, view="overview")


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 1000])
async def test_iterating_reads_every_row_once_whatever_the_filters_return(
    client: ApifyRuns, chunk_size: int
) -> None:
    items = numbered(7)
    run_id = await run_with(client, items)
    plain = [item async for item in client.iterate_items(run_id, chunk_size=chunk_size)]
    assert plain == items
    # clean drops the empty-tagged rows' hidden field and keeps them; unwind spreads the tags,
    # and drops rows with none: pages hold more or fewer items than the rows they read.
    unwound = client.iterate_items(run_id, chunk_size=chunk_size, unwind="tags", fields="n,tags")
    assert [(item["n"], item["tags"]) async for item in unwound] == [
        (n, tag) for n in range(7) if n % 2 for tag in ("a", "b")
    ]
    cleaned = client.iterate_items(run_id, chunk_size=chunk_size, clean=True)
    assert [item["n"] async for item in cleaned] == list(range(7))
    newest_first = client.iterate_items(run_id, chunk_size=chunk_size, desc=True, offset=1)
    assert [item["n"] async for item in newest_first] == [5, 4, 3, 2, 1, 0]
    bounded = client.iterate_items(run_id, chunk_size=chunk_size, offset=2, limit=3)
    assert [item["n"] async for item in bounded] == [2, 3, 4]


async def test_a_page_with_fewer_items_than_its_count_is_not_the_end(fake_api: FakeApi) -> None:
    # Rows 0..5; the server drops some (as clean would) and returns an empty page in between.
    rows = {0: [{"n": 0}], 2: [], 4: [{"n": 4}, {"n": 5}]}

    async def reply(request: web.Request) -> web.StreamResponse:
        offset = int(request.query["offset"])
        headers = {
            "X-Apify-Pagination-Offset": str(offset),
            "X-Apify-Pagination-Limit": request.query["limit"],
            "X-Apify-Pagination-Count": "2",
            "X-Apify-Pagination-Total": "6",
        }
        return web.json_response(rows[offset], headers=headers)

    fake_api.reply = reply
    async with ApifyRuns("t", base_url=fake_api.base_url) as client:
        items = [item async for item in client.iterate_items("r1", chunk_size=2)]
    assert items == [{"n": 0}, {"n": 4}, {"n": 5}]
    assert [r.query["offset"] for r in fake_api.requests] == ["0", "2", "4"]


async def test_items_decoded_into_the_callers_types(client: ApifyRuns) -> None:
    run_id = await run_with(client, numbered(3))
    page = await client.list_items(run_id, item_type=Item)
    assert page.items == [Item(0, []), Item(1, ["a", "b"]), Item(2, [])]
    typed = [item async for item in client.iterate_items(run_id, item_type=ItemData)]
    assert typed == [ItemData(0, []), ItemData(1, ["a", "b"]), ItemData(2, [])]
    dicts = await client.list_items(run_id, item_type=ItemDict, fields="n")
    assert dicts.items == [{"n": 0}, {"n": 1}, {"n": 2}]


async def test_an_item_that_does_not_fit_is_named_by_its_index(client: ApifyRuns) -> None:
    run_id = await run_with(client, [*numbered(4), {"n": "four", "tags": []}, *numbered(2)])
    with pytest.raises(InvalidItemError, match="item 4") as caught:
        _ = [item async for item in client.iterate_items(run_id, item_type=Item, chunk_size=3)]
    assert caught.value.index == 4
    assert isinstance(caught.value, InvalidResponseError)
    with pytest.raises(InvalidItemError) as caught:
        await client.list_items(run_id, item_type=Item, desc=True)
    assert caught.value.index == 4
    assert "four" in caught.value.excerpt


async def test_following_a_live_run_yields_each_item_once(client: ApifyRuns) -> None:
    steps = [
        {"sleepSecs": 0.3, "pushItems": [{"step": step, "i": i} for i in range(step + 1)]}
        for step in range(4)
    ]
    run = await client.start(ACTOR, {"steps": steps, "outcome": "SUCCEEDED"})
    items = client.iterate_items(run, follow=True, poll_interval=0.1, chunk_size=2)
    seen = [(item["step"], item["i"]) async for item in items]
    assert seen == [(step, i) for step in range(4) for i in range(step + 1)]
    finished = await client.get(run.id)
    assert finished is not None and finished.is_terminal


async def test_following_a_finished_run_reads_it_and_ends(client: ApifyRuns) -> None:
    run_id = await run_with(client, numbered(3))
    items = [item async for item in client.iterate_items(run_id, follow=True)]
    assert [item["n"] for item in items] == [0, 1, 2]


async def test_breaking_out_leaves_no_prefetch_running(
    separate_emulator: EmulatorProcess,
) -> None:
    # The emulator in its own process: every task on this loop is then the client's.
    emu = separate_emulator
    async with ApifyRuns(emu.token, base_url=emu.base_url) as client:
        run_id = await run_with(client, numbered(10))
        before = asyncio.all_tasks()
        async with contextlib.aclosing(client.iterate_items(run_id, chunk_size=2)) as items:
            async for item in items:
                if item["n"] == 3:
                    break  # the page from row 4 is being fetched
        assert asyncio.all_tasks() == before
        with pytest.raises(ZeroDivisionError):
            async with contextlib.aclosing(client.iterate_items(run_id, chunk_size=2)) as items:
                async for _item in items:
                    _ = 1 / 0
        assert asyncio.all_tasks() == before


@pytest.mark.parametrize("item_format", ["json", "jsonl", "csv"])
async def test_downloads(client: ApifyRuns, item_format: str, tmp_path: Path) -> None:
    run_id = await run_with(client, [{"a": 1}, {"a": 2}])
    body = await client.download_items(run_id, format=item_format)
    expected = {
        "json": json.dumps([{"a": 1}, {"a": 2}]),
        "jsonl": '{"a":1}\n{"a":2}\n',
        "csv": "\ufeffa\r\n1\r\n2\r\n",  # with a BOM, as the API sends CSV
    }[item_format]
    if item_format == "json":
        assert json.loads(body) == json.loads(expected)
    else:
        assert body.decode().replace("\r\n", "\n") == expected.replace("\r\n", "\n")
    path = tmp_path / f"items.{item_format}"
    assert await client.download_items(run_id, format=item_format, to=path) == len(body)
    assert path.read_bytes() == body
    stream = io.BytesIO()
    assert await client.download_items(run_id, format=item_format, to=stream) == len(body)
    assert stream.getvalue() == body
    assert await client.download_items(run_id, format=item_format, fields="a", desc=True) != b""


async def test_a_dataset_by_its_id(client: ApifyRuns) -> None:
    run_id = await run_with(client, numbered(3))
    run = await client.get(run_id)
    assert run is not None
    handle = client.dataset(run.default_dataset_id)
    dataset = await handle.get()
    assert isinstance(dataset, Dataset)
    assert (dataset.id, dataset.item_count, dataset.act_run_id) == (handle.dataset_id, 3, run_id)
    assert [item.n async for item in handle.iterate_items(item_type=Item, chunk_size=2)] == [
        0,
        1,
        2,
    ]
    assert (await handle.list_items(offset=2)).items == [numbered(3)[2]]
    assert await handle.download_items(format="jsonl") == await client.download_items(
        run, format="jsonl"
    )
    assert await client.dataset("noSuchDataset000").get() is None


async def test_a_missing_run_or_dataset(client: ApifyRuns, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=f"/v2/actor-runs/{MISSING}/dataset/items"):
        await client.list_items(MISSING)
    with pytest.raises(NotFoundError):
        _ = [item async for item in client.iterate_items(MISSING, follow=True)]
    with pytest.raises(NotFoundError):
        await client.download_items(MISSING)
    with pytest.raises(NotFoundError):
        await client.download_items(MISSING, to=tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()
    with pytest.raises(NotFoundError, match="/v2/datasets/noSuchDataset000/items"):
        await client.dataset("noSuchDataset000").list_items()


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.list_items(""), ValueError),
        (lambda c: c.list_items("r1", offset=-1), ValueError),
        (lambda c: c.list_items("r1", limit=0), ValueError),
        (lambda c: c.list_items("r1", fields=3), TypeError),
        (lambda c: c.list_items("r1", clean="yes"), TypeError),
        (lambda c: c.list_items("r1", item_type=object()), TypeError),
        (lambda c: c.list_items("r1", nope=True), TypeError),
        (lambda c: c.iterate_items("r1", chunk_size=0), ValueError),
        (lambda c: c.iterate_items("r1", limit=0), ValueError),
        (lambda c: c.iterate_items("r1", follow=True, poll_interval=0), ValueError),
        (lambda c: c.iterate_items("r1", follow=True, desc=True), ValueError),
        (lambda c: c.iterate_items("r1", follow="yes"), TypeError),
        (lambda c: c.download_items("r1", format="xml"), ValueError),
        (lambda c: c.download_items("r1", to=3), TypeError),
        (lambda c: c.dataset("a/b"), ValueError),
    ],
)
async def test_bad_arguments_fail_before_any_request(
    counted: tuple[ApifyRuns, RequestCounter], call: Any, error: type[Exception]
) -> None:
    client, counter = counted
    with pytest.raises(error):
        result = call(client)
        if hasattr(result, "__await__"):
            await result
    assert counter.sent == []


def _prefetches() -> set[asyncio.Task[Any]]:
    return {
        task
        for task in asyncio.all_tasks()
        if task.get_coro().__qualname__.startswith("Sender.")  # type: ignore[union-attr]
    }


async def test_the_next_page_is_fetched_while_the_caller_works(fake_api: FakeApi) -> None:
    release = asyncio.Event()

    async def reply(request: web.Request) -> web.StreamResponse:
        offset = int(request.query["offset"])
        if offset >= 4:
            await release.wait()  # the third page waits: it is fetched, not yet answered
        headers = {
            "X-Apify-Pagination-Offset": str(offset),
            "X-Apify-Pagination-Limit": "2",
            "X-Apify-Pagination-Count": "2",
            "X-Apify-Pagination-Total": "6",
        }
        return web.json_response([{"n": offset}, {"n": offset + 1}], headers=headers)

    fake_api.reply = reply
    async with ApifyRuns("t", base_url=fake_api.base_url) as client:
        items = client.iterate_items("r1", chunk_size=2)
        async with contextlib.aclosing(items):
            assert await anext(items) == {"n": 0}
            await asyncio.sleep(0.1)
            assert [r.query["offset"] for r in fake_api.requests] == ["0", "2"]  # one ahead
            assert [await anext(items) for _ in range(2)] == [{"n": 1}, {"n": 2}]
            await asyncio.sleep(0.1)
            assert len(fake_api.requests) == 3
            assert len(_prefetches()) == 1
        assert _prefetches() == set()  # closed while the third page was pending: cancelled
        release.set()

        # Cancelled from outside (an anyio scope) while the caller works: nothing left over.
        release.clear()
        with anyio.move_on_after(0.2):
            async with contextlib.aclosing(client.iterate_items("r1", chunk_size=2)) as more:
                async for _item in more:
                    await asyncio.sleep(0.05)
        assert _prefetches() == set()
        release.set()


@pytest.mark.client_options(retries=FAST_RETRIES)
async def test_a_download_to_a_file_is_tried_again_until_its_first_byte(
    fake_api: FakeApi, fake_client: ApifyRuns, tmp_path: Path
) -> None:
    async def export(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b'{"a":1}\n', content_type="application/jsonl")

    fake_api.reply = in_turn(error_reply(503, "server-error", "busy"), export)
    path = tmp_path / "items.jsonl"
    assert await fake_client.download_items("r1", format="jsonl", to=path) == 8
    assert path.read_bytes() == b'{"a":1}\n'
    assert len(fake_api.requests) == 2
    fake_api.reply = error_reply(400, "invalid-input", "no")
    with pytest.raises(BadRequestError):
        await fake_client.download_items("r1", to=tmp_path / "not.json")
    assert len(fake_api.requests) == 3  # not transient: one try
    assert not (tmp_path / "not.json").exists()


async def test_following_through_rows_that_clean_drops(client: ApifyRuns) -> None:
    # Steps that push only empty items: reads with rows behind them and no items in them.
    steps: list[dict[str, Any]] = [
        {"sleepSecs": 0.2, "pushItems": [{}, {}, {}] if step % 2 else [{"step": step}]}
        for step in range(5)
    ]
    run = await client.start(ACTOR, {"steps": steps, "outcome": "SUCCEEDED"})
    items = client.iterate_items(run, follow=True, poll_interval=0.1, chunk_size=2, clean=True)
    assert [item async for item in items] == [{"step": 0}, {"step": 2}, {"step": 4}]
