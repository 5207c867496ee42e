"""The one path every request takes: tries, waits, reconciliation and the overall deadline.

A plain loop over tries. After each failure, one decision: try again or raise; then one wait.
What a failure that may have taken effect means for the next try is the operation's `Rule`
(see `_reconcile.py`); how long to wait is the `Retries` policy's, or the `CoolDown`'s for a
start refused for the account's limits.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import anyio

from ._cool_down import CoolDown, is_limit
from ._errors import ApifyError, ClientClosedError, UncertainOutcomeError, detail_of
from ._http import Request, Transport
from ._reconcile import REPEATABLE, Read, Rule
from ._retries import Retries, maybe_took_effect

logger = logging.getLogger("apify_runs_async.retries")

T = TypeVar("T")


class Sender:
    """Sends requests through one transport, with one retry policy, each within the
    client's `Timeouts.total` (None: no limit)."""

    def __init__(self, transport: Transport, retries: Retries, total_secs: float | None) -> None:
        self.transport = transport
        self.retries = retries
        self._total_secs = total_secs

    def __call__(
        self,
        request: Request,
        read: Read[T],
        rule: Rule[T] = REPEATABLE,
        cool_down: CoolDown | None = None,
    ) -> Coroutine[Any, Any, T]:
        """`read` of the answer to `request`, tried again as the policy and `rule` say.

        `cool_down`, for starts, sends a try refused for the account's limits again after a
        wait: such a refusal is certain, so it does not count as a try.
        """
        if self._total_secs is None:  # the usual case: no layer for a deadline
            return self._tries(request, read, rule, cool_down, None)
        return self._within_deadline(request, read, rule, cool_down)

    async def _within_deadline(
        self, request: Request, read: Read[T], rule: Rule[T], cool_down: CoolDown | None
    ) -> T:
        assert self._total_secs is not None
        # The deadline, stretched by the time the server may hold the request on purpose.
        secs = self._total_secs + request.long_poll_secs
        progress = _Progress()
        with anyio.move_on_after(secs):
            return await self._tries(request, read, rule, cool_down, progress)
        raise rule.timed_out(request, secs, progress.in_doubt)

    async def _tries(
        self,
        request: Request,
        read: Read[T],
        rule: Rule[T],
        cool_down: CoolDown | None,
        progress: _Progress | None,
    ) -> T:
        retries = self.retries
        tries = 0
        in_doubt = False  # the last try may have taken effect, and nothing has said otherwise
        doubt: ApifyError | None = None  # why
        doubted = False  # an earlier try was in doubt: a refusal now may be its doing
        limits_hit = 0
        cooling_since = 0.0
        try:
            while True:
                tries += 1
                try:
                    if in_doubt:
                        done = await rule.settle(doubt)
                        if done is not None:
                            return done
                        in_doubt = False
                    sent = request
                    if rule.once_only:
                        if retries.max_tries > 1:
                            await rule.prepare()
                        sent = rule.mark(request)
                    in_doubt, doubt = True, None  # a try cancelled from here on is in doubt
                    try:
                        return read(request, await self.transport.send(sent))
                    except ApifyError as error:
                        in_doubt, doubt = maybe_took_effect(error), error
                        if doubted:
                            return await rule.refused(error)
                        doubted = in_doubt
                        raise
                except ApifyError as error:
                    failure = error
                # Try again, or raise.
                if cool_down is not None and is_limit(failure):
                    if limits_hit == 0:
                        cooling_since = anyio.current_time()
                    limits_hit += 1
                    wait = cool_down.wait(limits_hit, anyio.current_time() - cooling_since)
                    if wait is not None:
                        tries -= 1  # a certain refusal: not a try that failed
                        logger.info("%s; trying again in %.1f s", failure, wait)
                        await anyio.sleep(wait)
                        continue
                wait = retries.next_wait(failure, tries)
                if wait is None:
                    break
                logger.info("%s; try %d in %.3f s", failure, tries + 1, wait)
                await anyio.sleep(wait)
            if not in_doubt or retries.max_tries == 1 or isinstance(failure, UncertainOutcomeError):
                raise failure  # nothing in doubt; one try only, as it failed; or undecidable
            # The last try may have taken effect: look once more before giving up.
            try:
                done = await rule.settle(doubt)
            except UncertainOutcomeError:
                raise
            except ApifyError as error:
                raise rule.uncertain(
                    request,
                    f"a try failed ({detail_of(doubt)}), and so did checking whether it took "
                    f"effect ({error})",
                ) from doubt
            if done is not None:
                return done
            raise failure
        except BaseException:  # a deadline's cancellation among them: it reports the doubt
            if progress is not None:
                progress.in_doubt = in_doubt
            raise


class _Progress:
    """Whether the last try may have taken effect, and nothing has said otherwise yet: what
    a call stopped by its deadline reports. Kept only when there is a deadline."""

    __slots__ = ("in_doubt",)

    def __init__(self) -> None:
        self.in_doubt = False


class ClosedSender(Sender):
    """What a client that is not open sends with: nothing."""

    def __init__(self, state: str) -> None:
        self._state = state

    def __call__(self, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, Any]:
        raise ClientClosedError(
            f"this ApifyRuns client is {self._state}: use it inside `async with ApifyRuns(...)`"
        )


class SendsRequests:
    """A base of the parts of `ApifyRuns`: what sends their requests."""

    def _sender(self, retries: Retries | None) -> Sender:
        """The sender with `retries`, or else the client's own."""
        raise NotImplementedError
