"""Small things many test files share."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from apify_runs_async import Retries
from tests.spec import run_response_examples

FAST_RETRIES = Retries(delay=lambda tries, retry_after: 0.001)
"""The default number of tries, with waits of a millisecond: retry tests run fast."""

ONE_TRY = Retries(max_tries=1)
"""No retries: for tests about how a single failure reads."""


_RUN = run_response_examples()[0][1]["data"]


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
