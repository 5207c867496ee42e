"""Runs: their state, the lifecycle state machine, and waiting for a run to change.

Each live run costs one asyncio task, which plays the Actor handler, plus at most two timer
handles (the run timeout and the grace period of a stop). Everything that happens to a run from
outside (abort, reboot, metamorph, timeout) changes its state at once, synchronously, and then
interrupts the task by cancelling the handler; the task tells these interrupts apart from the
emulator shutting down by the `_stop` it finds.

A finished run keeps only its data: the task and the handler's context go with the life that
ended, and the value types are msgspec Structs the garbage collector does not track, so that
tens of thousands of kept runs do not lengthen its pauses.

A run keeps its last encoded body (see `_shapes.run_body`): most requests are reads of runs
that have not changed since the last one. Every assignment to a run's attributes drops it
(`Run.__setattr__`), so no operation can forget to; the run's values are immutable (its
metamorphs a tuple, its options a frozen Struct) for the same reason, and what the body shows
from outside the run's attributes (its store's counters, the time it has been alive) is
checked by the reader. Only the last `MAX_KEPT_BODIES` runs encoded keep theirs, so that tens
of thousands of runs do not take twice the memory for bodies nobody reads again.

    READY -> RUNNING -> SUCCEEDED | FAILED
                     -> TIMING-OUT -> TIMED-OUT
                     -> ABORTING   -> ABORTED
    READY | RUNNING | TIMING-OUT | ABORTING -> ABORTED (abort without grace)
    SUCCEEDED | FAILED | TIMED-OUT | ABORTED -> RUNNING (resurrect)
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from .._status import GeneralAccess, RunStatus
from .._webhook_models import WebhookEventType as EventType
from ._actors import Actor, Build, Task
from ._context import ActorContext
from ._datasets import Dataset
from ._errors import ApiError
from ._ids import new_container_url, new_id
from ._storage import KeyValueStore, Record, is_json_content_type
from ._time import format_time, utc_now
from ._webhooks import FINAL_EVENTS, Webhook

MAX_METAMORPHS = 10
KILLED_EXIT_CODE = 137
"""The exit code of a run stopped from outside, as of a container killed with SIGKILL."""
MAX_KEPT_BODIES = 1000
"""How many runs keep their encoded body at most: the last ones encoded."""


@dataclass(frozen=True, slots=True)
class Timings:
    """How long the emulated platform takes for each step of a run's life."""

    ready_secs: float = 0.05
    abort_grace_secs: float = 30.0
    timeout_grace_secs: float = 30.0
    max_restarts_on_error: int = 3


class RunOptions(msgspec.Struct, frozen=True, gc=False):
    build: str
    timeout_secs: float
    """0 means no timeout; fractions are honoured (and shown rounded up)."""
    memory_mbytes: int
    max_items: int | None = None
    max_total_charge_usd: float | None = None
    restart_on_error: bool = False


class RunMeta(msgspec.Struct, frozen=True, gc=False):
    origin: str
    client_ip: str | None
    user_agent: str | None


class MetamorphEvent(msgspec.Struct, frozen=True, gc=False):
    created_at: datetime
    actor_id: str
    build_id: str
    input_key: str | None


class RunList(Protocol):
    """Runs in start order, read in place (no copy) either way."""

    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[Run]: ...
    def __reversed__(self) -> Iterator[Run]: ...


class _Stop(enum.Enum):
    """Why the run's task was interrupted."""

    KILL = enum.auto()
    """The run is final already; the handler must just stop."""
    RESTART = enum.auto()
    """Start the run's (possibly new) Actor again from scratch: a reboot or a metamorph."""


def _bad_state(run: Run, action: str) -> ApiError:
    if run.status.is_terminal:
        return ApiError(400, "job-finished", f"Cannot {action} the run: it has already finished.")
    return ApiError(
        400, "operation-not-allowed", f"Cannot {action} the run while its status is {run.status}."
    )


class Run:
    """One Actor run and its default storages."""

    __slots__ = (
        "_alive_secs",
        "_alive_since",
        "_attempt",
        "_body",
        "_cancel_sent",
        "_charge_keys",
        "_context",
        "_finished",
        "_grace_handle",
        "_in_await",
        "_log_changed",
        "_message_set",
        "_restarts_in_life",
        "_runs",
        "_stop",
        "_task",
        "_timeout_handle",
        "actor",
        "build",
        "charged_event_counts",
        "container_url",
        "dataset",
        "dataset_id",
        "exit_code",
        "finished_at",
        "general_access",
        "id",
        "input_body_len",
        "input_key",
        "is_status_message_terminal",
        "log_lines",
        "meta",
        "metamorphs",
        "number",
        "options",
        "reboot_count",
        "request_queue_id",
        "restart_count",
        "resurrect_count",
        "started_at",
        "status",
        "status_message",
        "store",
        "task",
        "user_id",
        "webhooks",
    )

    def __init__(
        self,
        runs: Runs,
        *,
        actor: Actor,
        build: Build,
        task: Task | None,
        options: RunOptions,
        meta: RunMeta,
        input_record: Record | None,
        webhooks: tuple[Webhook, ...] = (),
    ) -> None:
        self._body: tuple[Hashable, bytes] | None = None  # (what it was encoded for, the body)
        self._runs = runs
        self.number = runs.next_number()
        self.id = new_id()
        self.user_id = runs.user_id
        self.actor = actor
        self.build = build
        self.task = task
        self.options = options
        self.meta = meta
        self.webhooks = webhooks
        self.store = KeyValueStore(actor_id=actor.id, run_id=self.id)
        self.dataset = Dataset(user_id=self.user_id, actor_id=actor.id, run_id=self.id)
        self.dataset_id = self.dataset.id
        self.request_queue_id = new_id()
        self.container_url = new_container_url()
        self.started_at = utc_now()
        self.finished_at: datetime | None = None
        self.status = RunStatus.READY
        self.status_message: str | None = None
        self.is_status_message_terminal = False
        self.exit_code: int | None = None
        self.general_access = GeneralAccess.FOLLOW_USER_SETTING
        self.input_key = "INPUT"
        self.input_body_len = None if input_record is None else len(input_record.value)
        self.reboot_count = 0
        self.restart_count = 0
        self._restarts_in_life = 0  # the limit of restarts on error applies to each life
        self.resurrect_count = 0
        self.metamorphs: tuple[MetamorphEvent, ...] = ()
        self.log_lines: list[str] = []
        # Replaced, never changed in place: an assignment is what drops the kept body.
        self.charged_event_counts: Mapping[str, int] = {}
        self._charge_keys: set[str] | None = None  # the idempotency keys charged so far
        if input_record is not None:
            self.store.set("INPUT", input_record)

        # The lifecycle task and what interrupts it.
        self._task: asyncio.Task[None] | None = None
        self._attempt = 0
        self._context: ActorContext | None = None
        self._message_set = False
        self._stop: _Stop | None = None
        self._in_await = False
        self._cancel_sent = False
        self._timeout_handle: asyncio.TimerHandle | None = None
        self._grace_handle: asyncio.TimerHandle | None = None
        # Created only when somebody waits, so an unwatched run carries no event.
        self._finished: asyncio.Event | None = None
        self._log_changed: asyncio.Event | None = None
        # Seconds the run has been alive, over all its lives (resurrections).
        self._alive_secs = 0.0
        self._alive_since: float | None = time.monotonic()

    if not TYPE_CHECKING:  # (a type checker that saw it would accept any attribute name)

        def __setattr__(self, name: str, value: Any) -> None:
            """Every assignment is a change of the run: the cached body goes with it."""
            object.__setattr__(self, name, value)
            object.__setattr__(self, "_body", None)

    # What the routes read.

    def cached_body(self, key: Hashable) -> bytes | None:
        """The body cached with `cache_body(key, ...)`, if the run has not changed since."""
        cached = self._body
        return cached[1] if cached is not None and cached[0] == key else None

    def cache_body(self, key: Hashable, body: bytes) -> None:
        """Keep `body`, encoded for `key`, until the run changes (or another key comes, or
        `MAX_KEPT_BODIES` other runs have been encoded since)."""
        object.__setattr__(self, "_body", (key, body))  # not a change of the run
        self._runs.kept_body(self)

    def drop_body(self) -> None:
        """Let go of the kept body, to save memory: it is encoded again when next asked for."""
        object.__setattr__(self, "_body", None)

    def alive_secs(self) -> float:
        since = self._alive_since
        return self._alive_secs + (0.0 if since is None else time.monotonic() - since)

    def input_record(self) -> Record | None:
        return self.store.peek(self.input_key)

    # What the handler's context calls.

    def set_status_message_from_handler(
        self, attempt: int, message: str, *, is_terminal: bool
    ) -> None:
        if attempt == self._attempt and not self.status.is_terminal:
            self._message_set = True
            self.set_status_message(message, is_terminal=is_terminal)

    def set_status_message(self, message: str, *, is_terminal: bool = False) -> None:
        if message != self.status_message:
            self.append_log(f"Status message: {message}")
        self.status_message = message
        self.is_status_message_terminal = is_terminal

    def append_log(self, line: str) -> None:
        self.log_lines.append(f"{format_time(utc_now())} {line}")
        if self._log_changed is not None:
            self._log_changed.set()
            self._log_changed = None

    # Waiting.

    async def wait_finished(self, seconds: float) -> None:
        """Return when the run is final, or after `seconds`."""
        if self.status.is_terminal or seconds <= 0 or self._runs.closing:
            return
        if self._finished is None:
            self._finished = asyncio.Event()
        event = self._finished
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            pass

    async def wait_log(self, seen: int) -> None:
        """Return when the log has more than `seen` lines or the run is final."""
        while len(self.log_lines) <= seen and not self.status.is_terminal:
            if self._runs.closing:
                return
            if self._log_changed is None:
                self._log_changed = asyncio.Event()
            await self._log_changed.wait()

    def wake(self) -> None:
        """Release everybody waiting on this run (on a change, or at shutdown)."""
        for event in (self._finished, self._log_changed):
            if event is not None:
                event.set()
        self._finished = self._log_changed = None

    # Operations.

    def abort(self, *, gracefully: bool) -> None:
        if self.status.is_terminal:
            raise _bad_state(self, "abort")
        if not gracefully or self.status is RunStatus.READY:
            self._kill(RunStatus.ABORTED)
        elif self.status is not RunStatus.ABORTING:
            self._begin_stopping(RunStatus.ABORTING, self._runs.timings.abort_grace_secs)

    def reboot(self) -> None:
        if self.status is not RunStatus.RUNNING:
            raise _bad_state(self, "reboot")
        self.reboot_count += 1
        self.append_log("Rebooting the run")
        self._interrupt(_Stop.RESTART)

    def metamorph(self, actor: Actor, build: Build, tag: str, record: Record | None) -> None:
        if self.status is not RunStatus.RUNNING:
            raise _bad_state(self, "metamorph")
        if len(self.metamorphs) >= MAX_METAMORPHS:
            raise ApiError(
                400,
                "max-metamorphs-exceeded",
                f"The run has been metamorphed {MAX_METAMORPHS} times, which is the most allowed.",
            )
        self.input_key = f"INPUT-METAMORPH-{len(self.metamorphs) + 1}"
        if record is not None:
            self.store.set(self.input_key, record)
        event = MetamorphEvent(
            utc_now(), actor.id, build.id, self.input_key if record is not None else None
        )
        self.metamorphs = (*self.metamorphs, event)
        previous, self.actor, self.build = self.actor, actor, build
        self._runs.reassign(self, previous)
        self.options = msgspec.structs.replace(self.options, build=tag)
        self.append_log(f"Metamorphing into {actor.full_name}")
        self._interrupt(_Stop.RESTART)

    def charge(self, event_name: str, count: int, *, idempotency_key: str | None) -> None:
        """Count `count` events; a repeated idempotency key counts once."""
        pricing = self.actor.pay_per_event
        if pricing is None:
            raise ApiError(
                400,
                "cannot-charge-non-pay-per-event-actor",
                f"The Actor {self.actor.full_name} is not a pay-per-event Actor.",
            )
        if event_name.startswith("apify-"):
            raise ApiError(
                400,
                "cannot-charge-apify-event",
                f"The event '{event_name}' is charged by the platform itself.",
            )
        if not pricing.accepts(event_name):
            raise ApiError(
                400,
                "invalid-input",
                f"The event '{event_name}' is not one of the Actor's pay-per-event events.",
            )
        if idempotency_key is not None:
            if self._charge_keys is None:
                self._charge_keys = set()
            elif idempotency_key in self._charge_keys:
                return
            self._charge_keys.add(idempotency_key)
        counts = self.charged_event_counts
        self.charged_event_counts = {**counts, event_name: counts.get(event_name, 0) + count}

    async def resurrect(self, options: RunOptions, build: Build) -> None:
        if self.status.is_terminal and self._task is not None and not self._task.done():
            # The previous life may still be unwinding a cancelled handler.
            await asyncio.wait([self._task])
        if not self.status.is_terminal:  # (checked after the wait: a concurrent resurrect)
            raise _bad_state(self, "resurrect")
        self._runs.check_capacity(options.memory_mbytes)
        self.options, self.build = options, build
        self.resurrect_count += 1
        self._restarts_in_life = 0
        self.finished_at = self.exit_code = None
        self._alive_since = time.monotonic()
        self.append_log("Resurrecting the run")
        self._enter_running()
        self._launch(ready=False)
        self._runs.emit(self, EventType.RESURRECTED)

    # The lifecycle.

    def launch(self) -> None:
        self._launch(ready=True)

    def _launch(self, *, ready: bool) -> None:
        self._runs.activate(self)
        self._stop, self._cancel_sent = None, False
        self._task = asyncio.get_running_loop().create_task(
            self._drive(ready=ready), name=f"apify-emulator-run-{self.id}"
        )
        self._runs.enlist(self._task)

    def _enter_running(self) -> None:
        self.status = RunStatus.RUNNING
        if self.options.timeout_secs > 0:
            self._timeout_handle = asyncio.get_running_loop().call_later(
                self.options.timeout_secs, self._on_timeout
            )

    async def _drive(self, *, ready: bool) -> None:
        try:
            if ready:
                self._in_await = True
                try:
                    await asyncio.sleep(self._runs.timings.ready_secs)
                finally:
                    self._in_await = False
                self._enter_running()
            while not self.status.is_terminal and not self._runs.closing:
                await self._play_once()
        except asyncio.CancelledError:
            # Aborted while READY; anything else is somebody cancelling us for good.
            if self._runs.closing or not self._consume_stop():
                raise
        finally:
            # This life is over (a resurrection starts another): keep only the run's data.
            self._context = None
            if self._task is asyncio.current_task():
                self._task = None

    async def _play_once(self) -> None:
        """Start the run's Actor handler once and settle how that start ended."""
        if self._consume_stop():
            return
        self._attempt += 1
        self._message_set = False
        self.append_log(f"Starting {self.actor.full_name} (build {self.build.number})")
        record = self.input_record()
        context = ActorContext(
            self,
            actor_id=self.actor.id,
            run_input=None if record is None else _handler_input(record),
            attempt=self._attempt,
        )
        self._context = context
        error: Exception | None = None
        self._in_await = True
        try:
            await self.actor.handler(context)
        except asyncio.CancelledError:
            if self._stop is None or self._runs.closing:
                raise
        except Exception as exc:
            error = exc
        finally:
            self._in_await = False
        if self._consume_stop() or self._runs.closing:
            return
        self._settle(context, error)

    def _settle(self, context: ActorContext, error: Exception | None) -> None:
        """The handler returned or raised by itself."""
        exit_code = context.exit_code
        if exit_code is None:
            exit_code = 0 if error is None else 1
        if error is not None:
            self.append_log(f"ERROR {type(error).__name__}: {error}")
            if not self._message_set:
                self.set_status_message(str(error) or type(error).__name__)
        if self.status is RunStatus.ABORTING:
            self._finish(RunStatus.ABORTED, exit_code)
        elif self.status is RunStatus.TIMING_OUT:
            self._finish(RunStatus.TIMED_OUT, exit_code)
        elif error is None:
            self._finish(RunStatus.SUCCEEDED, exit_code)
        elif (
            self.options.restart_on_error
            and self._restarts_in_life < self._runs.timings.max_restarts_on_error
        ):
            self._restarts_in_life += 1
            self.restart_count += 1
            self.append_log(f"Restarting the run after an error (restart {self.restart_count})")
        else:
            self._finish(RunStatus.FAILED, exit_code)

    def _on_timeout(self) -> None:
        self._timeout_handle = None
        if self.status is RunStatus.RUNNING:
            self.append_log(f"The run timed out after {self.options.timeout_secs:g} s")
            self._begin_stopping(RunStatus.TIMING_OUT, self._runs.timings.timeout_grace_secs)

    def _begin_stopping(self, status: RunStatus, grace_secs: float) -> None:
        """Ask the handler to stop (ABORTING, TIMING-OUT); kill it when the grace is over."""
        self.status = status
        self.append_log(f"{status}: the Actor has {grace_secs:g} s to stop")
        if self._context is not None:
            self._context._request_stop()
        final = RunStatus.ABORTED if status is RunStatus.ABORTING else RunStatus.TIMED_OUT
        if self._grace_handle is not None:
            self._grace_handle.cancel()
        self._grace_handle = asyncio.get_running_loop().call_later(grace_secs, self._kill, final)

    def _kill(self, status: RunStatus) -> None:
        if not self.status.is_terminal:
            self._finish(status, KILLED_EXIT_CODE)
            self._interrupt(_Stop.KILL)

    def _interrupt(self, stop: _Stop) -> None:
        if self._stop is not _Stop.KILL:
            self._stop = stop
        task = self._task
        # Without a pending await, the task notices `_stop` before it starts a handler.
        if self._in_await and not self._cancel_sent and task is not None and not task.done():
            self._cancel_sent = True
            task.cancel()

    def _consume_stop(self) -> bool:
        if self._stop is None:
            return False
        self._stop = None
        if self._cancel_sent:
            self._cancel_sent = False
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        return True

    def _finish(self, status: RunStatus, exit_code: int) -> None:
        self.status = status
        self.exit_code = exit_code
        self.finished_at = utc_now()
        if self._alive_since is not None:
            self._alive_secs += time.monotonic() - self._alive_since
            self._alive_since = None
        self.cancel_timers()
        self.append_log(f"Run finished with status {status} (exit code {exit_code})")
        self._runs.deactivate(self)
        self.wake()
        event = FINAL_EVENTS.get(status)
        if event is not None:
            self._runs.emit(self, event)

    def cancel_timers(self) -> None:
        for handle in (self._timeout_handle, self._grace_handle):
            if handle is not None:
                handle.cancel()
        self._timeout_handle = self._grace_handle = None


def _handler_input(record: Record) -> Any:
    """What `ActorContext.input` shows: JSON decoded, any other body as raw bytes."""
    if not is_json_content_type(record.content_type):
        return record.value
    try:
        return msgspec.json.decode(record.value)
    except msgspec.DecodeError:
        return record.value


class Runs:
    """Every run of the emulated user, in the order they were started.

    Runs are also indexed by Actor and by task, so that finding an Actor's last run or
    listing a task's runs does not look at everybody else's.
    """

    def __init__(
        self,
        timings: Timings,
        *,
        max_concurrent_runs: int | None = None,
        max_total_memory_mbytes: int | None = None,
    ) -> None:
        self.timings = timings
        self.user_id = new_id()
        self.closing = False
        self._max_concurrent_runs = max_concurrent_runs
        self._max_total_memory_mbytes = max_total_memory_mbytes
        self._runs: dict[str, Run] = {}
        # Ordered like `_runs`; a dict as an ordered set, for O(1) deletes.
        self._by_owner: dict[str, dict[Run, None]] = {}  # by Actor id and task id
        self._stores: dict[str, KeyValueStore] = {}
        self._datasets: dict[str, Dataset] = {}
        self._live: set[Run] = set()
        self._live_memory_mbytes = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._numbered = 0
        self.on_event: Callable[[Run, EventType], None] | None = None
        """Called with each event of a run that has webhooks (see `_webhook_delivery`)."""
        # The runs that may keep a body, oldest encoded first (a dict as an ordered set).
        self._keeping_bodies: dict[Run, None] = {}

    def next_number(self) -> int:
        """The start order of a new run."""
        self._numbered += 1
        return self._numbered

    def start(
        self,
        *,
        actor: Actor,
        build: Build,
        task: Task | None,
        options: RunOptions,
        meta: RunMeta,
        input_record: Record | None,
        webhooks: tuple[Webhook, ...] = (),
    ) -> Run:
        self.check_capacity(options.memory_mbytes)
        run = Run(
            self,
            actor=actor,
            build=build,
            task=task,
            options=options,
            meta=meta,
            input_record=input_record,
            webhooks=webhooks,
        )
        self._runs[run.id] = run
        for owner in (actor, task):
            if owner is not None:
                self._by_owner.setdefault(owner.id, {})[run] = None
        self._stores[run.store.id] = run.store
        self._datasets[run.dataset.id] = run.dataset
        run.append_log(f"Run created (memory {options.memory_mbytes} MB)")
        run.launch()
        self.emit(run, EventType.CREATED)
        return run

    def emit(self, run: Run, event: EventType) -> None:
        """Tell `on_event` of the run's event, if the run has webhooks to call."""
        if run.webhooks and self.on_event is not None and not self.closing:
            self.on_event(run, event)

    def check_capacity(self, memory_mbytes: int) -> None:
        """Whether a run of this memory may start now; raises ApiError if not."""
        if self.closing:
            raise ApiError(503, "internal-server-error", "The emulator is shutting down.")
        limit = self._max_concurrent_runs
        if limit is not None and len(self._live) >= limit:
            raise ApiError(
                400,
                "concurrent-runs-limit-exceeded",
                f"You can run at most {limit} Actors at the same time.",
            )
        limit = self._max_total_memory_mbytes
        if limit is not None and self._live_memory_mbytes + memory_mbytes > limit:
            raise ApiError(
                400,
                "actor-memory-limit-exceeded",
                f"The run needs {memory_mbytes} MB, but only "
                f"{limit - self._live_memory_mbytes} MB of your {limit} MB limit are free.",
            )

    def kept_body(self, run: Run) -> None:
        """`run` has just kept a body: the run that kept one the longest ago drops it if
        that makes more than `MAX_KEPT_BODIES`."""
        keeping = self._keeping_bodies
        keeping.pop(run, None)
        keeping[run] = None
        if len(keeping) > MAX_KEPT_BODIES:
            oldest = next(iter(keeping))
            del keeping[oldest]
            oldest.drop_body()

    def activate(self, run: Run) -> None:
        if run not in self._live:
            self._live.add(run)
            self._live_memory_mbytes += run.options.memory_mbytes

    def deactivate(self, run: Run) -> None:
        if run in self._live:
            self._live.remove(run)
            self._live_memory_mbytes -= run.options.memory_mbytes

    def enlist(self, task: asyncio.Task[None]) -> None:
        """Keep a run's task until it is done, for `close` to cancel."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def reassign(self, run: Run, previous: Actor) -> None:
        """A metamorphed run is listed as a run of its new Actor, in start order."""
        self._by_owner[previous.id].pop(run, None)
        runs = self._by_owner.setdefault(run.actor.id, {})
        runs[run] = None
        self._by_owner[run.actor.id] = dict.fromkeys(sorted(runs, key=lambda each: each.number))

    def get(self, run_id: str) -> Run | None:
        return self._runs.get(run_id)

    def store(self, store_id: str) -> KeyValueStore | None:
        return self._stores.get(store_id)

    def dataset(self, dataset_id: str) -> Dataset | None:
        return self._datasets.get(dataset_id)

    def delete(self, run: Run) -> None:
        if not run.status.is_terminal:
            raise ApiError(
                400,
                "cannot-remove-running-run",
                f"The run cannot be deleted while its status is {run.status}; abort it first.",
            )
        del self._runs[run.id]
        self._keeping_bodies.pop(run, None)
        for owner in (run.actor, run.task):
            if owner is not None:
                self._by_owner[owner.id].pop(run, None)
        # The default storages go with the run.
        self._stores.pop(run.store.id, None)
        self._datasets.pop(run.dataset.id, None)

    def all(self) -> RunList:
        """Every run, oldest first."""
        return self._runs.values()

    def owned_by(self, owner: Actor | Task) -> RunList:
        """The runs of an Actor (after a metamorph, its new one) or a task, oldest first."""
        return self._by_owner.get(owner.id, {}).keys()

    async def close(self) -> None:
        """Cancel every run's task and wait for them; release every waiter."""
        self.closing = True
        tasks = list(self._tasks)
        for run in self._runs.values():
            run.cancel_timers()
            run.wake()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
