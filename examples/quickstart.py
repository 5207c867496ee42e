"""Start an Actor run, watch it move through its statuses, and print its OUTPUT.

Runs against an in-process Apify emulator, unless APIFY_TOKEN is set: then against the real
API (or $APIFY_API_BASE_URL), with the Actor named by $QUICKSTART_ACTOR (apify/hello-world).

    python examples/quickstart.py
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from apify_runs_async import ApifyRuns
from apify_runs_async.emulator import ApifyEmulator

# `emulator~scripted` plays whatever its input says: here, three steps and an output.
SCRIPTED_INPUT: dict[str, Any] = {
    "steps": [
        {"sleepSecs": 1.0, "statusMessage": "Crawling page 1 of 3"},
        {"sleepSecs": 1.0, "statusMessage": "Crawling page 2 of 3"},
        {"sleepSecs": 1.0, "statusMessage": "Crawling page 3 of 3"},
    ],
    "outcome": "SUCCEEDED",
    "output": {"pages": 3, "title": "Example Domain"},
}


@contextlib.asynccontextmanager
async def connect() -> AsyncIterator[tuple[ApifyRuns, str, dict[str, Any]]]:
    """A client, the Actor to run and its input: the real API if APIFY_TOKEN is set."""
    if os.environ.get("APIFY_TOKEN"):
        async with ApifyRuns() as client:
            yield client, os.environ.get("QUICKSTART_ACTOR", "apify/hello-world"), {}
        return
    async with (
        ApifyEmulator() as emulator,
        ApifyRuns(emulator.token, base_url=emulator.base_url) as client,
    ):
        print(f"Using the local Apify emulator at {emulator.base_url}")
        yield client, "emulator~scripted", SCRIPTED_INPUT


async def main() -> None:
    async with connect() as (client, actor, run_input):
        run = await client.start(actor, run_input, memory_mbytes=1024)
        print(f"Started run {run.id} of {actor}")
        async for snapshot in client.watch(run.id, poll_interval=1):
            print(f"  {snapshot.status:<10} {snapshot.status_message or ''}")
        output = await client.get_record(run.id, "OUTPUT")
        print("OUTPUT:", output.text() if output else "(none)")


if __name__ == "__main__":
    asyncio.run(main())
