"""Exactly once across processes: a start with the caller's idempotency key.

The platform records one thing of the request that started a run: its User-Agent, as the
run's `meta.userAgent`. A keyed start carries `idempotency-key/<key>` there, so any process
can find the runs started with a key by listing the Actor's (or task's) runs:

- before starting, it looks back over the idempotency window; a run with the key is returned
  instead of starting one. An aborted run does not count: a job whose run was aborted (by
  `abort_on_exit` when its worker shut down, say) starts afresh when delivered again;
- after starting, it looks again at the runs started since its first look: two processes may
  have started the key at the same moment. The earliest run (by `startedAt`, then id) is the
  one kept, by both; the other is aborted by the process that started it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from . import _requests, _responses
from ._errors import UncertainOutcomeError
from ._http import Request
from ._models import Run, RunSummary
from ._reconcile import Fetch
from ._requests import MAX_LIST_LIMIT
from ._status import RunStatus

_ABORTED = frozenset({RunStatus.ABORTING, RunStatus.ABORTED})
_MAX_PAGES = 100  # 100,000 runs in the window: past that, a start would cost too many lookups


def agent_word(key: str) -> str:
    """What a keyed start adds to its User-Agent."""
    return f"idempotency-key/{key}"


class KeyedStart:
    """The look-ups around one keyed start of the Actor or task whose runs are at `runs_path`."""

    def __init__(
        self, request: Request, key: str, window_secs: float, margin_secs: float, fetch: Fetch
    ) -> None:
        self._request = request
        self._word = agent_word(key)
        self._window = timedelta(seconds=window_secs)
        self._margin = timedelta(seconds=margin_secs)
        self._fetch = fetch
        self._window_start = datetime.now(UTC)  # set by the first look
        self._looked_at: datetime | None = None  # the first look, on the server's clock

    async def existing(self) -> Run | None:
        """The earliest run started with the key within the window and not aborted, if
        there is one."""
        # The window is reckoned on this machine's clock: the server's is not known yet.
        self._window_start = datetime.now(UTC) - self._window
        keyed, server_now = await self._keyed_since(self._window_start)
        self._looked_at = server_now or datetime.now(UTC)
        return None if not keyed else await self._get(_earliest(keyed).id)

    async def keep_earliest(self, started: Run, abort: Callable[[str], Awaitable[object]]) -> Run:
        """The run to keep once `started` has started: `started` itself, unless another
        process started the key first; then `started` is aborted and theirs returned."""
        assert self._looked_at is not None
        # A run started before the first look was seen by it; the margin covers the time it
        # took to answer and a replica that lags. Runs older than the window do not count.
        since = max(self._looked_at - self._margin, self._window_start)
        keyed, _ = await self._keyed_since(since)
        earliest = _earliest([*keyed, started])
        if earliest.id == started.id:
            return started
        winner = await self._get(earliest.id)
        if winner is None:  # deleted meanwhile: ours is the one left
            return started
        await abort(started.id)
        return winner

    async def _keyed_since(self, since: datetime) -> tuple[list[RunSummary], datetime | None]:
        """The runs with the key started since `since` and not aborted, and the server's
        time (its Date header)."""
        keyed: list[RunSummary] = []
        server_now: datetime | None = None
        for number in range(_MAX_PAGES):
            lookup = _requests.runs_page(
                self._request.path,
                offset=number * MAX_LIST_LIMIT,
                limit=MAX_LIST_LIMIT,
                desc=True,
                started_after=since,
            )
            page, date = await self._fetch(lookup, _responses.run_list_and_time)
            server_now = server_now or date
            keyed += (
                run
                for run in page.items
                if run.status not in _ABORTED and self._word in _words(run.meta.user_agent)
            )
            if len(page.items) < MAX_LIST_LIMIT:
                return keyed, server_now
        raise UncertainOutcomeError(
            self._request.method,
            self._request.path,
            f"more than {_MAX_PAGES * MAX_LIST_LIMIT:,} runs in the idempotency window to look "
            "through for the key: shorten `idempotency_window`",
            run=None,
        )

    async def _get(self, run_id: str) -> Run | None:
        return await self._fetch(_requests.poll_run(run_id, 0), _responses.run_or_none)


def _words(user_agent: str | None) -> list[str]:
    return (user_agent or "").split()


def _earliest(runs: Sequence[RunSummary | Run]) -> RunSummary | Run:
    return min(runs, key=lambda run: (run.started_at, run.id))
