"""How the many-run APIs learn that their runs have ended: a long-poll per run, the runs
list, or webhooks.

`as_completed`, `call_many` and `watch_many` share one `RunEnds` per call:
- **Long-poll** (`_following.wait_for_finish`): the lowest latency, one held request (and
  connection) per run. Used while at most `list_above` runs are followed at once.
- **The runs list:** past `list_above`, a run waits here instead. One `GET` of the runs list
  (`startedAfter` the oldest run still followed, 1,000 a page) every `interval` seconds shows
  the status of 1,000 runs: an end is seen at most `interval` seconds (and a request) late.
  In `as_completed` and `watch_many`, such a run holds no task either: its end goes to the
  stream when it comes (`end_or_hold`), so a run waiting costs about 0.5 KB, not 5.
- **Webhooks:** with a `WebhookReceiver`, every run waits here and its end comes with its
  webhook. The runs list is then the safety net, at a longer interval: a lost webhook delays
  an end, never loses it.

Whatever learns of an end first hands it over, and each run's end is handed over once: a
webhook duplicated, reordered or late, or a list that shows the end again, is never a second
result, nor is an end from before the run was resurrected.
"""

from __future__ import annotations

import asyncio
import collections
import math
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

import anyio
import msgspec

from . import _following, _requests, _responses
from ._errors import ApifyError, run_not_found
from ._models import Run, RunStats, RunSummary
from ._sending import Sender
from ._streams import RunStream
from ._webhook_receiver import WebhookReceiver

LIST_INTERVAL_SECS = 5.0
"""How often the runs list is read when it is how runs are followed."""

SAFETY_NET_SECS = 30.0
"""How often the runs list is read behind webhooks, to find the ends whose webhook was lost."""

_PAGE = _requests.MAX_LIST_LIMIT  # the most a page of the runs list holds
_PAGES_AT_ONCE = 4
# Pages read per look at most: runs past them are read one by one, as missing from the list.
_MAX_PAGES = 100
_MISSED_SWEEPS = 2  # a run absent from this many whole lists in a row is read on its own
_REMEMBERED_ENDS = 10_000  # ends handed over, so that their late webhooks are not queued

S = TypeVar("S", bound=RunStream[Any, Any])


def _itself(run: Run) -> Run:
    return run


class _Waiter:
    """A run waiting here for its end, and who takes it: a future that a task awaits, or
    (None) the stream, which holds a place for it (then no task waits)."""

    __slots__ = ("known", "missed", "reading", "resurrections", "started_at", "to")

    def __init__(self, run: Run, keep: bool, to: asyncio.Future[Run] | None) -> None:
        self.to = to
        self.started_at = run.started_at
        self.resurrections = run.stats.resurrect_count or 0
        # Kept only where an end seen in the list is not read in full.
        self.known = _slim(run) if keep else None
        self.missed = 0
        self.reading = False


class RunEnds:
    """The ends of the runs one many-run call follows (see the module's docstring).

    `runs_path` is the list to read. `read_ends`: an end seen in the list is read in full
    with a GET (else it is the run as first known, with the list's status and times).
    """

    def __init__(
        self,
        send: Sender,
        runs_path: str,
        *,
        list_above: int | None,
        interval: float | None,
        receiver: WebhookReceiver | None,
        read_ends: bool,
    ) -> None:
        self._send = send
        self._runs_path = runs_path
        self._list_above = list_above
        default = LIST_INTERVAL_SECS if receiver is None else SAFETY_NET_SECS
        self._interval = default if interval is None else interval
        self._receiver = receiver
        self._keep_known = receiver is None and not read_ends
        self._long_polls = 0
        self._waiting: dict[str, _Waiter] = {}
        self._ended: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._polling = False
        self._listening = False
        self._stream: RunStream[Any, Any] | None = None
        self._item: Callable[[Run], Any] = _itself

    def stream(self, stream: S, item: Callable[[Run], Any] = _itself) -> S:
        """`stream`, which runs the tasks that read the runs list for its jobs, and whose
        jobs may leave a run's end to come as `item(run)` (see `end_or_hold`)."""
        self._stream, self._item = stream, item
        return stream

    def _long_polled(self) -> bool:
        """Whether a run to follow now is long-polled: up to `list_above` runs at once."""
        if self._receiver is not None:
            return False
        followed = self._long_polls + len(self._waiting)
        return self._list_above is None or followed < self._list_above

    async def end(
        self, run_id: str, known: Run | None, poll: _following.PollRun, wait_secs: float | None
    ) -> Run:
        """The run once it has ended, or as it is after `wait_secs` (None: no limit). `known`
        is the run as last seen, if at hand; `poll` reads it. Raises `NotFoundError` if the
        run does not exist."""
        if self._long_polled():
            polling = self._long_poll(run_id, known, poll, wait_secs)
            del known  # not held through the long-poll: a Run is 3 KB
            return await polling
        run = await self.current(run_id, known, poll)
        del known  # kept by the waiter only if needed: a Run is 3 KB
        if run.is_terminal:
            return run
        future: asyncio.Future[Run] = asyncio.get_running_loop().create_future()
        self._wait(run, future)
        del run
        try:
            with anyio.move_on_after(math.inf if wait_secs is None else wait_secs):
                return await future
        finally:
            waiter = self._waiting.get(run_id)
            if waiter is not None and waiter.to is future:
                del self._waiting[run_id]  # cancelled, or out of time
        return await self.current(run_id, None, poll)  # as it is when the wait ran out

    async def end_or_hold(
        self, run_id: str, known: Run | None, poll: _following.PollRun
    ) -> Run | None:
        """For a stream's job: the run once it has ended; or None, the run left to wait with
        no task, its end to be delivered to the stream (as `item(run)`) when it comes."""
        if self._long_polled():
            polling = self._long_poll(run_id, known, poll, None)
            del known
            return await polling
        run = await self.current(run_id, known, poll)
        del known
        if run.is_terminal:
            return run
        assert self._stream is not None, "RunEnds used outside a stream"
        self._stream.hold()
        self._wait(run, None)
        return None

    async def _long_poll(
        self, run_id: str, known: Run | None, poll: _following.PollRun, wait_secs: float | None
    ) -> Run:
        if known is not None and known.is_terminal:
            return known
        del known  # not held through the long-poll
        self._long_polls += 1
        try:
            grace = self._send.retries.not_found_grace_secs
            run = await _following.wait_for_finish(poll, wait_secs, grace)
        finally:
            self._long_polls -= 1
        if run is None:
            raise run_not_found("GET", _requests.run_path(run_id))
        return run

    async def current(self, run_id: str, known: Run | None, poll: _following.PollRun) -> Run:
        """The run as `known`, or as it is now (one GET); when it has ended, its webhook (if
        queued) is this call's."""
        run = known
        if run is None:
            run = await _following.look(poll, self._send.retries.not_found_grace_secs)
            if run is None:
                raise run_not_found("GET", _requests.run_path(run_id))
        if run.is_terminal and self._receiver is not None:
            self._receiver._take_end(run.id)
            self._remember(run.id)
        return run

    def _wait(self, run: Run, to: asyncio.Future[Run] | None) -> None:
        """Make `to` take the run's end when it comes."""
        waiter = _Waiter(run, self._keep_known, to)
        self._waiting[run.id] = waiter
        if self._receiver is not None:
            early = self._receiver._take_end(run.id)  # its webhook came before it was followed
            if early is not None and not _older(early, waiter.resurrections):
                self._hand(run.id, waiter, early)
                return
        self._start_polling()
        self._listen()

    def _hand(self, run_id: str, waiter: _Waiter, end: Run | ApifyError) -> None:
        """Hand over the run's end (or the error that ends its wait), once."""
        if self._waiting.get(run_id) is not waiter:
            return  # handed over already, or no longer waited for
        del self._waiting[run_id]
        if not isinstance(end, ApifyError):
            self._remember(run_id)
        to = waiter.to
        if to is None:  # the stream holds its place
            assert self._stream is not None
            if isinstance(end, ApifyError):
                self._stream.fail(end)
            else:
                self._stream.deliver(self._item(end))
        elif not to.done():
            if isinstance(end, ApifyError):
                to.set_exception(end)
            else:
                to.set_result(end)

    # --- Ends from webhooks -------------------------------------------------------------------

    def _listen(self) -> None:
        """Take ends from the receiver until the stream ends: late webhooks of runs already
        handed over too, which would otherwise fill its queue."""
        receiver = self._receiver
        if receiver is None or self._listening:
            return
        self._listening = True

        async def listen() -> None:
            receiver._listeners.append(self._take)
            # Ends that came between a run's first look at the queue and now.
            for run_id, waiter in list(self._waiting.items()):
                early = receiver._take_end(run_id)
                if early is not None and not _older(early, waiter.resurrections):
                    self._hand(run_id, waiter, early)
            try:
                await anyio.sleep_forever()
            finally:
                receiver._listeners.remove(self._take)

        self._spawn(listen)

    def _take(self, run: Run) -> bool:
        """A webhook brought a run's end: whether it was for a run followed here (now or
        lately: a late one is dropped, not queued for anyone)."""
        waiter = self._waiting.get(run.id)
        if waiter is None:
            return run.id in self._ended
        if not _older(run, waiter.resurrections):
            self._hand(run.id, waiter, run)
        return True

    # --- Ends from the runs list --------------------------------------------------------------

    def _start_polling(self) -> None:
        if not self._polling:
            self._polling = True
            self._spawn(self._poll)

    async def _poll(self) -> None:
        """Read the runs list every `interval` seconds while runs wait here."""
        try:
            next_at = anyio.current_time() + self._interval
            while self._waiting:
                await anyio.sleep(max(0.0, next_at - anyio.current_time()))
                if not self._waiting:
                    break
                began = anyio.current_time()
                await self._sweep()
                # Each page is read at about the same point of every look: starting the next
                # look as much earlier as this one took, it ends about `interval` after this
                # one began, and an end is seen at most about `interval` after it happened.
                # A look that takes long is followed by a pause of half the interval at least.
                took = anyio.current_time() - began
                next_at = max(began + self._interval - took, began + took + self._interval / 2)
        finally:
            self._polling = False

    async def _sweep(self) -> None:
        """Read the whole list of runs started since the oldest one waiting, and hand over the
        ends it shows. Pages after the first are read a few at once: the list is in order of
        start, so a run started meanwhile only adds to its end."""
        since = min(waiter.started_at for waiter in self._waiting.values())
        listed: set[str] = set()
        first = await self._page(since, 0, listed)
        offsets = iter(range(_PAGE, min(first, _MAX_PAGES * _PAGE), _PAGE))

        async def read_pages() -> None:
            for offset in offsets:  # shared by the readers: each page is read once
                await self._page(since, offset, listed)

        async with anyio.create_task_group() as group:
            for _ in range(_PAGES_AT_ONCE):
                group.start_soon(read_pages)
        for run_id, waiter in list(self._waiting.items()):
            if run_id in listed:
                waiter.missed = 0
            else:
                waiter.missed += 1
                if waiter.missed >= _MISSED_SWEEPS:  # deleted, or a list that lags: ask it
                    self._read_end(run_id, waiter)

    async def _page(self, since: datetime, offset: int, listed: set[str]) -> int:
        """Hand over the ends one page shows; the number of runs the whole list has."""
        request = _requests.runs_page(
            self._runs_path, offset=offset, limit=_PAGE, desc=False, started_after=since
        )
        page = await self._send(request, _responses.run_list)
        for item in page.items:
            waiter = self._waiting.get(item.id)
            if waiter is None:
                continue
            listed.add(item.id)
            if item.is_terminal:
                if waiter.known is not None:
                    self._hand(item.id, waiter, _as_listed(waiter.known, item))
                else:
                    self._read_end(item.id, waiter)
        return page.total

    def _read_end(self, run_id: str, waiter: _Waiter) -> None:
        """GET a run the list says has ended, or no longer shows, in a task of its own."""
        if waiter.reading:
            return
        waiter.reading = True

        async def read() -> None:
            try:
                poll = _following.Poller(self._send, run_id)
                run = await _following.look(poll, self._send.retries.not_found_grace_secs)
            except ApifyError as error:  # the run's error, not the whole call's
                self._hand(run_id, waiter, error)
                return
            finally:
                waiter.reading = False
            if run is None:
                self._hand(run_id, waiter, run_not_found("GET", _requests.run_path(run_id)))
            elif run.is_terminal:
                self._hand(run_id, waiter, run)
            else:
                waiter.missed = 0

        self._spawn(read)

    def _spawn(self, task: Callable[[], Coroutine[Any, Any, None]]) -> None:
        assert self._stream is not None, "RunEnds used outside a stream"
        self._stream.spawn(task)

    def _remember(self, run_id: str) -> None:
        if self._receiver is not None:
            self._ended[run_id] = None
            if len(self._ended) > _REMEMBERED_ENDS:
                self._ended.popitem(last=False)


def _older(run: Run, resurrections: int) -> bool:
    """Whether a run's end is from before a resurrection already seen: a late webhook."""
    return (run.stats.resurrect_count or 0) < resurrections


_NO_STATS = RunStats()


def _slim(run: Run) -> Run:
    """What an end seen in the list is made from: the run without what goes out of date as it
    runs (the list does not show it), nor its pricing and storage ids: 1.5 KB, not 3.3."""
    return msgspec.structs.replace(
        run,
        status_message=None,
        is_status_message_terminal=None,
        exit_code=None,
        stats=_NO_STATS,
        usage=None,
        usage_usd=None,
        charged_event_counts=None,
        metamorphs=None,
        is_container_server_ready=None,
        container_url=None,
        pricing_info=None,
        storage_ids=None,
    )


def _as_listed(known: Run, listed: RunSummary) -> Run:
    """The run as first known, made slim, with what the list shows of its end."""
    return msgspec.structs.replace(
        known,
        status=listed.status,
        finished_at=listed.finished_at,
        usage_total_usd=listed.usage_total_usd,
    )
