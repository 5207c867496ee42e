"""What runs produce: records and keys of key-value stores, logs, dataset items, charges.

A part of `ApifyRuns`: its methods are the client's.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Coroutine, Mapping
from typing import Any, TypeVar, Unpack, overload

from . import _items, _logs, _requests, _responses, _stores
from . import _validation as check
from ._dataset_handle import DatasetHandle
from ._following import RunRef, run_id_of
from ._items import Destination
from ._models import ItemPage, Record, StoredKey
from ._requests import ItemFilters
from ._retries import Retries
from ._sending import SendsRequests
from ._stores import KeyValueStore

T = TypeVar("T")


class RunOutputs(SendsRequests):
    """The methods of `ApifyRuns` that read what runs produce, and charge them."""

    async def get_record(
        self, run: RunRef, key: str = "OUTPUT", *, retries: Retries | None = None
    ) -> Record | None:
        """A record of the run's default key-value store (`OUTPUT` by default); None if the
        store has no such key. A run that does not exist raises `NotFoundError`."""
        store = _requests.run_store(run_id_of(run))
        return await _stores.get_record(self._sender(retries), store, key)

    async def record_exists(self, run: RunRef, key: str, *, retries: Retries | None = None) -> bool:
        """Whether the run's default key-value store has `key`, without reading the record.
        A run that does not exist raises `NotFoundError`."""
        store = _requests.run_store(run_id_of(run))
        return await _stores.record_exists(self._sender(retries), store, key)

    async def download_record(
        self, run: RunRef, key: str, *, to: Destination, retries: Retries | None = None
    ) -> int | None:
        """Stream a record of the run's default key-value store into a file path or a binary
        stream, however large (`max_record_bytes` bounds only `get_record`): the bytes
        written, or None if the store has no such key. A missing run raises `NotFoundError`."""
        store = _requests.run_store(run_id_of(run))
        return await _stores.download_record(self._sender(retries), store, key, to)

    def iterate_keys(
        self, run: RunRef, *, prefix: str | None = None, retries: Retries | None = None
    ) -> AsyncGenerator[StoredKey, None]:
        """Every key of the run's default key-value store (that starts with `prefix`), in
        key order, with the size of its record.

        >>> async for stored in client.iterate_keys(run, prefix="screenshot-"):
        ...     print(stored.key, stored.size)
        """
        store = _requests.run_store(run_id_of(run))
        return _stores.keys(self._sender(retries), store, prefix)

    def key_value_store(self, store_id: str) -> KeyValueStore:
        """A key-value store given by its id, with the record methods bound to it."""
        return KeyValueStore(self, store_id)

    async def get_log(self, run: RunRef, *, retries: Retries | None = None) -> str:
        """The run's log as text, as far as it has been written. A run that does not exist
        raises `NotFoundError`."""
        run_id = run_id_of(run)
        return await self._sender(retries)(_requests.get_log(run_id), _responses.text)

    # --- Dataset items: a run's default dataset here, any dataset through `dataset(id)` -------

    def dataset(self, dataset_id: str) -> DatasetHandle:
        """A handle on one dataset, by its id: its items, and the dataset itself."""
        return DatasetHandle(self, check.resource_id(dataset_id, "dataset_id"))

    @overload
    async def list_items(
        self,
        run: RunRef,
        *,
        offset: int = 0,
        limit: int | None = None,
        retries: Retries | None = None,
        **filters: Unpack[ItemFilters],
    ) -> ItemPage[Any]: ...
    @overload
    async def list_items(
        self,
        run: RunRef,
        *,
        item_type: type[T],
        offset: int = 0,
        limit: int | None = None,
        retries: Retries | None = None,
        **filters: Unpack[ItemFilters],
    ) -> ItemPage[T]: ...
    async def list_items(
        self,
        run: RunRef,
        *,
        item_type: Any = Any,
        offset: int = 0,
        limit: int | None = None,
        retries: Retries | None = None,
        **filters: Unpack[ItemFilters],
    ) -> ItemPage[Any]:
        """One page of the items of the run's default dataset, from row `offset`, `limit` rows
        at most (None: as many as the API gives), picked and shaped by `filters`.

        Items are plain JSON values, or decoded into `item_type` (a msgspec Struct, a
        TypedDict, a dataclass...); one that does not fit raises `InvalidItemError`. The
        next page starts at `page.offset + page.count`, whatever `len(page.items)` is.

        >>> page = await client.list_items(run, limit=100, clean=True)
        >>> page.total, page.items[:3]
        """
        path = _requests.run_items_path(run_id_of(run))
        return await self._list_items(path, item_type, offset, limit, retries, filters)

    @overload
    def iterate_items(
        self,
        run: RunRef,
        *,
        offset: int = 0,
        limit: int | None = None,
        chunk_size: int = 1000,
        follow: bool = False,
        poll_interval: float = 5.0,
        retries: Retries | None = None,
        **filters: Unpack[ItemFilters],
    ) -> AsyncGenerator[Any, None]: ...
    @overload
    def iterate_items(
        self,
        run: RunRef,
        *,
        item_type: type[T],
        offset: int = 0,
        limit: int | None = None,
        chunk_size: int = 1000,
        follow: bool = False,
        poll_interval: float = 5.0,
        retries: Retries | None = None,
        **filters: Unpack[ItemFilters],
    ) -> AsyncGenerator[T, None]: ...
    def iterate_items(
        self,
        run: RunRef,
        *,
        item_type: Any = Any,
        offset: int = 0,
        limit: int | None = None,
        chunk_size: int = 1000,
        follow: bool = False,
        poll_interval: float = 5.0,
        retries: Retries | None = None,
        **filters: Unpack[ItemFilters],
    ) -> AsyncGenerator[Any, None]:
        """Every item of the run's default dataset, `chunk_size` rows a request, the next page
        fetched while you work on this one; `limit` (None: all) bounds the rows read.

        With `follow=True` it reads while the run is live: new items arrive at most
        `poll_interval` seconds late, and it ends once the run is terminal and every item
        has been read. Each item is yielded once, in order.

        >>> async for item in client.iterate_items(run, item_type=Product, follow=True):
        ...     print(item.url)
        """
        run_id = run_id_of(run)
        path = _requests.run_items_path(run_id)
        watched = run_id if check.flag(follow, "follow") else None
        return self._iterate_items(
            path, item_type, offset, limit, chunk_size, watched, poll_interval, retries, filters
        )

    @overload
    async def download_items(
        self,
        run: RunRef,
        *,
        format: str = "json",
        to: None = None,
        retries: Retries | None = None,
        **filters: Unpack[ItemFilters],
    ) -> bytes: ...
    @overload
    async def download_items(
        self,
        run: RunRef,
        *,
        format: str = "json",
        to: Destination,
        retries: Retries | None = None,
        **filters: Unpack[ItemFilters],
    ) -> int: ...
    async def download_items(
        self,
        run: RunRef,
        *,
        format: str = "json",
        to: Destination | None = None,
        retries: Retries | None = None,
        **filters: Unpack[ItemFilters],
    ) -> bytes | int:
        """The run's default dataset exported as `json`, `jsonl` or `csv`: as bytes, or written
        to `to` (a file path, or a binary stream), then the number of bytes written.

        >>> await client.download_items(run, format="csv", to="items.csv")
        """
        path = _requests.run_items_path(run_id_of(run))
        return await self._download_items(path, format, to, retries, filters)

    async def _list_items(
        self,
        path: str,
        item_type: Any,
        offset: int,
        limit: int | None,
        retries: Retries | None,
        filters: Mapping[str, Any],
    ) -> ItemPage[Any]:
        read = functools.partial(_responses.item_page, decoders=_responses.item_decoders(item_type))
        request = _requests.list_items(path, _requests.item_params(filters), offset, limit)
        return await self._sender(retries)(request, read)

    def _iterate_items(
        self,
        path: str,
        item_type: Any,
        offset: int,
        limit: int | None,
        chunk_size: int,
        run_id: str | None,
        poll_interval: float,
        retries: Retries | None,
        filters: Mapping[str, Any],
    ) -> AsyncGenerator[Any, None]:
        """`iterate_items` of the items at `path`; `run_id`: the run to follow, if any."""
        read = functools.partial(_responses.item_page, decoders=_responses.item_decoders(item_type))
        params = _requests.item_params(filters)
        check.positive_int(chunk_size, "chunk_size")
        if limit is not None:
            check.positive_int(limit, "limit")
        _requests.list_items(path, params, offset, chunk_size)  # checked before any request
        send = self._sender(retries)
        poll = None
        if run_id is not None:
            if not 0 < check.non_negative(poll_interval, "poll_interval") <= check.MAX_WAIT_SECS:
                raise ValueError(f"poll_interval must be over 0, at most 60 s: {poll_interval!r}")
            if params.get("desc") == "true":
                raise ValueError("follow=True reads items as they are added: not with desc")
            poll = functools.partial(send, _requests.poll_run(run_id, 0), _responses.run_or_none)

        def fetch(at: int, size: int) -> Coroutine[Any, Any, ItemPage[Any]]:
            return send(_requests.list_items(path, params, at, size), read)

        return _items.items(fetch, offset, limit, chunk_size, poll, poll_interval)

    async def _download_items(
        self,
        path: str,
        item_format: str,
        to: Destination | None,
        retries: Retries | None,
        filters: Mapping[str, Any],
    ) -> bytes | int:
        request = _requests.download_items(path, _requests.item_params(filters), item_format)
        send = self._sender(retries)
        if to is None:
            return await send(request, _responses.content)
        check.destination(to)
        return await _items.write(send, request, to)  # streamed: not retried once it began

    async def charge(
        self,
        run: RunRef,
        event_name: str,
        *,
        count: int = 1,
        idempotency_key: str | None = None,
        retries: Retries | None = None,
    ) -> None:
        """Charge a pay-per-event run for `count` events named `event_name`.

        One idempotency key goes with every try of a call (`idempotency_key`, or one made up
        per call), so a retried charge is never billed twice."""
        run_id = run_id_of(run)
        request = _requests.charge(run_id, event_name, count, idempotency_key)
        await self._sender(retries)(request, _responses.no_content)

    def stream_log(
        self, run: RunRef, *, retries: Retries | None = None
    ) -> AsyncGenerator[str, None]:
        """The run's log, line by line as it is written, until the run ends. A dropped
        connection is opened again, and no line is repeated or skipped.

        >>> async for line in client.stream_log(run):
        ...     print(line)
        """
        run_id = run_id_of(run)
        return _logs.lines(self._sender(retries), run_id)
