"""Client-side rate limiting, so requests stay within Apify's documented limits.

The platform allows 60 requests/s per resource (one run, one Actor, one task, one store), 400/s
for starting a run of an Actor or task and for metamorph, and 250,000 requests a minute per
token. Each limit is a GCRA bucket (a token bucket kept as one number, the theoretical arrival
time). A request takes the latest time both its buckets allow, books that time in both, and
sleeps until then: callers are served in order, no lock or background task is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio

from . import _validation as check

_RUN_STARTS = frozenset({"actors", "acts", "actor-tasks"})


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Apify's request limits. The client keeps to them, the emulator enforces them.

    `per_resource_per_sec` applies to each run, Actor, task and store; `run_start_per_sec` to
    starting a run of an Actor or task, and to metamorph; `per_token_per_minute` to everything.
    Pass `rate_limits=None` to either to switch limiting off.
    """

    per_resource_per_sec: float = 60
    run_start_per_sec: float = 400
    per_token_per_minute: float = 250_000

    def __post_init__(self) -> None:
        check.positive(self.per_resource_per_sec, "RateLimits.per_resource_per_sec")
        check.positive(self.run_start_per_sec, "RateLimits.run_start_per_sec")
        check.positive(self.per_token_per_minute, "RateLimits.per_token_per_minute")


def limited_resource(method: str, path: str) -> tuple[str, bool]:
    """The resource a request counts against, and whether it is in the run-start class.

    `/v2/actor-runs/{id}/abort` counts against the run `/v2/actor-runs/{id}`; starting a run of
    an Actor or task, or a metamorph, is limited apart from other requests to that resource.
    """
    parts = path.split("/", 5)  # "", "v2", collection, id, rest...
    resource = "/".join(parts[:4])
    starts = method == "POST" and (
        (parts[2] in _RUN_STARTS and parts[4:] == ["runs"]) or path.endswith("/metamorph")
    )
    return resource, starts


class _Bucket:
    """A rate with a burst, as GCRA keeps it: the time the bucket would be full again."""

    # Bursts of half a second's worth (at least one request): arrivals bunch up on the way to
    # the server, whose own buckets then still have room.
    BURST_SECS = 0.5

    __slots__ = ("_interval", "_tolerance", "full_at")

    def __init__(self, per_sec: float, now: float) -> None:
        self._interval = 1 / per_sec
        self._tolerance = max(0.0, per_sec * self.BURST_SECS - 1) * self._interval
        self.full_at = now

    def earliest(self, now: float) -> float:
        """The earliest time, from `now` on, that the next request may go."""
        return max(now, self.full_at - self._tolerance)

    def book(self, at: float) -> None:
        """Count a request sent at `at`."""
        self.full_at = max(self.full_at, at) + self._interval


class RateLimiter:
    """Delays requests so that none goes over `limits`."""

    def __init__(self, limits: RateLimits) -> None:
        """Made inside the event loop, whose clock it reads."""
        self.limits = limits
        self._global = _Bucket(limits.per_token_per_minute / 60, anyio.current_time())
        self._buckets: dict[tuple[str, bool], _Bucket] = {}
        self._prune_above = 1024

    async def wait(self, method: str, path: str) -> None:
        """Wait until a request of `method` to `path` may be sent."""
        now = anyio.current_time()
        key = limited_resource(method, path)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._prune_above:
                self._prune(now)
            per_sec = self.limits.run_start_per_sec if key[1] else self.limits.per_resource_per_sec
            bucket = self._buckets[key] = _Bucket(per_sec, now)
        # One time for both buckets: booking each at its own earliest would let requests
        # queued on one bucket go out at the other's pace.
        send_at = max(bucket.earliest(now), self._global.earliest(now))
        bucket.book(send_at)
        self._global.book(send_at)
        if send_at > now:
            await anyio.sleep(send_at - now)

    def _prune(self, now: float) -> None:
        # A bucket that is full again holds nothing worth keeping: a new one would be the same.
        for key in [key for key, bucket in self._buckets.items() if bucket.full_at <= now]:
            del self._buckets[key]
        self._prune_above = max(1024, 2 * len(self._buckets))
