"""A program that uses the client as a user's script would, for tests that interrupt or kill it.

It reads the API's address and token from APIFY_API_BASE_URL and APIFY_TOKEN, as any program
would, and prints what it did, one line at a time, for the test to read.

    python -m tests.driver call-many N [--fail-one] [--backend asyncio|anyio]
        call_many of N runs that take 30 s; prints "ready" once all N are in flight. With
        --fail-one, one more run fails after 0.5 s, and raise_on_failure is on.
    python -m tests.driver start KEY [--at UNIX_TIME] [--hold]
        a start with the idempotency key KEY (at that time, if given); prints the run's id,
        then with --hold waits to be killed.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import anyio

from apify_runs_async import ApifyRuns, RunInput

SCRIPTED = "emulator~scripted"
LONG = {"steps": [{"sleepSecs": 30, "statusMessage": "working"}]}
DOOMED = {"steps": [{"sleepSecs": 0.5, "statusMessage": "doomed"}], "outcome": "FAILED"}


def say(line: str) -> None:
    print(line, flush=True)


async def call_many(count: int, fail_one: bool) -> None:
    inputs: list[RunInput] = [LONG] * count + ([DOOMED] if fail_one else [])
    async with (
        ApifyRuns() as client,
        client.call_many(
            SCRIPTED, inputs, concurrency=len(inputs), raise_on_failure=fail_one
        ) as results,
    ):

        async def tell_when_ready() -> None:
            while len(results.runs_in_flight) < len(inputs):  # noqa: ASYNC110 (a plain view)
                await anyio.sleep(0.02)
            say("ready")

        async with anyio.create_task_group() as group:
            group.start_soon(tell_when_ready)
            async for index, result in results:
                say(f"done {index} {result.run.status}")


async def start(key: str, at: float | None, hold: bool) -> None:
    async with ApifyRuns() as client:
        if at is not None:
            await anyio.sleep(max(0.0, at - time.time()))
        run = await client.start(SCRIPTED, LONG, idempotency_key=key)
        say(f"run {run.id}")
        if hold:
            await anyio.sleep_forever()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.driver")
    commands = parser.add_subparsers(dest="command", required=True)
    many = commands.add_parser("call-many")
    many.add_argument("count", type=int)
    many.add_argument("--fail-one", action="store_true")
    many.add_argument("--backend", choices=["asyncio", "anyio"], default="asyncio")
    one = commands.add_parser("start")
    one.add_argument("key")
    one.add_argument("--at", type=float)
    one.add_argument("--hold", action="store_true")
    args = parser.parse_args()
    if args.command == "call-many":
        if args.backend == "anyio":
            anyio.run(call_many, args.count, args.fail_one)
        else:
            asyncio.run(call_many(args.count, args.fail_one))
    else:
        asyncio.run(start(args.key, args.at, args.hold))


if __name__ == "__main__":
    main()
