"""Lists of runs: one page, every page, the last run.

A part of `ApifyRuns`: its methods are the client's.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Iterable
from datetime import datetime

from . import _paging, _requests, _responses
from . import _validation as check
from ._http import Request
from ._models import Run, RunList, RunSummary
from ._retries import Retries
from ._sending import SendsRequests


class RunLists(SendsRequests):
    """The methods of `ApifyRuns` that list runs."""

    async def list_runs(
        self,
        actor_id: str | None = None,
        *,
        task_id: str | None = None,
        status: str | Iterable[str] | None = None,
        offset: int = 0,
        limit: int | None = None,
        desc: bool | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        retries: Retries | None = None,
    ) -> RunList:
        """One page of an Actor's runs, a task's, or (with neither) all of yours.

        `status` takes one status or several; `limit` is at most 1000 a page. `started_after`
        and `started_before` are timezone-aware datetimes.

        >>> page = await client.list_runs("me/crawler", status=["FAILED", "TIMED-OUT"])
        >>> page.total, [run.id for run in page.items]
        """
        request = _requests.list_runs(
            actor_id,
            task_id,
            status=status,
            offset=offset,
            limit=limit,
            desc=desc,
            started_after=started_after,
            started_before=started_before,
        )
        return await self._sender(retries)(request, _responses.run_list)

    def iterate_runs(
        self,
        actor_id: str | None = None,
        *,
        task_id: str | None = None,
        status: str | Iterable[str] | None = None,
        offset: int = 0,
        limit: int | None = None,
        desc: bool | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        retries: Retries | None = None,
    ) -> AsyncGenerator[RunSummary, None]:
        """Every run that `list_runs` would list, page by page; `limit` (None: all) bounds
        how many in all.

        >>> async for run in client.iterate_runs("me/crawler", status="SUCCEEDED"):
        ...     print(run.id, run.finished_at)
        """
        if limit is not None:
            check.positive_int(limit, "limit")
        if status is not None and not isinstance(status, str):
            status = list(status)  # read once: it may be an iterator

        def page_at(at: int, size: int) -> Request:
            return _requests.list_runs(
                actor_id,
                task_id,
                status=status,
                offset=at,
                limit=size,
                desc=desc,
                started_after=started_after,
                started_before=started_before,
            )

        page_at(offset, _requests.MAX_LIST_LIMIT)  # every argument checked before any request
        send = self._sender(retries)

        async def fetch(request: Request) -> RunList:
            return await send(request, _responses.run_list)

        return _paging.items(fetch, page_at, offset, limit, _requests.MAX_LIST_LIMIT)

    async def last_run(
        self,
        actor_id: str | None = None,
        *,
        task_id: str | None = None,
        status: str | None = None,
        origin: str | None = None,
        retries: Retries | None = None,
    ) -> Run | None:
        """The last run of an Actor, of a task, or (with neither) of yours; of a `status` or
        `origin` if given. None if there is none.

        >>> run = await client.last_run("me/crawler", status=RunStatus.SUCCEEDED)
        """
        if actor_id is not None or task_id is not None:
            request = _requests.last_run(actor_id, task_id, status, origin)
            return await self._sender(retries)(request, _responses.run_or_none)
        # The API has no endpoint for the user's last run: the newest listed that matches.
        if origin is not None:
            check.tag(origin, "origin")
        send = self._sender(retries)
        runs = self.iterate_runs(status=status, desc=True, retries=retries)
        async with contextlib.aclosing(runs):
            async for summary in runs:
                if origin is None or summary.meta.origin == origin:
                    return await send(_requests.poll_run(summary.id, 0), _responses.run_or_none)
        return None
