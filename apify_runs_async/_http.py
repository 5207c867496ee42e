"""The one place that talks to aiohttp: send a request, read the whole response.

aiohttp's exceptions are translated here. They are raised afresh, not chained: some of
aiohttp's carry the request headers, and with them the token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlencode

import aiohttp
from multidict import CIMultiDictProxy

from ._config import Timeouts
from ._errors import ApifyConnectionError, ApifyTimeoutError, ClientClosedError, TransportError
from ._rate_limits import RateLimiter

logger = logging.getLogger("apify_runs_async")

_NO_BODY_HEADERS = ("Content-Type",)


class Request(NamedTuple):
    """An API request, built and checked before anything is sent."""

    method: str
    path: str
    params: Mapping[str, str] | None = None
    body: bytes | None = None
    content_type: str | None = None
    # How long the server may hold the request on purpose (waitForFinish), in whole seconds.
    long_poll_secs: int = 0
    # Only record reads may be redirected (to a signed URL); a redirected POST would be
    # re-sent as a GET without its body, so everything else treats a 3xx as an error.
    follow_redirects: bool = False


class Response(NamedTuple):
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


class Transport:
    """Sends `Request`s to one API origin through an aiohttp session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        headers: Mapping[str, str],
        timeouts: Timeouts,
        rate_limiter: RateLimiter | None,
    ) -> None:
        self._session = session
        self._base_url = base_url
        self._headers = dict(headers)
        self._timeouts = timeouts
        self._rate_limiter = rate_limiter
        self._client_timeouts: dict[int, aiohttp.ClientTimeout] = {}  # by hold: 0..60 s

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

    async def send(self, request: Request) -> Response:
        if self._session.closed:
            raise ClientClosedError("the aiohttp session given to ApifyRuns has been closed")
        if self._rate_limiter is not None:
            await self._rate_limiter.wait(request.method, request.path)
        headers = self._headers
        if request.content_type is not None:
            headers = {**headers, "Content-Type": request.content_type}
        url = self._base_url + request.path
        if request.params:
            url += "?" + urlencode(request.params)  # fewer objects than aiohttp's params=
        started = time.perf_counter()
        failure: TransportError
        try:
            async with self._session.request(
                request.method,
                url,
                data=request.body,
                headers=headers,
                timeout=self._timeout(request.long_poll_secs),
                allow_redirects=request.follow_redirects,
                # aiohttp would label an empty POST application/octet-stream.
                skip_auto_headers=_NO_BODY_HEADERS if request.body is None else None,
                raise_for_status=False,  # a borrowed session may say otherwise
            ) as response:
                body = await response.read()
                status, response_headers = response.status, response.headers
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutError subclasses
            failure = ApifyTimeoutError(request.method, request.path, _describe(exc))
        except aiohttp.ClientError as exc:
            failure = ApifyConnectionError(request.method, request.path, _describe(exc))
        else:
            if logger.isEnabledFor(logging.DEBUG):
                elapsed_ms = (time.perf_counter() - started) * 1000
                logger.debug(
                    "%s %s -> %d (%.1f ms)", request.method, request.path, status, elapsed_ms
                )
            return Response(status, response_headers, body)
        raise failure  # outside the except block: nothing of aiohttp's is chained to it


def _describe(exc: BaseException) -> str:
    # Some aiohttp messages are empty (ServerDisconnectedError); the class name always helps.
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
