"""A small web service that starts Actor runs and reports on them, on aiohttp.web.

    POST   /jobs        starts a run (the JSON body is its input): 202 {"id", "status"}
    GET    /jobs/{id}   the run's status, and its OUTPUT once it has SUCCEEDED
    DELETE /jobs/{id}   aborts the run

One `ApifyRuns` serves every request: made in the app's `cleanup_ctx`, so it is opened before
the first request and closed after the last. A job is its run: the service keeps no state, and
an `Idempotency-Key` header on POST makes a retried POST start one run, not two.

Runs against an in-process Apify emulator (with a stand-in Actor), unless APIFY_TOKEN is set:
then against the real API, with the Actor named by $SERVICE_ACTOR (apify/hello-world).

    python examples/run_service.py           # a demo: serves, posts a job, follows it, stops
    python examples/run_service.py --serve   # serves on http://127.0.0.1:8080 until Ctrl-C
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
from aiohttp import web

from apify_runs_async import ApifyRuns, BadRequestError, NotFoundError
from apify_runs_async.emulator import ActorContext, ApifyEmulator

CLIENT = web.AppKey("client", ApifyRuns)
ACTOR = web.AppKey("actor", str)

Connect = Callable[[], AbstractAsyncContextManager[tuple[ApifyRuns, str]]]
"""Gives the client and the Actor that the service's jobs run."""

routes = web.RouteTableDef()


@routes.post("/jobs")
async def start_job(request: web.Request) -> web.Response:
    run_input = await request.json() if request.can_read_body else None
    run = await request.app[CLIENT].start(
        request.app[ACTOR], run_input, idempotency_key=request.headers.get("Idempotency-Key")
    )
    return web.json_response(
        {"id": run.id, "status": run.status}, status=202, headers={"Location": f"/jobs/{run.id}"}
    )


@routes.get("/jobs/{id}")
async def job_status(request: web.Request) -> web.Response:
    client = request.app[CLIENT]
    run = await client.get(request.match_info["id"])
    if run is None:
        raise web.HTTPNotFound(text="no such job")
    job: dict[str, Any] = {"id": run.id, "status": run.status, "message": run.status_message}
    if run.status == "SUCCEEDED":
        output = await client.get_record(run, "OUTPUT")
        job["output"] = output.json() if output is not None else None
    return web.json_response(job)


@routes.delete("/jobs/{id}")
async def abort_job(request: web.Request) -> web.Response:
    try:
        run = await request.app[CLIENT].abort(request.match_info["id"])
    except NotFoundError:
        raise web.HTTPNotFound(text="no such job") from None
    except BadRequestError as exc:  # the run has finished already
        raise web.HTTPConflict(text=str(exc)) from None
    return web.json_response({"id": run.id, "status": run.status})


@web.middleware
async def bad_ids(
    request: web.Request, handler: Callable[[web.Request], Any]
) -> web.StreamResponse:
    # The caller's errors: a body that is not JSON, or a malformed job id (the client checks
    # run ids before any request).
    try:
        response: web.StreamResponse = await handler(request)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return response


def make_app(connect: Connect) -> web.Application:
    app = web.Application(middlewares=[bad_ids])

    async def runs_client(app: web.Application) -> AsyncIterator[None]:
        async with connect() as (client, actor):
            app[CLIENT] = client
            app[ACTOR] = actor
            yield

    app.cleanup_ctx.append(runs_client)
    app.add_routes(routes)
    return app


async def summarize(ctx: ActorContext) -> None:
    """The stand-in Actor: "reads" a page, then reports how long it is."""
    url = ctx.input.get("url", "https://example.com") if isinstance(ctx.input, dict) else None
    for step in ("Fetching", "Reading", "Summarizing"):
        ctx.set_status_message(f"{step} {url}")
        if await ctx.sleep(0.2):  # aborted
            return
    ctx.set_record("OUTPUT", {"url": url, "words": 1234})


@contextlib.asynccontextmanager
async def connect() -> AsyncIterator[tuple[ApifyRuns, str]]:
    """A client and the Actor to run: the real API if APIFY_TOKEN is set."""
    if os.environ.get("APIFY_TOKEN"):
        async with ApifyRuns() as client:
            yield client, os.environ.get("SERVICE_ACTOR", "apify/hello-world")
        return
    async with (
        ApifyEmulator(actors={"example~summarize": summarize}) as emulator,
        ApifyRuns(emulator.token, base_url=emulator.base_url) as client,
    ):
        yield client, "example~summarize"


async def demo() -> None:
    """Serve on a free port, post a job, and follow it to its end as a caller would."""
    runner = web.AppRunner(make_app(connect))
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        print(f"Service at {base}")
        async with aiohttp.ClientSession(base) as http:
            async with http.post("/jobs", json={"url": "https://example.com"}) as response:
                job = await response.json()
                print(f"POST /jobs: {response.status} {job['status']}")
            last = None
            while True:
                async with http.get(f"/jobs/{job['id']}") as response:
                    status = await response.json()
                if (status["status"], status["message"]) != last:
                    last = (status["status"], status["message"])
                    print(f"  {status['status']:<10} {status['message'] or ''}")
                if status["status"] not in ("READY", "RUNNING"):
                    break
                await asyncio.sleep(0.2)
            print("output:", status.get("output"))
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="serve until Ctrl-C")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    if args.serve:
        web.run_app(make_app(connect), host="127.0.0.1", port=args.port)
    else:
        asyncio.run(demo())


if __name__ == "__main__":
    main()
