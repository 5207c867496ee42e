"""What faults to inject: their kinds, rates and limits, from code or a CLI spec string.

Each request on a chosen endpoint draws one number from a seeded generator and walks it over
the kinds' cumulative rates, so a request gets at most one fault and the same seed gives the
same sequence of faults for the same sequence of requests.

Webhook deliveries draw the same way over the webhook kinds, from a generator of their own
and with a `max_faults` count of their own: deliveries happen in the background, and their
timing must not change which faults the requests get.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass


class FaultKind(enum.StrEnum):
    """How a request misbehaves."""

    STATUS503 = "status503"
    """Answer 503 without doing the operation."""
    STATUS500 = "status500"
    """Answer 500 without doing the operation."""
    STATUS429 = "status429"
    """Answer 429 with `Retry-After` without doing the operation."""
    RESET_BEFORE = "reset_before"
    """Reset the connection before doing the operation."""
    RESET_AFTER = "reset_after"
    """Do the operation, then reset the connection without answering."""
    TRUNCATE = "truncate"
    """Do the operation, then send the headers and half the body, and close the connection."""
    DELAY = "delay"
    """Do the operation, then wait `delay_secs` before answering."""
    WEBHOOK_DROP = "webhook_drop"
    """Lose a webhook dispatch: it is never sent, nor retried."""
    WEBHOOK_DUPLICATE = "webhook_duplicate"
    """Send a webhook dispatch once more after it succeeded (the same dispatch id)."""
    WEBHOOK_DELAY = "webhook_delay"
    """Hold a webhook dispatch `webhook_delay_secs` before its first call."""
    WEBHOOK_REORDER = "webhook_reorder"
    """Hold a webhook dispatch until a later dispatch has been sent (at most
    `webhook_delay_secs`), so that the receiver gets the two in the wrong order."""

    @property
    def is_webhook(self) -> bool:
        """Whether the kind acts on webhook deliveries, not on requests."""
        return self.value.startswith("webhook_")


class Endpoint(enum.StrEnum):
    """The endpoints faults can be limited to; `_routes.py` maps each route to one."""

    START = "start"
    START_TASK = "start-task"
    GET = "get"
    UPDATE = "update"
    DELETE = "delete"
    ABORT = "abort"
    METAMORPH = "metamorph"
    REBOOT = "reboot"
    RESURRECT = "resurrect"
    LIST = "list"
    RECORD = "record"
    LOG = "log"
    DATASET = "dataset"
    ITEMS = "items"
    STORE = "store"
    KEYS = "keys"
    CHARGE = "charge"


KINDS = frozenset(kind.value for kind in FaultKind)
REQUEST_KINDS = tuple(kind for kind in FaultKind if not kind.is_webhook)
WEBHOOK_KINDS = tuple(kind for kind in FaultKind if kind.is_webhook)
ENDPOINTS = frozenset(endpoint.value for endpoint in Endpoint)

# Rounding must not make `0.1,0.2,0.7` sum to more than 1.
_SUM_TOLERANCE = 1e-9


def _sorted_names(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


@dataclass(frozen=True, slots=True)
class InjectedFault:
    """One fault the emulator injected: its kind, and the request it hit.

    `path` never has the query string: that may carry the token. A fault in a webhook
    dispatch has the endpoint `webhook`, the method POST and the path of the webhook's URL.
    """

    kind: FaultKind
    endpoint: str
    method: str
    path: str


@dataclass(frozen=True)
class Faults:
    """Faults to inject: the probability of each kind per request, and what limits them.

    >>> Faults(status503=0.05, reset_after=0.02, seed=7, endpoints=frozenset({"start"}))

    Args:
        status503, status500, status429, reset_before, reset_after, truncate, delay: The
            probability, from 0 to 1, that a request gets that fault (see `FaultKind`); they
            sum to at most 1.
        webhook_drop, webhook_duplicate, webhook_delay, webhook_reorder: The probability
            that a webhook dispatch gets that fault; they sum to at most 1.
        delay_secs: How long the `delay` fault holds the answer.
        webhook_delay_secs: How long `webhook_delay` holds a dispatch, and the longest
            `webhook_reorder` holds one.
        retry_after_secs: The `Retry-After` of the `status429` fault, in whole seconds.
        seed: Seeds the generators that pick the faults; None seeds them at random.
        endpoints: The endpoint names (`ENDPOINTS`) whose requests get faults; None: all.
            Requests that match no endpoint never get one. Webhook dispatches are not
            requests to an endpoint: the webhook kinds apply to all of them.
        max_faults: Stop injecting after this many faults into requests, and after this
            many into dispatches; None: never stop.
    """

    status503: float = 0.0
    status500: float = 0.0
    status429: float = 0.0
    reset_before: float = 0.0
    reset_after: float = 0.0
    truncate: float = 0.0
    delay: float = 0.0
    webhook_drop: float = 0.0
    webhook_duplicate: float = 0.0
    webhook_delay: float = 0.0
    webhook_reorder: float = 0.0
    delay_secs: float = 1.0
    webhook_delay_secs: float = 1.0
    retry_after_secs: int = 1
    seed: int | None = None
    endpoints: frozenset[str] | None = None
    max_faults: int | None = None

    def __post_init__(self) -> None:
        for rates, what in ((self.rates, "a request"), (self.webhook_rates, "a dispatch")):
            total = 0.0
            for kind, rate in rates:
                if (
                    isinstance(rate, bool)
                    or not isinstance(rate, int | float)
                    or not 0 <= rate <= 1
                ):
                    raise ValueError(
                        f"the rate of {kind} must be a number from 0 to 1, got {rate!r}"
                    )
                total += rate
            if total > 1.0 + _SUM_TOLERANCE:
                raise ValueError(
                    f"the fault rates sum to {total:g}, more than 1 ({what} gets at most one fault)"
                )
        check_seconds(self, "delay_secs", "webhook_delay_secs")
        if not is_whole(self.retry_after_secs, minimum=0):
            raise ValueError(
                f"retry_after_secs must be whole seconds >= 0, got {self.retry_after_secs!r}"
            )
        if self.seed is not None and not is_whole(self.seed, minimum=None):
            raise ValueError(f"seed must be an integer or None, got {self.seed!r}")
        if self.max_faults is not None and not is_whole(self.max_faults, minimum=0):
            raise ValueError(f"max_faults must be an integer >= 0 or None, got {self.max_faults!r}")
        if self.endpoints is not None:
            object.__setattr__(self, "endpoints", _endpoints(self.endpoints))

    @property
    def rates(self) -> tuple[tuple[FaultKind, float], ...]:
        """Each request kind with its rate, in the order a draw walks them."""
        return tuple((kind, getattr(self, kind.value)) for kind in REQUEST_KINDS)

    @property
    def webhook_rates(self) -> tuple[tuple[FaultKind, float], ...]:
        """Each webhook kind with its rate, in the order a draw walks them."""
        return tuple((kind, getattr(self, kind.value)) for kind in WEBHOOK_KINDS)

    def applies_to(self, endpoint: str) -> bool:
        return self.endpoints is None or endpoint in self.endpoints

    def choose(self, draw: float) -> FaultKind | None:
        """The request fault for a draw from [0, 1): the kind whose cumulative rate it falls
        under."""
        return _walk(self.rates, draw)

    def choose_webhook(self, draw: float) -> FaultKind | None:
        """The webhook fault for a draw from [0, 1), as `choose` picks request faults."""
        return _walk(self.webhook_rates, draw)

    @classmethod
    def parse(
        cls,
        spec: str,
        *,
        seed: int | None = None,
        endpoints: Iterable[str] | None = None,
        delay_secs: float = 1.0,
        webhook_delay_secs: float = 1.0,
        retry_after_secs: int = 1,
        max_faults: int | None = None,
    ) -> Faults:
        """Faults from a spec like `status503=0.05,reset_after=0.02,delay=0.05:2.0`.

        Each item is `KIND=RATE`; `delay=RATE:SECONDS` also sets how long (else `delay_secs`),
        and so does `webhook_delay=RATE:SECONDS` (else `webhook_delay_secs`).
        Raises ValueError naming the bad part.
        """
        rates: dict[str, float] = {}
        for raw_item in spec.split(","):
            item = raw_item.strip()
            name, equals, value = item.partition("=")
            name = name.strip()
            if not equals or not name:
                raise ValueError(f"fault spec item {item!r} is not KIND=RATE")
            if name not in KINDS:
                raise ValueError(
                    f"unknown fault kind {name!r} in {item!r} (kinds: {_sorted_names(KINDS)})"
                )
            if name in rates:
                raise ValueError(f"fault kind {name!r} is given twice")
            rate_text, colon, secs_text = value.partition(":")
            if colon:
                if name not in (FaultKind.DELAY, FaultKind.WEBHOOK_DELAY):
                    raise ValueError(f"only delay and webhook_delay take ':SECONDS', not {item!r}")
                secs = _number(secs_text, f"the seconds of {item!r} ({name}=RATE:SECONDS)")
                if name == FaultKind.DELAY:
                    delay_secs = secs
                else:
                    webhook_delay_secs = secs
            rates[name] = _number(rate_text, f"the rate of {item!r}")
        return cls(
            **rates,
            delay_secs=delay_secs,
            webhook_delay_secs=webhook_delay_secs,
            retry_after_secs=retry_after_secs,
            seed=seed,
            endpoints=None if endpoints is None else _endpoints(endpoints),
            max_faults=max_faults,
        )


def _walk(rates: tuple[tuple[FaultKind, float], ...], draw: float) -> FaultKind | None:
    cumulative = 0.0
    for kind, rate in rates:
        cumulative += rate
        if draw < cumulative:
            return kind
    return None


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{what} is not a number: {text.strip()!r}") from None


def is_whole(value: object, *, minimum: int | None) -> bool:
    """An int (not a bool) of at least `minimum`, if given."""
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    return minimum is None or value >= minimum


def check_seconds(settings: object, *names: str) -> None:
    """Each of these attributes must be a finite number of seconds >= 0."""
    for name in names:
        secs = getattr(settings, name)
        if not isinstance(secs, int | float) or not (math.isfinite(secs) and secs >= 0):
            raise ValueError(f"{name} must be a number of seconds >= 0, got {secs!r}")


def _endpoints(names: Iterable[str]) -> frozenset[str]:
    if isinstance(names, str):
        raise ValueError(f"endpoints must be a collection of names, not the string {names!r}")
    chosen = frozenset(name.strip() for name in names)
    if not chosen:
        raise ValueError("endpoints is empty: give at least one, or None for all")
    unknown = chosen - ENDPOINTS
    if unknown:
        raise ValueError(
            f"unknown endpoint {_sorted_names(map(repr, unknown))} "
            f"(endpoints: {_sorted_names(ENDPOINTS)})"
        )
    return chosen
