"""`WebhookReceiver`: an aiohttp.web handler that takes Apify's run webhooks in.

Apify does not sign webhooks, so the receiver checks a shared secret that the ad-hoc webhook
sends in a header (its `headersTemplate`), or that the URL carries as `?secret=`. It answers
2xx only once an event is handed over (queued, or taken by `on_event`), so that the platform
retries what was not: 503 when the queue is full or closed, 400 for a malformed payload,
413 for a body over the cap, 401 for a wrong secret. A dispatch already handed over (the same
`X-Apify-Webhook-Dispatch-Id`, retried because our answer was lost) is answered 200 again and
not handed over twice.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import inspect
import json
import logging
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Final
from urllib.parse import urlsplit

from aiohttp import web

from . import _validation as check
from ._errors import InvalidWebhookError, register_secret, shortened
from ._models import Run
from ._webhook_models import TERMINAL_EVENT_TYPES, WebhookEvent, parse_webhook

__all__ = ["WebhookReceiver"]

log = logging.getLogger("apify_runs_async.webhooks")

DISPATCH_ID_HEADER: Final = "X-Apify-Webhook-Dispatch-Id"
SECRET_QUERY: Final = "secret"
_MIN_SECRET_CHARS = 16
_SECRET_PATTERN = re.compile(r"[A-Za-z0-9._~-]+")  # safe in a URL, a header and a JSON template
_HEADER_NAME_PATTERN = re.compile(r"[A-Za-z0-9-]+")
# Headers the platform sets itself, overriding a `headersTemplate`: a secret there is lost.
_PLATFORM_HEADERS = frozenset(
    {"host", "content-type", "x-apify-webhook", "x-apify-webhook-dispatch-id",
     "x-apify-request-origin"}
)  # fmt: skip
_READ_CHUNK = 64 * 1024
_MAX_PORT = 65535

OnEvent = Callable[[WebhookEvent], Awaitable[None]]


class WebhookReceiver:
    """Receives Apify's run webhooks: mount it in an aiohttp app, or `serve()` it alone.

    >>> receiver = WebhookReceiver(secret=secrets.token_urlsafe(), public_url=url)
    >>> app.router.add_post("/apify-webhook", receiver)
    >>> run = await client.start("me/crawler", webhooks=receiver)
    >>> async for event in receiver:
    ...     print(event.event_type, event.resource.status)

    `secret` (at least 16 of a-z A-Z 0-9 . _ ~ -, e.g. `secrets.token_urlsafe()`) must come in
    the `secret_header` header or the `secret` query parameter. `public_url` is where Apify
    reaches the receiver (behind a proxy or tunnel it differs from where it listens; None:
    the URL `serve()` listens on). Events wait in a queue of `max_queued` for `async for`
    or `next_event()`; give `on_event` instead to take each one before it is acknowledged.
    """

    def __init__(
        self,
        *,
        secret: str,
        public_url: str | None = None,
        secret_header: str = "X-Apify-Webhook-Secret",
        max_body_bytes: int = 2**20,
        max_queued: int = 1000,
        remember_dispatches: int = 10_000,
        on_event: OnEvent | None = None,
    ) -> None:
        self._secret = _secret(secret).encode()
        register_secret(secret)  # never in a message or a log line
        self._public_url = None if public_url is None else _url(public_url, "public_url")
        self.secret_header = _header_name(secret_header, "secret_header")
        self.max_body_bytes = check.positive_int(max_body_bytes, "max_body_bytes")
        self.max_queued = check.positive_int(max_queued, "max_queued")
        self._remember = check.positive_int(remember_dispatches, "remember_dispatches")
        if on_event is not None and not callable(on_event):
            raise TypeError(f"on_event must be an async function, not {type(on_event).__name__}")
        self._on_event = on_event
        self._events: collections.deque[WebhookEvent] = collections.deque()
        self._arrived = asyncio.Event()
        self._closed = False
        # Dispatch ids handed over (the last `remember_dispatches`), and those being handed over.
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._pending: set[str] = set()
        # Calls that follow runs (`as_completed(webhooks=receiver)`...): each says whether a
        # run's end is one it follows, and takes it if so; those ends skip the queue.
        self._listeners: list[Callable[[Run], bool]] = []
        # The queued ends of runs, by run id: a call may start following a run after its end
        # (several: a resurrected run's, or one sent under two dispatch ids).
        self._queued_ends: dict[str, list[WebhookEvent]] = {}
        # aiohttp warns of a handler it does not see as a coroutine function, and it sees an
        # object with an async `__call__` as one only when marked so.
        if sys.version_info >= (3, 12):
            inspect.markcoroutinefunction(self)
        else:  # the mark `asyncio.iscoroutinefunction` looks for
            self._is_coroutine = getattr(asyncio.coroutines, "_is_coroutine", None)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._events)} queued"
        return f"<WebhookReceiver {self._public_url or '(no public URL yet)'} {state}>"

    @property
    def public_url(self) -> str:
        """Where Apify sends the webhooks (a ValueError until known)."""
        if self._public_url is None:
            raise ValueError("public_url is not known: give it, or serve() the receiver first")
        return self._public_url

    def ad_hoc_webhook(self, event_types: Iterable[str] = TERMINAL_EVENT_TYPES) -> dict[str, Any]:
        """The ad-hoc webhook that calls this receiver, for `start(webhooks=[...])` or an
        Actor's settings: by default on the four terminal events, with the secret header.

        `start(..., webhooks=receiver)` adds it for you."""
        if isinstance(event_types, str) or not isinstance(event_types, Iterable):
            raise TypeError("event_types must be a list of event type names, not a single str")
        types = [str(check.tag(event, "event_types")) for event in event_types]
        if not types:
            raise ValueError("event_types must name at least one event type")
        return {
            "eventTypes": types,
            "requestUrl": self.public_url,
            "headersTemplate": json.dumps({self.secret_header: self._secret.decode()}),
        }

    # --- Serving ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Listen on `host`:`port` (0: any free port), taking POSTs on every path; yields the
        URL it listens on, which becomes `public_url` if none was given.

        >>> async with receiver.serve(port=8080) as url:
        ...     ...
        """
        check.tag(host, "host")
        if check.non_negative_int(port, "port") > _MAX_PORT:
            raise ValueError(f"port must be at most {_MAX_PORT}, got {port!r}")
        app = web.Application()
        app.router.add_post("/{path:.*}", self)
        # No access log: a `?secret=` would be written in it.
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            bound_port = runner.addresses[0][1]
            url = f"http://{f'[{host}]' if ':' in host else host}:{bound_port}/"
            if self._public_url is None:
                self._public_url = url
            yield url
        finally:
            await runner.cleanup()

    # --- Handing events over ------------------------------------------------------------------

    def __aiter__(self) -> WebhookReceiver:
        return self

    async def __anext__(self) -> WebhookEvent:
        while not self._events:
            if self._closed:
                raise StopAsyncIteration
            self._arrived.clear()
            await self._arrived.wait()
        event = self._events.popleft()
        if event.resource is not None and event.resource.id in self._queued_ends:
            ends = self._queued_ends[event.resource.id]
            if event in ends:
                ends.remove(event)
            if not ends:
                del self._queued_ends[event.resource.id]
        return event

    async def next_event(self) -> WebhookEvent:
        """The next event received; `StopAsyncIteration` once closed and drained."""
        return await self.__anext__()

    def close(self) -> None:
        """Take no more events (deliveries are answered 503, so Apify retries them); those
        queued can still be read."""
        self._closed = True
        self._arrived.set()

    # --- The handler --------------------------------------------------------------------------

    async def __call__(self, request: web.Request) -> web.Response:
        """Answer one webhook request (the aiohttp.web handler)."""
        if not self._authorized(request):
            return _answer(request, 401, "the webhook secret is missing or wrong")
        body = await _read_capped(request, self.max_body_bytes)
        if body is None:
            return _answer(request, 413, f"the body is over {self.max_body_bytes} bytes")
        try:
            event = parse_webhook(body)
        except InvalidWebhookError as error:
            return _answer(request, 400, str(error))
        dispatch_id = request.headers.get(DISPATCH_ID_HEADER)
        if dispatch_id is not None and dispatch_id in self._seen:
            return web.Response(status=200, text="already received")
        if dispatch_id is not None and dispatch_id in self._pending:
            return _answer(request, 503, "this dispatch is being handed over already")
        refused = await self._hand_over(event, dispatch_id)
        if refused is not None:
            return _answer(request, 503, refused)
        if dispatch_id is not None:
            self._seen[dispatch_id] = None
            if len(self._seen) > self._remember:
                self._seen.popitem(last=False)
        return web.Response(status=200, text="received")

    async def _hand_over(self, event: WebhookEvent, dispatch_id: str | None) -> str | None:
        """Hand the event to the consumer; why it could not, if it could not."""
        if self._closed:
            return "the receiver is closed"
        resource = event.resource
        ended = resource if resource is not None and resource.is_terminal else None
        if ended is not None:
            taken = [take(ended) for take in self._listeners]  # each call: two may follow it
            if any(taken):
                return None
        if self._on_event is None:
            if len(self._events) >= self.max_queued:
                return "the queue of events is full"
            self._events.append(event)
            if ended is not None:
                self._queued_ends.setdefault(ended.id, []).append(event)
            self._arrived.set()
            return None
        if dispatch_id is not None:
            self._pending.add(dispatch_id)
        try:
            await self._on_event(event)
        except Exception:
            log.exception(
                "on_event failed on a %s event; answered 503", shortened(event.event_type)
            )
            return "the event could not be handed over"
        finally:
            if dispatch_id is not None:
                self._pending.discard(dispatch_id)
        return None

    def _take_end(self, run_id: str) -> Run | None:
        """Take a run's ends out of the queue, for a call that has just started following it:
        the latest of them (by resurrections, then time), or None."""
        ends = self._queued_ends.pop(run_id, [])
        for event in ends:
            self._events.remove(event)  # rare, and the queue is short: a scan will do
        runs = [event.resource for event in ends if event.resource is not None]
        return max(runs, key=_life, default=None)

    def _authorized(self, request: web.Request) -> bool:
        given = [request.headers.get(self.secret_header), request.query.get(SECRET_QUERY)]
        # Constant time: how long a refusal takes must not tell how much of a guess was right.
        return any(
            hmac.compare_digest(value.encode(errors="replace"), self._secret)
            for value in given
            if value is not None
        )


def _life(run: Run) -> tuple[int, float]:
    finished = run.finished_at.timestamp() if run.finished_at is not None else 0.0
    return run.stats.resurrect_count or 0, finished


async def _read_capped(request: web.Request, limit: int) -> bytes | None:
    """The body, or None if it is over `limit` bytes (read no further than that)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    async for chunk in request.content.iter_chunked(_READ_CHUNK):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _answer(request: web.Request, status: int, reason: str) -> web.Response:
    # Names no header or query value: the secret may be in either.
    level = logging.INFO if status == 503 else logging.WARNING
    log.log(level, "webhook from %s refused %d: %s", request.remote, status, shortened(reason))
    return web.Response(status=status, text=reason)


def _secret(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"secret must be a str, not {type(value).__name__}")
    if len(value) < _MIN_SECRET_CHARS or not _SECRET_PATTERN.fullmatch(value):
        raise ValueError(
            f"secret must be at least {_MIN_SECRET_CHARS} of a-z A-Z 0-9 . _ ~ - "
            "(secrets.token_urlsafe() makes one)"
        )
    return value


def _header_name(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not _HEADER_NAME_PATTERN.fullmatch(value) or value.lower() in _PLATFORM_HEADERS:
        raise ValueError(
            f"{name} {value!r} must be a header name (letters, digits, -) the platform does "
            f"not set itself"
        )
    return value


def _url(value: object, name: str) -> str:
    url = check.tag(value, name)  # one word: no whitespace or control characters
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name} must be an http(s) URL, got {shortened(url)!r}")
    return url
