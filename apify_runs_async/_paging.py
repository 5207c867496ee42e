"""Every item of a list the API serves in pages: a plain async generator, one page at a time."""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from ._http import Request

T_co = TypeVar("T_co", covariant=True)


class Page(Protocol[T_co]):
    @property
    def items(self) -> Sequence[T_co]: ...

    @property
    def total(self) -> int: ...


async def items(
    fetch: Callable[[Request], Awaitable[Page[T_co]]],
    page_at: Callable[[int, int], Request],
    offset: int,
    limit: int | None,
    page_size: int,
) -> AsyncGenerator[T_co, None]:
    """The items from `offset` on, `limit` at most (None: all), `page_size` a request.

    `page_at(offset, size)` builds the request for a page. A page may hold fewer items than
    asked for (a server's own cap): the list ends at its `total`, or at an empty page.
    """
    left = math.inf if limit is None else limit
    while left > 0:
        size = int(min(page_size, left))
        page = await fetch(page_at(offset, size))
        items = page.items[:size]  # a server may send more than asked for: `limit` holds
        for item in items:
            yield item
        offset += len(items)
        left -= len(items)
        if not items or offset >= page.total:
            return
