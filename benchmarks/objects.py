"""Objects the garbage collector tracks for each run followed, while every run long-polls.

The cyclic GC scans every tracked object on a full collection, so with thousands of runs in
flight the objects each one keeps make the loop's pauses. This script starts RUNS runs of an
hour-long Actor on the emulator (in a process of its own), follows them all with `watch_many`
(poll_interval=None: one long-poll a minute each), waits until every run has been yielded once
and is long-polling again, and counts the tracked objects then against before the stream. The
library's own are the objects whose type, coroutine or generator code comes from
apify_runs_async; the rest are aiohttp's, anyio's and asyncio's.

    python benchmarks/objects.py [--runs 400]
"""

from __future__ import annotations

import argparse
import gc
import types
from collections import Counter
from typing import Any

import anyio
from common import machine, save, table

from apify_runs_async import ApifyRuns
from apify_runs_async.emulator import emulator_process

LONG_RUN_INPUT = {"steps": [{"sleepSecs": 3600, "statusMessage": "working"}]}
PACKAGE = "apify_runs_async"


def kind(obj: object) -> str:
    """What an object is, and the module it comes from: for a coroutine or generator, its
    code's file and function."""
    code = getattr(obj, "cr_code", None) or getattr(obj, "ag_code", None)
    code = code or getattr(obj, "gi_code", None)
    if isinstance(code, types.CodeType):
        return f"{type(obj).__name__} {code.co_filename}:{code.co_name}"
    return f"{type(obj).__name__} {type(obj).__module__}"


def census() -> Counter[str]:
    gc.collect()
    return Counter(kind(obj) for obj in gc.get_objects())


def is_ours(kind: str) -> bool:
    return f"/{PACKAGE}/" in kind or f" {PACKAGE}." in kind


async def measure(base_url: str, token: str, runs: int) -> dict[str, Any]:
    async with ApifyRuns(token, base_url=base_url, rate_limits=None, max_connections=None) as c:
        started = [await c.start("emulator~scripted", LONG_RUN_INPUT) for _ in range(runs)]
        before = census()
        async with c.watch_many([run.id for run in started], poll_interval=None) as updates:
            seen = 0
            async for _ in updates:
                seen += 1
                if seen == runs:  # every run yielded once: each is in its next long-poll
                    await anyio.sleep(2)
                    after = census()
                    break
    per_run = {kind: (after[kind] - before[kind]) / runs for kind in after | before}
    ours = {kind: n for kind, n in per_run.items() if is_ours(kind) and n >= 0.5}
    return {
        "machine": machine(),
        "runs": runs,
        "tracked_objects_per_run": round(sum(per_run.values()), 1),
        "library_objects_per_run": round(sum(ours.values()), 1),
        "library_objects": {kind: round(n, 2) for kind, n in sorted(ours.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--name", default="objects")
    args = parser.parse_args()
    with emulator_process("--no-rate-limits") as emulator:
        figures = anyio.run(measure, emulator.base_url, emulator.token, args.runs)
    rows = [[kind, n] for kind, n in figures["library_objects"].items()]
    print(table(rows, ["the library's own, per run followed", "objects"]))
    print(f"all tracked objects per run followed: {figures['tracked_objects_per_run']}")
    print(f"the library's own: {figures['library_objects_per_run']} (target: 8 or fewer)")
    print(f"written to {save(args.name, figures)}")


if __name__ == "__main__":
    main()
