"""The default dataset of a run: pushing items, and reading them as the API serves them."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import msgspec
import pytest

from apify_runs_async.emulator import ActorContext

from .spec import spec
from .support import Api, Response, steps

pytestmark = pytest.mark.anyio

ITEMS: list[dict[str, Any]] = [
    {"n": 1, "tags": ["a", "b"], "nested": {"x": 1, "y": {"z": True}}, "#debug": "d1"},
    {"n": 2, "tags": [], "nested": {"x": 2}, "#debug": "d2"},
    {},
    {"#only": "hidden"},
    {"n": 5, "tags": ["c"], "text": 'comma, and "quotes"'},
]


def _items_schema() -> Any:
    operation = spec()["paths"]["/v2/datasets/{datasetId}/items"]["get"]
    return operation["responses"]["200"]["content"]["application/json"]["schema"]


async def _pusher(ctx: ActorContext) -> None:
    ctx.push_data(ITEMS[0])
    ctx.push_data(ITEMS[1:])


async def _finished_run(api: Api, actor_input: Any = None, actor: str = "janedoe~pusher") -> Any:
    if actor == "janedoe~pusher":
        api.emulator.register_actor(actor, _pusher)
    return await api.start(actor, actor_input, params={"waitForFinish": 10})


async def _items(
    api: Api, path: str, expect: int = 200, **query: Any
) -> tuple[Response, list[dict[str, Any]]]:
    """GET the items as JSON, checked against the spec's schema of the items endpoint."""
    response = await api.request("GET", path, raw=True, expect=expect, params=query)
    jsonschema.validate(response.json, _items_schema())
    items: list[dict[str, Any]] = response.json
    return response, items


def _pagination(response: Response) -> tuple[str, str, str, str, str]:
    headers = response.headers
    return (
        headers["X-Apify-Pagination-Offset"],
        headers["X-Apify-Pagination-Limit"],
        headers["X-Apify-Pagination-Count"],
        headers["X-Apify-Pagination-Total"],
        headers["X-Apify-Pagination-Desc"],
    )


async def test_items_pushed_by_a_handler_are_served_by_both_paths(api: Api) -> None:
    run = await _finished_run(api)
    for path in (
        f"/v2/actor-runs/{run['id']}/dataset/items",
        f"/v2/datasets/{run['defaultDatasetId']}/items",
        "/v2/actors/janedoe~pusher/runs/last/dataset/items",
        f"/v2/acts/janedoe~pusher/runs/{run['id']}/dataset/items",
    ):
        response, items = await _items(api, path)
        assert items == ITEMS
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        # No limit asked: the API says 999999999999.
        assert _pagination(response) == ("0", "999999999999", "5", "5", "false")


async def test_the_dataset_object(api: Api) -> None:
    run = await _finished_run(api)
    for path in (
        f"/v2/actor-runs/{run['id']}/dataset",
        f"/v2/datasets/{run['defaultDatasetId']}",
        "/v2/actors/janedoe~pusher/runs/last/dataset",
    ):
        response = await api.request("GET", path, schema="DatasetResponse", expect=200)
        dataset = response.data
        assert dataset["id"] == run["defaultDatasetId"]
        assert dataset["itemCount"] == 5
        assert dataset["cleanItemCount"] == 3  # `{}` and a hidden field only are not clean
        assert dataset["actRunId"] == run["id"]
        assert dataset["actId"] == run["actId"]
        assert dataset["userId"] == run["userId"]
        assert dataset["stats"]["writeCount"] == 2


async def test_push_items_on_steps_and_at_the_end(api: Api) -> None:
    script = {
        "steps": [
            {"sleepSecs": 0.01, "pushItems": [{"step": 1}]},
            {"sleepSecs": 0.01, "pushItems": [{"step": 2}, {"step": 3}]},
        ],
        "pushItems": [{"step": "end"}],
    }
    run = await _finished_run(api, script, "emulator~scripted")
    assert run["status"] == "SUCCEEDED"
    _, items = await _items(api, f"/v2/actor-runs/{run['id']}/dataset/items")
    assert items == [{"step": 1}, {"step": 2}, {"step": 3}, {"step": "end"}]


async def test_items_are_readable_while_the_run_runs(api: Api) -> None:
    script = {"steps": [{"sleepSecs": 0, "pushItems": [{"a": 1}]}, *steps("wait", sleep=30)]}
    run = await api.start("emulator~scripted", script)
    await api.wait_for(run["id"], "RUNNING")
    for _ in range(100):
        _, items = await _items(api, f"/v2/actor-runs/{run['id']}/dataset/items")
        if items:
            break
    assert items == [{"a": 1}]
    await api.post_run(run["id"], "abort")


async def test_generate_items_is_deterministic_and_sized(api: Api) -> None:
    script = {"steps": [{"generateItems": {"count": 25_000, "bytes": 200, "seed": 7}}]}
    first = await _finished_run(api, script, "emulator~scripted")
    second = await _finished_run(api, script, "emulator~scripted")
    path = "/v2/actor-runs/{}/dataset/items"
    response, items = await _items(api, path.format(first["id"]), offset=24_990, limit=1000)
    assert _pagination(response) == ("24990", "1000", "10", "25000", "false")
    assert [item["index"] for item in items] == list(range(24_990, 25_000))
    assert all(len(msgspec.json.encode(item)) == 200 for item in items)
    _, again = await _items(api, path.format(second["id"]), offset=24_990, limit=1000)
    assert again == items
    other = await _finished_run(
        api, {"generateItems": {"count": 3, "bytes": 50, "seed": 8}}, "emulator~scripted"
    )
    _, different = await _items(api, path.format(other["id"]))
    assert [item["index"] for item in different] == [0, 1, 2]
    assert different[0]["payload"] != items[0]["payload"]


async def test_bad_scripts_fail_the_run(api: Api) -> None:
    script: dict[str, Any]
    for script in (
        {"pushItems": [1]},
        {"steps": [{"pushItems": "x"}]},
        {"generateItems": {"count": -1}},
        {"generateItems": []},
    ):
        run = await _finished_run(api, script, "emulator~scripted")
        assert run["status"] == "FAILED", script


async def test_a_handler_pushing_a_non_object_fails(api: Api) -> None:
    async def bad(ctx: ActorContext) -> None:
        ctx.push_data([1, 2])  # type: ignore[list-item]

    api.emulator.register_actor("janedoe~bad", bad)
    run = await api.start("janedoe~bad", params={"waitForFinish": 10})
    assert run["status"] == "FAILED"


@pytest.mark.parametrize(
    ("query", "indexes", "headers"),
    [
        ({"limit": 2}, [0, 1], ("0", "2", "2", "5", "false")),
        ({"offset": 3}, [3, 4], ("3", "999999999999", "2", "5", "false")),
        ({"offset": 1, "limit": 2}, [1, 2], ("1", "2", "2", "5", "false")),
        ({"offset": 4, "limit": 10}, [4], ("4", "10", "1", "5", "false")),
        ({"offset": 9, "limit": 10}, [], ("9", "10", "0", "5", "false")),
        ({"desc": 1}, [4, 3, 2, 1, 0], ("0", "999999999999", "5", "5", "true")),
        ({"desc": "true", "offset": 1, "limit": 2}, [3, 2], ("1", "2", "2", "5", "true")),
        ({"desc": "true", "offset": 4, "limit": 2}, [0], ("4", "2", "1", "5", "true")),
        ({"limit": 0}, [0, 1, 2, 3, 4], ("0", "999999999999", "5", "5", "false")),
    ],
)
async def test_offset_limit_desc(
    api: Api, query: dict[str, Any], indexes: list[int], headers: tuple[str, ...]
) -> None:
    run = await _finished_run(api)
    response, items = await _items(api, f"/v2/datasets/{run['defaultDatasetId']}/items", **query)
    assert items == [ITEMS[index] for index in indexes]
    assert _pagination(response) == headers


async def test_fields_output_fields_and_omit(api: Api) -> None:
    run = await _finished_run(api)
    path = f"/v2/datasets/{run['defaultDatasetId']}/items"
    _, items = await _items(api, path, fields="text,n", limit=1)
    assert items == [{"n": 1}]
    assert list((await _items(api, path, fields="text,n", offset=4))[1][0]) == ["text", "n"]
    _, items = await _items(api, path, fields="n,tags", outputFields="number,labels", limit=1)
    assert items == [{"number": 1, "labels": ["a", "b"]}]
    _, items = await _items(api, path, omit="tags,nested,#debug", limit=2)
    assert items == [{"n": 1}, {"n": 2}]
    await api.error("GET", path, 400, "invalid-input", params={"outputFields": "a"})


async def test_unwind_splits_rows_and_an_empty_array_gives_fewer_items(api: Api) -> None:
    run = await _finished_run(api)
    path = f"/v2/datasets/{run['defaultDatasetId']}/items"
    response, items = await _items(api, path, unwind="tags", fields="n,tags", limit=2)
    # Two rows scanned: the first splits in two, the second (empty array) gives none.
    assert items == [{"n": 1, "tags": "a"}, {"n": 1, "tags": "b"}]
    assert _pagination(response) == ("0", "2", "2", "5", "false")
    _, items = await _items(api, path, unwind="nested", omit="tags,#debug", limit=1)
    assert items == [{"n": 1, "x": 1, "y": {"z": True}}]
    # Missing or not an array nor an object: the item as it is.
    _, items = await _items(api, path, unwind="text", offset=4)
    assert items == [ITEMS[4]]
    # Desc reverses the rows, not the unwound elements.
    _, items = await _items(api, path, unwind="tags", fields="n,tags", desc=1)
    assert items == [{"n": 5, "tags": "c"}, {}, {}, {"n": 1, "tags": "a"}, {"n": 1, "tags": "b"}]


async def test_flatten(api: Api) -> None:
    run = await _finished_run(api)
    path = f"/v2/datasets/{run['defaultDatasetId']}/items"
    _, items = await _items(api, path, flatten="nested", fields="n,nested.x,nested.y.z", limit=1)
    assert items == [{"n": 1, "nested.x": 1, "nested.y.z": True}]


async def test_clean_skip_empty_and_skip_hidden(api: Api) -> None:
    run = await _finished_run(api)
    path = f"/v2/datasets/{run['defaultDatasetId']}/items"
    response, items = await _items(api, path, clean=1)
    assert [item.get("n") for item in items] == [1, 2, 5]
    assert not any(key.startswith("#") for item in items for key in item)
    # The window is scanned first: Count says rows, not items.
    assert _pagination(response) == ("0", "999999999999", "5", "5", "false")
    _, items = await _items(api, path, skipEmpty="true")
    assert items == [ITEMS[0], ITEMS[1], ITEMS[3], ITEMS[4]]
    _, items = await _items(api, path, skipHidden="true", offset=2, limit=2)
    assert items == [{}, {}]
    response, items = await _items(api, path, clean="true", offset=2, limit=2)
    assert items == []
    assert response.headers["X-Apify-Pagination-Count"] == "2"


async def test_jsonl(api: Api) -> None:
    run = await _finished_run(api)
    path = f"/v2/datasets/{run['defaultDatasetId']}/items"
    queries: list[dict[str, Any]] = [
        {"format": "jsonl"},
        {"format": "jsonl", "desc": 1},
        {"format": "jsonl", "clean": 1},
    ]
    for query in queries:
        response = await api.request("GET", path, expect=200, params=query)
        assert response.headers["Content-Type"] == "application/jsonl; charset=utf-8"
        lines = response.body.decode().splitlines()
        json_response, expected = await _items(api, path, **{**query, "format": "json"})
        assert [json.loads(line) for line in lines] == expected
        assert response.body.endswith(b"\n")
        assert _pagination(response) == _pagination(json_response)


async def test_csv(api: Api) -> None:
    run = await _finished_run(api)
    path = f"/v2/datasets/{run['defaultDatasetId']}/items"
    response = await api.request("GET", path, expect=200, params={"format": "csv"})
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.body.startswith("\ufeff".encode())  # CSV has a BOM by default
    rows = list(csv.reader(io.StringIO(response.body.decode("utf-8-sig"))))
    # Columns in the order they first appear; nested keys `a/b`; empty arrays give none.
    assert rows[0] == [
        "n",
        "tags/0",
        "tags/1",
        "nested/x",
        "nested/y/z",
        "#debug",
        "#only",
        "text",
    ]
    header = rows[0]
    first = dict(zip(header, rows[1], strict=True))
    assert first["n"] == "1"
    assert first["tags/1"] == "b"
    assert first["nested/y/z"] == "true"
    last = dict(zip(header, rows[5], strict=True))
    assert last["text"] == 'comma, and "quotes"'
    assert last["nested/x"] == ""
    assert len(rows) == 6
    plain = await api.request(
        "GET",
        path,
        expect=200,
        params={
            "format": "csv",
            "bom": 0,
            "skipHeaderRow": 1,
            "delimiter": ";",
            "fields": "n,nested",
            "limit": 2,
        },
    )
    assert plain.body.decode() == "1;1;true\n2;2;\n"


async def test_attachment(api: Api) -> None:
    run = await _finished_run(api)
    path = f"/v2/datasets/{run['defaultDatasetId']}/items"
    response = await api.request("GET", path, expect=200, params={"format": "csv", "attachment": 1})
    assert response.headers["Content-Disposition"] == 'attachment; filename="items.csv"'


@pytest.mark.parametrize("item_format", ["yaml", "xlsx", "nope"])
async def test_unknown_or_unemulated_format_is_400(api: Api, item_format: str) -> None:
    run = await _finished_run(api)
    path = f"/v2/datasets/{run['defaultDatasetId']}/items"
    await api.error("GET", path, 400, "invalid-input", params={"format": item_format})


@pytest.mark.parametrize(
    "query",
    [{"offset": -1}, {"limit": "x"}, {"desc": "maybe"}, {"clean": "2"}, {"view": "overview"}],
)
async def test_bad_parameters_are_400(api: Api, query: dict[str, Any]) -> None:
    run = await _finished_run(api)
    path = f"/v2/actor-runs/{run['id']}/dataset/items"
    await api.error("GET", path, 400, "invalid-input", params=query)


async def test_head_gives_the_headers_only(api: Api) -> None:
    run = await _finished_run(api)
    for path in (
        f"/v2/datasets/{run['defaultDatasetId']}/items",
        f"/v2/actor-runs/{run['id']}/dataset/items",
    ):
        response = await api.request("HEAD", path, expect=200, params={"offset": 1, "limit": 3})
        assert response.body == b""
        assert _pagination(response) == ("1", "3", "3", "5", "false")


async def test_unknown_datasets_and_runs_are_404(api: Api) -> None:
    for path in (
        "/v2/datasets/AAAAAAAAAAAAAAAAA",
        "/v2/datasets/AAAAAAAAAAAAAAAAA/items",
        "/v2/actor-runs/AAAAAAAAAAAAAAAAA/dataset",
        "/v2/actor-runs/AAAAAAAAAAAAAAAAA/dataset/items",
    ):
        await api.error("GET", path, 404, "record-not-found")
    response = await api.request("HEAD", "/v2/datasets/AAAAAAAAAAAAAAAAA/items", expect=404)
    assert response.body == b""


async def test_deleted_runs_take_their_dataset(api: Api) -> None:
    run = await _finished_run(api)
    await api.request("DELETE", f"/v2/actor-runs/{run['id']}", expect=204)
    path = f"/v2/datasets/{run['defaultDatasetId']}"
    await api.error("GET", path, 404, "record-not-found")


async def test_a_token_is_needed(api: Api) -> None:
    run = await _finished_run(api)
    for path in (
        f"/v2/datasets/{run['defaultDatasetId']}/items",
        f"/v2/actor-runs/{run['id']}/dataset",
    ):
        await api.error("GET", path, 401, "token-not-provided", token=None)
        await api.error("GET", path, 401, "invalid-token", token="wrong")
    response = await api.request(
        "GET", f"/v2/datasets/{run['defaultDatasetId']}/items", raw=True, token_in_query=True
    )
    assert response.status == 200


async def test_reads_are_counted(api: Api) -> None:
    run = await _finished_run(api)
    path = f"/v2/datasets/{run['defaultDatasetId']}"
    before = (await api.request("GET", path, schema="DatasetResponse")).data
    await _items(api, f"{path}/items")
    after = (await api.request("GET", path, schema="DatasetResponse")).data
    assert after["stats"]["readCount"] == before["stats"]["readCount"] + 1
    assert after["accessedAt"] >= before["accessedAt"]
