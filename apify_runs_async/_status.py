"""Run statuses, origins, access levels and pricing models: the API's open enumerations.

Models keep these values as plain `str`, so a value from a newer API decodes like any other;
the members here are named constants that compare equal to the wire strings:

>>> run.status == RunStatus.SUCCEEDED
True
"""

from __future__ import annotations

import enum
from datetime import datetime


class RunStatus(enum.StrEnum):
    """The status of an Actor run.

    >>> RunStatus.SUCCEEDED.is_terminal
    True
    """

    READY = "READY"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMING_OUT = "TIMING-OUT"
    TIMED_OUT = "TIMED-OUT"
    ABORTING = "ABORTING"
    ABORTED = "ABORTED"

    @property
    def is_terminal(self) -> bool:
        """True for the four statuses a run never leaves on its own."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES: frozenset[str] = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.ABORTED}
)
_KNOWN_STATUSES: frozenset[str] = frozenset(RunStatus)


def is_terminal(status: str, finished_at: datetime | None = None) -> bool:
    """Whether a run with `status` (and `finished_at`, if known) has ended.

    A status this version knows decides alone. One it does not know (from a newer API) counts
    as terminal once the run has a finish time, so a new status cannot make a waiter poll
    forever; without a finish time it is not terminal. `Run.is_terminal` is this rule.
    """
    if status in _KNOWN_STATUSES:
        return status in TERMINAL_STATUSES
    return finished_at is not None


class RunOrigin(enum.StrEnum):
    """Where a run was started from (`meta.origin`)."""

    DEVELOPMENT = "DEVELOPMENT"
    WEB = "WEB"
    API = "API"
    SCHEDULER = "SCHEDULER"
    TEST = "TEST"
    WEBHOOK = "WEBHOOK"
    ACTOR = "ACTOR"
    CLI = "CLI"
    CI = "CI"
    STANDBY = "STANDBY"
    MCP = "MCP"


class GeneralAccess(enum.StrEnum):
    """Who may read a run besides its owner."""

    ANYONE_WITH_ID_CAN_READ = "ANYONE_WITH_ID_CAN_READ"
    ANYONE_WITH_NAME_CAN_READ = "ANYONE_WITH_NAME_CAN_READ"
    FOLLOW_USER_SETTING = "FOLLOW_USER_SETTING"
    RESTRICTED = "RESTRICTED"


class PricingModel(enum.StrEnum):
    """How the Actor of a run charges (`pricing_info.pricing_model`)."""

    PAY_PER_EVENT = "PAY_PER_EVENT"
    PRICE_PER_DATASET_ITEM = "PRICE_PER_DATASET_ITEM"
    FLAT_PRICE_PER_MONTH = "FLAT_PRICE_PER_MONTH"
    FREE = "FREE"
