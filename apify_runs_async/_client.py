"""`ApifyRuns`, the client: one aiohttp session, every run operation as a coroutine."""

from __future__ import annotations

import enum
import math
from collections.abc import AsyncGenerator, Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

import aiohttp
import msgspec

from . import _following, _responses
from . import _validation as check
from ._config import USER_AGENT, Timeouts, resolve_base_url, resolve_token
from ._errors import ClientClosedError
from ._http import Request, Transport
from ._models import Record, Run
from ._run_handle import RunHandle

JsonInput = Mapping[str, Any] | Sequence[Any]
"""A run input sent as JSON: a dict, or a list."""

RunInput = JsonInput | bytes | str | None
"""A run input: JSON (a dict or list), or bytes / str sent as they are with `content_type`."""

_JSON = "application/json"


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
    never closes it. `max_connections` caps the connections of a session the client creates.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeouts: Timeouts | None = None,
        max_connections: int = 100,
    ) -> None:
        token = resolve_token(token)
        self.base_url = resolve_base_url(base_url)
        self.timeouts = timeouts if timeouts is not None else Timeouts()
        self._max_connections = check.positive_int(max_connections, "max_connections")
        self._has_token = token is not None
        self._headers = {"User-Agent": USER_AGENT, "Accept": _JSON}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        self._session = session
        self._owns_session = session is None
        self._state = _State.UNOPENED
        self._transport: Transport | None = None

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
            connector = aiohttp.TCPConnector(limit=self._max_connections)
            self._session = aiohttp.ClientSession(connector=connector)
        self._transport = Transport(self._session, self.base_url, self._headers, self.timeouts)
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
    ) -> Run:
        """Start a run of an Actor (`owner~name`, `owner/name` or its id).

        A dict or list input is sent as JSON; bytes or str are sent as they are, with
        `content_type`. `wait_for_finish` (0..60 s) holds the answer until the run ends.
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
        return await self._run(Request("POST", path, params, body, body_type, _hold(params)))

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
    ) -> Run:
        """Start a run of a saved task; `task_input` is merged over the task's own input."""
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
        return await self._run(Request("POST", path, params, body, body_type, _hold(params)))

    # --- One run ------------------------------------------------------------------------------

    async def get(self, run_id: str, *, wait_for_finish: float | None = None) -> Run | None:
        """The run, or None if it does not exist.

        `wait_for_finish` (0..60 s, rounded up to whole seconds) lets the API hold the answer
        until the run has finished.
        """
        run_id = check.resource_id(run_id, "run_id")
        hold = 0
        if wait_for_finish is not None:
            hold = math.ceil(check.wait_secs(wait_for_finish, "wait_for_finish"))
        return await self._poll(run_id, hold)

    async def abort(self, run_id: str, *, gracefully: bool | None = None) -> Run:
        """Abort the run; `gracefully` lets it persist its state first (status ABORTING)."""
        path = f"{_run_path(run_id)}/abort"
        params = _query(gracefully=_flag(gracefully, "gracefully"))
        return await self._run(Request("POST", path, params))

    async def metamorph(
        self,
        run_id: str,
        *,
        target_actor_id: str,
        target_actor_build: str | None = None,
        run_input: RunInput = None,
        content_type: str | None = None,
    ) -> Run:
        """Turn the running run into a run of another Actor, with a new input."""
        path = f"{_run_path(run_id)}/metamorph"
        params = _query(
            targetActorId=check.actor_id(target_actor_id, "target_actor_id"),
            build=_tag(target_actor_build, "target_actor_build"),
        )
        body, body_type = _encode_input(run_input, content_type, "run_input")
        return await self._run(Request("POST", path, params, body, body_type))

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
    ) -> Run:
        """Run a finished run again, with its storages; options default to the original's."""
        path = f"{_run_path(run_id)}/resurrect"
        params = _start_params(
            build=build,
            timeout_secs=timeout_secs,
            memory_mbytes=memory_mbytes,
            max_items=max_items,
            max_total_charge_usd=max_total_charge_usd,
            restart_on_error=restart_on_error,
        )
        return await self._run(Request("POST", path, params))

    async def reboot(self, run_id: str) -> Run:
        """Restart the running run's container."""
        return await self._run(Request("POST", f"{_run_path(run_id)}/reboot"))

    async def update(
        self,
        run_id: str,
        *,
        status_message: str | None = None,
        is_status_message_terminal: bool | None = None,
        general_access: str | None = None,
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
        return await self._run(request)

    async def delete(self, run_id: str) -> None:
        """Delete the finished run and its storages."""
        request = Request("DELETE", _run_path(run_id))
        _responses.no_content(request, await self._transport_or_raise().send(request))

    async def get_record(self, run_id: str, key: str = "OUTPUT") -> Record | None:
        """A record of the run's default key-value store (`OUTPUT` by default), or None."""
        path = f"{_run_path(run_id)}/key-value-store/records/{check.record_key(key)}"
        request = Request("GET", path, follow_redirects=True)
        response = await self._transport_or_raise().send(request)
        return _responses.record_or_none(request, response, key)

    async def wait_for_finish(self, run_id: str, *, wait_secs: float | None = None) -> Run | None:
        """Wait until the run is terminal, or `wait_secs` has passed (None: no limit).

        Returns the last run seen (terminal unless the time ran out), or None if the run does
        not exist. A 404 right after a start is waited out for a few seconds.
        """
        run_id = check.resource_id(run_id, "run_id")
        if wait_secs is not None:
            check.non_negative(wait_secs, "wait_secs")
        return await _following.wait_for_finish(self._poller(run_id), wait_secs)

    def watch(self, run_id: str, *, poll_interval: float | None = 5.0) -> AsyncGenerator[Run, None]:
        """Yield the run at each change of status or status message, until it is terminal.

        The terminal status arrives as soon as the API has it (a long-poll, not a sleep);
        other changes at most `poll_interval` seconds (1..60) late. With `poll_interval=None`
        a run costs one request a minute, and intermediate changes may be seen a minute late.

        >>> async for snapshot in client.watch(run.id):
        ...     print(snapshot.status, snapshot.status_message)
        """
        run_id = check.resource_id(run_id, "run_id")
        if poll_interval is not None:
            interval = check.non_negative(poll_interval, "poll_interval")
            if not 1 <= interval <= check.MAX_WAIT_SECS:
                raise ValueError(f"poll_interval must be 1 to 60 seconds, got {poll_interval!r}")
        return _following.watch(self._poller(run_id), _run_path(run_id), poll_interval)

    # --- Plumbing -----------------------------------------------------------------------------

    def _transport_or_raise(self) -> Transport:
        if self._transport is None:
            state = "closed" if self._state is _State.CLOSED else "not open yet"
            raise ClientClosedError(
                f"this ApifyRuns client is {state}: use it inside `async with ApifyRuns(...)`"
            )
        return self._transport

    async def _run(self, request: Request) -> Run:
        return _responses.run(request, await self._transport_or_raise().send(request))

    async def _poll(self, run_id: str, hold: int) -> Run | None:
        params = {"waitForFinish": str(hold)} if hold else None
        request = Request("GET", f"/v2/actor-runs/{run_id}", params, long_poll_secs=hold)
        return _responses.run_or_none(request, await self._transport_or_raise().send(request))

    def _poller(self, run_id: str) -> _following.PollRun:
        async def poll(hold: int) -> Run | None:
            return await self._poll(run_id, hold)

        return poll


# --- Building requests: pure helpers ---------------------------------------------------------


def _run_path(run_id: str) -> str:
    return f"/v2/actor-runs/{check.resource_id(run_id, 'run_id')}"


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


def _encode_input(
    value: object, content_type: str | None, name: str
) -> tuple[bytes | None, str | None]:
    """The request body and its content type for a run input."""
    if value is None:
        if content_type is not None:
            raise ValueError("content_type is given but there is no input to send")
        return None, None
    if isinstance(value, bytes | str):
        if content_type is None:
            raise ValueError(f"content_type is required when {name} is bytes or str")
        body = value.encode() if isinstance(value, str) else value
        return body, check.header_value(content_type, "content_type")
    if not isinstance(value, Mapping | Sequence):
        raise TypeError(
            f"{name} must be a dict or list (sent as JSON), or bytes / str with content_type; "
            f"got {type(value).__name__}"
        )
    if content_type is not None and not content_type.startswith(_JSON):
        raise ValueError(f"a dict or list {name} is sent as JSON; content_type {content_type!r}")
    try:
        return msgspec.json.encode(value), _JSON
    except (TypeError, msgspec.EncodeError) as exc:
        raise TypeError(f"{name} cannot be encoded as JSON: {exc}") from exc
