"""Every item of a dataset, page by page: a plain async generator that reads one page ahead.

Paging follows the API's rule: `offset` and `limit` pick rows before they are shaped, so a
page's `count` (rows read) may differ from the items it holds (`clean` drops rows, `unwind`
splits them). The next page starts `count` rows on, and the dataset ends where `count` is 0
or the offset reaches `total`; a page with no items is not the end.

Prefetch: while the caller works on a page, the next one is already being fetched, as one
`asyncio.Task` the generator holds. It is awaited before the generator goes on, and cancelled
(and waited for) in `finally`, so a caller that breaks out, or an error, leaves nothing
running. A task group would not do: a generator cannot yield from inside one safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, BinaryIO

import anyio

from . import _responses
from ._errors import ApifyError
from ._http import Request
from ._models import ItemPage, Run
from ._sending import Sender

FetchPage = Callable[[int, int], Awaitable[ItemPage[Any]]]
"""Fetch the page of up to N rows from an offset."""

PollRun = Callable[[], Awaitable[Run | None]]


async def items(
    fetch: FetchPage,
    offset: int,
    limit: int | None,
    chunk_size: int,
    follow: PollRun | None = None,
    poll_interval: float = 1.0,
) -> AsyncGenerator[Any, None]:
    """The items from row `offset` on, of `limit` rows at most (None: all).

    With `follow` (a run's poll), the end of the dataset is not the end while the run is
    live: it is read again every `poll_interval` seconds, and once the run is terminal, once
    more, so that the items it pushed last are read too.
    """
    left = math.inf if limit is None else limit
    size = int(min(chunk_size, left))
    ended = False  # the run has been seen terminal: the next empty read is the end
    task: asyncio.Task[ItemPage[Any]] | None = _fetching(fetch, offset, size)
    try:
        while True:
            assert task is not None
            page = await task
            task = None
            step = min(page.count, size)  # rows read; never past the limit sent
            offset += step
            left -= step
            more = step > 0 and offset < page.total and left > 0
            if more:
                size = int(min(chunk_size, left))
                task = _fetching(fetch, offset, size)
            for item in page.items:
                yield item
            del page
            if more:
                continue
            if left <= 0 or follow is None or ended:
                return
            run = await follow()
            if run is None or run.is_terminal:
                ended = True  # read once more: it may have pushed items since the last read
            else:
                await anyio.sleep(poll_interval)
            size = int(min(chunk_size, left))
            task = _fetching(fetch, offset, size)
    finally:
        if task is not None:
            task.cancel()
            task.add_done_callback(_retrieve)
            # Shielded: under a cancelled anyio scope every await would be cancelled again.
            # The request is cancelled already, so this wait is short.
            with anyio.CancelScope(shield=True):
                await asyncio.wait([task])  # waits without raising, even if the task failed


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Read a prefetch's outcome, so that a failure nobody waits for is not logged as lost."""
    if not task.cancelled():
        task.exception()


def _fetching(fetch: FetchPage, offset: int, size: int) -> asyncio.Task[ItemPage[Any]]:
    return asyncio.ensure_future(fetch(offset, size))


Destination = str | os.PathLike[str] | BinaryIO
"""Where `download_items` writes: a file path, or a binary stream open for writing."""


async def write(send: Sender, request: Request, to: Destination) -> int:
    """Stream the answer to `request` into the file at path `to`, or the binary stream `to`;
    the number of bytes written. A 2xx body is written as it arrives, never held whole."""
    chunks, first = await _opened(send, request)
    async with contextlib.aclosing(chunks):
        written = len(first)
        if not isinstance(to, str | os.PathLike):
            to.write(first)
            async for chunk in chunks:
                to.write(chunk)
                written += len(chunk)
            return written
        async with await anyio.open_file(to, "wb") as file:
            await file.write(first)
            async for chunk in chunks:
                await file.write(chunk)
                written += len(chunk)
    return written


async def _opened(send: Sender, request: Request) -> tuple[AsyncGenerator[bytes, None], bytes]:
    """The stream of the answer and its first chunk, tried again as `send.retries` says until
    that chunk arrives: before it, nothing has been written. After it a failure is raised, as
    the bytes written cannot be taken back. An error (a missing run) leaves no file behind."""
    failures = 0
    while True:
        chunks = send.transport.stream(request, _responses.refuse)
        try:
            return chunks, await anext(chunks, b"")
        except ApifyError as error:
            await chunks.aclose()
            failures += 1
            wait = send.retries.next_wait(error, failures)
            if wait is None:
                raise
            await anyio.sleep(wait)
