"""`ApifyEmulator`: the aiohttp application, its runner, and their lifetime."""

from __future__ import annotations

import enum
import ipaddress
import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from .._rate_limits import RateLimits
from ._access_log import AccessLogger
from ._actors import Catalog, PayPerEvent
from ._auth import auth_middleware
from ._builtins import (
    HELLO_WORLD,
    SCRIPTED,
    SCRIPTED_TASK,
    SCRIPTED_TASK_INPUT,
    HelloWorld,
    scripted,
)
from ._context import ActorHandler
from ._errors import error_middleware
from ._faults import Faults, InjectedFault
from ._ids import new_token
from ._injection import FaultInjector
from ._rate_limits import RateLimiter
from ._routes import PLATFORM, Platform, add_routes, endpoint_name
from ._runs import Runs, Timings
from ._webhook_delivery import Deliveries, WebhookDispatch, WebhookRetries

# Long polls are released at shutdown; this only bounds a handler that ignores that.
_SHUTDOWN_TIMEOUT_SECS = 2.0


class _State(enum.Enum):
    UNOPENED = enum.auto()
    OPENED = enum.auto()
    CLOSED = enum.auto()


class ApifyEmulator:
    """A local emulation of the Apify runs API, served over HTTP on aiohttp.

    >>> async with ApifyEmulator() as emu:
    ...     emu.register_actor("janedoe~my-actor", handler)
    ...     # point a client at emu.base_url with emu.token

    Args:
        token: The API token to accept; a random one when None.
        host: The address to listen on.
        port: The port to listen on; 0 picks a free one.
        actors: Actors to register, `{"username~name": handler}` (or `username/name`);
            `register_actor` takes more options (default memory and timeout, pay-per-event
            pricing).
        ready_secs: How long a new run stays READY before it is RUNNING.
        abort_grace_secs: How long a graceful abort waits for the Actor to stop before it
            force-stops the run (the platform waits 30 s).
        timeout_grace_secs: How long a run that reached its timeout stays TIMING-OUT,
            waiting for the Actor to stop, before it is TIMED-OUT.
        hello_world_secs: How long `apify~hello-world` takes.
        max_restarts_on_error: How many times a run started with `restartOnError` is
            restarted after failing before it is FAILED.
        max_concurrent_runs: When set, starting more unfinished runs than this answers 400
            `concurrent-runs-limit-exceeded`.
        max_total_memory_mbytes: When set, starting a run that would take the memory of the
            unfinished runs over this answers 400 `actor-memory-limit-exceeded`.
        rate_limits: The request rates to allow, the platform's by default; past them
            requests are answered 429 `rate-limit-exceeded`. None allows any rate.
        faults: Faults to inject into the answers and the webhook dispatches (see
            `Faults`); None injects none. The `faults` property changes them while serving.
        access_log: A logger to which each request answered is logged at INFO, as
            `GET /v2/actor-runs/abc 200 1.2 ms` (the path without its query string, which may
            carry the token); None logs none.
        webhook_retries: How the ad-hoc webhooks of a start are retried (see
            `WebhookRetries`): by default the platform's 11 retries, waits in seconds where
            the platform's are in minutes. `webhook_dispatches` shows what was delivered.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        actors: Mapping[str, ActorHandler] | None = None,
        ready_secs: float = 0.05,
        abort_grace_secs: float = 30.0,
        timeout_grace_secs: float = 30.0,
        hello_world_secs: float = 1.0,
        max_restarts_on_error: int = 3,
        max_concurrent_runs: int | None = None,
        max_total_memory_mbytes: int | None = None,
        rate_limits: RateLimits | None = RateLimits(),  # noqa: B008 (frozen: safe to share)
        faults: Faults | None = None,
        access_log: logging.Logger | None = None,
        webhook_retries: WebhookRetries = WebhookRetries(),  # noqa: B008 (frozen: safe to share)
    ) -> None:
        self._token = token or new_token()
        self._host = host
        self._port = port
        self._catalog = Catalog()
        self._runs = Runs(
            Timings(ready_secs, abort_grace_secs, timeout_grace_secs, max_restarts_on_error),
            max_concurrent_runs=max_concurrent_runs,
            max_total_memory_mbytes=max_total_memory_mbytes,
        )
        self._catalog.add_actor(HELLO_WORLD, HelloWorld(hello_world_secs))
        # Pay-per-event for any event, so that charges can be tried without set-up.
        scripted_actor = self._catalog.add_actor(
            SCRIPTED, scripted, pay_per_event=PayPerEvent({}, any_event=True)
        )
        self._catalog.add_task(SCRIPTED_TASK, scripted_actor, SCRIPTED_TASK_INPUT)
        for name, handler in (actors or {}).items():
            self.register_actor(name, handler)
        self._rate_limits = rate_limits
        self._injector = FaultInjector(faults, endpoint_name)
        if not isinstance(webhook_retries, WebhookRetries):
            raise TypeError(
                f"webhook_retries must be a WebhookRetries, got {type(webhook_retries).__name__}"
            )
        self._deliveries = Deliveries(webhook_retries, self._injector)
        self._runs.on_event = self._deliveries.dispatch
        self._access_log = access_log
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._state = _State.UNOPENED

    @property
    def token(self) -> str:
        """The API token the emulator accepts."""
        return self._token

    @property
    def base_url(self) -> str:
        """Like `http://127.0.0.1:54321`: no trailing slash, no `/v2`."""
        if self._base_url is None:
            raise RuntimeError("the emulator is not serving: use `async with` or `start()`")
        return self._base_url

    @property
    def faults(self) -> Faults | None:
        """The faults being injected. Setting them (or None) takes effect from the next
        request (and webhook dispatch), seeds their generators again from their `seed` and
        restarts the `max_faults` counts."""
        return self._injector.faults

    @faults.setter
    def faults(self, faults: Faults | None) -> None:
        self._injector.faults = faults

    @property
    def injected_faults(self) -> Sequence[InjectedFault]:
        """Every fault injected so far, oldest first (across changes of `faults`)."""
        return self._injector.injected

    @property
    def webhook_dispatches(self) -> Sequence[WebhookDispatch]:
        """Every webhook dispatch so far, oldest first, each with its calls: a snapshot,
        read it again to see later calls."""
        return self._deliveries.records

    def register_actor(
        self,
        name: str,
        handler: ActorHandler,
        *,
        default_memory_mbytes: int = 1024,
        default_timeout_secs: int = 3600,
        pay_per_event: Mapping[str, float] | None = None,
    ) -> str:
        """Add an Actor named `username~name` (or `username/name`); returns its generated id.

        `pay_per_event` makes it a pay-per-event Actor, chargeable for these events (event
        name to price in USD), as in `{"page-crawled": 0.001}`: its runs show the pricing in
        `pricingInfo`, and `POST /v2/actor-runs/{runId}/charge` counts charges of these events
        in `chargedEventCounts`. Without it, charging a run of the Actor answers 400
        `cannot-charge-non-pay-per-event-actor`.
        """
        return self._catalog.add_actor(
            name,
            handler,
            default_memory_mbytes=default_memory_mbytes,
            default_timeout_secs=default_timeout_secs,
            pay_per_event=None if pay_per_event is None else PayPerEvent(dict(pay_per_event)),
        ).id

    def register_task(self, name: str, actor: str, task_input: Mapping[str, Any]) -> str:
        """Add a task `username~name` (or `username/name`) of a registered Actor (by id or
        name); returns its id."""
        found = self._catalog.actor(actor)
        if found is None:
            raise ValueError(f"no Actor {actor!r} is registered")
        return self._catalog.add_task(name, found, task_input).id

    async def start(self) -> None:
        """Start serving."""
        if self._state is not _State.UNOPENED:
            raise RuntimeError("an emulator can only be started once")
        self._state = _State.OPENED
        # Faults first, so that any request can get one, whatever the later middlewares say.
        middlewares = [self._injector.middleware(), error_middleware]
        limiter = None
        if self._rate_limits is not None:
            limiter = RateLimiter(self._rate_limits, self._catalog, self._token)
            # Before authentication: requests that fail it count against their IP.
            middlewares.append(limiter.middleware())
        middlewares.append(auth_middleware(self._token))
        app = web.Application(middlewares=middlewares)
        if limiter is not None:
            app.on_response_prepare.append(limiter.on_response_prepare)
        app.on_response_prepare.append(self._injector.on_response_prepare)
        app[PLATFORM] = Platform(self._catalog, self._runs)
        add_routes(app.router)
        # Our own access log, not aiohttp's, which shows query strings: they may carry the
        # token. No automatic decompression: `_body.py` enforces the size limit on the encoded
        # and decoded body itself. Handlers are cancelled when their client goes away, so an
        # abandoned long poll holds nothing.
        runner = web.AppRunner(
            app,
            access_log=self._access_log,
            access_log_class=AccessLogger,
            auto_decompress=False,
            handler_cancellation=True,
            shutdown_timeout=_SHUTDOWN_TIMEOUT_SECS,
        )
        await runner.setup()
        self._runner = runner
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            await self.close()
            raise
        port = runner.addresses[0][1]
        host = self._host
        if _is_ipv6(host):
            host = f"[{host}]"
        self._base_url = f"http://{host}:{port}"

    async def close(self) -> None:
        """Stop serving: cancel every run's task and close the server. Safe to call twice."""
        self._state = _State.CLOSED
        self._base_url = None
        runner, self._runner = self._runner, None
        if runner is not None:
            for site in runner.sites:
                await site.stop()
        # Then the runs: that also releases requests held by `waitForFinish` or a log stream.
        await self._runs.close()
        # Then the deliveries, which the runs' events start.
        await self._deliveries.close()
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


def _is_ipv6(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address)
    except ValueError:
        return False
