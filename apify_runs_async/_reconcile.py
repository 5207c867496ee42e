"""Trying again without doing anything twice.

A request that failed without a clear answer (a dropped connection, a read timeout, a 5xx)
may have been carried out all the same. Repeating a start would then start a second paid run,
so a start, metamorph, reboot or resurrect is repeated only after the client has looked and
found that the failed try left no trace. If it did, its result is adopted; if the client cannot
tell, it raises `UncertainOutcomeError` rather than guess.

Abort and delete may be repeated, but the repeat is refused when the first try did take
effect; such a refusal then counts as success.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

import anyio

from ._cool_down import CoolDown
from ._errors import ApifyError, ApifyTimeoutError, UncertainOutcomeError, api_error
from ._http import Request
from ._models import Run, RunListPage
from ._retries import Retries, maybe_took_effect, out_of_time, with_retries

T = TypeVar("T")

# Runs are looked through back to a little before the first try: the server's Date header
# has whole seconds, and the try took a while to reach it.
_CLOCK_MARGIN = timedelta(seconds=10)
_LIST_PAGE = 100
_MAX_LIST_PAGES = 50


class Change(Protocol):
    """An operation that must not be done twice, and how to tell whether it was done."""

    request: Request

    async def prepare(self) -> None:
        """Note what is needed later to tell whether a try took effect."""

    async def send(self) -> Run:
        """One try; it raises on failure."""

    async def took_effect(self) -> Run | None:
        """After a try in doubt: the run if it took effect, None if it surely did not.

        Raises `UncertainOutcomeError` when it cannot tell.
        """

    def uncertain(self, detail: str, run: Run | None) -> UncertainOutcomeError:
        """The error for an outcome the client could not find out."""


async def once_only(
    change: Change,
    retries: Retries,
    deadline_secs: float | None,
    cool_down: CoolDown | None = None,
) -> Run:
    """Do `change` once: retry passing failures, but first check that the failed try left
    no trace. Within `deadline_secs` (None: no limit), checks and retries included.

    `cool_down`, for starts, sends a try refused for the account's limits again after a wait:
    such a refusal is certain, so that is not a retry in doubt.
    """
    in_doubt = False  # a try may have taken effect, and no check has said otherwise yet
    doubt: BaseException | None = None  # why

    async def try_once() -> Run:
        nonlocal in_doubt, doubt
        in_doubt, doubt = True, None  # from here, a cancelled try is in doubt too
        try:
            return await change.send()
        except ApifyError as error:
            in_doubt, doubt = maybe_took_effect(error), error
            raise

    send = try_once if cool_down is None else cool_down.retrying(try_once)

    async def settle() -> Run | None:
        """The run if the try in doubt took effect; None if it surely did not."""
        run = await change.took_effect()
        if run is None and isinstance(doubt, ApifyTimeoutError):
            # The server was still silent: it may yet do it, so not finding it proves nothing.
            raise change.uncertain(
                f"a try timed out ({_detail(doubt)}) and has left no trace yet", None
            )
        return run

    async def settle_then_try() -> Run:
        nonlocal in_doubt
        if in_doubt:
            run = await settle()
            if run is not None:
                return run
            in_doubt = False
        if retries.max_tries > 1:
            await change.prepare()
        return await send()

    with anyio.move_on_after(math.inf if deadline_secs is None else deadline_secs):
        try:
            return await with_retries(settle_then_try, retries)
        except ApifyError as error:
            if not in_doubt or retries.max_tries == 1 or isinstance(error, UncertainOutcomeError):
                raise  # nothing in doubt; or one try only, failing as it did; or undecidable
            failure = error
        # The last try may have taken effect: look once more before giving up.
        try:
            run = await settle()
        except UncertainOutcomeError:
            raise
        except ApifyError as error:
            raise change.uncertain(
                f"a try failed ({_detail(doubt)}), and so did checking whether it took effect "
                f"({error})",
                None,
            ) from doubt
        if run is not None:
            return run
        raise failure
    timeout = out_of_time(change.request, deadline_secs or 0, maybe_processed=in_doubt)
    if in_doubt:
        raise change.uncertain(f"{timeout.detail}, with a try in doubt", None) from timeout
    raise timeout


def _detail(error: BaseException | None) -> str:
    return getattr(error, "detail", None) or str(error)


async def repeatable(
    attempt: Callable[[], Awaitable[T]],
    retries: Retries,
    done_before: Callable[[ApifyError], Awaitable[T]],
) -> T:
    """`attempt()` with retries, where a refusal after a try in doubt may mean that try did it.

    `done_before(error)` is asked only then: it returns the result if the operation had been
    done, and raises `error` otherwise.
    """
    in_doubt = False

    async def try_once() -> T:
        nonlocal in_doubt
        try:
            return await attempt()
        except ApifyError as error:
            if in_doubt:
                return await done_before(error)
            in_doubt = maybe_took_effect(error)
            raise

    return await with_retries(try_once, retries)


# --- Telling whether a try took effect ---------------------------------------------------------

GetRun = Callable[[str, int], Awaitable[Run | None]]
"""The run by id, held up to N seconds as waitForFinish; with retries. None if it is gone."""

ListRuns = Callable[[Request], Awaitable[tuple[RunListPage, datetime | None]]]
"""A page of a run list and the server's time (its Date header); with retries."""

SendRun = Callable[[Request], Awaitable[Run]]
"""One try of a request that answers with a run."""


class Start:
    """A start marks each try with a nonce in its User-Agent; the platform keeps it in the
    run's `meta.userAgent`, so a run started by a try in doubt can be found in the list of
    the Actor's (or task's) runs, newest first."""

    def __init__(
        self,
        request: Request,
        user_agent: str,
        send_run: SendRun,
        list_runs: ListRuns,
        get_run: GetRun,
    ) -> None:
        self.request = request
        self._user_agent = user_agent
        self._send_run = send_run
        self._list_runs = list_runs
        self._get_run = get_run
        self._nonces: list[str] = []
        self._first_try_at: float | None = None  # on this process's monotonic clock

    async def prepare(self) -> None:
        if self._first_try_at is None:
            self._first_try_at = anyio.current_time()

    async def send(self) -> Run:
        nonce = secrets.token_hex(8)
        self._nonces.append(nonce)
        return await self._send_run(
            self.request._replace(user_agent=f"{self._user_agent} nonce/{nonce}")
        )

    async def took_effect(self) -> Run | None:
        assert self._first_try_at is not None
        oldest_possible: datetime | None = None
        for page_number in range(_MAX_LIST_PAGES):
            params = {
                "desc": "true",
                "limit": str(_LIST_PAGE),
                "offset": str(page_number * _LIST_PAGE),
            }
            page, server_now = await self._list_runs(Request("GET", self.request.path, params))
            if oldest_possible is None:
                # Reckoned on the server's clock, not this machine's, which may be off: runs
                # started before this are older than the first try. The time since it is
                # taken now, as the page arrives: the lookup may have been retried a while.
                since_first_try = timedelta(seconds=anyio.current_time() - self._first_try_at)
                now = server_now or datetime.now(UTC)
                oldest_possible = now - since_first_try - _CLOCK_MARGIN
            for item in page.items:
                agent = item.meta.user_agent or ""
                if any(f"nonce/{nonce}" in agent for nonce in self._nonces):
                    run = await self._get_run(item.id, self.request.long_poll_secs)
                    if run is None:
                        raise self.uncertain(f"run {item.id} was started, then vanished", None)
                    return run
            # Newest first: a run started while paging only moves the rest to later pages.
            if len(page.items) < _LIST_PAGE or page.items[-1].started_at < oldest_possible:
                return None
        raise self.uncertain(f"more than {_MAX_LIST_PAGES * _LIST_PAGE} runs to look through", None)

    def uncertain(self, detail: str, run: Run | None) -> UncertainOutcomeError:
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


class RunChange:
    """Metamorph, reboot, resurrect: each leaves a count on the run that grows by one, read
    before the first try and again after a try in doubt."""

    def __init__(
        self, request: Request, run_id: str, changes: Changes, send_run: SendRun, get_run: GetRun
    ) -> None:
        self.request = request
        self._run_id = run_id
        self._changes = changes
        self._send_run = send_run
        self._get_run = get_run
        self._before: Run | None = None

    async def prepare(self) -> None:
        if self._before is None:
            before = await self._get_run(self._run_id, 0)
            if before is None:
                request = self.request
                raise api_error(
                    request.method,
                    request.path,
                    status=404,
                    error_type="record-not-found",
                    message="the run does not exist",
                )
            self._before = before

    async def send(self) -> Run:
        return await self._send_run(self.request)

    async def took_effect(self) -> Run | None:
        assert self._before is not None
        run = await self._get_run(self._run_id, 0)
        if run is None:
            raise self.uncertain("the run no longer exists", None)
        changes = self._changes(self._before, run)
        if changes == 0:
            return None
        if changes == 1:
            return run
        detail = f"it was done {changes} times meanwhile, by this client or others"
        raise self.uncertain(detail, run)

    def uncertain(self, detail: str, run: Run | None) -> UncertainOutcomeError:
        return UncertainOutcomeError(self.request.method, self.request.path, detail, run=run)


def metamorphs(before: Run, after: Run) -> int:
    return len(after.metamorphs or ()) - len(before.metamorphs or ())


def reboots(before: Run, after: Run) -> int:
    return (after.stats.reboot_count or 0) - (before.stats.reboot_count or 0)


def resurrections(before: Run, after: Run) -> int:
    counted = (after.stats.resurrect_count or 0) - (before.stats.resurrect_count or 0)
    # Where the count is missing, a finished run that runs again was resurrected.
    restarted = before.is_terminal and not after.is_terminal
    return max(counted, int(restarted))
