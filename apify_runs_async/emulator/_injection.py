"""Fault injection: pick a fault as each request arrives, and act it out.

The middleware, outermost, decides. The faults that stop the request (a status, a reset
before) act there, so the handler never runs. The faults that spoil the answer (a reset
after, a cut-off body, a delay) wait until the handler has done the operation and its answer
is being prepared: `on_response_prepare` acts on plain answers and streams alike. The decision
travels between the two in a context variable, since aiohttp runs each request in a task of
its own.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import socket
import struct
from collections.abc import Callable, Sequence

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from yarl import URL

from ._errors import ApiError, error_response
from ._faults import FaultKind, Faults, InjectedFault

_LOG = logging.getLogger("apify_runs_async.emulator")

WEBHOOK_ENDPOINT = "webhook"
"""What `InjectedFault.endpoint` says of a fault in a webhook dispatch (not a request)."""

_STATUS_ERRORS = {
    FaultKind.STATUS503: ApiError(
        503, "internal-server-error", "The service is temporarily unavailable (injected fault)."
    ),
    FaultKind.STATUS500: ApiError(
        500, "internal-server-error", "The server failed to handle the request (injected fault)."
    ),
    FaultKind.STATUS429: ApiError(
        429, "rate-limit-exceeded", "You have exceeded the rate limit (injected fault)."
    ),
}

# The fault that spoils this request's answer, and the delay it was decided with.
_ANSWER_FAULT: contextvars.ContextVar[tuple[FaultKind, float] | None] = contextvars.ContextVar(
    "apify_emulator_answer_fault", default=None
)

# SO_LINGER on, timeout 0: closing sends a TCP RST, as when a proxy or a server dies.
_LINGER_RESET = struct.pack("ii", 1, 0)


def reset_connection(request: web.Request) -> None:
    """Drop the request's connection at once with a reset; nothing more is sent.

    Whatever aiohttp still writes for the request then fails with ConnectionResetError, which
    it takes as the client having gone away: no traceback, nothing left running.
    """
    transport = request.transport
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    transport.abort()


async def write_stream(request: web.Request, response: web.StreamResponse, data: bytes) -> bool:
    """Write a chunk of a streamed answer; under the `reset_after` fault, half of it and then
    reset the connection, mid-stream (even mid-line): False then, and the stream is over."""
    pending = _ANSWER_FAULT.get()
    if pending is not None and pending[0] is FaultKind.RESET_AFTER:
        _ANSWER_FAULT.set(None)
        await response.write(data[: len(data) // 2])
        await asyncio.sleep(0.01)  # let the half go out before the reset drops it
        reset_connection(request)
        return False
    await response.write(data)
    return True


async def end_stream(request: web.Request, response: web.StreamResponse) -> None:
    """End a streamed answer: with its last chunk, or under the `truncate` fault by closing
    the connection without it, after what was sent so far."""
    pending = _ANSWER_FAULT.get()
    if pending is not None and pending[0] is FaultKind.TRUNCATE:
        _ANSWER_FAULT.set(None)
        transport = request.transport
        if transport is not None:
            transport.close()  # flushes what was written, unlike abort()
        return
    if pending is not None and pending[0] is FaultKind.RESET_AFTER:  # nothing was written
        _ANSWER_FAULT.set(None)
        reset_connection(request)
        return
    await response.write_eof()


class _Draws:
    """A generator of faults, and how many it has given."""

    __slots__ = ("_rng", "count")

    def __init__(self, seed: int | str | None) -> None:
        self._rng = random.Random(seed)
        self.count = 0

    def draw(
        self, choose: Callable[[float], FaultKind | None], max_faults: int | None
    ) -> FaultKind | None:
        """A fault `choose` picks for the next draw, if any, while under `max_faults`."""
        if max_faults is not None and self.count >= max_faults:
            return None
        kind = choose(self._rng.random())
        if kind is not None:
            self.count += 1
        return kind


class FaultInjector:
    """The faults of one emulator: the current `Faults`, its generator, and what was injected.

    `endpoint_of` names a request's endpoint, None for a path that matches none.
    """

    def __init__(
        self, faults: Faults | None, endpoint_of: Callable[[web.Request], str | None]
    ) -> None:
        self._endpoint_of = endpoint_of
        self._injected: list[InjectedFault] = []
        self._faults: Faults | None = None
        self._requests = self._webhooks = _Draws(None)
        self.faults = faults

    @property
    def faults(self) -> Faults | None:
        return self._faults

    @faults.setter
    def faults(self, faults: Faults | None) -> None:
        """Replace the faults: the generator is seeded again and `max_faults` counts anew."""
        if faults is not None and not isinstance(faults, Faults):
            raise TypeError(f"faults must be a Faults or None, got {type(faults).__name__}")
        self._faults = faults
        seed = None if faults is None else faults.seed
        self._requests = _Draws(seed)
        # Its own generator: deliveries and requests interleave differently on each run.
        self._webhooks = _Draws(None if seed is None else f"webhooks-{seed}")

    @property
    def injected(self) -> Sequence[InjectedFault]:
        """Every fault injected so far, oldest first."""
        return tuple(self._injected)

    def _decide(self, request: web.Request) -> tuple[FaultKind, Faults] | None:
        """The fault this request gets, if any, with the faults it was drawn from."""
        faults = self._faults
        if faults is None:
            return None
        endpoint = self._endpoint_of(request)
        if endpoint is None or not faults.applies_to(endpoint):
            return None
        kind = self._requests.draw(faults.choose, faults.max_faults)
        if kind is None:
            return None
        # The path only, never the query string: it may carry the token.
        self._record(kind, endpoint, request.method, request.rel_url.raw_path)
        return kind, faults

    def decide_webhook(self, url: str) -> tuple[FaultKind, Faults] | None:
        """The fault a webhook dispatch to `url` gets, if any, with the faults it was drawn
        from. Recorded with the endpoint `webhook`, the method POST and the URL's path."""
        faults = self._faults
        if faults is None or not any(rate for _, rate in faults.webhook_rates):
            return None
        kind = self._webhooks.draw(faults.choose_webhook, faults.max_faults)
        if kind is None:
            return None
        # The path only: a receiver's query string may carry a secret of its own.
        self._record(kind, WEBHOOK_ENDPOINT, "POST", URL(url).raw_path)
        return kind, faults

    def _record(self, kind: FaultKind, endpoint: str, method: str, path: str) -> None:
        self._injected.append(InjectedFault(kind, endpoint, method, path))
        _LOG.info("fault %s %s %s %s", kind.value, endpoint, method, path)

    def middleware(self) -> Middleware:
        @web.middleware
        async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
            decided = self._decide(request)
            if decided is None:
                return await handler(request)
            kind, faults = decided
            error = _STATUS_ERRORS.get(kind)
            if error is not None:
                headers = None
                if kind is FaultKind.STATUS429:
                    headers = {"Retry-After": str(faults.retry_after_secs)}
                return error_response(error, headers=headers)
            if kind is FaultKind.RESET_BEFORE:
                reset_connection(request)
                # Never sent: writing it fails quietly on the closed connection.
                return web.Response(status=204)
            _ANSWER_FAULT.set((kind, faults.delay_secs))
            return await handler(request)

        return inject_faults

    async def on_response_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """Spoil the answer the handler made, as the middleware decided."""
        pending = _ANSWER_FAULT.get()
        if pending is None:
            return
        kind, delay_secs = pending
        if kind is FaultKind.DELAY:
            _ANSWER_FAULT.set(None)
            await asyncio.sleep(delay_secs)
        elif kind is FaultKind.RESET_AFTER and isinstance(response, web.Response):
            # (A stream is reset in the middle of its first chunk, by `write_stream`.)
            _ANSWER_FAULT.set(None)
            reset_connection(request)
        elif kind is FaultKind.TRUNCATE and isinstance(response, web.Response):
            # (A stream is cut at its end, by `end_stream`.)
            _ANSWER_FAULT.set(None)
            if not _cut_body(request, response):
                reset_connection(request)  # no body to cut: drop the whole answer


def _cut_body(request: web.Request, response: web.Response) -> bool:
    """Keep the full Content-Length but only half the body, then close; False if no body."""
    body = response.body
    if (
        request.method == hdrs.METH_HEAD
        or response.status in (204, 304)
        or response.chunked
        or not isinstance(body, bytes | bytearray)
        or not body
    ):
        return False
    response.headers[hdrs.CONTENT_LENGTH] = str(len(body))
    response.body = body[: len(body) // 2]
    response.force_close()
    return True
