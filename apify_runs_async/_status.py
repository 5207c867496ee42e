"""Run statuses, origins and access levels: the API's open enumerations."""

from __future__ import annotations

import enum


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


def is_terminal(status: str) -> bool:
    """Whether `status` is terminal; an unknown status (from a newer API) is not."""
    return status in TERMINAL_STATUSES


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
