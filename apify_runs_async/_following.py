"""Following a run to its end: `wait_for_finish` and the `watch` iterator.

Both long-poll with `waitForFinish`: the server answers as soon as the run is terminal, so the
end is seen at once and a quiet run costs one request a minute. Neither starts a task; both are
plain coroutines or generators that keep no connection open between requests.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Awaitable, Callable

import anyio

from ._errors import NotFoundError
from ._models import Run
from ._validation import MAX_WAIT_SECS

# Right after a start, a replica may not know the run yet and answer 404 for a moment.
NOT_FOUND_GRACE_SECS = 3.0
_NOT_FOUND_RETRY_SECS = 0.25

PollRun = Callable[[int], Awaitable[Run | None]]
"""GET the run, letting the server hold the request up to N seconds; None on 404."""


async def wait_for_finish(poll: PollRun, wait_secs: float | None) -> Run | None:
    """Long-poll until the run is terminal or `wait_secs` has passed (None: no limit).

    Returns the last run seen, or None if the run does not exist.
    """
    deadline = math.inf if wait_secs is None else anyio.current_time() + wait_secs
    missing_since: float | None = None
    while True:
        asked_at = anyio.current_time()
        # Whole seconds, rounded up: the API's waitForFinish is documented in whole seconds.
        hold = math.ceil(min(MAX_WAIT_SECS, max(0.0, deadline - asked_at)))
        run = await poll(hold)
        now = anyio.current_time()
        if run is None:
            missing_since = asked_at if missing_since is None else missing_since
            if now - missing_since >= NOT_FOUND_GRACE_SECS or now >= deadline:
                return None
            await anyio.sleep(_NOT_FOUND_RETRY_SECS)
            continue
        missing_since = None
        if run.is_terminal or now >= deadline:
            return run
        await _pace(asked_at, hold)


async def watch(poll: PollRun, path: str, poll_interval: float | None) -> AsyncGenerator[Run, None]:
    """Yield the run each time its status or status message changes, until it is terminal.

    `poll_interval` bounds how late a non-terminal change is seen (None: up to a minute, the
    cheapest). A terminal status is seen as soon as the server has it.
    """
    hold = MAX_WAIT_SECS if poll_interval is None else int(poll_interval)
    last_seen: tuple[str, str | None] | None = None
    missing_since: float | None = None
    while True:
        asked_at = anyio.current_time()
        # The first request answers at once, so the current status comes without delay.
        asked_hold = 0 if last_seen is None else hold
        run = await poll(asked_hold)
        if run is None:
            missing_since = asked_at if missing_since is None else missing_since
            if anyio.current_time() - missing_since >= NOT_FOUND_GRACE_SECS:
                raise NotFoundError(
                    "GET",
                    path,
                    status=404,
                    error_type="record-not-found",
                    message="the run does not exist (or no longer exists)",
                )
            await anyio.sleep(_NOT_FOUND_RETRY_SECS)
            continue
        missing_since = None
        seen = (run.status, run.status_message)
        if seen != last_seen:
            last_seen = seen
            yield run
        if run.is_terminal:
            return
        await _pace(asked_at, asked_hold)


async def _pace(asked_at: float, hold: int) -> None:
    """Sleep out the rest of `hold` if the server answered early without the run finishing.

    A server that ignores waitForFinish would otherwise be polled in a tight loop.
    """
    early_by = asked_at + hold - anyio.current_time()
    if early_by > 0:
        await anyio.sleep(early_by)
