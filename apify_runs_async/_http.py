"""The one place that talks to aiohttp: send a request, read the whole response.

aiohttp's exceptions are translated here and nowhere else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import NamedTuple

import aiohttp
from multidict import CIMultiDictProxy

from ._config import Timeouts
from ._errors import ApifyConnectionError, ApifyTimeoutError

logger = logging.getLogger("apify_runs_async")


class Request(NamedTuple):
    """An API request, built and checked before anything is sent."""

    method: str
    path: str
    params: Mapping[str, str] | None = None
    body: bytes | None = None
    content_type: str | None = None
    # How long the server may hold the request on purpose (waitForFinish).
    long_poll_secs: float = 0.0


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
    ) -> None:
        self._session = session
        self._base_url = base_url
        self._headers = dict(headers)
        self._timeouts = timeouts
        self._client_timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def _timeout_for(self, long_poll_secs: float) -> aiohttp.ClientTimeout:
        timeout = self._client_timeouts.get(long_poll_secs)
        if timeout is None:
            # No total timeout: a long-poll is slow on purpose. The read timeout is stretched
            # by the time the server may hold the request, the connect timeout never is.
            timeout = aiohttp.ClientTimeout(
                total=None,
                sock_connect=self._timeouts.connect,
                sock_read=self._timeouts.read + long_poll_secs,
            )
            self._client_timeouts[long_poll_secs] = timeout
        return timeout

    async def send(self, request: Request) -> Response:
        headers = self._headers
        if request.content_type is not None:
            headers = {**headers, "Content-Type": request.content_type}
        started = time.perf_counter()
        try:
            async with self._session.request(
                request.method,
                self._base_url + request.path,
                params=request.params,
                data=request.body,
                headers=headers,
                timeout=self._timeout_for(request.long_poll_secs),
            ) as response:
                body = await response.read()
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutError subclasses
            raise ApifyTimeoutError(
                request.method, request.path, f"timed out ({type(exc).__name__})"
            ) from exc
        except aiohttp.ClientError as exc:
            raise ApifyConnectionError(request.method, request.path, _describe(exc)) from exc
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %d (%.1f ms)",
                request.method,
                request.path,
                response.status,
                (time.perf_counter() - started) * 1000,
            )
        return Response(response.status, response.headers, body)


def _describe(exc: aiohttp.ClientError) -> str:
    # Some aiohttp messages are empty (ServerDisconnectedError); the class name always helps.
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
