"""Runs started on a caller's behalf: which are still going, and stopping them when the caller
is gone.

`call`, `call_task` and `call_many` start runs for their caller. If they end without handing
the caller the result (cancelled, Ctrl-C, a sibling's error, a timeout), nobody will ever read
it, yet the run goes on and bills: so each aborts its own run, in a scope shielded from the
cancellation that is ending it, bounded in time. A run seen to have finished is left alone.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from types import MappingProxyType, TracebackType
from typing import Any

import anyio

from . import _requests, _responses
from ._errors import ApifyError, BadRequestError
from ._models import CallResult, Run
from ._reconcile import Abort, Start
from ._requests import RunInput
from ._sending import Sender
from ._streams import Emit, RunStream

logger = logging.getLogger("apify_runs_async")

ABORT_ON_EXIT_SECS = 10.0
"""How long the aborts of a caller's runs may take, retries included, once it is gone."""

_LOOK_AGAIN_SECS = 1.0  # a start cancelled in flight may reach the server a moment later


class RunsInFlight:
    """The runs started for one caller that it has not seen end, each as last seen; and
    which of them were aborted, or left running, when the caller went away."""

    def __init__(self, abort_on_exit: bool) -> None:
        self.abort_on_exit = abort_on_exit
        self._running: dict[str, Run] = {}
        self.view = MappingProxyType(self._running)
        self.aborted: list[str] = []
        self.left_running: list[str] = []

    def seen(self, run: Run) -> None:
        """A new snapshot of a run: kept while it goes on, dropped once it has finished."""
        if run.is_terminal:
            self._running.pop(run.id, None)
        else:
            self._running[run.id] = run

    def handed_over(self, run_id: str) -> None:
        """The caller has the run (still going after `wait_secs`): it is theirs now."""
        self._running.pop(run_id, None)

    async def stop(self, run_id: str, send: Sender) -> None:
        """The caller is gone: abort the run unless it has finished (or `abort_on_exit` is
        False), and note what became of it."""
        if self._running.pop(run_id, None) is None:
            return  # finished, handed over, or stopped already
        if self.abort_on_exit and await abort_quietly(send, run_id):
            self.aborted.append(run_id)
        else:
            self.left_running.append(run_id)

    async def stop_all(self, send: Sender) -> None:
        """Stop every run still going, all at once."""
        async with anyio.create_task_group() as group:
            for run_id in list(self._running):
                group.start_soon(self.stop, run_id, send)

    def tell(self, error: BaseException, what: str) -> None:
        """Note on `error` which runs were aborted or left running, and log it."""
        aborted, left = tuple(self.aborted), tuple(self.left_running)
        if not (aborted or left):
            return
        if isinstance(error, ApifyError):
            error.aborted_run_ids, error.running_run_ids = aborted, left
        note = f"{what} ended early: aborted runs {list(aborted)}, left running {list(left)}"
        error.add_note(note)
        # A run left going on purpose is news; one whose abort failed is a problem.
        (logger.warning if left and self.abort_on_exit else logger.info)("%s", note)


async def abort_quietly(send: Sender, run_id: str, secs: float = ABORT_ON_EXIT_SECS) -> bool:
    """Abort the run, shielded from any cancellation, within `secs`: True once it is aborted
    or has finished; False (and a warning logged) if it could not be."""
    with anyio.move_on_after(secs, shield=True):
        try:
            await send(_requests.abort(run_id, None), _responses.run, Abort(run_id, send))
        except BadRequestError:
            return True  # it finished meanwhile
        except ApifyError as error:
            logger.warning("could not abort run %s, which is left running: %s", run_id, error)
            return False
        return True
    logger.warning("could not abort run %s within %g s; it is left running", run_id, secs)
    return False


async def abort_if_started(start: Start, send: Sender) -> str | None:
    """A start was cancelled: find a run a try of it started, and abort it, within the time
    for a caller's aborts. The run's id, or None if none was found."""
    if not start.tried:
        return None
    with anyio.move_on_after(ABORT_ON_EXIT_SECS, shield=True):
        try:
            run = await start.took_effect()
            if run is None:
                await anyio.sleep(_LOOK_AGAIN_SECS)
                run = await start.took_effect()
        except ApifyError as error:
            logger.warning("a cancelled start may have left a run running: %s", error)
            return None
        if run is not None and not run.is_terminal:
            await abort_quietly(send, run.id)
        return None if run is None else run.id
    logger.warning("a cancelled start may have left a run running: no answer in time")
    return None


class CallStream(RunStream[RunInput, tuple[int, CallResult]]):
    """What `call_many` returns: a `RunStream` of `(index, result)` that also shows the runs
    in flight, and names on its error the runs it stopped."""

    def __init__(
        self,
        inputs: Iterable[RunInput] | AsyncIterable[RunInput],
        prepare: Callable[[RunInput], Any],
        job: Callable[[Any, Emit[tuple[int, CallResult]]], Awaitable[None]],
        *,
        concurrency: int,
        runs: RunsInFlight,
    ) -> None:
        super().__init__(inputs, prepare, job, concurrency=concurrency)
        self._runs = runs

    @property
    def runs_in_flight(self) -> Mapping[str, Run]:
        """The runs started and not yet seen to finish, by id, each as last seen (a live,
        read-only view)."""
        return self._runs.view

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await super().__aexit__(exc_type, exc, tb)
        except BaseException as error:
            self._runs.tell(error, "call_many")
            raise
        if exc is not None:
            self._runs.tell(exc, "call_many")
