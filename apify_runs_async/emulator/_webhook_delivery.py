"""Webhook delivery: each dispatch POSTed to its webhook's URL, at least once, in the
background, with the platform's retries and the webhook faults; a record of each for tests.

Each dispatch is one asyncio task of the emulator, cancelled and awaited when it closes. The
payload is made when the event happens (the run as it was then), and every call of a dispatch,
retries and duplicates alike, sends the same body and the same dispatch id, so that a receiver
can tell a repeat from a new event.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiohttp

from ._faults import FaultKind, check_seconds, is_whole
from ._ids import new_id
from ._injection import FaultInjector
from ._shapes import run_data
from ._time import format_time, utc_now
from ._webhook_templates import DEFAULT_PAYLOAD_TEMPLATE, interpolate, render_headers

if TYPE_CHECKING:
    from ._runs import Run
    from ._webhooks import Webhook


@dataclass(frozen=True, slots=True)
class WebhookRetries:
    """How webhook dispatches are retried: the platform's schedule, in seconds, not hours.

    A call that answers non-2xx, fails to connect, or takes over `timeout_secs` is retried up
    to `max_retries` times, the n-th retry `first_wait_secs * 2**(n-1)` after the call
    before it (1, 2, 4, ... 1024 s by default).

    >>> ApifyEmulator(webhook_retries=WebhookRetries(max_retries=2, first_wait_secs=0.01))
    """

    max_retries: int = 11
    first_wait_secs: float = 1.0
    timeout_secs: float = 30.0

    def __post_init__(self) -> None:
        if not is_whole(self.max_retries, minimum=0):
            raise ValueError(f"max_retries must be an integer >= 0, got {self.max_retries!r}")
        check_seconds(self, "first_wait_secs", "timeout_secs")

    def wait_secs(self, retry: int) -> float:
        """How long before retry number `retry` (from 1)."""
        return float(self.first_wait_secs * 2 ** (retry - 1))


class DispatchStatus(enum.StrEnum):
    """Where a dispatch stands: the platform's statuses, and DROPPED for a fault."""

    ACTIVE = "ACTIVE"
    """Being delivered: a call or a retry is still to come."""
    SUCCEEDED = "SUCCEEDED"
    """A call answered 2xx."""
    FAILED = "FAILED"
    """Every call failed (the last retry, or the only call with `doNotRetry`)."""
    DROPPED = "DROPPED"
    """Lost by the `webhook_drop` fault: no call was made, none will be."""


@dataclass(frozen=True, slots=True)
class WebhookCall:
    """One HTTP call of a dispatch: its answer's status, or why there was none."""

    started_at: datetime
    finished_at: datetime
    response_status: int | None
    error_message: str | None

    @property
    def succeeded(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300


@dataclass(frozen=True, slots=True)
class WebhookDispatch:
    """One event delivered (or not) to one webhook, as `ApifyEmulator.webhook_dispatches`
    shows it: every call made, and the fault it got if any."""

    id: str
    webhook_id: str
    event_type: str
    run_id: str
    request_url: str
    created_at: datetime
    status: DispatchStatus = DispatchStatus.ACTIVE
    calls: tuple[WebhookCall, ...] = ()
    fault: FaultKind | None = None


def event_variables(run: Run, event_type: str, created_at: datetime) -> dict[str, Any]:
    """What a template's `{{variables}}` are: the default payload's fields."""
    return {
        "userId": run.user_id,
        "createdAt": format_time(created_at),
        "eventType": event_type,
        "eventData": {
            "actorId": run.actor.id,
            "actorTaskId": None if run.task is None else run.task.id,
            "actorRunId": run.id,
        },
        "resource": run_data(run),
    }


def dispatch_headers(
    webhook: Webhook, variables: dict[str, Any], dispatch_id: str
) -> dict[str, str]:
    """The headers of a dispatch: its `headersTemplate`'s, then the platform's own, which
    win."""
    headers: dict[str, str] = {}
    if webhook.headers_template is not None:
        headers.update(
            render_headers(
                webhook.headers_template, variables, in_strings=webhook.interpolate_strings
            )
        )
    headers.update(
        {
            "Content-Type": "application/json",
            "X-Apify-Webhook": webhook.id,
            "X-Apify-Webhook-Dispatch-Id": dispatch_id,
            "X-Apify-Request-Origin": "WEBHOOK",
        }
    )
    return headers


class Deliveries:
    """The emulator's webhook dispatches: their tasks, their HTTP session, their records."""

    def __init__(self, retries: WebhookRetries, injector: FaultInjector) -> None:
        self._retries = retries
        self._injector = injector
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._records: list[WebhookDispatch] = []
        self._closing = False
        # For `webhook_reorder`: the number of the latest dispatch that made its first call.
        self._latest_sent = -1
        self._sent = asyncio.Event()

    @property
    def records(self) -> Sequence[WebhookDispatch]:
        """Every dispatch so far, oldest first."""
        return tuple(self._records)

    def dispatch(self, run: Run, event_type: str) -> None:
        """Deliver the event to each webhook of the run that listens for it."""
        listening = [webhook for webhook in run.webhooks if event_type in webhook.event_types]
        if self._closing or not listening:
            return
        created_at = utc_now()
        # Made once, now: the run as it is at the event, whenever the calls are made.
        variables = event_variables(run, event_type, created_at)
        for webhook in listening:
            self._start(run, webhook, event_type, variables, created_at)

    def _start(
        self,
        run: Run,
        webhook: Webhook,
        event_type: str,
        variables: dict[str, Any],
        created_at: datetime,
    ) -> None:
        body = interpolate(
            webhook.payload_template or DEFAULT_PAYLOAD_TEMPLATE,
            variables,
            in_strings=webhook.interpolate_strings,
        ).encode()
        record = WebhookDispatch(
            id=new_id(),
            webhook_id=webhook.id,
            event_type=event_type,
            run_id=run.id,
            request_url=webhook.request_url,
            created_at=created_at,
        )
        headers = dispatch_headers(webhook, variables, record.id)
        number = len(self._records)
        self._records.append(record)
        if self._session is None:
            self._session = aiohttp.ClientSession(trust_env=False)
        task = asyncio.get_running_loop().create_task(
            self._deliver(number, webhook, body, headers),
            name=f"apify-emulator-webhook-{record.id}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _update(self, number: int, **changes: Any) -> None:
        self._records[number] = dataclasses.replace(self._records[number], **changes)

    async def _deliver(
        self, number: int, webhook: Webhook, body: bytes, headers: dict[str, str]
    ) -> None:
        fault = await self._before_the_first_call(number, webhook.request_url)
        if fault is FaultKind.WEBHOOK_DROP:
            return
        retries = 0 if webhook.do_not_retry else self._retries.max_retries
        succeeded = False
        for attempt in range(retries + 1):
            if attempt:
                await asyncio.sleep(self._retries.wait_secs(attempt))
            succeeded = await self._call(number, webhook.request_url, body, headers)
            self._mark_sent(number)
            if succeeded:
                break
        status = DispatchStatus.SUCCEEDED if succeeded else DispatchStatus.FAILED
        self._update(number, status=status)
        if succeeded and fault is FaultKind.WEBHOOK_DUPLICATE:
            await self._call(number, webhook.request_url, body, headers)

    async def _before_the_first_call(self, number: int, url: str) -> FaultKind | None:
        """Draw the dispatch's fault, and act out what it does before the first call."""
        decided = self._injector.decide_webhook(url)
        if decided is None:
            return None
        kind, faults = decided
        self._update(number, fault=kind)
        if kind is FaultKind.WEBHOOK_DROP:
            self._update(number, status=DispatchStatus.DROPPED)
        elif kind is FaultKind.WEBHOOK_DELAY:
            await asyncio.sleep(faults.webhook_delay_secs)
        elif kind is FaultKind.WEBHOOK_REORDER:
            await self._after_a_later_one(number, faults.webhook_delay_secs)
        return kind

    async def _call(self, number: int, url: str, body: bytes, headers: dict[str, str]) -> bool:
        """One POST of the dispatch, recorded; whether it answered 2xx."""
        assert self._session is not None
        started_at = utc_now()
        status: int | None = None
        error: str | None = None
        try:
            async with self._session.post(
                url,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self._retries.timeout_secs),
            ) as response:
                await response.read()
                status = response.status
        except TimeoutError:
            error = f"No answer within {self._retries.timeout_secs:g} s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            # (ValueError: a header a template filled in that HTTP cannot carry.)
            error = f"Cannot send request: {type(exc).__name__}: {exc}"
        call = WebhookCall(started_at, utc_now(), status, error)
        self._update(number, calls=(*self._records[number].calls, call))
        return call.succeeded

    def _mark_sent(self, number: int) -> None:
        if number > self._latest_sent:
            self._latest_sent = number
            self._sent.set()
            self._sent = asyncio.Event()

    async def _after_a_later_one(self, number: int, at_most_secs: float) -> None:
        """Return once a dispatch made after this one has made its first call, or after
        `at_most_secs` (there may be none)."""
        try:
            async with asyncio.timeout(at_most_secs):
                while self._latest_sent <= number:
                    await self._sent.wait()
        except TimeoutError:
            pass

    async def close(self) -> None:
        """Cancel every dispatch still under way and close the session."""
        self._closing = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        session, self._session = self._session, None
        if session is not None:
            await session.close()
