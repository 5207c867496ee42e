"""Follow a 30 s run to its end: our `watch` against the official `call()` and `wait_for_finish()`.

Each follower starts its own run of the `emulator~scripted` scenario: six steps of 5 s, each
setting a status message, then SUCCEEDED. The followers run at once, so the whole takes about
40 s:

- ours: `ApifyRuns(...).start(...)`, then `async for snapshot in client.watch(run)` with
  `poll_interval=None`, which follows a run to its end with the fewest requests (the targets
  are checked on it), and with the default `poll_interval` (5 s), which also sees every status
  message within 5 s;
- official `call()`: `ApifyClientAsync(...).actor(...).call(run_input=...)`, as it comes: it
  streams the run's log and polls its status message every second, and after the end sleeps
  6 s for a last status message;
- official `wait_for_finish()`: `actor(...).start(...)`, then `run(id).wait_for_finish()`.

The emulator runs in this process and event loop (following is bound by latency, not CPU),
and every request it answers is counted, from its DEBUG log line `METHOD PATH -> STATUS`. So
that each request can be told to its follower, each follower's run is of its own copy of the
scripted Actor (the very `emulator~scripted` handler, registered under another name): the
start, the run's GETs and log, and the official client's GET of the Actor all name the
follower's run or Actor. Reported per follower: the requests it sent (the start included),
the delay from the run's `finishedAt` to the client returning (wall clock, same machine), and
the status messages ours saw. Results go to benchmarks/results/NAME.json.

    nox -s bench                       # or: python benchmarks/follow.py
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import anyio
from common import machine, save, table

from apify_runs_async import ApifyRuns
from apify_runs_async.emulator import ApifyEmulator

# The handler behind `emulator~scripted`, registered again under one name per follower.
from apify_runs_async.emulator._builtins import scripted

EMULATOR_LOGGER = "apify_runs_async.emulator"
CLIENT_LOGGER = "apify_runs_async"  # logs each answer at DEBUG


def scenario(steps: int, step_secs: float) -> dict[str, Any]:
    return {
        "steps": [
            {"sleepSecs": step_secs, "statusMessage": f"step {n} of {steps}"}
            for n in range(1, steps + 1)
        ],
        "outcome": "SUCCEEDED",
    }


class RequestLog(logging.Handler):
    """The requests one logger logs at DEBUG as `METHOD PATH -> STATUS...`: the emulator logs
    each request it answers; our client each answer it gets (a cross-check of the count)."""

    def __init__(self, logger_name: str) -> None:
        super().__init__(logging.DEBUG)
        self.logger_name = logger_name
        self.requests: list[tuple[str, str]] = []  # (method, path)

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if (
            record.name == self.logger_name
            and isinstance(record.msg, str)
            and record.msg.startswith("%s %s -> %d")
            and isinstance(args, tuple)
            and len(args) >= 3
        ):
            self.requests.append((str(args[0]), str(args[1])))

    def __enter__(self) -> RequestLog:
        logger = logging.getLogger(self.logger_name)
        logger.addHandler(self)
        self._level = logger.level
        logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc_info: object) -> None:
        logger = logging.getLogger(self.logger_name)
        logger.removeHandler(self)
        logger.setLevel(self._level)


Follow = Callable[["Follower", str, str, dict[str, Any]], Coroutine[Any, Any, None]]


@dataclass
class Follower:
    """One way of following a run, and what it saw."""

    name: str
    follow: Follow  # (follower, base_url, token, run_input)
    actor: str = ""  # the follower's own copy of the scripted Actor: `bench~follow-N`
    actor_id: str = ""
    run_id: str = ""
    returned_at: float = 0.0  # time.time() when the client returned
    finished_at: datetime | None = None
    status: str = ""
    status_messages: list[str] = field(default_factory=list)
    # What the client counted itself: the official one in its statistics, ours in its log.
    client_side_requests: int | None = None
    requests: Counter[str] = field(default_factory=Counter)  # by "METHOD endpoint"

    def owns(self, path: str) -> bool:
        parts = path.split("/")
        return self.run_id in parts or self.actor in parts or self.actor_id in parts

    def endpoint(self, method: str, path: str) -> str:
        """`GET /v2/actor-runs/{run}` and the like: the path with the ids named."""
        names = {self.run_id: "{run}", self.actor: "{actor}", self.actor_id: "{actor}"}
        return f"{method} " + "/".join(names.get(part, part) for part in path.split("/"))


def ours_watch(*, quiet: bool) -> Follow:
    """`watch` with its default poll_interval (5 s), or with `poll_interval=None` (`quiet`)."""

    async def follow(
        follower: Follower, base_url: str, token: str, run_input: dict[str, Any]
    ) -> None:
        async with ApifyRuns(token, base_url=base_url) as client:
            run = await client.start(follower.actor, run_input)
            follower.run_id = run.id
            # The Run that start returned: watch yields it first, without asking again.
            updates = client.watch(run, poll_interval=None) if quiet else client.watch(run)
            async for snapshot in updates:
                message = snapshot.status_message
                if (
                    message
                    and message.startswith("step ")
                    and message not in follower.status_messages
                ):
                    follower.status_messages.append(message)
                follower.status = snapshot.status
            follower.returned_at = time.time()

    return follow


@asynccontextmanager
async def official_client(follower: Follower, base_url: str, token: str) -> AsyncIterator[Any]:
    """The official client; at the end, the requests it counted go to `follower`."""
    apify_client: Any = importlib.import_module("apify_client")
    client = apify_client.ApifyClientAsync(token, api_url=base_url)
    try:
        yield client
    finally:
        follower.client_side_requests = client._statistics.requests
        await client.http_client.aclose()


async def official_call(
    follower: Follower, base_url: str, token: str, run_input: dict[str, Any]
) -> None:
    async with official_client(follower, base_url, token) as client:
        run = await client.actor(follower.actor).call(run_input=run_input)
        follower.returned_at = time.time()
        follower.run_id = run.id
        follower.status = run.status


async def official_wait(
    follower: Follower, base_url: str, token: str, run_input: dict[str, Any]
) -> None:
    async with official_client(follower, base_url, token) as client:
        started = await client.actor(follower.actor).start(run_input=run_input)
        follower.run_id = started.id
        run = await client.run(started.id).wait_for_finish()
        follower.returned_at = time.time()
        follower.status = run.status


FOLLOWERS: dict[str, Follow] = {
    "ours watch()": ours_watch(quiet=False),
    "ours watch(poll_interval=None)": ours_watch(quiet=True),
    "official call()": official_call,
    "official wait_for_finish()": official_wait,
}


async def follow_all(
    args: argparse.Namespace,
) -> tuple[list[Follower], list[tuple[str, str]], list[tuple[str, str]]]:
    """Follow one run per follower, all at once; the requests the emulator answered, and those
    our client logged."""
    run_input = scenario(args.steps, args.step_secs)
    followers = [Follower(name, follow) for name, follow in FOLLOWERS.items()]
    with RequestLog(EMULATOR_LOGGER) as answered, RequestLog(CLIENT_LOGGER) as ours_sent:
        async with ApifyEmulator() as emulator:
            for number, follower in enumerate(followers, 1):
                follower.actor = f"bench~follow-{number}"
                follower.actor_id = emulator.register_actor(follower.actor, scripted)
            with anyio.fail_after(args.steps * args.step_secs + 60):
                async with anyio.create_task_group() as group:
                    for follower in followers:
                        group.start_soon(
                            follower.follow, follower, emulator.base_url, emulator.token, run_input
                        )
            counted = list(answered.requests), list(ours_sent.requests)  # before looking
            async with ApifyRuns(emulator.token, base_url=emulator.base_url) as client:
                for follower in followers:
                    run = await client.get(follower.run_id)
                    assert run is not None
                    follower.finished_at = run.finished_at
    return followers, *counted


def figures(
    followers: list[Follower], answered: list[tuple[str, str]], ours_sent: list[tuple[str, str]]
) -> dict[str, Any]:
    unattributed: Counter[str] = Counter()
    for method, path in answered:
        owner = next((f for f in followers if f.owns(path)), None)
        if owner is None:
            unattributed[f"{method} {path}"] += 1
        else:
            owner.requests[owner.endpoint(method, path)] += 1
    for follower in followers:
        if follower.name.startswith("ours") and ours_sent:
            follower.client_side_requests = sum(1 for _, path in ours_sent if follower.owns(path))
    result: dict[str, Any] = {}
    for follower in followers:
        assert follower.finished_at is not None
        result[follower.name] = {
            "status": follower.status,
            "requests": sum(follower.requests.values()),
            "requests_by_endpoint": dict(follower.requests),
            "requests_counted_by_the_client": follower.client_side_requests,
            "end_to_return_ms": round(
                (follower.returned_at - follower.finished_at.timestamp()) * 1000, 1
            ),
            "status_messages_seen": follower.status_messages
            if follower.name.startswith("ours")
            else None,
        }
    result["unattributed requests"] = dict(unattributed)
    return result


def targets(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    ours, call = result["ours watch(poll_interval=None)"], result["official call()"]
    fewer = call["requests"] / max(ours["requests"], 1)
    return {
        "at least 10x fewer requests than the official call()": {
            "got": round(fewer, 1),
            "needed": 10,
            "met": fewer >= 10,
            "detail": f"{fewer:.1f}x: {ours['requests']} requests against {call['requests']}",
        },
        "the end seen within 100 ms": {
            "got": ours["end_to_return_ms"],
            "needed": 100,
            "met": ours["end_to_return_ms"] <= 100,
            "detail": f"{ours['end_to_return_ms']} ms after the run's finishedAt",
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=6, help="status messages, one per step")
    parser.add_argument("--step-secs", type=float, default=5.0, help="each step's length")
    parser.add_argument("--name", default="follow", help="results file name (no suffix)")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    followers, answered, ours_sent = anyio.run(follow_all, args)
    followed = figures(followers, answered, ours_sent)
    result: dict[str, Any] = {
        "machine": machine(),
        "load_average_1min_before": round(load_before, 2),
        "run": f"{args.steps} steps of {args.step_secs:g} s, a status message each",
        "wall_secs": round(time.perf_counter() - started, 1),
        "followers": followed,
    }
    result["targets"] = targets(followed)
    save(args.name, result)

    header = [
        "follower",
        "requests",
        "counted by the client",
        "end → return (ms)",
        "status messages seen",
        "by endpoint",
    ]
    rows = [
        [
            name,
            row["requests"],
            row["requests_counted_by_the_client"],
            row["end_to_return_ms"],
            "-"
            if row["status_messages_seen"] is None
            else f"{len(row['status_messages_seen'])} of {args.steps}",
            ", ".join(f"{k}: {v}" for k, v in row["requests_by_endpoint"].items()),
        ]
        for name, row in followed.items()
        if name != "unattributed requests"
    ]
    print()
    print(table(rows, header))
    if followed["unattributed requests"]:
        print(f"unattributed requests: {followed['unattributed requests']}")
    print(
        f"wall: {result['wall_secs']} s (the official call() logs the run's log and status "
        "messages to stderr: its default)"
    )
    print()
    for name, target in result["targets"].items():
        print(f"[{'met' if target['met'] else 'MISSED'}] {name}: {target['detail']}")


if __name__ == "__main__":
    main()
