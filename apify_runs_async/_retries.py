"""Trying a request again after a passing failure: the policy (`Retries`) and the loop.

Which failures pass: a connection that failed or dropped, a timeout, 408, 429 and 5xx. Every
other error is final. The loop is `backoff`'s; the waits come from `Retries`, which honours
the server's `Retry-After`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import backoff

from . import _validation as check
from ._errors import ApiError, ApifyError, ApifyTimeoutError, InvalidResponseError, TransportError
from ._http import Request

logger = logging.getLogger("apify_runs_async.retries")

T = TypeVar("T")

DelayFunction = Callable[[int, "float | None"], float]
"""`(tries_failed, retry_after) -> seconds to wait`; `retry_after` is the server's, or None."""


@dataclass(frozen=True, slots=True)
class Retries:
    """How requests that failed for a passing reason are tried again.

    Connection errors, timeouts, 408, 429 and 5xx are retried, up to `max_tries` tries in all;
    other errors never are. Before try n+1 the client waits a random time between 0 and
    `first_delay_secs` * 2**(n-1), at most `max_delay_secs` (exponential backoff with full
    jitter), or what the server asked for in `Retry-After`, at most `max_retry_after_secs`.
    `delay`, if given, decides the waits instead (tests use it to retry in milliseconds).

    A start, metamorph, reboot or resurrect is never blindly sent again: after a failure that
    may have reached the server, the client first checks whether it took effect.
    `Retries(max_tries=1)` sends every request once and reports failures as they are.

    >>> ApifyRuns(retries=Retries(max_tries=8, max_delay_secs=10))
    """

    max_tries: int = 5
    first_delay_secs: float = 0.5
    max_delay_secs: float = 30.0
    max_retry_after_secs: float = 60.0
    delay: DelayFunction | None = None

    def __post_init__(self) -> None:
        check.positive_int(self.max_tries, "Retries.max_tries")
        check.positive(self.first_delay_secs, "Retries.first_delay_secs")
        check.positive(self.max_delay_secs, "Retries.max_delay_secs")
        check.non_negative(self.max_retry_after_secs, "Retries.max_retry_after_secs")
        if self.delay is not None and not callable(self.delay):
            raise TypeError(f"Retries.delay must be callable, got {type(self.delay).__name__}")
        hash(self.delay)  # a policy is cached by its value: fail here, not at the first retry

    def _waits(self) -> Generator[float | None, BaseException | None, None]:
        """backoff's wait generator: it is sent each failure and yields the wait after it."""
        failure = yield None  # set up for every call: nothing more until a try fails
        ceilings = backoff.expo(factor=self.first_delay_secs, max_value=self.max_delay_secs)
        next(ceilings)  # backoff's generators start with an empty step
        tries = 0
        while True:
            tries += 1
            ceiling = next(ceilings)
            asked = failure.retry_after if isinstance(failure, ApiError) else None
            if self.delay is not None:
                wait = self.delay(tries, asked)
            elif asked is not None:
                wait = min(asked, self.max_retry_after_secs)
            else:
                wait = backoff.full_jitter(ceiling)
            failure = yield wait


def is_transient(error: BaseException) -> bool:
    """Whether trying again may succeed: no answer, a timeout, 408, 429 or 5xx."""
    if isinstance(error, TransportError):
        return True
    return isinstance(error, ApiError) and (error.status in (408, 429) or error.status >= 500)


def maybe_took_effect(error: BaseException) -> bool:
    """Whether the failed request may have been carried out by the server all the same.

    A 429 is refused before any work; a 408 or 5xx may come from a proxy that gave up while
    the API went on; a dropped connection or a read timeout leaves it open; and a success
    whose body could not be read did take effect.
    """
    if isinstance(error, TransportError):
        return error.maybe_processed
    if isinstance(error, InvalidResponseError):
        return 200 <= error.status < 300
    return isinstance(error, ApiError) and (error.status == 408 or error.status >= 500)


def out_of_time(request: Request, secs: float, *, maybe_processed: bool) -> ApifyTimeoutError:
    """The error for a call that ran out of its `Timeouts.total`."""
    return ApifyTimeoutError(
        request.method,
        request.path,
        f"no answer within {secs:g} s, retries included",
        maybe_processed=maybe_processed,
    )


async def with_retries(attempt: Callable[[], Awaitable[T]], retries: Retries) -> T:
    """`attempt()`, tried again as `retries` says while it fails for a passing reason."""
    # The first try goes without backoff's machinery: it is most often the only one.
    try:
        return await attempt()
    except ApifyError as error:
        if retries.max_tries == 1 or not is_transient(error):
            raise
        first_failure = error
    result: T = await _loop(retries)(attempt, [first_failure])
    return result


Loop = Callable[[Callable[[], Awaitable[Any]], list[ApifyError]], Awaitable[Any]]


@functools.lru_cache(maxsize=64)
def _loop(retries: Retries) -> Loop:
    """backoff's retry loop around any attempt, built once per policy."""

    @backoff.on_exception(
        cast(Any, retries._waits),  # backoff sends it each failure; its stubs don't say so
        ApifyError,
        max_tries=retries.max_tries,
        giveup=lambda error: not is_transient(error),
        jitter=None,  # the waits are jittered already, but never the server's Retry-After
        on_backoff=_log_retry,
        logger=None,  # its messages show the call's arguments
    )
    async def loop(attempt: Callable[[], Awaitable[Any]], had: list[ApifyError]) -> Any:
        if had:  # the first try's failure, counted as backoff's first try
            raise had.pop()
        return await attempt()

    return loop


def _log_retry(details: Any) -> None:
    logger.info("%s; try %d in %.2f s", details["exception"], details["tries"] + 1, details["wait"])
