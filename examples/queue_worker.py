"""A job-queue worker that runs an Actor per job: a job delivered twice starts one run.

Queues such as Celery, arq and Dramatiq deliver a job at least once: a worker that dies midway
gets its job delivered again. The first delivery here dies the way a killed process does,
leaving its run going; the second delivery of the same job, with the same `idempotency_key`,
finds that run and follows it instead of paying for a new one. Then a worker shuts down
cleanly midway: `call` aborts the run it started, so nothing is left running (and the job,
delivered again, would start afresh).

Runs against an in-process Apify emulator, unless APIFY_TOKEN is set: then against the real
API, with the Actor named by $WORKER_ACTOR (apify/hello-world).

    python examples/queue_worker.py
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from apify_runs_async import ApifyRuns
from apify_runs_async.emulator import ApifyEmulator

JOB_INPUT: dict[str, Any] = {
    "steps": [{"sleepSecs": 1.0, "statusMessage": "Working on order 1234"}],
    "output": {"order": 1234, "shipped": True},
}


@contextlib.asynccontextmanager
async def connect() -> AsyncIterator[tuple[ApifyRuns, str, dict[str, Any]]]:
    """A client, the Actor to run and its input: the real API if APIFY_TOKEN is set."""
    if os.environ.get("APIFY_TOKEN"):
        async with ApifyRuns() as client:
            yield client, os.environ.get("WORKER_ACTOR", "apify/hello-world"), {}
        return
    async with (
        ApifyEmulator() as emulator,
        ApifyRuns(emulator.token, base_url=emulator.base_url) as client,
    ):
        yield client, "emulator~scripted", JOB_INPUT


async def handle(
    client: ApifyRuns, actor: str, job_id: str, job_input: dict[str, Any], *, killed: bool
) -> None:
    """One delivery of a job. `killed`: the worker dies half a second in, the way a process
    killed outright does, so its run is left going (`abort_on_exit=False`)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(0.5 if killed else None):
            result = await client.call(
                actor, job_input, idempotency_key=f"job-{job_id}", abort_on_exit=not killed
            )
            print(f"job {job_id}: run {result.run.id} {result.run.status}")
            return
    print(f"job {job_id}: the worker died")


async def main() -> None:
    async with connect() as (client, actor, job_input):
        await handle(client, actor, "1234", job_input, killed=True)
        await handle(client, actor, "1234", job_input, killed=False)  # delivered again
        print(f"runs started for job 1234: {len((await client.list_runs(actor)).items)}")
        # A clean shutdown midway (a cancellation, Ctrl-C): the run is aborted, not left behind.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await client.call(actor, job_input, idempotency_key="job-5678")
        [latest] = (await client.list_runs(actor, desc=True, limit=1)).items
        print(f"job 5678 after a clean shutdown: run {latest.status}")


if __name__ == "__main__":
    asyncio.run(main())
