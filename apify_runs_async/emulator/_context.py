"""What an Actor handler sees of its run: input, status message, records, log, stop signal."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from ._storage import decode_record, encode_value

if TYPE_CHECKING:
    from ._runs import Run

ActorHandler: TypeAlias = Callable[["ActorContext"], Awaitable[None]]
"""`async def handler(ctx: ActorContext) -> None`: return to succeed, raise to fail."""


class ActorContext:
    """The run as one start of an Actor handler sees it.

    A handler gets a fresh context each time it is started: at the start of the run, and again
    after a reboot, a metamorph, a restart on error or a resurrection.

    >>> async def handler(ctx: ActorContext) -> None:
    ...     ctx.set_status_message("Crawling")
    ...     if await ctx.sleep(5):  # True: the run is being aborted or timing out
    ...         return
    ...     ctx.push_data({"url": "https://example.com", "title": "Example"})
    ...     ctx.set_record("OUTPUT", {"pages": 1})

    Attributes:
        run_id: The id of the run.
        actor_id: The id of the Actor this handler was started as.
        input: The input: decoded JSON for a JSON body, raw bytes for any other body, None
            without one. After a metamorph, the input given to the metamorph.
        aborting: Set when the run is asked to stop: a graceful abort or the run's timeout.
            The run ends (ABORTED or TIMED-OUT) as soon as the handler returns, or when the
            grace period is over (then the handler is cancelled).
        exit_code: The exit code to report; None means 0 on return, 1 on an exception.
    """

    __slots__ = (
        "_attempt",
        "_run",
        "_sleepers",
        "aborting",
        "actor_id",
        "exit_code",
        "input",
        "run_id",
    )

    def __init__(self, run: Run, *, actor_id: str, run_input: Any, attempt: int) -> None:
        self._run = run
        self._attempt = attempt
        self.run_id = run.id
        self.actor_id = actor_id
        self.input = run_input
        self.aborting = asyncio.Event()
        self.exit_code: int | None = None
        self._sleepers: set[asyncio.Future[bool]] = set()

    def set_status_message(self, message: str, *, is_terminal: bool = False) -> None:
        """Set the run's status message (ignored once this start of the handler is over)."""
        self._run.set_status_message_from_handler(self._attempt, message, is_terminal=is_terminal)

    def set_record(self, key: str, value: Any, *, content_type: str | None = None) -> None:
        """Store a record in the run's default key-value store.

        `bytes` and `str` are stored as given (by default as `application/octet-stream` and
        `text/plain`); any other value is encoded as JSON (`application/json`).
        """
        self._run.store.set(key, encode_value(value, content_type))

    def get_record(self, key: str) -> Any:
        """A record of the run's default store: JSON decoded, text as `str`, else `bytes`."""
        record = self._run.store.peek(key)
        return None if record is None else decode_record(record)

    def push_data(self, items: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Append an item (a dict), or a list of them, to the run's default dataset.

        Raises ValueError for anything that is not a JSON object or a list of them.
        """
        self._run.dataset.push(items)

    def log(self, line: str) -> None:
        """Append a line to the run's log."""
        self._run.append_log(line)

    async def sleep(self, seconds: float) -> bool:
        """Sleep, but wake early when the run is asked to stop; True if it was."""
        if self.aborting.is_set():
            return True
        # A future and a timer: a sleep that runs its course raises nothing (a timeout
        # around `aborting.wait()` would cancel and raise at the end of every step).
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        timer = loop.call_later(seconds, _wake, waiter, False)
        self._sleepers.add(waiter)
        try:
            return await waiter
        finally:
            timer.cancel()
            self._sleepers.discard(waiter)

    def _request_stop(self) -> None:
        """Set `aborting` and wake the sleepers: the run asks the handler to stop."""
        self.aborting.set()
        for waiter in self._sleepers:
            _wake(waiter, True)


def _wake(waiter: asyncio.Future[bool], stopping: bool) -> None:
    if not waiter.done():
        waiter.set_result(stopping)
