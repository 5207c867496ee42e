"""Following a run to its end: `wait_for_finish` and the `watch` iterator.

Both long-poll with `waitForFinish`: the server answers as soon as the run is terminal, so the
end is seen at once and a quiet run costs one request a minute. Neither starts a task; both are
plain coroutines or generators that keep no connection open between requests.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from typing import Any

import anyio

from . import _requests, _responses
from . import _validation as check
from ._errors import run_not_found
from ._models import Run
from ._sending import Sender
from ._validation import MAX_WAIT_SECS

_NOT_FOUND_RETRY_SECS = 0.25

RunRef = str | Run
"""A run to follow: its id, or a `Run` already in hand (which saves a request)."""

PollRun = Callable[[int], Awaitable[Run | None]]
"""GET the run, letting the server hold the request up to N whole seconds; None on 404."""


class Poller:
    """A `PollRun` for one run. One object per run followed: less to keep than a closure and
    its cells."""

    __slots__ = ("_run_id", "_send")

    def __init__(self, send: Sender, run_id: str) -> None:
        self._send = send
        self._run_id = run_id

    def __call__(self, hold: int) -> Coroutine[Any, Any, Run | None]:
        return self._send(_requests.poll_run(self._run_id, hold), _responses.run_or_none)


async def _poll_past_404(poll: PollRun, hold: int, give_up_at: float) -> Run | None:
    """After a 404: `poll` again while the run is missing (right after a start, a replica may
    not know it yet); None if it still is at `give_up_at`. A layer of its own, called only
    then: a run being followed does not keep it while it long-polls."""
    run = None
    while run is None and anyio.current_time() < give_up_at:
        await anyio.sleep(min(_NOT_FOUND_RETRY_SECS, give_up_at - anyio.current_time()))
        run = await poll(hold)
    return run


async def look(poll: PollRun, grace_secs: float) -> Run | None:
    """The run as it is now (past a 404 for up to `grace_secs`), or None if it does not exist."""
    run = await poll(0)
    if run is None:
        run = await _poll_past_404(poll, 0, anyio.current_time() + grace_secs)
    return run


async def wait_for_finish(poll: PollRun, wait_secs: float | None, grace_secs: float) -> Run | None:
    """Long-poll until the run is terminal or `wait_secs` has passed (None: no limit).

    Returns the last run seen, or None if the run does not exist.
    """
    deadline = math.inf if wait_secs is None else anyio.current_time() + wait_secs
    while True:
        asked_at = anyio.current_time()
        # waitForFinish takes whole seconds: hold for the whole seconds left, and wait out a
        # last fraction before a final look, so the answer is neither early nor late.
        remaining = deadline - asked_at
        hold = int(min(MAX_WAIT_SECS, remaining))
        if hold < 1:
            await anyio.sleep(max(0.0, remaining))
        run = await poll(hold)
        if run is None:
            give_up_at = min(deadline, anyio.current_time() + grace_secs)
            run = await _poll_past_404(poll, hold, give_up_at)
        if run is None or run.is_terminal or hold < 1:
            return run
        await _pace(asked_at, hold)


async def watch(
    poll: PollRun,
    path: str,
    poll_interval: float | None,
    grace_secs: float,
    known: Run | None = None,
) -> AsyncGenerator[Run, None]:
    """Yield the run each time its status or status message changes, until it is terminal.

    `poll_interval` bounds how late a non-terminal change is seen (None: up to a minute, the
    cheapest). A terminal status is seen as soon as the server has it. A `known` snapshot
    (the run `start` returned, say) is yielded first and saves the first request.
    """
    hold = MAX_WAIT_SECS if poll_interval is None else int(poll_interval)
    # What was last yielded; two names, not a tuple: one object fewer per run followed.
    status: str | None = None
    message: str | None = None
    if known is not None:
        status, message = known.status, known.status_message
        finished = known.is_terminal
        yield known
        if finished:
            return
        del known  # a followed run keeps no snapshot while it long-polls
    while True:
        asked_at = anyio.current_time()
        # The first request answers at once, so the current status comes without delay.
        asked_hold = 0 if status is None else hold
        run = await poll(asked_hold)
        if run is None:
            run = await _poll_past_404(poll, asked_hold, anyio.current_time() + grace_secs)
        if run is None:
            raise run_not_found("GET", path)
        finished = run.is_terminal
        if run.status != status or run.status_message != message:
            status, message = run.status, run.status_message
            yield run
        if finished:
            return
        del run
        await _pace(asked_at, asked_hold)


async def _pace(asked_at: float, hold: int) -> None:
    """Sleep out the rest of `hold` if the server answered early without the run finishing.

    A server that ignores waitForFinish would otherwise be polled in a tight loop.
    """
    early_by = asked_at + hold - anyio.current_time()
    if early_by > 0:
        await anyio.sleep(early_by)


def split_ref(ref: RunRef) -> tuple[str, Run | None]:
    return (ref.id, ref) if isinstance(ref, Run) else (ref, None)


def run_id_of(ref: RunRef, name: str = "run") -> str:
    """The checked id of a run given by its id or as a `Run`."""
    return check.resource_id(ref.id if isinstance(ref, Run) else ref, name)


def once_per_run() -> Callable[[RunRef], RunRef | None]:
    """A stream's `prepare` step: check each run id, and follow each run only once."""
    seen: set[str] = set()

    def once(ref: RunRef) -> RunRef | None:
        run_id = run_id_of(ref, "run_id")
        if run_id in seen:
            return None
        seen.add(run_id)
        return ref

    return once
