"""`ApifyRuns`, the client: one aiohttp session, every run operation as a coroutine."""

from __future__ import annotations

import enum
import functools
import itertools
import math
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self, TypedDict, TypeVar, Unpack

import aiohttp
import anyio
import msgspec

from . import _following, _reconcile, _responses
from . import _validation as check
from ._config import USER_AGENT, Timeouts, resolve_base_url, resolve_token
from ._cool_down import CoolDown
from ._errors import ApifyError, BadRequestError, ClientClosedError, NotFoundError, RunFailedError
from ._http import BodyLimits, Request, Response, Transport
from ._models import CallResult, Record, Run, RunListPage
from ._rate_limits import RateLimiter, RateLimits
from ._retries import Retries, out_of_time, with_retries
from ._run_handle import RunHandle
from ._status import RunStatus
from ._streams import Emit, RunStream

T = TypeVar("T")

JsonInput = Mapping[str, Any] | Sequence[Any]
"""A run input sent as JSON: a dict, or a list."""

RunInput = JsonInput | bytes | str | None
"""A run input: JSON (a dict or list), or bytes / str sent as they are with `content_type`."""

_JSON = "application/json"

DEFAULT_RATE_LIMITS = RateLimits()
DEFAULT_COOL_DOWN = CoolDown()
DEFAULT_RETRIES = Retries()

RunRef = str | Run
"""A run to follow: its id, or a `Run` already in hand (which saves a request)."""


class TaskStartOptions(TypedDict, total=False):
    """The options of `start_task`, for `call_task`."""

    build: str
    timeout_secs: float
    memory_mbytes: int
    max_items: int
    max_total_charge_usd: float
    restart_on_error: bool
    webhooks: Sequence[Mapping[str, Any]]


class StartOptions(TaskStartOptions, total=False):
    """The options of `start`, for `call` and `call_many`."""

    content_type: str
    force_permission_level: str


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class ApifyRuns:
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
    ) -> None:
        token = resolve_token(token)
        insecure = check.flag(allow_insecure_http, "allow_insecure_http")
        self.base_url = resolve_base_url(base_url, allow_insecure_http=insecure)
        self.timeouts = _instance(timeouts, Timeouts, "timeouts") or Timeouts()
        self.retries = _check_retries(retries, "retries")
        _instance(session, aiohttp.ClientSession, "session")
        _instance(rate_limits, RateLimits, "rate_limits")
        _instance(limit_cool_down, CoolDown, "limit_cool_down")
        self._body_limits = BodyLimits(
            check.positive_int(max_response_bytes, "max_response_bytes"),
            check.positive_int(max_record_bytes, "max_record_bytes"),
        )
        self._max_connections = (
            0 if max_connections is None else check.positive_int(max_connections, "max_connections")
        )
        self._has_token = token is not None
        self._headers = {"User-Agent": USER_AGENT, "Accept": _JSON}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        self._session = session
        self._owns_session = session is None
        self._state = _State.UNOPENED
        self._transport: Transport | None = None
        self._rate_limits = rate_limits
        self._limit_cool_down = limit_cool_down

    def __repr__(self) -> str:
        token = "set" if self._has_token else "none"
        return f"<ApifyRuns {self.base_url} token={token} {self._state.value}>"

    async def __aenter__(self) -> Self:
        if self._state is not _State.UNOPENED:
            raise ClientClosedError("an ApifyRuns client cannot be opened twice; make a new one")
        if self._session is not None:
            if self._session.closed:
                raise ClientClosedError("the aiohttp session given to ApifyRuns is closed")
            if self._session.auth is not None:
                raise ValueError("session must not have its own auth: ApifyRuns sends the token")
        else:
            connector = aiohttp.TCPConnector(limit=self._max_connections)  # 0: no limit
            # Its default headers are ours: cheaper than giving them with every request.
            self._session = aiohttp.ClientSession(connector=connector, headers=self._headers)
            # aiohttp silently sends a GET, PUT or DELETE again when a kept-alive connection
            # drops. Retrying is this client's job: it must see that a try was in doubt.
            if hasattr(self._session, "_retry_connection"):
                self._session._retry_connection = False
        limiter = None if self._rate_limits is None else RateLimiter(self._rate_limits)
        headers = None if self._owns_session else self._headers
        self._transport = Transport(
            self._session, self.base_url, headers, self.timeouts, limiter, self._body_limits
        )
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
        """Close the session if the client created it. Safe to call more than once."""
        if self._state is _State.OPEN and self._owns_session and self._session is not None:
            await self._session.close()
        self._state = _State.CLOSED
        self._transport = None

    def run(self, run_id: str) -> RunHandle:
        """A handle with this client's run methods bound to one run."""
        return RunHandle(self, check.resource_id(run_id, "run_id"))

    # --- Starting runs ------------------------------------------------------------------------

    async def start(
        self,
        actor_id: str,
        run_input: RunInput = None,
        *,
        content_type: str | None = None,
        build: str | None = None,
        timeout_secs: float | None = None,
        memory_mbytes: int | None = None,
        max_items: int | None = None,
        max_total_charge_usd: float | None = None,
        restart_on_error: bool | None = None,
        wait_for_finish: float | None = None,
        webhooks: Sequence[Mapping[str, Any]] | None = None,
        force_permission_level: str | None = None,
        retries: Retries | None = None,
    ) -> Run:
        """Start a run of an Actor (`owner~name`, `owner/name` or its id).

        A dict or list input is sent as JSON; bytes or str are sent as they are, with
        `content_type`. `wait_for_finish` (0..60 s) holds the answer until the run ends.

        A failed try that may have started a run is never repeated blindly: each try carries
        a nonce in its User-Agent, and before trying again the client looks for a run with it
        among the Actor's runs, which it then returns. If it cannot find out, it raises
        `UncertainOutcomeError`.
        """
        path = f"/v2/actors/{check.actor_id(actor_id, 'actor_id')}/runs"
        params = _start_params(
            build=build,
            timeout_secs=timeout_secs,
            memory_mbytes=memory_mbytes,
            max_items=max_items,
            max_total_charge_usd=max_total_charge_usd,
            restart_on_error=restart_on_error,
            wait_for_finish=wait_for_finish,
            webhooks=webhooks,
        )
        if force_permission_level is not None:
            params["forcePermissionLevel"] = check.permission_level(force_permission_level)
        body, body_type = _encode_input(run_input, content_type, "run_input")
        request = Request("POST", path, params, body, body_type, _hold(params))
        return await self._start_once(request, self._policy(retries))

    async def start_task(
        self,
        task_id: str,
        task_input: JsonInput | None = None,
        *,
        build: str | None = None,
        timeout_secs: float | None = None,
        memory_mbytes: int | None = None,
        max_items: int | None = None,
        max_total_charge_usd: float | None = None,
        restart_on_error: bool | None = None,
        wait_for_finish: float | None = None,
        webhooks: Sequence[Mapping[str, Any]] | None = None,
        retries: Retries | None = None,
    ) -> Run:
        """Start a run of a saved task; `task_input` is merged over the task's own input.

        Like `start`, it never starts a second run by retrying."""
        path = f"/v2/actor-tasks/{check.actor_id(task_id, 'task_id')}/runs"
        params = _start_params(
            build=build,
            timeout_secs=timeout_secs,
            memory_mbytes=memory_mbytes,
            max_items=max_items,
            max_total_charge_usd=max_total_charge_usd,
            restart_on_error=restart_on_error,
            wait_for_finish=wait_for_finish,
            webhooks=webhooks,
        )
        body, body_type = _encode_input(task_input, None, "task_input")
        request = Request("POST", path, params, body, body_type, _hold(params))
        return await self._start_once(request, self._policy(retries))

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
        run_id = check.resource_id(run_id, "run_id")
        hold = 0
        if wait_for_finish is not None:
            hold = math.ceil(check.wait_secs(wait_for_finish, "wait_for_finish"))
        return await self._get_run(run_id, hold, self._policy(retries))

    async def abort(
        self, run_id: str, *, gracefully: bool | None = None, retries: Retries | None = None
    ) -> Run:
        """Abort the run; `gracefully` lets it persist its state first (status ABORTING).

        If a try in doubt did abort the run, a retry refused because the run has finished
        returns the aborted run instead of failing."""
        path = f"{_run_path(run_id)}/abort"
        params = _query(gracefully=_flag(gracefully, "gracefully"))
        request = Request("POST", path, params)
        policy = self._policy(retries)

        async def aborted_before(error: ApifyError) -> Run:
            if isinstance(error, BadRequestError):
                run = await self._get_run(run_id, 0, policy)
                if run is not None and run.status in (RunStatus.ABORTING, RunStatus.ABORTED):
                    return run
            raise error

        attempt = functools.partial(self._send, request, _responses.run)
        return await self._bounded(request, _reconcile.repeatable(attempt, policy, aborted_before))

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
        path = f"{_run_path(run_id)}/metamorph"
        params = _query(
            targetActorId=check.actor_id(target_actor_id, "target_actor_id"),
            build=_tag(target_actor_build, "target_actor_build"),
        )
        body, body_type = _encode_input(run_input, content_type, "run_input")
        request = Request("POST", path, params, body, body_type)
        return await self._change(request, run_id, _reconcile.metamorphs, self._policy(retries))

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
        path = f"{_run_path(run_id)}/resurrect"
        params = _start_params(
            build=build,
            timeout_secs=timeout_secs,
            memory_mbytes=memory_mbytes,
            max_items=max_items,
            max_total_charge_usd=max_total_charge_usd,
            restart_on_error=restart_on_error,
        )
        request = Request("POST", path, params)
        return await self._change(request, run_id, _reconcile.resurrections, self._policy(retries))

    async def reboot(self, run_id: str, *, retries: Retries | None = None) -> Run:
        """Restart the running run's container.

        Never done twice by retrying: `stats.reboot_count` is read before the first try and
        after a try in doubt (which costs one GET)."""
        request = Request("POST", f"{_run_path(run_id)}/reboot")
        return await self._change(request, run_id, _reconcile.reboots, self._policy(retries))

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
        body: dict[str, str | bool] = {}
        if status_message is not None:
            body["statusMessage"] = check.text(status_message, "status_message")
        if is_status_message_terminal is not None:
            body["isStatusMessageTerminal"] = check.flag(
                is_status_message_terminal, "is_status_message_terminal"
            )
        if general_access is not None:
            body["generalAccess"] = check.general_access(general_access)
        if not body:
            raise ValueError(
                "update() needs status_message, is_status_message_terminal or general_access"
            )
        request = Request("PUT", _run_path(run_id), None, msgspec.json.encode(body), _JSON)
        return await self._fetch(request, _responses.run, self._policy(retries))

    async def delete(self, run_id: str, *, retries: Retries | None = None) -> None:
        """Delete the finished run and its storages.

        If a try in doubt did delete it, the 404 of a retry counts as done."""
        request = Request("DELETE", _run_path(run_id))

        async def deleted_before(error: ApifyError) -> None:
            if not (isinstance(error, NotFoundError) and error.error_type == "record-not-found"):
                raise error

        attempt = functools.partial(self._send, request, _responses.no_content)
        operation = _reconcile.repeatable(attempt, self._policy(retries), deleted_before)
        await self._bounded(request, operation)

    async def get_record(
        self, run_id: str, key: str = "OUTPUT", *, retries: Retries | None = None
    ) -> Record | None:
        """A record of the run's default key-value store (`OUTPUT` by default), or None."""
        path = f"{_run_path(run_id)}/key-value-store/records/{check.record_key(key)}"
        request = Request("GET", path, record_read=True)

        def record(request: Request, response: Response) -> Record | None:
            return _responses.record_or_none(request, response, key)

        return await self._fetch(request, record, self._policy(retries))

    async def wait_for_finish(
        self, run_id: str, *, wait_secs: float | None = None, retries: Retries | None = None
    ) -> Run | None:
        """Wait until the run is terminal, or `wait_secs` has passed (None: no limit).

        Returns the last run seen (terminal unless the time ran out), or None if the run does
        not exist. A 404 right after a start is waited out for a few seconds.
        """
        run_id = check.resource_id(run_id, "run_id")
        _check_wait(wait_secs)
        poll = self._poller(run_id, self._policy(retries))
        return await _following.wait_for_finish(poll, wait_secs)

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
        run_id, known = _split_ref(run_id)
        check.resource_id(run_id, "run_id")
        _check_poll_interval(poll_interval)
        return self._watch(run_id, poll_interval, self._policy(retries), known)

    # --- Following runs to their end -------------------------------------------------------

    async def call(
        self,
        actor_id: str,
        run_input: RunInput = None,
        *,
        wait_secs: float | None = None,
        raise_on_failure: bool = False,
        retries: Retries | None = None,
        **options: Unpack[StartOptions],
    ) -> CallResult:
        """Start a run, wait for its end (up to `wait_secs`), and return it with its OUTPUT.

        A run that ends FAILED, ABORTED or TIMED-OUT is returned, unless `raise_on_failure`:
        then `RunFailedError` carries it. Takes the options of `start`.

        >>> result = await client.call("apify/hello-world", {"message": "hi"})
        >>> result.run.status, result.output.json() if result.output else None
        """
        _check_wait(wait_secs)
        check.flag(raise_on_failure, "raise_on_failure")
        run = await self.start(actor_id, run_input, retries=retries, **options)
        return await self._finish_call(run, wait_secs, raise_on_failure, self._policy(retries))

    async def call_task(
        self,
        task_id: str,
        task_input: JsonInput | None = None,
        *,
        wait_secs: float | None = None,
        raise_on_failure: bool = False,
        retries: Retries | None = None,
        **options: Unpack[TaskStartOptions],
    ) -> CallResult:
        """`call` for a saved task: start it, wait for its end, return it with its OUTPUT."""
        _check_wait(wait_secs)
        check.flag(raise_on_failure, "raise_on_failure")
        run = await self.start_task(task_id, task_input, retries=retries, **options)
        return await self._finish_call(run, wait_secs, raise_on_failure, self._policy(retries))

    def watch_many(
        self,
        runs: Iterable[RunRef] | AsyncIterable[RunRef] = (),
        *,
        poll_interval: float | None = 5.0,
        retries: Retries | None = None,
    ) -> RunStream[RunRef, RunRef, tuple[str, Run]]:
        """Follow many runs at once: `(run_id, run)` at every change of any of them.

        Ends when every run is terminal (and an async iterable of runs is exhausted). Feed more
        runs with an async iterable, or with `add()` while it runs. Each run is followed as by
        `watch(run_id, poll_interval=...)`; give the `Run` that `start` returned rather than its
        id to save a request.

        >>> async with client.watch_many(run_ids) as updates:
        ...     async for run_id, run in updates:
        ...         print(run_id, run.status, run.status_message)
        """
        _check_poll_interval(poll_interval)
        _many(runs, "runs")
        policy = self._policy(retries)

        async def follow(ref: RunRef, emit: Emit[tuple[str, Run]]) -> None:
            run_id, known = _split_ref(ref)
            snapshots = self._watch(run_id, poll_interval, policy, known)
            del ref, known  # the watch holds the first snapshot only until it is yielded
            async for run in snapshots:
                await emit((run_id, run))
                del run  # not held through the next long-poll

        return RunStream(runs, _once_per_run(), follow)

    def as_completed(
        self,
        runs: Iterable[RunRef] | AsyncIterable[RunRef] = (),
        *,
        retries: Retries | None = None,
    ) -> RunStream[RunRef, RunRef, Run]:
        """Yield runs in the order they finish; each costs one long-poll a minute until then.

        Feeds like `watch_many`. A run that does not exist raises `NotFoundError`.

        >>> async with client.as_completed(runs) as finished:
        ...     async for run in finished:
        ...         print(run.id, run.status)
        """
        _many(runs, "runs")
        policy = self._policy(retries)

        async def wait(ref: RunRef, emit: Emit[Run]) -> None:
            run_id, known = _split_ref(ref)
            if known is None or not known.is_terminal:
                known = await _following.wait_for_finish(self._poller(run_id, policy), None)
                if known is None:
                    raise _following.run_not_found(_run_path(run_id))
            await emit(known)

        return RunStream(runs, _once_per_run(), wait)

    def call_many(
        self,
        actor_id: str,
        inputs: Iterable[RunInput] | AsyncIterable[RunInput] = (),
        *,
        concurrency: int,
        wait_secs: float | None = None,
        raise_on_failure: bool = False,
        retries: Retries | None = None,
        **options: Unpack[StartOptions],
    ) -> RunStream[RunInput, tuple[int, RunInput], tuple[int, CallResult]]:
        """`call` the Actor once per input, with at most `concurrency` runs going at once.

        Yields `(index, result)` as runs finish, `index` counting the inputs from 0. Feed more
        inputs with an async iterable, or with `add()` while it runs. A start refused for the
        account's limits waits and tries again (see `limit_cool_down`).

        >>> async with client.call_many("me/crawler", batches, concurrency=10) as results:
        ...     async for index, result in results:
        ...         print(index, result.run.status, result.output)
        """
        actor_id = check.actor_id(actor_id, "actor_id")
        concurrency = check.positive_int(concurrency, "concurrency")
        _many(inputs, "inputs")
        _check_wait(wait_secs)
        check.flag(raise_on_failure, "raise_on_failure")
        _check_start_options(options)
        policy = self._policy(retries)
        numbering = itertools.count()

        def number(run_input: RunInput) -> tuple[int, RunInput]:
            index = next(numbering)
            _check_input(run_input, options.get("content_type"), f"inputs[{index}]")
            return index, run_input

        async def call_one(job: tuple[int, RunInput], emit: Emit[tuple[int, CallResult]]) -> None:
            index, run_input = job
            result = await self.call(
                actor_id,
                run_input,
                wait_secs=wait_secs,
                raise_on_failure=raise_on_failure,
                retries=policy,
                **options,
            )
            await emit((index, result))

        return RunStream(inputs, number, call_one, concurrency=concurrency)

    # --- Plumbing -----------------------------------------------------------------------------

    def _transport_or_raise(self) -> Transport:
        if self._transport is None:
            state = "closed" if self._state is _State.CLOSED else "not open yet"
            raise ClientClosedError(
                f"this ApifyRuns client is {state}: use it inside `async with ApifyRuns(...)`"
            )
        return self._transport

    def _policy(self, retries: Retries | None) -> Retries:
        return self.retries if retries is None else _check_retries(retries, "retries")

    async def _send(self, request: Request, interpret: Callable[[Request, Response], T]) -> T:
        """One try."""
        return interpret(request, await self._transport_or_raise().send(request))

    async def _fetch(
        self, request: Request, interpret: Callable[[Request, Response], T], retries: Retries
    ) -> T:
        """A request that is safe to repeat, with retries, within `Timeouts.total`."""
        attempt = functools.partial(self._send, request, interpret)
        if self.timeouts.total is None:  # the common case, without a layer for the deadline
            return await with_retries(attempt, retries)
        return await self._bounded(request, with_retries(attempt, retries))

    def _deadline(self, request: Request) -> float | None:
        """`Timeouts.total`, stretched by the time the server may hold the request."""
        total = self.timeouts.total
        return None if total is None else total + request.long_poll_secs

    async def _bounded(self, request: Request, operation: Awaitable[T]) -> T:
        """`operation`, within `Timeouts.total` (stretched by a long-poll's hold)."""
        secs = self._deadline(request)
        if secs is None:
            return await operation
        with anyio.move_on_after(secs):
            return await operation
        raise out_of_time(request, secs, maybe_processed=True)

    async def _get_run(self, run_id: str, hold: int, retries: Retries) -> Run | None:
        params = {"waitForFinish": str(hold)} if hold else None
        request = Request("GET", f"/v2/actor-runs/{run_id}", params, long_poll_secs=hold)
        return await self._fetch(request, _responses.run_or_none, retries)

    async def _list_runs(
        self, request: Request, retries: Retries
    ) -> tuple[RunListPage, datetime | None]:
        return await self._fetch(request, _responses.run_list, retries)

    async def _start_once(self, request: Request, retries: Retries) -> Run:
        """Start a run, retrying without ever starting a second one."""
        change = _reconcile.Start(
            request,
            USER_AGENT,
            functools.partial(self._send, interpret=_responses.run),
            functools.partial(self._list_runs, retries=retries),
            functools.partial(self._get_run, retries=retries),
        )
        return await self._once_only(change, retries, self._limit_cool_down)

    async def _change(
        self,
        request: Request,
        run_id: str,
        changes: _reconcile.Changes,
        retries: Retries,
    ) -> Run:
        """Metamorph, reboot or resurrect, retrying without ever doing it twice."""
        change = _reconcile.RunChange(
            request,
            run_id,
            changes,
            functools.partial(self._send, interpret=_responses.run),
            functools.partial(self._get_run, retries=retries),
        )
        return await self._once_only(change, retries)

    async def _once_only(
        self, change: _reconcile.Change, retries: Retries, cool_down: CoolDown | None = None
    ) -> Run:
        deadline = self._deadline(change.request)
        return await _reconcile.once_only(change, retries, deadline, cool_down)

    def _watch(
        self,
        run_id: str,
        poll_interval: float | None,
        retries: Retries,
        known: Run | None = None,
    ) -> AsyncGenerator[Run, None]:
        poll = self._poller(run_id, retries)
        return _following.watch(poll, _run_path(run_id), poll_interval, known)

    async def _finish_call(
        self, run: Run, wait_secs: float | None, raise_on_failure: bool, retries: Retries
    ) -> CallResult:
        finished = await self.wait_for_finish(run.id, wait_secs=wait_secs, retries=retries)
        if finished is None:
            raise _following.run_not_found(_run_path(run.id))
        output = None
        if finished.is_terminal:
            output = await self.get_record(run.id, "OUTPUT", retries=retries)
        if raise_on_failure and finished.is_terminal and finished.status != RunStatus.SUCCEEDED:
            raise RunFailedError(finished, output)
        return CallResult(finished, output)

    def _poller(self, run_id: str, retries: Retries) -> _following.PollRun:
        return functools.partial(self._get_run, run_id, retries=retries)


# --- Building requests: pure helpers ---------------------------------------------------------


def _check_retries(retries: Retries, name: str) -> Retries:
    if not isinstance(retries, Retries):
        raise TypeError(f"{name} must be a Retries, got {type(retries).__name__}")
    return retries


def _instance(value: T | None, cls: type[T], name: str) -> T | None:
    """`value` if it is a `cls` or None; a TypeError naming the argument otherwise."""
    if value is not None and not isinstance(value, cls):
        raise TypeError(f"{name} must be a {cls.__name__} or None, got {type(value).__name__}")
    return value


def _many(values: object, name: str) -> None:
    """A str is an iterable too, but surely not the runs or inputs meant."""
    if isinstance(values, str | bytes):
        raise TypeError(f"{name} must be a list or an iterable of them, not a single str")


def _run_path(run_id: str) -> str:
    return f"/v2/actor-runs/{check.resource_id(run_id, 'run_id')}"


def _check_wait(wait_secs: float | None) -> None:
    if wait_secs is not None:
        check.non_negative(wait_secs, "wait_secs")


def _check_poll_interval(poll_interval: float | None) -> None:
    if poll_interval is not None:
        interval = check.non_negative(poll_interval, "poll_interval")
        if not 1 <= interval <= check.MAX_WAIT_SECS:
            raise ValueError(f"poll_interval must be 1 to 60 seconds, got {poll_interval!r}")


def _check_start_options(options: StartOptions) -> None:
    """Check `start` options up front, so a bad one fails before any run, not in each."""
    _start_params(
        build=options.get("build"),
        timeout_secs=options.get("timeout_secs"),
        memory_mbytes=options.get("memory_mbytes"),
        max_items=options.get("max_items"),
        max_total_charge_usd=options.get("max_total_charge_usd"),
        restart_on_error=options.get("restart_on_error"),
        webhooks=options.get("webhooks"),
    )
    if "force_permission_level" in options:
        check.permission_level(options["force_permission_level"])
    if "content_type" in options:
        check.header_value(options["content_type"], "content_type")


def _split_ref(ref: RunRef) -> tuple[str, Run | None]:
    return (ref.id, ref) if isinstance(ref, Run) else (ref, None)


def _once_per_run() -> Callable[[RunRef], RunRef | None]:
    """A stream's `prepare` step: check each run id, and follow each run only once."""
    seen: set[str] = set()

    def once(ref: RunRef) -> RunRef | None:
        run_id = check.resource_id(ref.id if isinstance(ref, Run) else ref, "run_id")
        if run_id in seen:
            return None
        seen.add(run_id)
        return ref

    return once


def _hold(params: Mapping[str, str]) -> int:
    """How long the server may hold a start: its waitForFinish, in whole seconds."""
    return int(params.get("waitForFinish", 0))


def _whole_seconds(value: float) -> str:
    # The API takes whole seconds; a fraction is rounded up, so the wait is never shorter.
    return str(math.ceil(value))


def _decimal(value: float) -> str:
    # Plain notation: str(1e-07) would be "1e-07", which a query parser may not read.
    return format(Decimal(repr(value)), "f") if isinstance(value, float) else str(value)


def _flag(value: bool | None, name: str) -> str | None:
    return None if value is None else ("true" if check.flag(value, name) else "false")


def _tag(value: str | None, name: str) -> str | None:
    return None if value is None else check.tag(value, name)


def _query(**params: str | None) -> dict[str, str]:
    """Query parameters, leaving out the ones not given."""
    return {name: value for name, value in params.items() if value is not None}


def _start_params(
    *,
    build: str | None,
    timeout_secs: float | None,
    memory_mbytes: int | None,
    max_items: int | None,
    max_total_charge_usd: float | None,
    restart_on_error: bool | None,
    wait_for_finish: float | None = None,
    webhooks: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, str]:
    """The options shared by start, start_task and resurrect, as the API names them."""
    params = _query(
        build=_tag(build, "build"),
        restartOnError=_flag(restart_on_error, "restart_on_error"),
    )
    if timeout_secs is not None:
        params["timeout"] = _whole_seconds(check.non_negative(timeout_secs, "timeout_secs"))
    if memory_mbytes is not None:
        params["memory"] = str(check.memory_mbytes(memory_mbytes))
    if max_items is not None:
        params["maxItems"] = str(check.positive_int(max_items, "max_items"))
    if max_total_charge_usd is not None:
        usd = check.non_negative(max_total_charge_usd, "max_total_charge_usd")
        params["maxTotalChargeUsd"] = _decimal(usd)
    if wait_for_finish is not None:
        params["waitForFinish"] = _whole_seconds(
            check.wait_secs(wait_for_finish, "wait_for_finish")
        )
    if webhooks is not None:
        params["webhooks"] = check.webhooks(webhooks)
    return params


def _check_input(value: object, content_type: str | None, name: str) -> None:
    """Whether `value` can be sent as a run input with `content_type`."""
    if value is None:
        if content_type is not None:
            raise ValueError("content_type is given but there is no input to send")
    elif isinstance(value, bytes | str):
        if content_type is None:
            raise ValueError(f"content_type is required when {name} is bytes or str")
        check.header_value(content_type, "content_type")
    elif not isinstance(value, Mapping | Sequence):
        raise TypeError(
            f"{name} must be a dict or list (sent as JSON), or bytes / str with content_type; "
            f"got {type(value).__name__}"
        )
    elif content_type is not None and not content_type.startswith(_JSON):
        raise ValueError(f"a dict or list {name} is sent as JSON; content_type {content_type!r}")


def _encode_input(
    value: object, content_type: str | None, name: str
) -> tuple[bytes | None, str | None]:
    """The request body and its content type for a run input."""
    _check_input(value, content_type, name)
    if value is None:
        return None, None
    if isinstance(value, bytes | str):
        return (value.encode() if isinstance(value, str) else value), content_type
    try:
        return msgspec.json.encode(value), _JSON
    except (TypeError, msgspec.EncodeError) as exc:
        raise TypeError(f"{name} cannot be encoded as JSON: {exc}") from exc
