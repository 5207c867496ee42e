"""Trying again without doing anything twice: one rule per kind of operation.

A request that failed without a clear answer (a dropped connection, a read timeout, a 5xx)
may have been carried out all the same. Repeating a start would then start a second paid run,
so a start, metamorph, reboot or resurrect is repeated only after the client has looked and
found that the failed try left no trace. If it did, its result is adopted; if the client cannot
tell, it raises `UncertainOutcomeError` rather than guess.

Abort and delete may be repeated, but the repeat is refused when the first try did take
effect; such a refusal then counts as success. Reads and updates are repeated as they are.
The loop that applies these rules is `_sending.send`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

import anyio
import msgspec

from . import _requests, _responses
from ._errors import (
    ApifyError,
    ApifyTimeoutError,
    BadRequestError,
    NotFoundError,
    UncertainOutcomeError,
    detail_of,
    run_not_found,
)
from ._http import Request, Response
from ._models import Run
from ._retries import out_of_time
from ._status import RunStatus

T = TypeVar("T")

Read = Callable[[Request, Response], T]
"""A pure function that turns a response into data or a typed error (see `_responses.py`)."""

_LIST_PAGE = 100
_MAX_LIST_PAGES = 50


class Fetch(Protocol):
    """A request that is safe to repeat, sent with the caller's retries."""

    async def __call__(self, request: Request, read: Read[T], /) -> T: ...


class Rule(Generic[T]):
    """How a request may be tried again after a failure. This one is for requests that are
    safe to repeat as they are: reads and updates."""

    once_only = False  # whether the loop calls `prepare` and `mark` before each try

    async def prepare(self) -> None:
        """Before each try that may be followed by others: note what telling whether a try
        took effect will need (once)."""

    def mark(self, request: Request) -> Request:
        """The request a try sends."""
        return request

    async def settle(self, doubt: ApifyError | None) -> T | None:
        """After a try in doubt: its result if it took effect; None if it did not (or if
        trying again is harmless). Raises `UncertainOutcomeError` when it cannot tell."""
        return None

    async def refused(self, error: ApifyError) -> T:
        """A try failed after an earlier try was in doubt: the result if that earlier try is
        why; `error` raised otherwise."""
        raise error

    def uncertain(
        self, request: Request, detail: str, run: Run | None = None
    ) -> UncertainOutcomeError:
        """The error for an outcome the client could not find out."""
        return UncertainOutcomeError(request.method, request.path, detail, run=run)

    def timed_out(self, request: Request, secs: float, in_doubt: bool) -> ApifyError:
        """The error for a call past its `Timeouts.total`."""
        return out_of_time(request, secs, maybe_processed=True)


REPEATABLE: Rule[Any] = Rule()


class Abort(Rule[Run]):
    """A retried abort refused because the run has finished: a try in doubt aborted it."""

    def __init__(self, run_id: str, fetch: Fetch) -> None:
        self._run_id = run_id
        self._fetch = fetch

    async def refused(self, error: ApifyError) -> Run:
        if isinstance(error, BadRequestError):
            run = await self._fetch(_requests.poll_run(self._run_id, 0), _responses.run_or_none)
            if run is not None and run.status in (RunStatus.ABORTING, RunStatus.ABORTED):
                return run
        raise error


class Delete(Rule[None]):
    """A retried delete answered "no such run": a try in doubt deleted it."""

    async def refused(self, error: ApifyError) -> None:
        if not (isinstance(error, NotFoundError) and error.error_type == "record-not-found"):
            raise error


class _OnceOnly(Rule[Run]):
    """An operation never sent again while a try of it may have taken effect."""

    once_only = True

    def __init__(self, request: Request) -> None:
        self.request = request

    async def took_effect(self) -> Run | None:
        """After a try in doubt: the run if it took effect, None if it surely did not."""
        raise NotImplementedError

    async def settle(self, doubt: ApifyError | None) -> Run | None:
        run = await self.took_effect()
        if run is None and isinstance(doubt, ApifyTimeoutError):
            # The server was still silent: it may yet do it, so not finding it proves nothing.
            raise self.uncertain(
                self.request, f"a try timed out ({detail_of(doubt)}) and has left no trace yet"
            )
        return run

    def timed_out(self, request: Request, secs: float, in_doubt: bool) -> ApifyError:
        timeout = out_of_time(request, secs, maybe_processed=in_doubt)
        if in_doubt:
            uncertain = self.uncertain(request, f"{timeout.detail}, with a try in doubt")
            uncertain.__cause__ = timeout
            return uncertain
        return timeout


class Start(_OnceOnly):
    """A start marks each try with a nonce in its User-Agent; the platform keeps it in the
    run's `meta.userAgent`, so a run started by a try in doubt can be found in the list of
    the Actor's (or task's) runs, newest first."""

    def __init__(self, request: Request, user_agent: str, fetch: Fetch, margin_secs: float) -> None:
        super().__init__(request)
        self._user_agent = user_agent
        self._margin = timedelta(seconds=margin_secs)
        self._fetch = fetch
        self._nonces: list[str] = []
        self._first_try_at: float | None = None  # on this process's monotonic clock

    async def prepare(self) -> None:
        if self._first_try_at is None:
            self._first_try_at = anyio.current_time()

    @property
    def tried(self) -> bool:
        """Whether a try has been sent (or was about to be), so a run may have started."""
        return bool(self._nonces)

    def mark(self, request: Request) -> Request:
        if self._first_try_at is None:  # `prepare` is skipped when there is one try only
            self._first_try_at = anyio.current_time()
        nonce = secrets.token_hex(8)
        self._nonces.append(nonce)
        return msgspec.structs.replace(request, user_agent=f"{self._user_agent} nonce/{nonce}")

    async def took_effect(self) -> Run | None:
        assert self._first_try_at is not None
        oldest_possible: datetime | None = None
        for page_number in range(_MAX_LIST_PAGES):
            lookup = _requests.runs_page(
                self.request.path, offset=page_number * _LIST_PAGE, limit=_LIST_PAGE, desc=True
            )
            page, server_now = await self._fetch(lookup, _responses.run_list_and_time)
            if oldest_possible is None:
                # Reckoned on the server's clock, not this machine's, which may be off: runs
                # started before this are older than the first try. The time since it is
                # taken now, as the page arrives: the lookup may have been retried a while.
                since_first_try = timedelta(seconds=anyio.current_time() - self._first_try_at)
                now = server_now or datetime.now(UTC)
                oldest_possible = now - since_first_try - self._margin
            for item in page.items:
                agent = item.meta.user_agent or ""
                if any(f"nonce/{nonce}" in agent for nonce in self._nonces):
                    hold = _requests.poll_run(item.id, self.request.long_poll_secs)
                    run = await self._fetch(hold, _responses.run_or_none)
                    if run is None:
                        raise self.uncertain(
                            self.request, f"run {item.id} was started, then vanished"
                        )
                    return run
            # Newest first: a run started while paging only moves the rest to later pages.
            if len(page.items) < _LIST_PAGE or page.items[-1].started_at < oldest_possible:
                return None
        raise self.uncertain(
            self.request, f"more than {_MAX_LIST_PAGES * _LIST_PAGE} runs to look through"
        )

    def uncertain(
        self, request: Request, detail: str, run: Run | None = None
    ) -> UncertainOutcomeError:
        nonces = " or ".join(f"nonce/{nonce}" for nonce in self._nonces)
        return UncertainOutcomeError(
            self.request.method,
            self.request.path,
            f"{detail}. A run it started has {nonces} in its meta.userAgent",
            run=run,
            nonce=self._nonces[-1] if self._nonces else None,
        )


Changes = Callable[[Run, Run], int]
"""How many times the operation was done between two snapshots of a run."""


class RunChange(_OnceOnly):
    """Metamorph, reboot, resurrect: each leaves a count on the run that grows by one, read
    before the first try and again after a try in doubt."""

    def __init__(self, request: Request, run_id: str, changes: Changes, fetch: Fetch) -> None:
        super().__init__(request)
        self._run_id = run_id
        self._changes = changes
        self._fetch = fetch
        self._before: Run | None = None

    async def _get_run(self) -> Run | None:
        return await self._fetch(_requests.poll_run(self._run_id, 0), _responses.run_or_none)

    async def prepare(self) -> None:
        if self._before is None:
            before = await self._get_run()
            if before is None:
                raise run_not_found(self.request.method, self.request.path)
            self._before = before

    async def took_effect(self) -> Run | None:
        assert self._before is not None
        run = await self._get_run()
        if run is None:
            raise self.uncertain(self.request, "the run no longer exists")
        changes = self._changes(self._before, run)
        if changes == 0:
            return None
        if changes == 1:
            return run
        detail = f"it was done {changes} times meanwhile, by this client or others"
        raise self.uncertain(self.request, detail, run)


def metamorphs(before: Run, after: Run) -> int:
    return len(after.metamorphs or ()) - len(before.metamorphs or ())


def reboots(before: Run, after: Run) -> int:
    return (after.stats.reboot_count or 0) - (before.stats.reboot_count or 0)


def resurrections(before: Run, after: Run) -> int:
    counted = (after.stats.resurrect_count or 0) - (before.stats.resurrect_count or 0)
    # Where the count is missing, a finished run that runs again was resurrected.
    restarted = before.is_terminal and not after.is_terminal
    return max(counted, int(restarted))
