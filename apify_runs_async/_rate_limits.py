"""Client-side rate limiting, so requests stay within Apify's documented limits.

The platform allows 60 requests/s per resource (one run, one Actor, one task, one store), 400/s
for starting a run of an Actor or task and for metamorph, and 250,000 requests a minute per
token. Each limit is a token bucket; a request reserves a token in the buckets it counts
against and sleeps until its reservation comes due, so callers are served in order and no lock
or background task is needed.
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
    """A token bucket whose level may go below zero: the debt is the queue of reservations."""

    __slots__ = ("_at", "_capacity", "_level", "_rate")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self._rate = rate
        self._capacity = capacity
        self._level = capacity
        self._at = now

    def reserve(self, now: float) -> float:
        """Take a token; return how long to wait before using it."""
        self._level = min(self._capacity, self._level + (now - self._at) * self._rate) - 1
        self._at = now
        return 0.0 if self._level >= 0 else -self._level / self._rate

    def is_full(self, now: float) -> bool:
        return self._level + (now - self._at) * self._rate >= self._capacity


class RateLimiter:
    """Delays requests so that none goes over `limits`."""

    # Buckets allow bursts of half a second's worth: arrivals bunch up on the way to the
    # server, whose own buckets then still have room.
    _BURST_SECS = 0.5

    def __init__(self, limits: RateLimits) -> None:
        """Made inside the event loop, whose clock it reads."""
        self.limits = limits
        self._global = _Bucket(
            limits.per_token_per_minute / 60,
            limits.per_token_per_minute * self._BURST_SECS / 60,
            anyio.current_time(),
        )
        self._buckets: dict[tuple[str, bool], _Bucket] = {}
        self._prune_above = 1024

    async def wait(self, method: str, path: str) -> None:
        """Wait until a request of `method` to `path` may be sent."""
        now = anyio.current_time()
        key = limited_resource(method, path)
        bucket = self._buckets.get(key)
        if bucket is None:
            rate = self.limits.run_start_per_sec if key[1] else self.limits.per_resource_per_sec
            bucket = self._buckets[key] = _Bucket(rate, max(1.0, rate * self._BURST_SECS), now)
            if len(self._buckets) > self._prune_above:
                self._prune(now)
        delay = max(bucket.reserve(now), self._global.reserve(now))
        if delay > 0:
            await anyio.sleep(delay)

    def _prune(self, now: float) -> None:
        # A full bucket holds no state worth keeping: a new one would be the same.
        for key in [key for key, bucket in self._buckets.items() if bucket.is_full(now)]:
            del self._buckets[key]
        self._prune_above = max(1024, 2 * len(self._buckets))
