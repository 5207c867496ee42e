"""Rate limits: the platform's documented limits, decided before any handler runs.

Every request takes a token from up to two buckets, and is answered 429 `rate-limit-exceeded`
when one is empty:

- the caller's bucket: 250,000 requests a minute for the token, or for the client's IP when
  the request does not carry the valid token (requests that fail authentication count too);
- the endpoint's bucket: 60 requests a second per resource (a run, an Actor, a task, a
  key-value store; the user's run list is the user's), or 400 a second for starting a run of
  an Actor or a task and for metamorphing a run, counted apart from that resource's 60.

A run is the resource of every path naming its id, under `/v2/actor-runs/` as well as under an
Actor's `runs/`; `runs/last` paths belong to their Actor or task. Responses of limited
endpoints carry `X-RateLimit-Limit`, like the platform's.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from .._rate_limits import RateLimits
from ._actors import Catalog
from ._auth import request_token, token_matches
from ._errors import ApiError

RATE_LIMIT_HEADER = "X-RateLimit-Limit"


class TokenBuckets:
    """One token bucket per key, all of one capacity and refill rate.

    `take` is O(1). A bucket left alone for `capacity / per_sec` seconds is full again, which
    is the same as having no bucket, so such buckets are dropped: the buckets are kept least
    recently used first, and each `take` drops the idle ones from the front.
    """

    __slots__ = ("_buckets", "_capacity", "_clock", "_idle_secs", "_per_sec")

    def __init__(
        self, capacity: float, per_sec: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._capacity = float(capacity)
        self._per_sec = per_sec
        self._idle_secs = capacity / per_sec
        self._clock = clock
        # key -> (tokens left, when they were counted)
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()

    def take(self, key: Hashable) -> bool:
        """Take a token from the key's bucket; False (and nothing taken) if it is empty."""
        now = self._clock()
        buckets = self._buckets
        while buckets:
            oldest, (_, counted_at) = next(iter(buckets.items()))
            if now - counted_at < self._idle_secs:
                break
            del buckets[oldest]
        found = buckets.get(key)
        if found is None:
            tokens = self._capacity
        else:
            tokens = min(self._capacity, found[0] + (now - found[1]) * self._per_sec)
            buckets.move_to_end(key)
        allowed = tokens >= 1.0
        buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        return allowed

    def __len__(self) -> int:
        return len(self._buckets)


# What a request is counted against: the bucket kind and the resource.
_Resource = tuple[str, str]


def _resource(request: web.Request, catalog: Catalog) -> _Resource | None:
    """The run, Actor, task or store the path names (Actors and tasks by id, not by name)."""
    match = request.match_info
    run_id = match.get("runId")
    if run_id is not None and run_id != "last":
        return ("run", run_id)
    ref = match.get("taskId")
    if ref is not None:
        task = catalog.task(ref)
        return ("task", ref if task is None else task.id)
    ref = match.get("actorId")
    if ref is not None:
        actor = catalog.actor(ref)
        return ("actor", ref if actor is None else actor.id)
    ref = match.get("storeId")
    if ref is not None:
        return ("store", ref)
    return None


def _is_run_start(request: web.Request) -> bool:
    """Run Actor, run task and metamorph: the endpoints with the higher limit."""
    if request.method != hdrs.METH_POST:
        return False
    resource = request.match_info.route.resource
    return resource is not None and resource.canonical.endswith(("/runs", "/metamorph"))


def _is_limited(request: web.Request) -> bool:
    """Every endpoint is; unknown paths and methods only count against the caller."""
    return request.match_info.http_exception is None


def _exceeded(limit: float, unit: str) -> ApiError:
    return ApiError(
        429,
        "rate-limit-exceeded",
        f"You have exceeded the rate limit of {limit:g} requests per {unit}",
    )


class RateLimiter:
    """The buckets of one emulator and the decision for each request."""

    def __init__(self, limits: RateLimits, catalog: Catalog, token: str) -> None:
        self.limits = limits
        self._catalog = catalog
        self._token = token.encode()
        self._callers = TokenBuckets(limits.per_token_per_minute, limits.per_token_per_minute / 60)
        self._resources = TokenBuckets(limits.per_resource_per_sec, limits.per_resource_per_sec)
        self._starts = TokenBuckets(limits.run_start_per_sec, limits.run_start_per_sec)

    def _caller(self, request: web.Request) -> Hashable:
        given = request_token(request)
        if given is not None and token_matches(given, self._token):
            return "token"
        return ("ip", request.remote)

    def endpoint_limit(self, request: web.Request) -> float | None:
        """What `X-RateLimit-Limit` says for this request's endpoint."""
        if not _is_limited(request):
            return None
        if _is_run_start(request):
            return self.limits.run_start_per_sec
        return self.limits.per_resource_per_sec

    def check(self, request: web.Request) -> None:
        """Count the request; raise the 429 ApiError when a bucket is empty."""
        caller = self._caller(request)
        if not self._callers.take(caller):
            raise _exceeded(self.limits.per_token_per_minute, "minute")
        if not _is_limited(request):
            return
        resource: Hashable = _resource(request, self._catalog) or ("runs-of", caller)
        if _is_run_start(request):
            if not self._starts.take(resource):
                raise _exceeded(self.limits.run_start_per_sec, "second")
        elif not self._resources.take(resource):
            raise _exceeded(self.limits.per_resource_per_sec, "second")

    def middleware(self) -> Middleware:
        @web.middleware
        async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
            self.check(request)
            return await handler(request)

        return rate_limit

    async def on_response_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """Label every response, errors and streams included, with its endpoint's limit."""
        limit = self.endpoint_limit(request)
        if limit is not None:
            response.headers[RATE_LIMIT_HEADER] = f"{limit:g}"
