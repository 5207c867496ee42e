"""Start 10,000 runs and follow every one to its end with `watch_many`, from one event loop.

The emulator runs in a process of its own, with the platform's rate limits on. Each run of
`emulator~scripted` lasts a random 1 to 20 s with three status messages; 5% end FAILED. The
client's figures (wall time, peak RSS and its growth per run, requests, 429s, the delay from
the emulator setting a terminal status to the client yielding it, CPU seconds) are printed and
written to benchmarks/results/NAME.json.

    nox -s bench                       # or: python benchmarks/many_runs.py --runs 10000

`--gc-threshold2 1000` makes the client's full garbage collections rare: the client makes no
cyclic garbage, and with thousands of runs in flight a full collection stalls the loop.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import statistics
import time
from collections import Counter
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
import anyio
import psutil
from common import cpu_secs, machine, percentile, print_targets, save

from apify_runs_async import ApifyRuns, Run
from apify_runs_async.emulator import emulator_process

STARTS_IN_FLIGHT = 64  # starts under way at once: enough to reach 400 a second


class Pauses:
    """How long the client's event loop stalled: each collection of the cyclic GC, and the
    lateness of a 10 ms ticker (any stall: GC, a burst of work)."""

    def __init__(self) -> None:
        self.gc_secs: list[float] = []
        self.gc_collected = 0  # objects only the cyclic GC could free: garbage in cycles
        self.loop_lag_secs: list[float] = []
        self._gc_started = 0.0

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        self.gc_collected += info["collected"]
        if info["generation"] == 2:
            self.gc_secs.append(time.perf_counter() - self._gc_started)

    async def tick(self) -> None:
        while True:
            before = time.perf_counter()
            await anyio.sleep(0.01)
            self.loop_lag_secs.append(time.perf_counter() - before - 0.01)


class Traffic:
    """Counts what the client's session sends and what comes back."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_start.append(self._start)
        self.trace.on_request_end.append(self._end)

    async def _start(
        self, session: Any, context: SimpleNamespace, params: aiohttp.TraceRequestStartParams
    ) -> None:
        self.requests[params.method] += 1

    async def _end(
        self, session: Any, context: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        self.statuses[params.response.status] += 1


def scripted_input(rng: random.Random, min_secs: float, max_secs: float, fail_ratio: float) -> Any:
    duration = rng.uniform(min_secs, max_secs)
    return {
        "steps": [
            {"sleepSecs": duration / 3, "statusMessage": f"Crawling {n} of 3"} for n in (1, 2, 3)
        ],
        "outcome": "FAILED" if rng.random() < fail_ratio else "SUCCEEDED",
    }


async def follow_many(args: argparse.Namespace, base_url: str, token: str) -> dict[str, Any]:
    rng = random.Random(args.seed)
    me = psutil.Process()
    traffic = Traffic()
    terminal_delays: list[float] = []
    terminal_seen: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    peak_rss = 0
    pauses = Pauses()
    gc.callbacks.append(pauses.on_gc)

    async def sample_rss() -> None:
        nonlocal peak_rss
        while True:
            peak_rss = max(peak_rss, me.memory_info().rss)
            await anyio.sleep(0.2)

    inputs = (
        scripted_input(rng, args.min_secs, args.max_secs, args.fail) for _ in range(args.runs)
    )
    # One connection per run being long-polled; an idle one is closed after KEEPALIVE seconds.
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=args.keepalive)
    async with (
        aiohttp.ClientSession(connector=connector, trace_configs=[traffic.trace]) as session,
        ApifyRuns(token, base_url=base_url, session=session) as client,
    ):
        baseline_rss = me.memory_info().rss
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        send, receive = anyio.create_memory_object_stream[Run](args.runs)

        async def start_runs() -> None:
            for run_input in inputs:  # shared by the workers: each input is taken once
                await send.send(await client.start("emulator~scripted", run_input))

        async def start_all() -> None:
            async with send, anyio.create_task_group() as workers:
                for _ in range(STARTS_IN_FLIGHT):
                    workers.start_soon(start_runs)

        with anyio.fail_after(args.time_limit):
            async with anyio.create_task_group() as group:
                group.start_soon(sample_rss)
                group.start_soon(pauses.tick)
                group.start_soon(start_all)
                async with receive, client.watch_many(receive, poll_interval=None) as updates:
                    async for run_id, run in updates:
                        if run.is_terminal:
                            assert run.finished_at is not None
                            terminal_delays.append(time.time() - run.finished_at.timestamp())
                            terminal_seen[run_id] += 1
                            outcomes[run.status] += 1
                group.cancel_scope.cancel()
        wall = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    gc.callbacks.remove(pauses.on_gc)
    gc.collect()
    closed_rss = me.memory_info().rss  # the session and its connections closed
    requests = sum(traffic.requests.values())
    return {
        "runs": args.runs,
        "terminal_statuses_delivered": sum(terminal_seen.values()),
        "runs_with_a_terminal_status": len(terminal_seen),
        "terminal_statuses_delivered_twice": sum(1 for n in terminal_seen.values() if n > 1),
        "outcomes": dict(outcomes),
        "wall_secs": round(wall, 1),
        "client_cpu_secs": round(
            (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime),
            1,
        ),
        "baseline_rss_mb": round(baseline_rss / 2**20, 1),
        "peak_rss_mb": round(peak_rss / 2**20, 1),
        "rss_growth_kb_per_run": round((peak_rss - baseline_rss) / 1024 / args.runs, 2),
        "rss_growth_after_close_kb_per_run": round(
            (closed_rss - baseline_rss) / 1024 / args.runs, 2
        ),
        "requests": requests,
        "requests_by_method": dict(traffic.requests),
        "requests_per_run": round(requests / args.runs, 2),
        "status_429": traffic.statuses[429],
        "terminal_delay_ms_p50": round(percentile(terminal_delays, 0.50) * 1000, 1),
        "terminal_delay_ms_p99": round(percentile(terminal_delays, 0.99) * 1000, 1),
        "terminal_delay_ms_max": round(max(terminal_delays) * 1000, 1),
        "terminal_delay_ms_mean": round(statistics.fmean(terminal_delays) * 1000, 1),
        "full_gc_collections": len(pauses.gc_secs),
        "gc_collected_objects": pauses.gc_collected,
        "full_gc_pause_ms_max": round(max(pauses.gc_secs, default=0) * 1000, 1),
        "loop_lag_ms_p99": round(percentile(pauses.loop_lag_secs, 0.99) * 1000, 1),
        "loop_lag_ms_max": round(max(pauses.loop_lag_secs) * 1000, 1),
    }


TARGETS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "every terminal status delivered, none twice": lambda r: (
        r["runs_with_a_terminal_status"] == r["runs"] == r["terminal_statuses_delivered"]
    ),
    "zero 429s with the emulator's rate limits on": lambda r: r["status_429"] == 0,
    "at most 3 requests per run": lambda r: r["requests_per_run"] <= 3,
    "terminal delay p99 under 100 ms": lambda r: r["terminal_delay_ms_p99"] < 100,
    "RSS growth under 5 KB per run": lambda r: r["rss_growth_kb_per_run"] < 5,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--min-secs", type=float, default=1.0)
    parser.add_argument("--max-secs", type=float, default=20.0)
    parser.add_argument("--fail", type=float, default=0.05, help="share of runs that fail")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--gc-threshold2",
        type=int,
        default=None,
        help="raise the cyclic GC's third threshold (full collections rarer); default: Python's",
    )
    parser.add_argument("--name", default="many_runs", help="results file name (no suffix)")
    parser.add_argument("--keepalive", type=float, default=15, help="idle connection kept (s)")
    parser.add_argument("--time-limit", type=float, default=600, help="give up after (s)")
    args = parser.parse_args()

    if args.gc_threshold2 is not None:
        first, second, _ = gc.get_threshold()
        gc.set_threshold(first, second, args.gc_threshold2)
    with emulator_process() as emulator:
        result = anyio.run(follow_many, args, emulator.base_url, emulator.token)
        server = psutil.Process(emulator.process.pid)
        result["emulator_cpu_secs"] = round(cpu_secs(server), 1)
        result["emulator_rss_mb"] = round(server.memory_info().rss / 2**20, 1)
    result["machine"] = machine()
    result["gc_threshold"] = list(gc.get_threshold())
    result["targets"] = {name: check(result) for name, check in TARGETS.items()}

    save(args.name, result)
    width = max(map(len, result))
    for key, value in result.items():
        if key != "targets":
            print(f"{key:<{width}}  {value}")
    print()
    print_targets(result["targets"])


if __name__ == "__main__":
    main()
