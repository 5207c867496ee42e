"""Deadlines for opening responses, kept by one watchdog task instead of a timer per request.

aiohttp's read timeout restarts at every byte, so a server that trickles its status line and
headers would pass it: opening a response (connecting, sending, the status line and headers)
needs a deadline of its own. A timer per request (`asyncio.timeout`) costs about as many
instructions as the rest of the client's own work on a request, so the deadlines are kept in
a dict that one task looks through every `tick` seconds while any request is opening. A
response may thus open for up to one tick past its deadline.
"""

from __future__ import annotations

import asyncio
from typing import Any

Task = asyncio.Task[Any]


class Watchdog:
    """Cancels the tasks whose response has not opened by their deadline."""

    def __init__(self, tick: float) -> None:
        self._tick = tick
        self._deadlines: dict[Task, float] = {}
        self._expired: dict[Task, int] = {}  # task -> its cancellations before ours
        self._watching: asyncio.Task[None] | None = None

    def watch(self, task: Task, deadline: float) -> None:
        """`task` is opening a response, which must open by `deadline` (the loop's time)."""
        self._deadlines[task] = deadline
        if self._watching is None:
            self._watching = asyncio.get_running_loop().create_task(self._look())

    def opened(self, task: Task) -> bool:
        """The response opened (or failed otherwise): stop watching `task`. True if the
        deadline had passed already, and a cancellation is on its way to the task."""
        self._deadlines.pop(task, None)
        return task in self._expired

    def timed_out(self, task: Task) -> bool:
        """Whether the cancellation `task` is getting is this watchdog's (then it is withdrawn,
        and the caller raises a timeout instead), not someone else's."""
        before = self._expired.pop(task, None)
        return before is not None and task.uncancel() <= before

    def stop(self) -> None:
        if self._watching is not None:
            self._watching.cancel()
            self._watching = None

    async def _look(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._deadlines:
                await asyncio.sleep(self._tick)
                now = loop.time()
                for task, deadline in list(self._deadlines.items()):
                    if deadline <= now:
                        del self._deadlines[task]
                        self._expired[task] = task.cancelling()
                        task.cancel()
        finally:
            if self._watching is asyncio.current_task():
                self._watching = None
