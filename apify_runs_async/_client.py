"""`ApifyRuns`, the client: one aiohttp session, every run operation as a coroutine.

Each operation is a request built in `_requests.py`, read by a function of `_responses.py`,
and sent by `_sending.Sender` under the operation's rule from `_reconcile.py`.
"""

from __future__ import annotations

import enum
import itertools
import logging
import weakref
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Coroutine, Iterable
from datetime import timedelta
from types import TracebackType
from typing import Any, NamedTuple, Self, TypeVar, Unpack

import aiohttp
import anyio

from . import _following, _logs, _reconcile, _requests, _responses
from . import _validation as check
from ._config import USER_AGENT, Timeouts, resolve_base_url, resolve_token
from ._cool_down import CoolDown
from ._errors import ClientClosedError, RunFailedError
from ._following import Poller, RunRef, once_per_run, split_ref
from ._http import BodyLimits, Request, Transport, check_borrowed, new_session
from ._idempotency import KeyedStart, agent_word
from ._in_flight import CallStream, RunsInFlight, abort_if_started, abort_quietly
from ._models import CallResult, Run
from ._rate_limits import RateLimiter, RateLimits
from ._requests import JsonInput, RunInput, StartOptions, TaskStartOptions
from ._retries import Retries
from ._run_ends import RunEnds
from ._run_handle import RunHandle
from ._run_lists import RunLists
from ._run_outputs import RunOutputs
from ._sending import ClosedSender, Sender
from ._status import RunStatus
from ._streams import Emit, RunStream
from ._webhook_receiver import WebhookReceiver

_LOG_TAIL_SECS = 5.0  # how long `call(log=...)` waits for a finished run's last log lines
_RACE_ABORT_SECS = 5.0  # how long a keyed start that lost a race may take to abort its run

DEFAULT_RATE_LIMITS = RateLimits()
DEFAULT_COOL_DOWN = CoolDown()
DEFAULT_RETRIES = Retries()

LIST_ABOVE = 100
"""How many runs a many-run call follows with a long-poll each before it reads the runs list
instead: as many connections as the client's own session holds by default."""

T = TypeVar("T")


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class ApifyRuns(RunOutputs, RunLists):
    """An async client for Apify Actor runs.

    >>> async with ApifyRuns() as client:
    ...     run = await client.start("apify/hello-world", {"message": "hi"})
    ...     async for snapshot in client.watch(run.id):
    ...         print(snapshot.status, snapshot.status_message)

    `token` defaults to $APIFY_TOKEN and `base_url` to $APIFY_API_BASE_URL, else
    https://api.apify.com. Pass `session` to share an aiohttp session you own: the client then
    never closes it. `max_connections` caps the connections of a session the client creates
    (None: no cap); each run followed at once holds one while it long-polls, so a client
    following thousands of runs wants a high cap or none.

    `retries` says how requests that failed for a passing reason are tried again; every
    method also takes its own `retries`. A start, metamorph, reboot or resurrect is never
    blindly repeated (see `Retries`). `rate_limits` keeps requests within Apify's limits
    (None: no limiting). `limit_cool_down` makes a start refused for the account's memory or
    concurrent-runs limit wait and try again (None: raise at once).

    Responses larger than `max_response_bytes` (records: `max_record_bytes`) are refused.
    Plain http:// is refused except to this machine, unless `allow_insecure_http`.

    A start given an `idempotency_key` returns the run already started with that key within
    `idempotency_window` (seconds or a `timedelta`; default 24 hours), by any process,
    instead of starting another (see `start`).
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeouts: Timeouts | None = None,
        retries: Retries = DEFAULT_RETRIES,
        max_connections: int | None = 100,
        rate_limits: RateLimits | None = DEFAULT_RATE_LIMITS,
        limit_cool_down: CoolDown | None = DEFAULT_COOL_DOWN,
        max_response_bytes: int = 4 * 2**20,
        max_record_bytes: int = 64 * 2**20,
        allow_insecure_http: bool = False,
        idempotency_window: float | timedelta = timedelta(hours=24),
    ) -> None:
        token = resolve_token(token)
        insecure = check.flag(allow_insecure_http, "allow_insecure_http")
        self.base_url = resolve_base_url(base_url, allow_insecure_http=insecure)
        self.timeouts = check.of_type(timeouts, Timeouts, "timeouts", optional=True) or Timeouts()
        self.retries = check.of_type(retries, Retries, "retries")
        check.of_type(session, aiohttp.ClientSession, "session", optional=True)
        check.of_type(rate_limits, RateLimits, "rate_limits", optional=True)
        check.of_type(limit_cool_down, CoolDown, "limit_cool_down", optional=True)
        self._body_limits = BodyLimits(
            check.positive_int(max_response_bytes, "max_response_bytes"),
            check.positive_int(max_record_bytes, "max_record_bytes"),
        )
        if max_connections is not None:
            check.positive_int(max_connections, "max_connections")
        self._max_connections = max_connections
        self._has_token = token is not None
        self._headers = {"User-Agent": USER_AGENT, "Accept": _requests.JSON}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        self._session = session
        self._owns_session = session is None
        self._state = _State.UNOPENED
        self._send: Sender = ClosedSender("not open yet")  # with the client's own retries
        self._rate_limits = rate_limits
        self._limit_cool_down = limit_cool_down
        self._idempotency_window = check.duration_secs(idempotency_window, "idempotency_window")
        # The runs each call and call_many going on started, for `aclose` to stop.
        self._callers: weakref.WeakSet[RunsInFlight] = weakref.WeakSet()

    def __repr__(self) -> str:
        token = "set" if self._has_token else "none"
        return f"<ApifyRuns {self.base_url} token={token} {self._state.value}>"

    async def __aenter__(self) -> Self:
        if self._state is not _State.UNOPENED:
            raise ClientClosedError("an ApifyRuns client cannot be opened twice; make a new one")
        if self._session is None:
            self._session = new_session(self._headers)
        else:
            check_borrowed(self._session)
        limiter = None if self._rate_limits is None else RateLimiter(self._rate_limits)
        headers = None if self._owns_session else self._headers  # a session of ours has them
        # The cap is ours to keep only in a session of ours: a lent one has its own pool.
        cap = self._max_connections if self._owns_session else None
        transport = Transport(
            self._session, self.base_url, headers, self.timeouts, limiter, self._body_limits, cap
        )
        self._send = Sender(transport, self.retries, self.timeouts.total)
        self._state = _State.OPEN
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session if the client created it. Safe to call more than once.

        Runs that calls still going on had started are aborted first (unless they were
        given `abort_on_exit=False`): nobody would be left to follow them."""
        if self._state is _State.OPEN:
            self._send.transport.check_loop()  # its session cannot be closed from elsewhere
            with anyio.CancelScope(shield=True):
                async with anyio.create_task_group() as group:
                    for runs in list(self._callers):
                        group.start_soon(runs.stop_all, self._send)
        # Looked at again after each wait: an aclose() in another task may have closed it.
        if self._state is _State.OPEN:
            self._send.transport.close()
        if self._state is _State.OPEN and self._owns_session and self._session is not None:
            await self._session.close()
        self._state = _State.CLOSED
        self._send = ClosedSender("closed")

    def run(self, run_id: str) -> RunHandle:
        """A handle with this client's run methods bound to one run."""
        return RunHandle(self, check.resource_id(run_id, "run_id"))

    # --- Starting runs ------------------------------------------------------------------------

    async def start(
        self,
        actor_id: str,
        run_input: RunInput = None,
        *,
        wait_for_finish: float | None = None,
        idempotency_key: str | None = None,
        retries: Retries | None = None,
        **options: Unpack[StartOptions],
    ) -> Run:
        """Start a run of an Actor (`owner~name`, `owner/name` or its id).

        A dict or list input is sent as JSON; bytes or str are sent as they are, with
        `content_type`. `wait_for_finish` (0..60 s) holds the answer until the run ends.

        A failed try that may have started a run is never repeated blindly: each try carries
        a nonce in its User-Agent, and before trying again the client looks for a run with it
        among the Actor's runs, which it then returns. If it cannot find out, it raises
        `UncertainOutcomeError`.

        With `idempotency_key` (1 to 128 of a-z A-Z 0-9 . _ ~ : @ + = -), at most one run is
        started for the key and the Actor within the client's `idempotency_window`, whichever
        process starts it: a run already started with the key is returned instead. This costs
        a look through the Actor's runs of the window before the start (one request per 1,000
        runs) and one after it (one request, as a rule).
        """
        request = _requests.start(actor_id, run_input, wait_for_finish, options)
        return await self._start(request, self._sender(retries), _key(idempotency_key))

    async def start_task(
        self,
        task_id: str,
        task_input: JsonInput | None = None,
        *,
        wait_for_finish: float | None = None,
        idempotency_key: str | None = None,
        retries: Retries | None = None,
        **options: Unpack[TaskStartOptions],
    ) -> Run:
        """Start a run of a saved task; `task_input` is merged over the task's own input.

        Like `start`, it never starts a second run by retrying, and takes an
        `idempotency_key`."""
        request = _requests.start_task(task_id, task_input, wait_for_finish, options)
        return await self._start(request, self._sender(retries), _key(idempotency_key))

    # --- One run ------------------------------------------------------------------------------

    async def get(
        self,
        run_id: str,
        *,
        wait_for_finish: float | None = None,
        retries: Retries | None = None,
    ) -> Run | None:
        """The run, or None if it does not exist.

        `wait_for_finish` (0..60 s, rounded up to whole seconds) lets the API hold the answer
        until the run has finished.
        """
        request = _requests.get_run(run_id, wait_for_finish)
        send = self._send if retries is None else self._sender(retries)  # inline: the hot path
        return await send(request, _responses.run_or_none)

    async def abort(
        self, run_id: str, *, gracefully: bool | None = None, retries: Retries | None = None
    ) -> Run:
        """Abort the run; `gracefully` lets it persist its state first (status ABORTING).

        If a try in doubt did abort the run, a retry refused because the run has finished
        returns the aborted run instead of failing."""
        request = _requests.abort(run_id, gracefully)
        send = self._sender(retries)
        return await send(request, _responses.run, _reconcile.Abort(run_id, send))

    async def metamorph(
        self,
        run_id: str,
        *,
        target_actor_id: str,
        target_actor_build: str | None = None,
        run_input: RunInput = None,
        content_type: str | None = None,
        retries: Retries | None = None,
    ) -> Run:
        """Turn the running run into a run of another Actor, with a new input.

        Never done twice by retrying: the run's `metamorphs` are counted before the first try
        and after a try in doubt (which costs one GET)."""
        request = _requests.metamorph(
            run_id, target_actor_id, target_actor_build, run_input, content_type
        )
        return await self._change(request, run_id, _reconcile.metamorphs, retries)

    async def resurrect(
        self,
        run_id: str,
        *,
        build: str | None = None,
        memory_mbytes: int | None = None,
        timeout_secs: float | None = None,
        max_items: int | None = None,
        max_total_charge_usd: float | None = None,
        restart_on_error: bool | None = None,
        retries: Retries | None = None,
    ) -> Run:
        """Run a finished run again, with its storages; options default to the original's.

        Never done twice by retrying: `stats.resurrect_count` and the status are read before
        the first try and after a try in doubt (which costs one GET)."""
        options = {
            "build": build,
            "memory_mbytes": memory_mbytes,
            "timeout_secs": timeout_secs,
            "max_items": max_items,
            "max_total_charge_usd": max_total_charge_usd,
            "restart_on_error": restart_on_error,
        }
        request = _requests.resurrect(run_id, options)
        return await self._change(request, run_id, _reconcile.resurrections, retries)

    async def reboot(self, run_id: str, *, retries: Retries | None = None) -> Run:
        """Restart the running run's container.

        Never done twice by retrying: `stats.reboot_count` is read before the first try and
        after a try in doubt (which costs one GET)."""
        request = _requests.reboot(run_id)
        return await self._change(request, run_id, _reconcile.reboots, retries)

    async def update(
        self,
        run_id: str,
        *,
        status_message: str | None = None,
        is_status_message_terminal: bool | None = None,
        general_access: str | None = None,
        retries: Retries | None = None,
    ) -> Run:
        """Set the run's status message or who may read it."""
        request = _requests.update(
            run_id, status_message, is_status_message_terminal, general_access
        )
        return await self._sender(retries)(request, _responses.run)

    async def delete(self, run_id: str, *, retries: Retries | None = None) -> None:
        """Delete the finished run and its storages.

        If a try in doubt did delete it, the 404 of a retry counts as done."""
        request = _requests.delete(run_id)
        await self._sender(retries)(request, _responses.no_content, _reconcile.Delete())

    async def wait_for_finish(
        self, run_id: str, *, wait_secs: float | None = None, retries: Retries | None = None
    ) -> Run | None:
        """Wait until the run is terminal, or `wait_secs` has passed (None: no limit).

        Returns the last run seen (terminal unless the time ran out), or None if the run does
        not exist. A 404 right after a start is waited out for a few seconds.
        """
        run_id = check.resource_id(run_id, "run_id")
        check.optional_wait(wait_secs)
        send = self._sender(retries)
        grace = send.retries.not_found_grace_secs
        return await _following.wait_for_finish(Poller(send, run_id), wait_secs, grace)

    def watch(
        self,
        run_id: RunRef,
        *,
        poll_interval: float | None = 5.0,
        retries: Retries | None = None,
    ) -> AsyncGenerator[Run, None]:
        """Yield the run at each change of status or status message, until it is terminal.

        The terminal status arrives as soon as the API has it (a long-poll, not a sleep);
        other changes at most `poll_interval` seconds (1..60) late. With `poll_interval=None`
        a run costs one request a minute, and intermediate changes may be seen a minute late.
        Give the `Run` that `start` returned instead of its id to save the first request.
        Each request is retried as `retries` says, so any number of passing failures over
        the run's life is survived; a run that stays missing raises `NotFoundError`.

        >>> async for snapshot in client.watch(run):
        ...     print(snapshot.status, snapshot.status_message)
        """
        run_id, known = split_ref(run_id)
        check.resource_id(run_id, "run_id")
        check.poll_interval(poll_interval)
        return self._watch(run_id, poll_interval, self._sender(retries), known)

    # --- Following runs to their end -------------------------------------------------------

    async def call(
        self,
        actor_id: str,
        run_input: RunInput = None,
        *,
        wait_secs: float | None = None,
        raise_on_failure: bool = False,
        log: logging.Logger | None = None,
        abort_on_exit: bool = True,
        idempotency_key: str | None = None,
        retries: Retries | None = None,
        **options: Unpack[StartOptions],
    ) -> CallResult:
        """Start a run, wait for its end (up to `wait_secs`), and return it with its OUTPUT.

        A run that ends FAILED, ABORTED or TIMED-OUT is returned, unless `raise_on_failure`:
        then `RunFailedError` carries it. With `log`, the run's log lines go to that logger
        as they are written, each marked with the run's id. Takes the options of `start`,
        and its `idempotency_key`: a run already started with the key is followed instead.

        If the call ends without returning the run's end (it is cancelled, Ctrl-C, a timeout
        around it, an error), it aborts the run, unless `abort_on_exit=False`; the error then
        names the run in `aborted_run_ids` or `running_run_ids`. When `wait_secs` runs out,
        the run is returned still going, and left so.

        >>> result = await client.call("apify/hello-world", {"message": "hi"})
        >>> result.run.status, result.output.json() if result.output else None
        """
        call = _call_settings(wait_secs, raise_on_failure, log, abort_on_exit)
        request = _requests.start(actor_id, run_input, None, options)
        return await self._call_alone(request, call, _key(idempotency_key), retries)

    async def call_task(
        self,
        task_id: str,
        task_input: JsonInput | None = None,
        *,
        wait_secs: float | None = None,
        raise_on_failure: bool = False,
        log: logging.Logger | None = None,
        abort_on_exit: bool = True,
        idempotency_key: str | None = None,
        retries: Retries | None = None,
        **options: Unpack[TaskStartOptions],
    ) -> CallResult:
        """`call` for a saved task: start it, wait for its end, return it with its OUTPUT.

        Aborts the run if it ends early, as `call` does."""
        call = _call_settings(wait_secs, raise_on_failure, log, abort_on_exit)
        request = _requests.start_task(task_id, task_input, None, options)
        return await self._call_alone(request, call, _key(idempotency_key), retries)

    def watch_many(
        self,
        runs: Iterable[RunRef] | AsyncIterable[RunRef] = (),
        *,
        poll_interval: float | None = 5.0,
        webhooks: WebhookReceiver | None = None,
        list_interval: float | None = None,
        retries: Retries | None = None,
    ) -> RunStream[RunRef, tuple[str, Run]]:
        """Follow many runs at once: `(run_id, run)` at every change of any of them.

        Ends when every run is terminal (and an async iterable of runs is exhausted). Feed more
        runs with an async iterable, or with `add()` while it runs. Each run is followed as by
        `watch(run_id, poll_interval=...)`; give the `Run` that `start` returned rather than its
        id to save a request.

        With `webhooks`, the receiver the runs were started with, each run is yielded as it is
        first, then at its end, which its webhook brings: no request is held per run. The
        runs list, read every `list_interval` seconds (default 30), finds an end whose webhook
        was lost.

        >>> async with client.watch_many(run_ids) as updates:
        ...     async for run_id, run in updates:
        ...         print(run_id, run.status, run.status_message)
        """
        check.poll_interval(poll_interval)
        check.many(runs, "runs")
        send = self._sender(retries)
        ends = self._run_ends(send, None, None, webhooks, list_interval, read_ends=True)
        if webhooks is None:

            async def follow(ref: RunRef, emit: Emit[tuple[str, Run]]) -> None:
                run_id, known = split_ref(ref)
                snapshots = self._watch(run_id, poll_interval, send, known)
                del ref, known  # the watch holds the first snapshot only until it is yielded
                async for run in snapshots:
                    await emit((run_id, run))
                    del run  # not held through the next long-poll

            return RunStream(runs, once_per_run(), follow)

        async def first_and_end(ref: RunRef, emit: Emit[tuple[str, Run]]) -> None:
            run_id, known = split_ref(ref)
            poll = Poller(send, run_id)
            known = await ends.current(run_id, known, poll)
            await emit((run_id, known))
            if not known.is_terminal:
                ending = ends.end_or_hold(run_id, known, poll)
                del ref, known  # the wait keeps the run only if it needs it
                end = await ending  # None: it waits with no task, and comes as (id, run)
                if end is not None:
                    await emit((run_id, end))

        stream = RunStream(runs, once_per_run(), first_and_end)
        return ends.stream(stream, lambda run: (run.id, run))

    def as_completed(
        self,
        runs: Iterable[RunRef] | AsyncIterable[RunRef] = (),
        *,
        webhooks: WebhookReceiver | None = None,
        list_above: int | None = LIST_ABOVE,
        list_interval: float | None = None,
        retries: Retries | None = None,
    ) -> RunStream[RunRef, Run]:
        """Yield runs in the order they finish, each once.

        Feeds like `watch_many`. A run that does not exist raises `NotFoundError`. How the
        ends are learnt:
        - up to `list_above` runs followed at once (None: any number), a long-poll each,
          one request a minute per run: an end is seen at once;
        - past that, the runs list, read every `list_interval` seconds (default 5; one
          request per 1,000 runs): an end is seen up to that late. Such a run is yielded as
          it was given, with the list's status, times and usage; what the list does not show
          (stats, status message, exit code...) is left empty: `get` it for that;
        - with `webhooks`, the receiver the runs were started with, each end comes with its
          webhook, and no request is held per run. The runs list, read every `list_interval`
          seconds (default 30), finds an end whose webhook was lost.

        Give the `Run` that `start` returned rather than its id: that saves a request.

        >>> async with client.as_completed(runs) as finished:
        ...     async for run in finished:
        ...         print(run.id, run.status)
        """
        check.many(runs, "runs")
        send = self._sender(retries)
        ends = self._run_ends(send, None, list_above, webhooks, list_interval, read_ends=False)

        async def wait(ref: RunRef, emit: Emit[Run]) -> None:
            run_id, known = split_ref(ref)
            ending = ends.end_or_hold(run_id, known, Poller(send, run_id))
            del ref, known  # the wait keeps the run only if it needs it
            end = await ending  # None: it waits with no task, and comes when it ends
            if end is not None:
                await emit(end)

        return ends.stream(RunStream(runs, once_per_run(), wait))

    def call_many(
        self,
        actor_id: str,
        inputs: Iterable[RunInput] | AsyncIterable[RunInput] = (),
        *,
        concurrency: int,
        wait_secs: float | None = None,
        raise_on_failure: bool = False,
        log: logging.Logger | None = None,
        abort_on_exit: bool = True,
        idempotency_key: Callable[[int, RunInput], str] | None = None,
        list_above: int | None = LIST_ABOVE,
        list_interval: float | None = None,
        retries: Retries | None = None,
        **options: Unpack[StartOptions],
    ) -> CallStream:
        """`call` the Actor once per input, with at most `concurrency` runs going at once.

        Yields `(index, result)` as runs finish, `index` counting the inputs from 0. Feed more
        inputs with an async iterable, or with `add()` while it runs. A start refused for the
        account's limits waits and tries again (see `limit_cool_down`). `runs_in_flight` shows
        the runs started and not yet finished, each as last seen.

        When it ends early (cancelled, Ctrl-C, a run's error, leaving the `async with` before
        the end), it aborts every run it started that has not finished, unless
        `abort_on_exit=False`; the error raised names them. `idempotency_key(index, input)`
        gives each input its key (see `start`), so that a job run again after a crash follows
        the runs it started the first time instead of starting them again.

        Runs' ends are learnt as by `as_completed`, with `list_above` and `list_interval`:
        from a `WebhookReceiver` given in `webhooks` (which adds its webhook to every start),
        else from a long-poll per run or the runs list. A run whose end the runs list shows is
        read in full, with its OUTPUT.

        >>> async with client.call_many("me/crawler", batches, concurrency=10) as results:
        ...     async for index, result in results:
        ...         print(index, result.run.status, result.output)
        """
        # Everything is checked up front, so that a bad option fails before any run starts.
        actor_id = check.actor_id(actor_id, "actor_id")
        _requests.start_params(options)
        concurrency = check.positive_int(concurrency, "concurrency")
        check.many(inputs, "inputs")
        call = _call_settings(wait_secs, raise_on_failure, log, abort_on_exit)
        if idempotency_key is not None and not callable(idempotency_key):
            raise TypeError("idempotency_key must be a function (index, run_input) -> str")
        check.of_type(retries, Retries, "retries", optional=True)
        send = self._sender(retries)
        receiver = _receiver_in(options.get("webhooks"))
        ends = self._run_ends(send, actor_id, list_above, receiver, list_interval, read_ends=True)
        runs = self._runs_in_flight(call.abort_on_exit)
        numbering = itertools.count()

        def number(run_input: RunInput) -> tuple[int, RunInput, str | None]:
            index = next(numbering)
            check.run_input(run_input, options.get("content_type"), f"inputs[{index}]")
            key = None
            if idempotency_key is not None:
                name = f"idempotency_key({index}, inputs[{index}])"
                key = check.idempotency_key(idempotency_key(index, run_input), name)
            return index, run_input, key

        async def call_one(
            job: tuple[int, RunInput, str | None], emit: Emit[tuple[int, CallResult]]
        ) -> None:
            index, run_input, key = job
            request = _requests.start(actor_id, run_input, None, options)
            await emit((index, await self._call(request, call, key, send, runs, ends)))

        stream = CallStream(inputs, number, call_one, concurrency=concurrency, runs=runs)
        return ends.stream(stream)

    # --- Plumbing -----------------------------------------------------------------------------

    def _sender(self, retries: Retries | None) -> Sender:
        """What sends requests, with `retries` or else the client's own."""
        if retries is None or isinstance(self._send, ClosedSender):
            return self._send
        policy = check.of_type(retries, Retries, "retries")
        return Sender(self._send.transport, policy, self.timeouts.total)

    async def _start(self, request: Request, send: Sender, key: str | None) -> Run:
        """Start a run, retrying without ever starting a second one; with `key`, only if no
        run has it."""
        run, keyed = await self._start_once(request, send, key, None)
        return run if keyed is None else await self._keep_earliest(keyed, run, send, None)

    async def _start_once(
        self, request: Request, send: Sender, key: str | None, runs: RunsInFlight | None
    ) -> tuple[Run, KeyedStart | None]:
        """The run a start sent once started, or that already had `key`; and, for a keyed
        start that started one, what settles a race with another process. With `runs`, a
        start cancelled midway aborts the run it may have started."""
        agent = USER_AGENT
        keyed = None
        if key is not None:
            margin = send.retries.lookup_margin_secs
            keyed = KeyedStart(request, key, self._idempotency_window, margin, send)
            found = await keyed.existing()
            if found is not None:
                return found, None
            agent = f"{USER_AGENT} {agent_word(key)}"
        rule = _reconcile.Start(request, agent, send, send.retries.lookup_margin_secs)
        try:
            run = await send(request, _responses.run, rule, self._limit_cool_down)
        except anyio.get_cancelled_exc_class():
            if runs is not None:
                aborted = await abort_if_started(rule, send)
                if aborted is not None:
                    runs.aborted.append(aborted)
            raise
        return run, keyed

    async def _keep_earliest(
        self, keyed: KeyedStart, run: Run, send: Sender, runs: RunsInFlight | None
    ) -> Run:
        """The run to keep after a keyed start: the earliest with the key, by any process."""

        async def abort(run_id: str) -> bool:
            return await abort_quietly(send, run_id, _RACE_ABORT_SECS)

        kept = await keyed.keep_earliest(run, abort)
        if runs is not None and kept is not run:
            runs.handed_over(run.id)  # aborted: a twin of the run kept
            runs.seen(kept)
        return kept

    async def _change(
        self,
        request: Request,
        run_id: str,
        changes: _reconcile.Changes,
        retries: Retries | None,
    ) -> Run:
        """Metamorph, reboot or resurrect, retrying without ever doing it twice."""
        send = self._sender(retries)
        return await send(
            request, _responses.run, _reconcile.RunChange(request, run_id, changes, send)
        )

    def _watch(
        self, run_id: str, poll_interval: float | None, send: Sender, known: Run | None
    ) -> AsyncGenerator[Run, None]:
        path = _requests.run_path(run_id)
        grace = send.retries.not_found_grace_secs
        return _following.watch(Poller(send, run_id), path, poll_interval, grace, known)

    def _run_ends(
        self,
        send: Sender,
        actor_id: str | None,
        list_above: int | None,
        webhooks: WebhookReceiver | None,
        list_interval: float | None,
        *,
        read_ends: bool,
    ) -> RunEnds:
        """How a many-run call learns of its runs' ends: the Actor's runs list, or (with no
        Actor) the user's."""
        if list_above is not None:
            check.non_negative_int(list_above, "list_above")
        check.of_type(webhooks, WebhookReceiver, "webhooks", optional=True)
        if list_interval is not None:
            check.positive(list_interval, "list_interval")
        return RunEnds(
            send,
            _requests.runs_path(actor_id, None),
            list_above=list_above,
            interval=list_interval,
            receiver=webhooks,
            read_ends=read_ends,
        )

    def _runs_in_flight(self, abort_on_exit: bool) -> RunsInFlight:
        runs = RunsInFlight(abort_on_exit)
        self._callers.add(runs)
        return runs

    async def _call_alone(
        self, request: Request, call: _CallSettings, key: str | None, retries: Retries | None
    ) -> CallResult:
        runs = self._runs_in_flight(call.abort_on_exit)
        send = self._sender(retries)
        ends = self._run_ends(send, None, None, None, None, read_ends=True)  # long-poll
        try:
            return await self._call(request, call, key, send, runs, ends)
        except BaseException as error:
            runs.tell(error, "call")
            raise

    async def _call(
        self,
        request: Request,
        call: _CallSettings,
        key: str | None,
        send: Sender,
        runs: RunsInFlight,
        ends: RunEnds,
    ) -> CallResult:
        """Start a run and follow it to its end; abort it if the caller goes first."""
        run, keyed = await self._start_once(request, send, key, runs)
        runs.seen(run)
        try:
            if keyed is not None:
                run = await self._keep_earliest(keyed, run, send, runs)
            result = await self._finish_call(run, call, send, runs, ends)
        except BaseException:
            await runs.stop(run.id, send)
            raise
        runs.handed_over(run.id)
        return result

    async def _finish_call(
        self, run: Run, call: _CallSettings, send: Sender, runs: RunsInFlight, ends: RunEnds
    ) -> CallResult:
        if call.log is None:
            return await self._result(run, call, send, runs, ends)
        log = call.log
        forwarded = anyio.Event()

        async def forward() -> None:
            try:
                await _logs.forward(send, run.id, log)
            finally:
                forwarded.set()

        # The call's own outcome is kept out of the task group, which would wrap its error.
        result: CallResult | None = None
        failure: Exception | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(forward)
            try:
                try:
                    result = await self._result(run, call, send, runs, ends)
                    ended = result.run.is_terminal
                except Exception as error:
                    failure, ended = error, isinstance(error, RunFailedError)
                if ended:  # its log ends with it: let the last lines pass
                    with anyio.move_on_after(_LOG_TAIL_SECS):
                        await forwarded.wait()
            finally:
                group.cancel_scope.cancel()
        if failure is not None:
            raise failure
        assert result is not None
        return result

    async def _result(
        self, run: Run, call: _CallSettings, send: Sender, runs: RunsInFlight, ends: RunEnds
    ) -> CallResult:
        poll = _Tracked(send, run.id, runs)
        finished = await ends.end(run.id, run, poll, call.wait_secs)
        runs.seen(finished)
        output = None
        if finished.is_terminal:  # the run is there: no need to check that it is
            request = _requests.get_record(_requests.run_store(run.id), "OUTPUT")
            output = await send(request, _responses.record_or_none)
        failed = finished.is_terminal and finished.status != RunStatus.SUCCEEDED
        if call.raise_on_failure and failed:
            raise RunFailedError(finished, output)
        return CallResult(finished, output)


class _CallSettings(NamedTuple):
    """How `call`, `call_task` and `call_many` follow a run they started."""

    wait_secs: float | None
    raise_on_failure: bool
    log: logging.Logger | None
    abort_on_exit: bool


def _call_settings(
    wait_secs: float | None, raise_on_failure: bool, log: logging.Logger | None, abort_on_exit: bool
) -> _CallSettings:
    return _CallSettings(
        check.optional_wait(wait_secs),
        check.flag(raise_on_failure, "raise_on_failure"),
        check.of_type(log, logging.Logger, "log", optional=True),
        check.flag(abort_on_exit, "abort_on_exit"),
    )


def _receiver_in(webhooks: object) -> WebhookReceiver | None:
    """The receiver among the `webhooks` start option, if one is."""
    if isinstance(webhooks, WebhookReceiver):
        return webhooks
    if isinstance(webhooks, list | tuple):
        return next((hook for hook in webhooks if isinstance(hook, WebhookReceiver)), None)
    return None


def _key(idempotency_key: str | None) -> str | None:
    return None if idempotency_key is None else check.idempotency_key(idempotency_key)


class _Tracked(Poller):
    """A `Poller` that keeps each snapshot in the caller's runs in flight."""

    __slots__ = ("_runs",)

    def __init__(self, send: Sender, run_id: str, runs: RunsInFlight) -> None:
        super().__init__(send, run_id)
        self._runs = runs

    async def _tracked(self, hold: int) -> Run | None:
        run = await super().__call__(hold)
        if run is not None:
            self._runs.seen(run)
        return run

    def __call__(self, hold: int) -> Coroutine[Any, Any, Run | None]:
        return self._tracked(hold)
