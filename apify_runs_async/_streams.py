"""`RunStream`: many jobs in one anyio task group, their results in one async iterator.

A plain async generator cannot own a task group safely (when a consumer breaks out, the
generator is closed later, from another task), so the stream is an async context manager
that is also an async iterator; leaving the `async with` cancels whatever is still running.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import AsyncIterable, Awaitable, Callable, Collection, Coroutine, Iterable
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

Source = TypeVar("Source")  # what the caller feeds in: a run id, an input...
Item = TypeVar("Item")  # what the stream yields

Emit = Callable[[Item], Awaitable[None]]

_BUFFER = 1024  # items a slow consumer may lag behind before the jobs wait for it


class _Wake:
    """Put in the buffer to wake a waiting consumer when the last job has finished."""


class RunStream(Generic[Source, Item]):
    """Results of many concurrent jobs, as they come.

    >>> async with client.watch_many(run_ids) as updates:
    ...     async for run_id, run in updates:
    ...         if run.is_terminal:
    ...             updates.add(await next_run_id())   # feed more while it runs

    Iteration ends when the sources are exhausted and every job has finished. An error in a
    job cancels the others and is raised from the loop. With `concurrency`, at most that many
    jobs run at once, and the sources are read only as jobs can start.
    """

    def __init__(
        self,
        sources: Iterable[Source] | AsyncIterable[Source],
        prepare: Callable[[Source], Any],
        job: Callable[[Any, Emit[Item]], Awaitable[None]],
        *,
        concurrency: int | None = None,
    ) -> None:
        self._sources = sources
        # `prepare` turns a source into what `job` takes (None: skip it); the stream only
        # passes that on, so its type is theirs, not part of the stream's.
        self._prepare = prepare
        self._job = job
        self._slots = None if concurrency is None else anyio.Semaphore(concurrency)
        self._send: MemoryObjectSendStream[Item | _Wake]
        self._receive: MemoryObjectReceiveStream[Item | _Wake]
        self._group: TaskGroup | None = None
        self._pending = 0  # jobs running and items held, plus one while a source is read
        self._overflow: collections.deque[Item] = collections.deque()  # held, buffer full
        self._ended = False

    async def __aenter__(self) -> Self:
        if self._group is not None or self._ended:
            raise RuntimeError("a RunStream can be entered only once")
        sources: Iterable[Source] | AsyncIterable[Source] = self._sources
        if isinstance(sources, Collection):
            # Sources in hand are checked before anything starts: a bad one fails the call.
            jobs = [job for job in map(self._prepare, sources) if job is not None]
        self._send, self._receive = anyio.create_memory_object_stream[Item | _Wake](_BUFFER)
        self._emit: Emit[Item] = self._send.send  # bound once, not once per job
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._pending += 1  # the feeding of the sources
        if isinstance(sources, Collection):
            self._group.start_soon(self._feed_jobs, jobs)
        else:
            self._group.start_soon(self._feed, sources)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._group is not None
        self._ended = True
        self._group.cancel_scope.cancel()  # the consumer is done: stop what still runs
        failure: BaseException | None = None
        try:
            await self._group.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            # One failure (the usual case) is raised as itself, not wrapped in a group.
            real = [
                e for e in group.exceptions if not isinstance(e, anyio.get_cancelled_exc_class())
            ]
            if len(real) != 1:
                raise
            failure = real[0]
        finally:
            self._send.close()
            self._receive.close()
        if failure is not None:
            raise failure  # outside the except block: its own cause and traceback intact

    def add(self, source: Source) -> None:
        """Start one more job, while the stream is open and has not ended."""
        if self._group is None or self._ended:
            raise RuntimeError("add() works only inside `async with`, before the stream has ended")
        job = self._prepare(source)
        if job is not None:
            self._start(job, admitted=False)

    def spawn(self, task: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run a helper task beside the jobs, for what they share (reading the runs list): it
        does not keep the stream going, ends with it, and fails it if it fails."""
        assert self._group is not None
        self._group.start_soon(task)

    def hold(self) -> None:
        """Count one more item to come after the calling job has returned, until `deliver` or
        `fail` gives it. A run that waits for its end on the runs list or a webhook is held
        so, rather than by a task (an anyio task costs about 4 KB)."""
        assert self._group is not None and not self._ended
        self._pending += 1

    def deliver(self, item: Item) -> None:
        """Hand a held item to the consumer (at once: the buffer is not waited for)."""
        try:
            self._send.send_nowait(item)
        except anyio.WouldBlock:  # the consumer is busy: it looks here before it waits
            self._overflow.append(item)
        except anyio.ClosedResourceError:  # the stream has ended
            return
        self._job_done()

    def fail(self, error: BaseException) -> None:
        """Fail the stream with `error` in place of a held item, as a job's error does."""

        async def raise_it() -> None:
            raise error

        self.spawn(raise_it)

    def _start(self, job: Any, *, admitted: bool) -> None:
        assert self._group is not None
        self._pending += 1
        self._group.start_soon(self._run, job, admitted)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Item:
        if self._group is None:
            raise RuntimeError("iterate a RunStream inside `async with`")
        while True:
            if self._overflow:
                return self._overflow.popleft()
            if self._pending == 0 and self._receive.statistics().current_buffer_used == 0:
                self._ended = True
                raise StopAsyncIteration
            item = await self._receive.receive()
            if not isinstance(item, _Wake):
                return item

    async def _feed(self, sources: Iterable[Source] | AsyncIterable[Source]) -> None:
        if isinstance(sources, AsyncIterable):
            async for source in sources:
                if not await self._admit(self._prepare(source)):
                    return
        else:
            for source in sources:  # read lazily: a generator may be long, or endless
                if not await self._admit(self._prepare(source)):
                    return
        self._job_done()  # only on success: after a failure, the consumer waits to be cancelled

    async def _feed_jobs(self, jobs: list[Any]) -> None:
        for job in jobs:
            if not await self._admit(job):
                return
        self._job_done()

    async def _admit(self, job: Any) -> bool:
        """Start a job from the sources once a slot is free; False once the stream has ended.

        Jobs cancelled at the end free their slots, which can wake this wait before its own
        cancellation arrives: hence the check, so no more sources are read then.
        """
        if job is not None:
            if self._slots is not None:
                await self._slots.acquire()
            if self._ended:
                return False
            self._start(job, admitted=True)
        return not self._ended

    async def _run(self, job: Any, admitted: bool) -> None:
        if self._slots is not None and not admitted:
            await self._slots.acquire()  # a job from add() waits for its slot here
        running = self._job(job, self._emit)
        del job  # held by the job alone, which may let go of it early
        try:
            await running
        finally:
            if self._slots is not None:
                self._slots.release()
        self._job_done()  # only on success, as in _feed

    def _job_done(self) -> None:
        self._pending -= 1
        if self._pending == 0:
            # A full buffer means the consumer is busy, not waiting: it will see the end.
            with contextlib.suppress(anyio.WouldBlock, anyio.ClosedResourceError):
                self._send.send_nowait(_Wake())
