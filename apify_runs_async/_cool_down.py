"""Waiting out the account's limits: a start refused for memory or concurrent runs is retried.

Such a refusal (400 `actor-memory-limit-exceeded` or `concurrent-runs-limit-exceeded`) means no
run was created, so trying again can never start a run twice.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import backoff

from . import _validation as check
from ._errors import BadRequestError

logger = logging.getLogger("apify_runs_async")

LIMIT_ERROR_TYPES = frozenset({"actor-memory-limit-exceeded", "concurrent-runs-limit-exceeded"})

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CoolDown:
    """How a start that hit the account's limits waits before it tries again.

    The first wait is `first_secs`, each next one doubles up to `max_secs`, and each is
    stretched by a random factor from 1 to 2 (Apify's advice), so that many waiting starts do
    not all come back at once. After `give_up_secs` the limit error is raised.
    """

    first_secs: float = 10.0
    max_secs: float = 60.0
    give_up_secs: float = 600.0

    def __post_init__(self) -> None:
        check.positive(self.first_secs, "CoolDown.first_secs")  # 0 would retry in a tight loop
        check.positive(self.max_secs, "CoolDown.max_secs")
        check.non_negative(self.give_up_secs, "CoolDown.give_up_secs")

    def retrying(self, send: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        """`send`, tried again while it fails with a limit error, within this cool-down."""
        retrying: Callable[..., Awaitable[T]] = backoff.on_exception(
            lambda: backoff.expo(base=2, factor=self.first_secs, max_value=self.max_secs),
            BadRequestError,
            giveup=_not_a_limit,
            max_time=self.give_up_secs,
            jitter=lambda wait: wait * random.uniform(1, 2),
            on_backoff=_log_wait,
            logger=None,  # its messages would show the request, input included
        )(send)
        return retrying


def _not_a_limit(error: Exception) -> bool:
    return not (isinstance(error, BadRequestError) and error.error_type in LIMIT_ERROR_TYPES)


def _log_wait(details: Any) -> None:
    error = details["exception"]
    logger.info("%s; trying again in %.1f s", error, details["wait"])
