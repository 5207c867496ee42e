"""Trying a request again after a passing failure: the policy (`Retries`), and which
failures pass.

Which failures pass: a connection that failed or dropped, a timeout, 408, 429, 5xx, and a
success whose body is garbled or about another run. Every other error is final. The waits
come from `backoff`'s schedules, or the server's `Retry-After`; the loop that waits them is
`_sending.Sender`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import backoff

from . import _validation as check
from ._errors import (
    ApiError,
    ApifyTimeoutError,
    InvalidItemError,
    InvalidResponseError,
    ResponseTooLargeError,
    TransportError,
)
from ._http import Request

DelayFunction = Callable[[int, "float | None"], float]
"""`(tries_failed, retry_after) -> seconds to wait`; `retry_after` is the server's, or None."""


@dataclass(frozen=True, slots=True)
class Retries:
    """How requests that failed for a passing reason are tried again.

    Connection errors, timeouts, 408, 429, 5xx and garbled answers are retried, up to
    `max_tries` tries in all; other errors never are. Before try n+1 the client waits a random
    time between 0 and `first_delay_secs` * 2**(n-1), at most `max_delay_secs` (exponential
    backoff with full jitter), or what the server asked for in `Retry-After`, at most
    `max_retry_after_secs`. `delay`, if given, decides the waits instead (tests use it to
    retry in milliseconds).

    Right after a start, the API may answer 404 for the new run for a moment: following a
    run waits that out for `not_found_grace_secs`. A start's look-up for a run its failed
    try may have started goes back to `lookup_margin_secs` before the first try, for the
    server's whole-second clock and the time the try took to arrive.

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
    not_found_grace_secs: float = 3.0
    lookup_margin_secs: float = 10.0

    def __post_init__(self) -> None:
        check.positive_int(self.max_tries, "Retries.max_tries")
        check.positive(self.first_delay_secs, "Retries.first_delay_secs")
        check.positive(self.max_delay_secs, "Retries.max_delay_secs")
        check.non_negative(self.max_retry_after_secs, "Retries.max_retry_after_secs")
        check.non_negative(self.not_found_grace_secs, "Retries.not_found_grace_secs")
        check.non_negative(self.lookup_margin_secs, "Retries.lookup_margin_secs")
        if self.delay is not None and not callable(self.delay):
            raise TypeError(f"Retries.delay must be callable, got {type(self.delay).__name__}")

    def wait(self, tries_failed: int, retry_after: float | None) -> float:
        """How long to wait before the next try, after `tries_failed` tries have failed and
        the server asked for `retry_after` seconds (None: it did not say)."""
        if self.delay is not None:
            return self.delay(tries_failed, retry_after)
        if retry_after is not None:  # the server's wish, never jittered, within the cap
            return min(retry_after, self.max_retry_after_secs)
        ceilings = backoff.expo(factor=self.first_delay_secs, max_value=self.max_delay_secs)
        ceiling = next(itertools.islice(ceilings, tries_failed, None))  # its first step is empty
        return backoff.full_jitter(ceiling)

    def next_wait(self, failure: BaseException, tries_failed: int) -> float | None:
        """How long to wait before trying again, after `tries_failed` tries have failed, the
        last with `failure`; None when not to try again (out of tries, or not transient)."""
        if tries_failed >= self.max_tries or not is_transient(failure):
            return None
        retry_after = failure.retry_after if isinstance(failure, ApiError) else None
        return self.wait(tries_failed, retry_after)


def is_transient(error: BaseException) -> bool:
    """Whether trying again may succeed: no answer, a timeout, 408, 429, 5xx, or an answer
    garbled or about another run (a proxy's or a cache's doing, most likely). Not a body too
    large or an item of the wrong shape: those would come back the same."""
    if isinstance(error, TransportError):
        return True
    if isinstance(error, InvalidResponseError):
        return not isinstance(error, ResponseTooLargeError | InvalidItemError)
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
