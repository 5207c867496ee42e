"""Waiting out the account's limits: a start refused for memory or concurrent runs is retried.

Such a refusal (400 `actor-memory-limit-exceeded` or `concurrent-runs-limit-exceeded`) means no
run was created, so trying again can never start a run twice.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

import backoff

from . import _validation as check
from ._errors import BadRequestError

LIMIT_ERROR_TYPES = frozenset({"actor-memory-limit-exceeded", "concurrent-runs-limit-exceeded"})


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

    def wait(self, limits_hit: int, elapsed_secs: float) -> float | None:
        """The wait before trying again after `limits_hit` refusals in a row, the first of
        them `elapsed_secs` ago; None once `give_up_secs` have passed."""
        left = self.give_up_secs - elapsed_secs
        if left <= 0:
            return None
        ceilings = backoff.expo(base=2, factor=self.first_secs, max_value=self.max_secs)
        ceiling = next(itertools.islice(ceilings, limits_hit, None))  # its first step is empty
        return min(ceiling * random.uniform(1, 2), left)


def is_limit(error: Exception) -> bool:
    """A start refused for the account's memory or concurrent-runs limit: no run was made."""
    return isinstance(error, BadRequestError) and error.error_type in LIMIT_ERROR_TYPES
