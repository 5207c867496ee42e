"""Key-value stores: the store object, its keys, and its records (GET and HEAD), by the
store's id and as the default store of a run (also of the last run of an Actor)."""

from __future__ import annotations

from typing import Any

import pytest

from apify_runs_async.emulator import ActorContext

from .support import Api

pytestmark = pytest.mark.anyio


async def _five_records(ctx: ActorContext) -> None:
    for key in ("b-2", "a-1", "b-1", "c", "a-2"):
        ctx.set_record(key, {"key": key})


async def _finished_run(api: Api) -> dict[str, Any]:
    api.emulator.register_actor("janedoe~five", _five_records)
    return await api.start("janedoe~five", params={"waitForFinish": 10})


def _store_paths(run: dict[str, Any]) -> list[str]:
    return [
        f"/v2/key-value-stores/{run['defaultKeyValueStoreId']}",
        f"/v2/actor-runs/{run['id']}/key-value-store",
        "/v2/actors/janedoe~five/runs/last/key-value-store",
    ]


async def test_the_store_object(api: Api) -> None:
    run = await _finished_run(api)
    for path in _store_paths(run):
        response = await api.request("GET", path, schema="KeyValueStoreResponse", expect=200)
        store = response.data
        assert store["id"] == run["defaultKeyValueStoreId"]
        assert (store["actId"], store["actRunId"]) == (run["actId"], run["id"])
        assert store["userId"] == run["userId"]
        assert store["name"] is None
        assert store["stats"]["writeCount"] == 5
        assert store["keysPublicUrl"] == f"{api.emulator.base_url}{_store_paths(run)[0]}/keys"
        assert store["createdAt"] <= store["modifiedAt"]


async def test_keys_in_key_order_with_sizes(api: Api) -> None:
    run = await _finished_run(api)
    for path in _store_paths(run):
        response = await api.request("GET", f"{path}/keys", schema="ListOfKeysResponse", expect=200)
        page = response.data
        assert [item["key"] for item in page["items"]] == ["a-1", "a-2", "b-1", "b-2", "c"]
        assert page["items"][0]["size"] == len(b'{"key":"a-1"}')
        assert page["items"][0]["recordPublicUrl"].endswith(
            f"/v2/key-value-stores/{run['defaultKeyValueStoreId']}/records/a-1"
        )
        assert (page["count"], page["limit"], page["isTruncated"]) == (5, 1000, False)
        assert page["exclusiveStartKey"] is None
        assert page["nextExclusiveStartKey"] is None


async def test_keys_page_by_exclusive_start_key(api: Api) -> None:
    run = await _finished_run(api)
    path = f"/v2/actor-runs/{run['id']}/key-value-store/keys"
    seen: list[str] = []
    start: str | None = None
    while True:
        query = {"limit": 2} if start is None else {"limit": 2, "exclusiveStartKey": start}
        page = (await api.request("GET", path, schema="ListOfKeysResponse", params=query)).data
        seen += [item["key"] for item in page["items"]]
        assert page["exclusiveStartKey"] == start
        if not page["isTruncated"]:
            assert page["nextExclusiveStartKey"] is None
            break
        start = page["nextExclusiveStartKey"]
        assert start == seen[-1]
    assert seen == ["a-1", "a-2", "b-1", "b-2", "c"]
    # A start key that is no key at all still starts after it.
    after = await api.request(
        "GET", path, schema="ListOfKeysResponse", params={"exclusiveStartKey": "b"}
    )
    assert [item["key"] for item in after.data["items"]] == ["b-1", "b-2", "c"]


async def test_keys_by_prefix(api: Api) -> None:
    run = await _finished_run(api)
    path = f"/v2/key-value-stores/{run['defaultKeyValueStoreId']}/keys"
    page = (
        await api.request("GET", path, schema="ListOfKeysResponse", params={"prefix": "b-"})
    ).data
    assert [item["key"] for item in page["items"]] == ["b-1", "b-2"]
    both = await api.request(
        "GET",
        path,
        schema="ListOfKeysResponse",
        params={"prefix": "a-", "exclusiveStartKey": "a-1"},
    )
    assert [item["key"] for item in both.data["items"]] == ["a-2"]


async def test_listing_keys_is_counted(api: Api) -> None:
    run = await _finished_run(api)
    await api.request(
        "GET", f"/v2/actor-runs/{run['id']}/key-value-store/keys", schema="ListOfKeysResponse"
    )
    store = await api.request("GET", _store_paths(run)[0], schema="KeyValueStoreResponse")
    assert store.data["stats"]["listCount"] == 1
    assert (await api.run(run["id"]))["usage"]["KEY_VALUE_STORE_LISTS"] == 1


@pytest.mark.parametrize("limit", ["-1", "1.5", "many"])
async def test_a_bad_limit_is_400(api: Api, limit: str) -> None:
    run = await _finished_run(api)
    await api.error(
        "GET",
        f"/v2/actor-runs/{run['id']}/key-value-store/keys",
        400,
        "invalid-input",
        params={"limit": limit},
    )


async def test_a_collection_needs_a_schema(api: Api) -> None:
    run = await _finished_run(api)
    await api.error(
        "GET",
        f"/v2/actor-runs/{run['id']}/key-value-store/keys",
        400,
        "invalid-collection",
        params={"collection": "images"},
    )


async def test_head_on_a_record(api: Api) -> None:
    run = await _finished_run(api)
    for path in _store_paths(run):
        head = await api.request("HEAD", f"{path}/records/a-1", expect=200)
        assert head.body == b""
        assert head.headers["Content-Type"] == "application/json; charset=utf-8"
        assert head.headers["Content-Length"] == str(len(b'{"key":"a-1"}'))
        missing = await api.request("HEAD", f"{path}/records/NOPE", expect=404)
        assert missing.body == b""


async def test_missing_stores_and_runs_are_404(api: Api) -> None:
    for path in (
        "/v2/key-value-stores/AAAAAAAAAAAAAAAAA",
        "/v2/actor-runs/AAAAAAAAAAAAAAAAA/key-value-store",
        "/v2/actors/emulator~scripted/runs/last/key-value-store",
    ):
        for suffix in ("", "/keys", "/records/OUTPUT"):
            await api.error("GET", f"{path}{suffix}", 404, "record-not-found")
        await api.request("HEAD", f"{path}/records/OUTPUT", expect=404)


async def test_a_missing_store_and_a_missing_key_differ_only_by_message(api: Api) -> None:
    run = await _finished_run(api)
    no_key = await api.error("GET", f"{_store_paths(run)[0]}/records/NOPE", 404, "record-not-found")
    no_store = await api.error(
        "GET", "/v2/key-value-stores/AAAAAAAAAAAAAAAAA/records/a-1", 404, "record-not-found"
    )
    assert "Record" in no_key
    assert "Key-value store" in no_store


async def test_the_store_of_a_deleted_run_is_gone(api: Api) -> None:
    run = await _finished_run(api)
    await api.request("DELETE", f"/v2/actor-runs/{run['id']}", expect=204)
    await api.error("GET", _store_paths(run)[0], 404, "record-not-found")
