"""What faults to inject: their kinds, rates and limits, from code or a CLI spec string.

Each request on a chosen endpoint draws one number from a seeded generator and walks it over
the kinds' cumulative rates, so a request gets at most one fault and the same seed gives the
same sequence of faults for the same sequence of requests.
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
ENDPOINTS = frozenset(endpoint.value for endpoint in Endpoint)

# Rounding must not make `0.1,0.2,0.7` sum to more than 1.
_SUM_TOLERANCE = 1e-9


def _sorted_names(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


@dataclass(frozen=True, slots=True)
class InjectedFault:
    """One fault the emulator injected: its kind, and the request it hit.

    `path` never has the query string: that may carry the token.
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
        delay_secs: How long the `delay` fault holds the answer.
        retry_after_secs: The `Retry-After` of the `status429` fault, in whole seconds.
        seed: Seeds the generator that picks the faults; None seeds it at random.
        endpoints: The endpoint names (`ENDPOINTS`) whose requests get faults; None: all.
            Requests that match no endpoint never get one.
        max_faults: Stop injecting after this many faults; None: never stop.
    """

    status503: float = 0.0
    status500: float = 0.0
    status429: float = 0.0
    reset_before: float = 0.0
    reset_after: float = 0.0
    truncate: float = 0.0
    delay: float = 0.0
    delay_secs: float = 1.0
    retry_after_secs: int = 1
    seed: int | None = None
    endpoints: frozenset[str] | None = None
    max_faults: int | None = None

    def __post_init__(self) -> None:
        total = 0.0
        for kind, rate in self.rates:
            if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
                raise ValueError(f"the rate of {kind} must be a number from 0 to 1, got {rate!r}")
            total += rate
        if total > 1.0 + _SUM_TOLERANCE:
            raise ValueError(
                f"the fault rates sum to {total:g}, more than 1 (a request gets at most one fault)"
            )
        if not isinstance(self.delay_secs, int | float) or not (
            math.isfinite(self.delay_secs) and self.delay_secs >= 0
        ):
            raise ValueError(
                f"delay_secs must be a number of seconds >= 0, got {self.delay_secs!r}"
            )
        if not _is_whole(self.retry_after_secs, minimum=0):
            raise ValueError(
                f"retry_after_secs must be whole seconds >= 0, got {self.retry_after_secs!r}"
            )
        if self.seed is not None and not _is_whole(self.seed, minimum=None):
            raise ValueError(f"seed must be an integer or None, got {self.seed!r}")
        if self.max_faults is not None and not _is_whole(self.max_faults, minimum=0):
            raise ValueError(f"max_faults must be an integer >= 0 or None, got {self.max_faults!r}")
        if self.endpoints is not None:
            object.__setattr__(self, "endpoints", _endpoints(self.endpoints))

    @property
    def rates(self) -> tuple[tuple[FaultKind, float], ...]:
        """Each kind with its rate, in the order a draw walks them."""
        return tuple((kind, getattr(self, kind.value)) for kind in FaultKind)

    def applies_to(self, endpoint: str) -> bool:
        return self.endpoints is None or endpoint in self.endpoints

    def choose(self, draw: float) -> FaultKind | None:
        """The fault for a draw from [0, 1): the kind whose cumulative rate it falls under."""
        cumulative = 0.0
        for kind, rate in self.rates:
            cumulative += rate
            if draw < cumulative:
                return kind
        return None

    @classmethod
    def parse(
        cls,
        spec: str,
        *,
        seed: int | None = None,
        endpoints: Iterable[str] | None = None,
        delay_secs: float = 1.0,
        retry_after_secs: int = 1,
        max_faults: int | None = None,
    ) -> Faults:
        """Faults from a spec like `status503=0.05,reset_after=0.02,delay=0.05:2.0`.

        Each item is `KIND=RATE`; `delay=RATE:SECONDS` also sets how long (else `delay_secs`).
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
                if name != FaultKind.DELAY:
                    raise ValueError(f"only delay takes ':SECONDS', not {item!r}")
                delay_secs = _number(secs_text, f"the seconds of {item!r} (delay=RATE:SECONDS)")
            rates[name] = _number(rate_text, f"the rate of {item!r}")
        return cls(
            **rates,
            delay_secs=delay_secs,
            retry_after_secs=retry_after_secs,
            seed=seed,
            endpoints=None if endpoints is None else _endpoints(endpoints),
            max_faults=max_faults,
        )


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{what} is not a number: {text.strip()!r}") from None


def _is_whole(value: object, *, minimum: int | None) -> bool:
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    return minimum is None or value >= minimum


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
