"""`DatasetHandle`: the client's dataset-item methods bound to one dataset, by its id."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, TypeVar, Unpack, overload

from . import _requests, _responses
from ._models import Dataset, ItemPage
from ._retries import Retries

if TYPE_CHECKING:
    from ._items import Destination
    from ._requests import ItemFilters
    from ._run_outputs import RunOutputs

T = TypeVar("T")


class DatasetHandle:
    """One dataset's items, like the official client's `DatasetClient`. A run's default
    dataset is read by the client's own methods, given the run; this is for any dataset.
    `follow` is the client's alone: a dataset has no run to follow.

    >>> page = await client.dataset(dataset_id).list_items(limit=10)
    """

    def __init__(self, client: RunOutputs, dataset_id: str) -> None:
        self._client = client
        self.dataset_id = dataset_id
        self._items_path = f"{_requests.dataset_path(dataset_id)}/items"

    def __repr__(self) -> str:
        return f"<DatasetHandle {self.dataset_id}>"

    async def get(self, *, retries: Retries | None = None) -> Dataset | None:
        """The dataset, or None if it does not exist."""
        request = _requests.get_dataset(self.dataset_id)
        return await self._client._sender(retries)(request, _responses.dataset_or_none)

    @overload
    async def list_items(
        self,
        *,
        offset: int = 0,
        limit: int | None = None,
        retries: Retries | None = None,
        **filters: Unpack[ItemFilters],
    ) -> ItemPage[Any]: ...
    @overload
    async def list_items(
        self,
        *,
        item_type: type[T],
        offset: int = 0,
        limit: int | None = None,
        retries: Retries | None = None,
        **filters: Unpack[ItemFilters],
    ) -> ItemPage[T]: ...
    async def list_items(
        self,
        *,
        item_type: Any = Any,
        offset: int = 0,
        limit: int | None = None,
        retries: Retries | None = None,
        **filters: Unpack[ItemFilters],
    ) -> ItemPage[Any]:
        return await self._client._list_items(
            self._items_path, item_type, offset, limit, retries, filters
        )

    @overload
    def iterate_items(
        self,
        *,
        offset: int = 0,
        limit: int | None = None,
        chunk_size: int = 1000,
        retries: Retries | None = None,
        **filters: Unpack[ItemFilters],
    ) -> AsyncGenerator[Any, None]: ...
    @overload
    def iterate_items(
        self,
        *,
        item_type: type[T],
        offset: int = 0,
        limit: int | None = None,
        chunk_size: int = 1000,
        retries: Retries | None = None,
        **filters: Unpack[ItemFilters],
    ) -> AsyncGenerator[T, None]: ...
    def iterate_items(
        self,
        *,
        item_type: Any = Any,
        offset: int = 0,
        limit: int | None = None,
        chunk_size: int = 1000,
        retries: Retries | None = None,
        **filters: Unpack[ItemFilters],
    ) -> AsyncGenerator[Any, None]:
        return self._client._iterate_items(
            self._items_path, item_type, offset, limit, chunk_size, None, 5.0, retries, filters
        )

    @overload
    async def download_items(
        self,
        *,
        format: str = "json",
        to: None = None,
        retries: Retries | None = None,
        **filters: Unpack[ItemFilters],
    ) -> bytes: ...
    @overload
    async def download_items(
        self,
        *,
        format: str = "json",
        to: Destination,
        retries: Retries | None = None,
        **filters: Unpack[ItemFilters],
    ) -> int: ...
    async def download_items(
        self,
        *,
        format: str = "json",
        to: Destination | None = None,
        retries: Retries | None = None,
        **filters: Unpack[ItemFilters],
    ) -> bytes | int:
        return await self._client._download_items(self._items_path, format, to, retries, filters)
