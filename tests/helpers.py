"""Small things many test files share."""

from __future__ import annotations

import contextlib
import copy
from types import SimpleNamespace
from typing import Any

import aiohttp

from apify_runs_async import Retries, RunStatus
from apify_runs_async.emulator import FaultKind
from tests.spec import run_response_examples

FAST_RETRIES = Retries(delay=lambda tries, retry_after: 0.001)
"""The default number of tries, with waits of a millisecond: retry tests run fast."""

ONE_TRY = Retries(max_tries=1)
"""No retries: for tests about how a single failure reads."""

SCRIPTED = "emulator~scripted"
"""The emulator's Actor that follows the script of its input (see `script`)."""

STOPPED = {RunStatus.ABORTING, RunStatus.ABORTED}
"""The statuses of a run that was aborted."""

REQUEST_FAULT_KINDS = [kind.value for kind in FaultKind if not kind.is_webhook]
"""The fault kinds the emulator injects into requests (not into webhook dispatches)."""

SHORT_GRACE = Retries(not_found_grace_secs=0.5)
"""A run still missing after 0.5 s, not the default 3 s, is taken not to exist: tests of a
missing run end soon."""


_RUN = run_response_examples()[0][1]["data"]

RUN_ID: str = _RUN["id"]
"""The id of the spec's example run, which `run_body()` answers with: the client checks that
an answer is about the run it asked for."""


def run_body(**changes: Any) -> dict[str, Any]:
    """The spec's example run response, with some fields changed (`stats` is merged)."""
    run = copy.deepcopy(_RUN)
    stats = changes.pop("stats", {})
    run.update(changes)
    run["stats"].update(stats)
    return {"data": run}


def everything_about(error: BaseException) -> list[str]:
    """What a traceback, a log or a debugger could show of an error and every error it links
    to, however deep the chain of causes and contexts goes."""
    texts: list[str] = []
    todo: list[BaseException] = [error]
    seen: set[int] = set()
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        with contextlib.suppress(TypeError):  # some C-level exceptions have no __dict__
            texts.append(repr(vars(current)))
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
    return texts


def script(
    *messages: str,
    step_secs: float = 0.1,
    outcome: str = "SUCCEEDED",
    output: Any = None,
    exit_code: int | None = None,
) -> dict[str, Any]:
    """Input for `emulator~scripted`: one step per status message, then the outcome."""
    scripted: dict[str, Any] = {
        "steps": [{"sleepSecs": step_secs, "statusMessage": m} for m in messages],
        "outcome": outcome,
    }
    if output is not None:
        scripted["output"] = output
    if exit_code is not None:
        scripted["exitCode"] = exit_code
    return scripted


LONG = script("working", step_secs=30)
"""A run that stays RUNNING for the whole test."""


class RequestCounter:
    """Counts the requests an aiohttp session sends, by method and path."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_start.append(self._on_request_start)

    async def _on_request_start(
        self,
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        self.sent.append((params.method, params.url.path))
