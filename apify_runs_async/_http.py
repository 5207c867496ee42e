"""The one place that talks to aiohttp: send a request once, read the whole response.

aiohttp's exceptions are translated here. They are raised afresh, not chained: some of
aiohttp's carry the request headers, and with them the token. Retrying is not done here
(see `_retries.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlencode

import aiohttp
import msgspec
from multidict import CIMultiDict, CIMultiDictProxy, istr

from ._config import Timeouts
from ._errors import (
    ApifyConnectionError,
    ApifyError,
    ApifyTimeoutError,
    ClientClosedError,
    ResponseTooLargeError,
    WrongEventLoopError,
    excerpt,
    shortened,
)
from ._rate_limits import RateLimiter
from ._watchdog import Watchdog

logger = logging.getLogger("apify_runs_async")

_NO_BODY_HEADERS = ("Content-Type",)
_CONTENT_ENCODING = istr("Content-Encoding")  # looked up as it is, not case-folded each time


class Request(msgspec.Struct, frozen=True, gc=False):
    """An API request, built and checked before anything is sent."""

    method: str
    path: str
    # Structs, not NamedTuples: made in C, for two on every request.
    params: Mapping[str, str] | None = None
    body: bytes | None = None
    content_type: str | None = None
    # How long the server may hold the request on purpose, in whole seconds: its answer
    # (waitForFinish), or for a stream, each next chunk (a quiet run's log).
    long_poll_secs: int = 0
    # A record read may be redirected (to a signed URL) and may be large. Nothing else may be
    # redirected: a redirected POST would be re-sent as a GET without its body.
    record_read: bool = False
    # Sent instead of the client's own User-Agent: a start marks each try with a nonce.
    user_agent: str | None = None
    # Any other headers of this request alone, such as a charge's idempotency key.
    headers: Mapping[str, str] | None = None
    # The run a run-level request is about (checked already): an answer about another run
    # (a proxy's or a cache's mix-up) is refused.
    run_id: str | None = None


class Response(msgspec.Struct, frozen=True, gc=False):
    """An API response, read whole."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


def new_session(headers: Mapping[str, str]) -> aiohttp.ClientSession:
    """The session a client creates for itself: `headers` sent with every request."""
    # 0: no limit in the pool: the Transport caps the connections itself, as a wait for a free
    # one in the pool would count against the timeouts. The headers are the session's
    # defaults: cheaper than with every request.
    connector = aiohttp.TCPConnector(limit=0)
    session = aiohttp.ClientSession(connector=connector, headers=headers)
    # aiohttp silently sends a GET, PUT or DELETE again when a kept-alive connection drops.
    # Retrying is this client's job: it must see that a try was in doubt.
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False
    return session


def check_borrowed(session: aiohttp.ClientSession) -> None:
    """A session lent to the client must be open and send no credentials of its own."""
    if session.closed:
        raise ClientClosedError("the aiohttp session given to ApifyRuns is closed")
    if session.auth is not None:
        raise ValueError("session must not have its own auth: ApifyRuns sends the token")


class Transport:
    """Sends `Request`s to one API origin through an aiohttp session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        headers: Mapping[str, str] | None,
        timeouts: Timeouts,
        rate_limiter: RateLimiter | None,
        body_limits: BodyLimits,
        max_connections: int | None = None,
    ) -> None:
        """`headers` go with every request; None if the session sends them itself. At most
        `max_connections` requests are sent at once (None: no cap)."""
        self._session = session
        self._base_url = base_url
        # As a CIMultiDict, aiohttp takes them as they are instead of converting them each time.
        self._headers = None if headers is None else CIMultiDict(headers)
        self._timeouts = timeouts
        self._rate_limiter = rate_limiter
        self._body_limits = body_limits
        self._client_timeouts: dict[int, aiohttp.ClientTimeout] = {}  # by hold: 0..60 s
        # The session's connections belong to the loop the client was opened in: another
        # loop's tasks must not touch them (aiohttp would fail on them, or worse, not fail).
        self._loop = asyncio.get_running_loop()
        # A request waits here for a free connection, before its timeouts start. A borrowed
        # session has its own pool, and a wait in it counts against them.
        self._slots = None if max_connections is None else asyncio.Semaphore(max_connections)
        # Opening a response (connecting, sending, the status line and headers) is bounded as
        # a whole: aiohttp's read timeout restarts at each byte, so a trickle would pass it.
        self._open_secs = timeouts.connect + timeouts.read
        self._watchdog = Watchdog(tick=min(1.0, timeouts.read / 10))

    def _timeout(self, long_poll_secs: int) -> aiohttp.ClientTimeout:
        timeout = self._client_timeouts.get(long_poll_secs)
        if timeout is None:
            # No total timeout: a long-poll is slow on purpose. The read timeout is stretched
            # by the time the server may hold the request. The connect timeout bounds opening
            # a socket, not the wait for a free one in the pool: while many runs long-poll, a
            # request may rightly wait there for a while.
            timeout = self._client_timeouts[long_poll_secs] = aiohttp.ClientTimeout(
                total=None,
                sock_connect=self._timeouts.connect,
                sock_read=self._timeouts.read + long_poll_secs,
            )
        return timeout

    def _open(self, request: Request) -> Any:
        """aiohttp's request context manager for `request`."""
        headers = self._headers
        if request.content_type is not None or request.user_agent is not None or request.headers:
            headers = CIMultiDict() if headers is None else headers.copy()
            if request.content_type is not None:
                headers["Content-Type"] = request.content_type
            if request.user_agent is not None:
                headers["User-Agent"] = request.user_agent
            if request.headers:
                headers.update(request.headers)
        url = self._base_url + request.path
        if request.params:
            url += "?" + urlencode(request.params)  # fewer objects than aiohttp's params=
        hold = request.long_poll_secs
        return self._session.request(
            request.method,
            url,
            data=request.body,
            headers=headers,
            timeout=self._client_timeouts.get(hold) or self._timeout(hold),
            # aiohttp drops the Authorization header on a redirect to another origin.
            allow_redirects=request.record_read,
            # aiohttp would label an empty POST application/octet-stream (never a GET).
            skip_auto_headers=(
                _NO_BODY_HEADERS if request.body is None and request.method != "GET" else None
            ),
            raise_for_status=False,  # a borrowed session may say otherwise
        )

    def check_loop(self) -> None:
        """Raise `WrongEventLoopError` unless called from the loop the client was opened in."""
        if asyncio.get_running_loop() is not self._loop:
            raise _wrong_loop("aclose")

    async def send(self, request: Request) -> Response:
        if asyncio.get_running_loop() is not self._loop:
            raise _wrong_loop(f"{request.method} {request.path}")
        if self._rate_limiter is not None:
            await self._rate_limiter.wait(request.method, request.path)
        # Only a debug log reads the time a request took.
        started = time.perf_counter() if logger.isEnabledFor(logging.DEBUG) else None
        failure: ApifyError
        task = asyncio.current_task()
        assert task is not None
        slots, watchdog = self._slots, self._watchdog
        try:
            if slots is not None:
                await slots.acquire()
            try:
                watchdog.watch(task, self._loop.time() + self._open_secs + request.long_poll_secs)
                opening = True
                try:
                    async with self._open(request) as response:
                        opening = False
                        if watchdog.opened(task):  # just too late: take the cancellation
                            await asyncio.sleep(0)
                        status, response_headers = response.status, response.headers
                        limit = self._body_limits.api
                        if request.record_read:
                            limit = self._body_limits.record
                        length = response.content_length
                        if (
                            response.content.is_eof()  # all here already, as small answers are
                            and length is not None
                            and length <= limit
                            and _CONTENT_ENCODING not in response_headers
                        ):
                            body = await response.read()
                        else:
                            # The read timeout bounds each chunk; this bounds the whole body,
                            # which a hostile server could otherwise trickle for hours.
                            async with asyncio.timeout(self._timeouts.read):
                                body = await _read_body(response, limit)
                finally:
                    if opening:
                        watchdog.opened(task)
            finally:
                if slots is not None:
                    slots.release()
        except asyncio.CancelledError:
            if not watchdog.timed_out(task):
                raise
            secs = self._open_secs + request.long_poll_secs
            failure = self._failure(request, TimeoutError(f"no response within {secs:g} s"))
        except (RuntimeError, TimeoutError, aiohttp.ClientError) as exc:
            failure = self._failure(request, exc)
        except _TooLarge as too_large:
            failure = _too_large(request, status, too_large)
        else:
            if started is not None:
                elapsed_ms = (time.perf_counter() - started) * 1000
                logger.debug(
                    "%s %s -> %d (%.1f ms)", request.method, request.path, status, elapsed_ms
                )
            return Response(status, response_headers, body)
        logger.debug("%s", failure)  # names the method and path
        raise failure  # outside the except block: nothing of aiohttp's is chained to it

    def close(self) -> None:
        """Stop what the transport runs in the background (the watchdog of deadlines)."""
        self._watchdog.stop()

    async def stream(
        self, request: Request, refuse: Callable[[Request, Response], object]
    ) -> AsyncGenerator[bytes, None]:
        """The body of a 2xx answer to `request`, chunk by chunk as it arrives (each within
        the read timeout). Any other answer is read whole and handed to `refuse`, which
        raises the matching error."""
        if asyncio.get_running_loop() is not self._loop:
            raise _wrong_loop(f"{request.method} {request.path}")
        if self._rate_limiter is not None:
            await self._rate_limiter.wait(request.method, request.path)
        failure: ApifyError | None = None
        status = 0
        try:
            async with self._slots or contextlib.nullcontext():
                # As in `send`, but the deadline is left before the first chunk is yielded:
                # it belongs to the task that entered it, and a stream may be read for hours.
                # A stream opens at once: its hold is between chunks (the read timeout's).
                async with asyncio.timeout(self._open_secs):
                    response = await self._open(request)
                try:
                    status = response.status
                    if not 200 <= status < 300:
                        # As in `send`: the whole body within the read timeout, never trickled.
                        async with asyncio.timeout(self._timeouts.read):
                            body = await _read_body(response, self._body_limits.api)
                        refuse(request, Response(status, response.headers, body))
                    async for chunk in response.content.iter_any():
                        yield chunk
                finally:
                    response.release()
        except (RuntimeError, TimeoutError, aiohttp.ClientError) as exc:
            failure = self._failure(request, exc)
        except _TooLarge as too_large:
            failure = _too_large(request, status, too_large)
        if failure is not None:
            logger.debug("%s", failure)
            raise failure  # outside the except block: nothing of aiohttp's is chained to it

    def _failure(self, request: Request, exc: BaseException) -> ApifyError:
        """aiohttp's exception as ours; a RuntimeError only if the session is closed."""
        if isinstance(exc, RuntimeError):
            if not self._session.closed:
                raise exc
            return ClientClosedError("the aiohttp session given to ApifyRuns has been closed")
        # aiohttp's timeouts are TimeoutError subclasses.
        error = ApifyTimeoutError if isinstance(exc, TimeoutError) else ApifyConnectionError
        return error(
            request.method, request.path, _describe(exc), maybe_processed=_may_have_sent(exc)
        )


def _wrong_loop(what: str) -> WrongEventLoopError:
    return WrongEventLoopError(
        f"{what}: this ApifyRuns client was opened in another event loop, and can only be used "
        "(and closed) in that one; open a client in each loop (each thread)"
    )


class BodyLimits(NamedTuple):
    """The largest response bodies the client reads, in bytes, decoded."""

    api: int  # runs, lists, errors: a run is about 3 KB
    record: int  # key-value store records, such as OUTPUT


def _too_large(request: Request, status: int, too_large: _TooLarge) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        request.method,
        request.path,
        status=status,
        reason=f"is over the {too_large.limit:,}-byte limit",
        excerpt=too_large.excerpt,
    )


class _TooLarge(Exception):
    def __init__(self, limit: int, excerpt: str) -> None:
        self.limit = limit
        self.excerpt = excerpt


async def _read_body(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body, or `_TooLarge` once it is over `limit` bytes.

    A plain body's declared length is checked before reading. A compressed one is counted as
    it is decoded, since a small compressed body can unpack to gigabytes; so is a body without
    a length. An error's body is cut at `limit` instead: its start is all its message shows.
    """
    length = response.content_length
    plain = _CONTENT_ENCODING not in response.headers
    if plain and length is not None and length <= limit:
        return await response.read()  # aiohttp reads exactly `length` bytes
    is_error = response.status >= 400
    if plain and length is not None and not is_error:
        raise _TooLarge(limit, "")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            body = b"".join(chunks)
            if is_error:
                return body[:limit]
            raise _TooLarge(limit, excerpt(body))
    return b"".join(chunks)


def _may_have_sent(exc: BaseException) -> bool:
    """False when the connection was never opened, so the server cannot have seen the request."""
    return not isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)


def _describe(exc: BaseException) -> str:
    # Some aiohttp messages are empty (ServerDisconnectedError); the class name always helps.
    # Others quote the URL, whose query string may hold secrets (webhook headers): cut it.
    message = shortened(_QUERY.sub("", str(exc)))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


_QUERY = re.compile(r"\?[^\s'\")>]*")
