"""The exit codes of `apify-runs`: one per way a run can end, and for what went wrong."""

from __future__ import annotations

import enum
from collections.abc import Iterable

from apify_runs_async import RunStatus


class Exit(enum.IntEnum):
    OK = 0
    # 1 is Python's own for an unexpected error (a bug): kept apart from the rest.
    USAGE = 2
    API_ERROR = 3
    FAILED = 4
    ABORTED = 5
    TIMED_OUT = 6
    INTERRUPTED = 130  # 128 + SIGINT, as shells report it


_MEANINGS = {
    Exit.OK: "every run SUCCEEDED (or the command did what it was asked)",
    Exit.USAGE: "a usage error: a bad argument or option, INPUT that is not JSON, ...",
    Exit.API_ERROR: "the API answered with an error, or could not be reached",
    Exit.FAILED: "a run FAILED",
    Exit.ABORTED: "a run was ABORTED",
    Exit.TIMED_OUT: "a run TIMED-OUT",
    Exit.INTERRUPTED: "interrupted (Ctrl-C); `call` aborts its run first, unless --detach",
}

_BY_STATUS: dict[str, Exit] = {
    RunStatus.SUCCEEDED: Exit.OK,
    RunStatus.FAILED: Exit.FAILED,
    RunStatus.ABORTED: Exit.ABORTED,
    RunStatus.TIMED_OUT: Exit.TIMED_OUT,
}


def for_status(status: str) -> Exit:
    """The code for a run that ended with `status`; a status this version does not know
    counts as FAILED: it is not a success."""
    return _BY_STATUS.get(status, Exit.FAILED)


def for_runs(statuses: Iterable[str]) -> Exit:
    """The code for runs that ended so: the largest of theirs, OK when there are none."""
    return max((for_status(status) for status in statuses), default=Exit.OK)


def describe() -> str:
    """The table of codes, for `--help` and the docs."""
    lines = ["exit codes:"]
    lines += [f"  {int(code):<4} {meaning}" for code, meaning in _MEANINGS.items()]
    lines.append("  When runs end differently, the largest of their codes.")
    return "\n".join(lines)
