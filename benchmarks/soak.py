"""Start 1,000 runs and follow them with `watch_many` while the emulator injects every fault.

The emulator runs in its own process with `--faults` (each kind at 5% by default) and a fixed
seed. Runs are started concurrently and fed to one `watch_many` as their starts return. The
figures that must hold: runs started == runs requested (no duplicates), one terminal status
per run, and no unclosed-session or pending-task warnings. Also reported: requests, retries,
faults by kind, wall time. Results go to benchmarks/results/NAME.json.

    nox -s bench                       # or: python benchmarks/soak.py --runs 1000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import math
import random
import sys
import time
import warnings
from collections import Counter
from typing import Any

import aiohttp
import anyio
from common import Tally, fault_spec, faults_seen, save

from apify_runs_async import ApifyRuns, Retries, Run
from apify_runs_async.emulator import EmulatorProcess, FaultKind, emulator_process

STARTS_IN_FLIGHT = 50


def run_input(rng: random.Random) -> dict[str, Any]:
    steps = rng.randint(1, 3)
    return {
        "steps": [
            {"sleepSecs": rng.uniform(0.2, 1.5), "statusMessage": f"step {n}"} for n in range(steps)
        ],
        "outcome": "FAILED" if rng.random() < 0.05 else "SUCCEEDED",
    }


async def soak(args: argparse.Namespace, emulator: EmulatorProcess) -> dict[str, Any]:
    rng = random.Random(args.seed)
    retries = Retries(max_tries=args.max_tries)
    started: dict[str, int] = {}  # run id -> how many starts returned it
    ends: Counter[str] = Counter()
    send, receive = anyio.create_memory_object_stream[Run](max_buffer_size=math.inf)
    limiter = anyio.Semaphore(STARTS_IN_FLIGHT)

    async with ApifyRuns(emulator.token, base_url=emulator.base_url, retries=retries) as client:

        async def start_one() -> None:
            async with limiter:
                run = await client.start("emulator~scripted", run_input(rng))
            started[run.id] = started.get(run.id, 0) + 1
            await send.send(run)

        async def start_all() -> None:
            async with send, anyio.create_task_group() as starts:
                for _ in range(args.runs):
                    starts.start_soon(start_one)

        async def runs_as_started() -> Any:
            async with receive:
                async for run in receive:
                    yield run

        began = time.perf_counter()
        with anyio.fail_after(args.time_limit):
            async with anyio.create_task_group() as group:
                group.start_soon(start_all)
                async with client.watch_many(runs_as_started(), poll_interval=5) as updates:
                    async for run_id, run in updates:
                        if run.is_terminal:
                            ends[run_id] += 1
        wall = time.perf_counter() - began
    listed = await count_runs(emulator)
    return {
        "runs_requested": args.runs,
        "runs_started": listed,
        "duplicates": listed - args.runs,
        "starts_returning_one_run_twice": sum(1 for n in started.values() if n > 1),
        "terminal_statuses_delivered": sum(ends.values()),
        "runs_with_a_terminal_status": len(ends),
        "runs_with_more_than_one": sum(1 for n in ends.values() if n > 1),
        "wall_secs": round(wall, 1),
    }


async def count_runs(emulator: EmulatorProcess) -> int:
    """How many runs the emulator holds: its own list, read past any injected fault."""
    headers = {"Authorization": f"Bearer {emulator.token}"}
    url = f"{emulator.base_url}/v2/actors/emulator~scripted/runs?limit=1"
    async with aiohttp.ClientSession(headers=headers) as session:
        for _ in range(100):
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        total: int = (await response.json())["data"]["total"]
                        return total
            except aiohttp.ClientError:
                pass
            await anyio.sleep(0.1)
    raise RuntimeError("could not list the runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument(
        "--fault-rate", type=float, default=0.05, help=f"per kind ({len(FaultKind)} kinds)"
    )
    parser.add_argument("--delay-secs", type=float, default=2.0, help="of the delay fault")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-tries", type=int, default=12, help="Retries.max_tries")
    parser.add_argument("--time-limit", type=float, default=600, help="seconds, then stop")
    parser.add_argument("--name", default="soak")
    args = parser.parse_args()

    tally = Tally()
    for name in ("apify_runs_async", "asyncio"):
        logging.getLogger(name).addHandler(tally)
        logging.getLogger(name).setLevel(logging.DEBUG)
    spec = fault_spec(args.fault_rate, args.delay_secs)
    with (
        warnings.catch_warnings(record=True) as caught,
        emulator_process("--faults", spec, "--seed", str(args.seed)) as emulator,
    ):
        warnings.simplefilter("always")
        loop = asyncio.new_event_loop()
        try:
            figures = loop.run_until_complete(soak(args, emulator))
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        finally:
            loop.close()
        gc.collect()  # an unclosed session or connector warns when it is collected
        faults = faults_seen(emulator.stderr())
    figures |= {
        "requests": tally.requests,
        "retries": tally.retries,
        "faults_seen": sum(faults.values()),
        "faults_by_kind": dict(sorted(faults.items())),
        "fault_spec": spec,
        "seed": args.seed,
        "max_tries": args.max_tries,
        "warnings": [str(w.message)[:200] for w in caught],
        "asyncio_complaints": tally.asyncio_complaints,
        "pending_tasks": len(pending),
    }
    save(args.name, figures)
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    ok = (
        figures["duplicates"] == 0
        and figures["runs_with_a_terminal_status"] == args.runs
        and figures["runs_with_more_than_one"] == 0
        and not figures["warnings"]
        and not figures["asyncio_complaints"]
        and not pending
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
