"""A web service that starts Actor runs and acts on their ends, told by webhooks, on aiohttp.web.

    POST /jobs           starts a run (the JSON body is its input): 202 {"id", "status"}
    GET  /jobs/{id}      the job: its status, and its run's items once the run has ended
    POST /apify-webhook  where Apify announces the runs' ends (a WebhookReceiver)

Each run is started with the receiver's webhook and handed to one background task, which
follows every run with `as_completed(..., webhooks=receiver)`: no request or connection is held
per run, however many there are. At each end the task stores the run's status and items in its
job. A lost webhook delays an end by up to 30 s (the runs list is the safety net), and never
loses it. Jobs are kept in memory: a sketch, not a database.

Runs against an in-process Apify emulator, which calls the webhook on 127.0.0.1, unless
APIFY_TOKEN is set: then against the real API, with the Actor named by $SERVICE_ACTOR
(apify/hello-world), and the platform must reach this service at $PUBLIC_URL (a proxy or a
tunnel to it, ending in /apify-webhook).

    python examples/webhook_service.py           # a demo: serves, posts 3 jobs, prints their ends
    python examples/webhook_service.py --serve   # serves on http://127.0.0.1:8080 until Ctrl-C
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import secrets
import socket
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import anyio
from aiohttp import web
from anyio.streams.memory import MemoryObjectSendStream

from apify_runs_async import ApifyRuns, Run, WebhookReceiver
from apify_runs_async.emulator import ApifyEmulator

CLIENT = web.AppKey("client", ApifyRuns)
ACTOR = web.AppKey("actor", str)
RECEIVER = web.AppKey("receiver", WebhookReceiver)
STARTED = web.AppKey("started", MemoryObjectSendStream[Run])  # runs for the task to follow
JOBS = web.AppKey("jobs", dict[str, dict[str, Any]])

Connect = Callable[[], AbstractAsyncContextManager[tuple[ApifyRuns, str]]]
"""Gives the client and the Actor that the service's jobs run."""

routes = web.RouteTableDef()


@routes.post("/jobs")
async def start_job(request: web.Request) -> web.Response:
    app = request.app
    run_input = await request.json() if request.can_read_body else None
    run = await app[CLIENT].start(app[ACTOR], run_input, webhooks=app[RECEIVER])
    app[JOBS][run.id] = {"id": run.id, "status": run.status}
    await app[STARTED].send(run)  # its end may come before it is followed: it waits for it
    return web.json_response(app[JOBS][run.id], status=202, headers={"Location": f"/jobs/{run.id}"})


@routes.get("/jobs/{id}")
async def job_status(request: web.Request) -> web.Response:
    job = request.app[JOBS].get(request.match_info["id"])
    if job is None:
        raise web.HTTPNotFound(text="no such job")
    return web.json_response(job)


async def record_ends(
    client: ApifyRuns,
    receiver: WebhookReceiver,
    started: AsyncIterable[Run],
    jobs: dict[str, dict[str, Any]],
) -> None:
    """Follow every run started, and store each one's outcome and items as it ends."""
    async with client.as_completed(started, webhooks=receiver) as ends:
        async for run in ends:
            items = [item async for item in client.iterate_items(run)]
            jobs[run.id] = {"id": run.id, "status": run.status, "items": items}


def make_app(connect: Connect, receiver: WebhookReceiver) -> web.Application:
    app = web.Application()
    app[RECEIVER] = receiver
    app[JOBS] = {}

    async def follow_runs(app: web.Application) -> AsyncIterator[None]:
        async with connect() as (client, actor):
            started, to_follow = anyio.create_memory_object_stream[Run](math.inf)
            with started, to_follow:
                app[CLIENT], app[ACTOR], app[STARTED] = client, actor, started
                task = asyncio.create_task(record_ends(client, receiver, to_follow, app[JOBS]))
                yield
                task.cancel()  # runs still going are left to run
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app.cleanup_ctx.append(follow_runs)
    app.add_routes(routes)
    app.router.add_post("/apify-webhook", receiver)
    return app


@contextlib.asynccontextmanager
async def connect() -> AsyncIterator[tuple[ApifyRuns, str]]:
    """A client and the Actor to run: the real API if APIFY_TOKEN is set."""
    if os.environ.get("APIFY_TOKEN"):
        async with ApifyRuns() as client:
            yield client, os.environ.get("SERVICE_ACTOR", "apify/hello-world")
        return
    async with (
        ApifyEmulator() as emulator,
        ApifyRuns(emulator.token, base_url=emulator.base_url) as client,
    ):
        yield client, "emulator~scripted"


# What the demo's jobs ask of `emulator~scripted`: steps, items to push, and an outcome.
DEMO_JOBS: list[dict[str, Any]] = [
    {"steps": [{"sleepSecs": 0.3}], "pushItems": [{"page": 1}, {"page": 2}]},
    {"steps": [{"sleepSecs": 0.1}], "pushItems": [{"page": 3}]},
    {"steps": [{"sleepSecs": 0.2}], "outcome": "FAILED"},
]


async def demo(public_url: str | None) -> None:
    """Serve on a free port, post the jobs, and wait for their ends as a caller would."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # the port is known before the receiver is made
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        receiver = WebhookReceiver(
            secret=secrets.token_urlsafe(), public_url=public_url or f"{base}/apify-webhook"
        )
        runner = web.AppRunner(make_app(connect, receiver))
        await runner.setup()
        try:
            await web.SockSite(runner, sock).start()
            print(f"Service at {base}")
            async with aiohttp.ClientSession(base) as http:
                ids = []
                for job_input in DEMO_JOBS:
                    async with http.post("/jobs", json=job_input) as response:
                        job = await response.json()
                        print(f"POST /jobs: {response.status} {job['status']}")
                    ids.append(job["id"])
                for number, job_id in enumerate(ids, 1):
                    job = await ended_job(http, job_id)
                    print(f"job {number}: {job['status']}, items {job['items']}")
        finally:
            await runner.cleanup()


async def ended_job(http: aiohttp.ClientSession, job_id: str) -> dict[str, Any]:
    """GET the job until its run has ended: it then has its items."""
    while True:
        async with http.get(f"/jobs/{job_id}") as response:
            job: dict[str, Any] = await response.json()
        if "items" in job:
            return job
        await asyncio.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="serve until Ctrl-C")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    public_url = os.environ.get("PUBLIC_URL")
    if os.environ.get("APIFY_TOKEN") and not public_url:
        parser.error("with APIFY_TOKEN, set PUBLIC_URL: where Apify reaches /apify-webhook")
    if args.serve:
        url = public_url or f"http://127.0.0.1:{args.port}/apify-webhook"
        receiver = WebhookReceiver(secret=secrets.token_urlsafe(), public_url=url)
        web.run_app(make_app(connect, receiver), host="127.0.0.1", port=args.port)
    else:
        asyncio.run(demo(public_url))


if __name__ == "__main__":
    main()
