"""Key-value stores: a run's default store, or one given by its id (`KeyValueStore`).

The API answers "not found" alike for a missing key and a missing store (or run), so after a
404 for a record the client asks for the store itself: a missing key is None, a missing store
`NotFoundError`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from . import _items, _requests, _responses
from . import _validation as check
from ._errors import InvalidResponseError, NotFoundError, not_found, shortened
from ._items import Destination
from ._models import Record, StoredKey
from ._retries import Retries
from ._sending import Sender

if TYPE_CHECKING:
    from ._run_outputs import RunOutputs


async def get_record(send: Sender, store_path: str, key: str) -> Record | None:
    record = await send(_requests.get_record(store_path, key), _responses.record_or_none)
    if record is None:
        await _require_store(send, store_path)
    return record


async def record_exists(send: Sender, store_path: str, key: str) -> bool:
    exists = await send(_requests.record_exists(store_path, key), _responses.found)
    if not exists:
        await _require_store(send, store_path)
    return exists


async def download_record(send: Sender, store_path: str, key: str, to: Destination) -> int | None:
    """Stream the record into `to`, however large; the bytes written, or None if the store
    has no such key (then nothing is written)."""
    check.destination(to)
    try:
        return await _items.write(send, _requests.get_record(store_path, key), to)
    except NotFoundError as error:
        if error.error_type != "record-not-found":
            raise
    await _require_store(send, store_path)
    return None


def keys(send: Sender, store_path: str, prefix: str | None) -> AsyncGenerator[StoredKey, None]:
    """Every key of the store (that starts with `prefix`), in key order, page by page."""
    _requests.list_keys(store_path, prefix, None)  # checked before any request
    return _keys(send, store_path, prefix)


async def _keys(
    send: Sender, store_path: str, prefix: str | None
) -> AsyncGenerator[StoredKey, None]:
    start_after = None
    while True:
        page = await send(_requests.list_keys(store_path, prefix, start_after), _responses.key_list)
        for item in page.items:
            yield item
        if not page.is_truncated or not page.items:
            return
        after = page.next_exclusive_start_key or page.items[-1].key
        if start_after is not None and after <= start_after:
            # Keys come in order: a server that does not move on would be asked forever.
            raise _stuck(store_path, after)
        start_after = after


def _stuck(store_path: str, key: str) -> InvalidResponseError:
    return InvalidResponseError(
        "GET",
        f"{store_path}/keys",
        status=200,
        reason=f"does not move past key {shortened(key, 100)!r}",
        excerpt="",
    )


async def _require_store(send: Sender, store_path: str) -> None:
    if not await send(_requests.get_store(store_path), _responses.found):
        raise not_found("GET", store_path, "the key-value store does not exist (or its run)")


class KeyValueStore:
    """A key-value store given by its id, with the client's record methods bound to it.

    >>> store = client.key_value_store(run.default_key_value_store_id)
    >>> record = await store.get_record("OUTPUT")
    """

    def __init__(self, client: RunOutputs, store_id: str) -> None:
        self._client = client
        self.store_id = store_id
        self._path = _requests.store(store_id)

    def __repr__(self) -> str:
        return f"<KeyValueStore {self.store_id}>"

    async def get_record(self, key: str, *, retries: Retries | None = None) -> Record | None:
        """The record, or None if the store has no such key; a store that does not exist
        raises `NotFoundError`."""
        return await get_record(self._client._sender(retries), self._path, key)

    async def record_exists(self, key: str, *, retries: Retries | None = None) -> bool:
        return await record_exists(self._client._sender(retries), self._path, key)

    async def download_record(
        self, key: str, *, to: Destination, retries: Retries | None = None
    ) -> int | None:
        return await download_record(self._client._sender(retries), self._path, key, to)

    def iterate_keys(
        self, *, prefix: str | None = None, retries: Retries | None = None
    ) -> AsyncGenerator[StoredKey, None]:
        return keys(self._client._sender(retries), self._path, prefix)
