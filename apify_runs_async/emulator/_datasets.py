"""Datasets: items kept as JSON encoded once, and pages of them as the API serves them.

Every item is encoded when it is pushed and kept in one buffer, each followed by a newline
(compact JSON never holds a raw newline: newlines in strings are escaped), with the offset
where each one starts. A page of rows in storage order is then one slice of that buffer:
as JSONL it is served as it is, as JSON its newlines become commas. Items are decoded only
when the request asks to reshape them (fields, omit, unwind, flatten, clean, ...) or for CSV.

The API applies `offset` and `limit` to the rows first and shapes them afterwards: so the
`X-Apify-Pagination-Count` header is the number of rows in the window, `min(total - offset,
limit)`, whatever the filters drop (fewer items) or `unwind` splits (more, or fewer for an
empty array). Without a `limit` (or with 0) there is none, and the header says 999999999999.
"""

from __future__ import annotations

import csv
import io
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from . import _params as params
from ._errors import invalid_input, json_response
from ._ids import new_id
from ._time import format_time, utc_now

NO_LIMIT = 999_999_999_999
"""What `X-Apify-Pagination-Limit` says when the request set no limit."""

FORMATS = ("json", "jsonl", "csv")
"""The formats the emulator serves."""
KNOWN_FORMATS = frozenset({"json", "jsonl", "csv", "html", "xlsx", "xml", "rss"})
"""The formats the API knows; the ones the emulator does not serve are refused with a 400."""

_CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "jsonl": "application/jsonl; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}
_BOM = "\ufeff".encode()
_SIMPLIFIED_FIELDS = ("url", "pageFunctionResult", "errorInfo")

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def _is_clean(item: dict[str, Any]) -> bool:
    """Whether the item has a field that is not hidden (does not start with `#`)."""
    return any(not key.startswith("#") for key in item)


class Dataset:
    """One unnamed dataset: its items, their count, and the reads and writes it served."""

    __slots__ = (
        "_buffer",
        "_starts",
        "accessed_at",
        "actor_id",
        "clean_item_count",
        "created_at",
        "id",
        "modified_at",
        "reads",
        "run_id",
        "user_id",
        "writes",
    )

    def __init__(self, *, user_id: str, actor_id: str | None, run_id: str | None) -> None:
        self.id = new_id()
        self.user_id = user_id
        self.actor_id = actor_id
        self.run_id = run_id
        self.created_at = self.modified_at = self.accessed_at = utc_now()
        self._buffer = bytearray()
        self._starts = array("q", [0])  # where each item starts, and where the next will
        self.clean_item_count = 0
        self.reads = 0
        self.writes = 0

    @property
    def item_count(self) -> int:
        return len(self._starts) - 1

    @property
    def storage_bytes(self) -> int:
        return len(self._buffer)

    def push(self, items: Any) -> None:
        """Append an object, or a list of objects. Raises ValueError for anything else."""
        batch = items if isinstance(items, list) else [items]
        if not all(isinstance(item, dict) for item in batch):
            raise ValueError("dataset items must be JSON objects (dicts), or a list of them")
        buffer, starts = self._buffer, self._starts
        for item in batch:
            buffer += _encode(item)
            buffer += b"\n"
            starts.append(len(buffer))
        self.clean_item_count += sum(map(_is_clean, batch))
        self.writes += 1
        self.modified_at = utc_now()

    def lines(self, offset: int, limit: int, *, desc: bool) -> bytes:
        """The encoded items of the window, each ending in a newline, newest first if `desc`."""
        total, starts, buffer = self.item_count, self._starts, self._buffer
        if not desc:
            # In storage order, the window is one slice of the buffer.
            start = min(offset, total)
            end = min(start + limit, total)
            return bytes(buffer[starts[start] : starts[end]])
        end = max(total - offset, 0)
        start = max(end - limit, 0)
        return b"".join(
            buffer[starts[index] : starts[index + 1]] for index in range(end - 1, start - 1, -1)
        )

    def touch(self) -> None:
        self.reads += 1
        self.accessed_at = utc_now()


def dataset_data(dataset: Dataset, base_url: str) -> dict[str, Any]:
    """A `Dataset` of the official spec."""
    return {
        "id": dataset.id,
        "name": None,
        "userId": dataset.user_id,
        "createdAt": format_time(dataset.created_at),
        "modifiedAt": format_time(dataset.modified_at),
        "accessedAt": format_time(dataset.accessed_at),
        "itemCount": dataset.item_count,
        "cleanItemCount": dataset.clean_item_count,
        "actId": dataset.actor_id,
        "actRunId": dataset.run_id,
        "fields": [],
        "schema": None,
        "consoleUrl": f"https://console.apify.com/storage/datasets/{dataset.id}",
        "itemsPublicUrl": f"{base_url}/v2/datasets/{dataset.id}/items",
        "generalAccess": "FOLLOW_USER_SETTING",
        "stats": {
            "readCount": dataset.reads,
            "writeCount": dataset.writes,
            "storageBytes": dataset.storage_bytes,
        },
    }


def dataset_response(request: web.Request, dataset: Dataset) -> web.Response:
    """`GET /v2/datasets/{id}` and `/v2/actor-runs/{runId}/dataset`."""
    return json_response({"data": dataset_data(dataset, str(request.url.origin()))})


# Reading the request.


def _names(query: params.Query, name: str) -> tuple[str, ...]:
    """A comma-separated list of field names (the parameter may be repeated)."""
    parts = (part.strip() for value in query.getall(name, []) for part in value.split(","))
    return tuple(part for part in parts if part)


@dataclass(frozen=True, slots=True)
class ItemsQuery:
    """What a request for dataset items asks for."""

    format: str = "json"
    offset: int = 0
    limit: int | None = None
    desc: bool = False
    fields: tuple[str, ...] = ()
    output_fields: tuple[str, ...] = ()
    omit: tuple[str, ...] = ()
    unwind: tuple[str, ...] = ()
    flatten: tuple[str, ...] = ()
    skip_hidden: bool = False
    skip_empty: bool = False
    delimiter: str = ","
    bom: bool | None = None
    skip_header_row: bool = False
    attachment: bool = False

    @property
    def reshapes(self) -> bool:
        """Whether items must be decoded to be served."""
        return bool(
            self.fields
            or self.omit
            or self.unwind
            or self.flatten
            or self.skip_hidden
            or self.skip_empty
            or self.format == "csv"
        )


def items_query(query: params.Query) -> ItemsQuery:
    """Read and check the parameters of a dataset items request (400 `invalid-input`)."""
    item_format = query.get("format", "json").lower() or "json"
    if item_format not in KNOWN_FORMATS:
        raise invalid_input(
            f"Parameter 'format' must be one of {', '.join(sorted(KNOWN_FORMATS))}, "
            f"got {item_format!r}."
        )
    if item_format not in FORMATS:
        raise invalid_input(
            f"Format '{item_format}' is not emulated; use one of {', '.join(FORMATS)}."
        )
    if query.get("view"):
        raise invalid_input(f"The dataset has no schema, so it has no view '{query['view']}'.")
    clean = bool(params.flag(query, "clean"))
    fields = _names(query, "fields")
    output_fields = _names(query, "outputFields")
    unwind = _names(query, "unwind")
    if params.flag(query, "simplified"):
        fields, unwind = _SIMPLIFIED_FIELDS, ("pageFunctionResult",)
    if output_fields and len(output_fields) != len(fields):
        raise invalid_input("Parameter 'outputFields' must name as many fields as 'fields'.")
    delimiter = query.get("delimiter", ",")
    if len(delimiter) != 1:
        raise invalid_input("Parameter 'delimiter' must be a single character.")
    limit = params.integer(query, "limit")
    return ItemsQuery(
        format=item_format,
        offset=params.integer(query, "offset") or 0,
        limit=limit or None,  # 0 means no limit, as the official clients send it
        desc=bool(params.flag(query, "desc")),
        fields=fields,
        output_fields=output_fields,
        omit=_names(query, "omit"),
        unwind=unwind,
        flatten=_names(query, "flatten"),
        skip_hidden=clean or bool(params.flag(query, "skipHidden")),
        skip_empty=clean or bool(params.flag(query, "skipEmpty")),
        delimiter=delimiter,
        bom=params.flag(query, "bom"),
        skip_header_row=bool(params.flag(query, "skipHeaderRow")),
        attachment=bool(params.flag(query, "attachment")),
    )


# Shaping items.


def _flat(prefix: str, value: Any, separator: str) -> Iterator[tuple[str, Any]]:
    """Nested objects and arrays as `prefix<sep>key` pairs (empty ones kept as they are)."""
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            yield from _flat(f"{prefix}{separator}{key}", inner, separator)
    elif isinstance(value, list) and value:
        for index, inner in enumerate(value):
            yield from _flat(f"{prefix}{separator}{index}", inner, separator)
    else:
        yield prefix, value


def _unwound(item: dict[str, Any], field: str) -> list[dict[str, Any]]:
    """An array field makes one item per element (none for an empty array), an object field
    is merged into its parent, anything else leaves the item as it is."""
    value = item.get(field)
    if isinstance(value, dict):
        rest = {key: inner for key, inner in item.items() if key != field}
        return [{**rest, **value}]
    if isinstance(value, list):
        rest = {key: inner for key, inner in item.items() if key != field}
        return [
            {**rest, **element} if isinstance(element, dict) else {**rest, field: element}
            for element in value
        ]
    return [item]


def _flattened(item: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    shaped: dict[str, Any] = {}
    for key, value in item.items():
        if key in fields and isinstance(value, dict):
            shaped.update(_flat(key, value, "."))
        else:
            shaped[key] = value
    return shaped


def shape(rows: Iterable[dict[str, Any]], query: ItemsQuery) -> list[dict[str, Any]]:
    """The window's items as the query asks: empty ones dropped (emptiness is that of the
    stored item, less its hidden fields when those are skipped), then unwound, flattened,
    hidden fields skipped, fields picked (and renamed) or omitted."""
    shaped: list[dict[str, Any]] = []
    for row in rows:
        if query.skip_empty and not (_is_clean(row) if query.skip_hidden else row):
            continue
        items = [row]
        for field in query.unwind:
            items = [unwound for item in items for unwound in _unwound(item, field)]
        for item in items:
            if query.flatten:
                item = _flattened(item, query.flatten)
            if query.skip_hidden:
                item = {key: value for key, value in item.items() if not key.startswith("#")}
            if query.fields:
                names = query.output_fields or query.fields
                item = {
                    name: item[field]
                    for field, name in zip(query.fields, names, strict=True)
                    if field in item
                }
            if query.omit:
                item = {key: value for key, value in item.items() if key not in query.omit}
            shaped.append(item)
    return shaped


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return _encode(value).decode()


def render_csv(items: list[dict[str, Any]], query: ItemsQuery) -> bytes:
    """A table: nested keys flattened to `parent/child` (arrays `parent/0`), the columns in
    the order they first appear, or the order of `fields`."""
    flat_rows = [
        {
            column: value
            for key, value in item.items()
            for column, value in _flat(key, value, "/")
            if value != [] and value != {}
        }
        for item in items
    ]
    columns: dict[str, None] = {}
    for row in flat_rows:
        columns.update(dict.fromkeys(row))
    if query.fields:
        names = query.output_fields or query.fields
        ordered = [
            column
            for name in names
            for column in columns
            if column == name or column.startswith(f"{name}/")
        ]
        columns = dict.fromkeys(ordered)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=query.delimiter, lineterminator="\n")
    if not query.skip_header_row:
        writer.writerow(columns)
    for row in flat_rows:
        writer.writerow([_csv_cell(row.get(column)) for column in columns])
    body = out.getvalue().encode()
    return _BOM + body if query.bom is not False else body


def _json_array(lines: bytes) -> bytes:
    """Newline-terminated JSON values as one JSON array."""
    return b"[" + lines[:-1].replace(b"\n", b",") + b"]"


def render(dataset: Dataset, query: ItemsQuery, limit: int) -> bytes:
    """The body of a page of items."""
    lines = dataset.lines(query.offset, limit, desc=query.desc)
    if not query.reshapes:
        body = lines if query.format == "jsonl" else _json_array(lines)
    else:
        items = shape(_decode(_json_array(lines)), query)
        if query.format == "csv":
            return render_csv(items, query)
        if query.format == "jsonl":
            body = b"".join(_encode(item) + b"\n" for item in items)
        else:
            body = _encode(items)
    return _BOM + body if query.bom else body


def items_response(request: web.Request, dataset: Dataset) -> web.Response:
    """`GET` / `HEAD /v2/datasets/{id}/items` and `/v2/actor-runs/{runId}/dataset/items`."""
    query = items_query(request.query)
    total = dataset.item_count
    limit = query.limit if query.limit is not None else NO_LIMIT
    count = max(min(total - query.offset, limit), 0)
    headers = {
        "X-Apify-Pagination-Offset": str(query.offset),
        "X-Apify-Pagination-Limit": str(limit),
        "X-Apify-Pagination-Count": str(count),
        "X-Apify-Pagination-Total": str(total),
        "X-Apify-Pagination-Desc": "true" if query.desc else "false",
        "Content-Type": _CONTENT_TYPES[query.format],
    }
    if query.attachment:
        headers["Content-Disposition"] = f'attachment; filename="items.{query.format}"'
    dataset.touch()
    if request.method == "HEAD":
        return web.Response(headers=headers)
    return web.Response(body=render(dataset, query, limit), headers=headers)
