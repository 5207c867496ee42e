"""`get(run_id)` round trips: ours, the official `ApifyClientAsync`, and raw aiohttp as the floor.

The emulator runs in a process of its own with `--no-rate-limits` (the platform allows 60
requests a second per run, and this is about the client, not the limit). A few runs of
`emulator~scripted` are started with one long step, so they stay RUNNING, and the GETs are
spread over them. Each client is driven sequentially (one coroutine), then by 100 and by 1,000
coroutines each doing GETs in a loop, for a fixed window after a warm-up; only what happens in
the window counts. The clients take turns in rounds (each round starts with the next one), and
the rounds are pooled: by default 3 rounds of 2 s windows, about 80 s in all.

- ours: `ApifyRuns(..., rate_limits=None, max_connections=None)`. The official client has no
  client-side rate limiting, so ours runs without it, for fairness (nor with a connection
  cap); retries and timeouts are left at their defaults.
- official: `ApifyClientAsync(token, api_url=...)` as it comes (4 retries, 5 s timeout for a
  get), and `await client.run(run_id).get()`, as its docs show.
- raw aiohttp: one `ClientSession` (no connection cap), the same URL and headers as ours,
  `await response.read()`, no decoding: the floor any aiohttp client stands on.
- aiohttp + decode: the same, then the body decoded into our `Run` with our msgspec decoder
  and nothing else: no checks, no retries. What any aiohttp client that gives typed runs
  costs at least; where it misses a throughput target, no such client can meet it here.

For each client and concurrency: requests/s, the client's CPU µs per request (process time of
this process, all threads: the official client's HTTP runs in Rust threads), p50/p99 latency,
and the CPU of both processes over the window as a share of one core. The emulator is
single-threaded: near 1.0 it, not the client, bounds the throughput. On a small machine the
two processes (and anything else running) share the cores, so requests/s is the noisier
figure and CPU per request the steadier one; the load average is recorded with the results.
Figures are printed and written to benchmarks/results/NAME.json.

    nox -s bench                       # or: python benchmarks/round_trips.py --rounds 5
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import anyio
import psutil
from common import cpu_secs, machine, percentile, save, table

from apify_runs_async import ApifyRuns
from apify_runs_async._models import run_response_decoder
from apify_runs_async.emulator import emulator_process

CLIENTS = ("raw aiohttp", "aiohttp + decode", "ours", "ApifyClientAsync")
LONG_RUN_INPUT = {"steps": [{"sleepSecs": 3600, "statusMessage": "Holding still"}]}

Get = Callable[[str], Awaitable[object]]


@dataclass
class Cell:
    """One client at one concurrency: what a measuring window saw."""

    requests: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    wall_secs: float = 0.0
    cpu_secs: float = 0.0
    emulator_cpu_secs: float = 0.0
    round_rates: list[int] = field(default_factory=list)  # requests/s of each round

    def add(self, other: Cell) -> None:
        """Pool another round's window into this one."""
        self.requests += other.requests
        self.errors.update(other.errors)
        self.latencies += other.latencies
        self.wall_secs += other.wall_secs
        self.cpu_secs += other.cpu_secs
        self.emulator_cpu_secs += other.emulator_cpu_secs
        self.round_rates.append(round(other.requests / other.wall_secs))

    def figures(self) -> dict[str, Any]:
        done = max(self.requests, 1)
        lat = self.latencies or [float("nan")]
        return {
            "requests": self.requests,
            "errors": dict(self.errors),
            "requests_per_sec": round(self.requests / self.wall_secs),
            "requests_per_sec_by_round": self.round_rates,
            "client_cpu_us_per_request": round(self.cpu_secs / done * 1e6, 1),
            "client_cpu_share_of_a_core": round(self.cpu_secs / self.wall_secs, 2),
            "latency_ms_p50": round(percentile(lat, 0.50) * 1000, 2),
            "latency_ms_p99": round(percentile(lat, 0.99) * 1000, 2),
            "emulator_cpu_us_per_request": round(self.emulator_cpu_secs / done * 1e6, 1),
            "emulator_cpu_share_of_a_core": round(self.emulator_cpu_secs / self.wall_secs, 2),
        }


async def drive(
    get: Get, run_ids: Sequence[str], concurrency: int, secs: float, emulator: psutil.Process
) -> Cell:
    """`concurrency` coroutines doing GETs in a loop for `secs`.

    Only the window counts: requests that ended in it, and the CPU time spent in it, sampled
    as it closes; the requests still in flight then finish unmeasured, so the window is all
    steady load, without the tail of the last few."""
    cell = Cell()
    latencies = cell.latencies
    clock = time.monotonic  # the event loop's clock: anyio.sleep wakes on it
    started = clock()
    stop_at = started + secs

    async def worker(index: int) -> None:
        count = len(run_ids)
        while (before := clock()) < stop_at:
            run_id = run_ids[index % count]
            index += 1
            try:
                await get(run_id)
            except Exception as exc:
                if clock() < stop_at:
                    cell.errors[type(exc).__name__] += 1
                continue
            if (after := clock()) < stop_at:
                latencies.append(after - before)

    async def close_window() -> None:
        await anyio.sleep(stop_at - clock())
        cell.wall_secs = clock() - started
        cell.cpu_secs = time.process_time() - cpu_before
        cell.emulator_cpu_secs = cpu_secs(emulator) - emulator_before

    emulator_before = cpu_secs(emulator)
    cpu_before = time.process_time()
    async with anyio.create_task_group() as group:
        group.start_soon(close_window)
        for index in range(concurrency):
            group.start_soon(worker, index)
    cell.requests = len(latencies)
    return cell


@asynccontextmanager
async def raw_aiohttp(base_url: str, token: str, *, decode: bool = False) -> AsyncIterator[Get]:
    # The headers ours sends on a GET: its User-Agent, Accept and the token.
    user_agent = importlib.import_module("apify_runs_async._config").USER_AGENT
    headers = {"User-Agent": user_agent, "Accept": "application/json"}
    headers["Authorization"] = f"Bearer {token}"
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=30)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def get(run_id: str) -> object:
            async with session.get(f"{base_url}/v2/actor-runs/{run_id}", headers=headers) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"status {resp.status}")
            return run_response_decoder.decode(body).data if decode else body

        yield get


@asynccontextmanager
async def ours(base_url: str, token: str) -> AsyncIterator[Get]:
    async with ApifyRuns(
        token, base_url=base_url, rate_limits=None, max_connections=None
    ) as client:

        async def get(run_id: str) -> object:
            run = await client.get(run_id)
            if run is None:
                raise RuntimeError("not found")
            return run

        yield get


@asynccontextmanager
async def official(base_url: str, token: str) -> AsyncIterator[Get]:
    apify_client: Any = importlib.import_module("apify_client")
    client = apify_client.ApifyClientAsync(token, api_url=base_url)
    try:

        async def get(run_id: str) -> object:
            run = await client.run(run_id).get()
            if run is None:
                raise RuntimeError("not found")
            return run

        yield get
    finally:
        await client.http_client.aclose()


FACTORIES: dict[str, Callable[[str, str], AbstractAsyncContextManager[Get]]] = {
    "raw aiohttp": raw_aiohttp,
    "aiohttp + decode": functools.partial(raw_aiohttp, decode=True),
    "ours": ours,
    "ApifyClientAsync": official,
}


async def start_runs(base_url: str, token: str, count: int) -> list[str]:
    async with ApifyRuns(token, base_url=base_url, rate_limits=None) as client:
        runs = [await client.start("emulator~scripted", LONG_RUN_INPUT) for _ in range(count)]
        for run in runs:  # READY for a moment, then RUNNING for an hour
            for _ in range(200):
                got = await client.get(run.id)
                if got is not None and got.status == "RUNNING":
                    break
                await anyio.sleep(0.05)
            else:
                raise RuntimeError(f"run {run.id} is not RUNNING")
    return [run.id for run in runs]


async def bench(
    args: argparse.Namespace, base_url: str, token: str, emulator: psutil.Process
) -> dict[str, dict[str, Any]]:
    """Every client at every concurrency, in rounds; each round starts with the next client,
    so that no client is always the one measured first (or right after another's burst)."""
    run_ids = await start_runs(base_url, token, args.runs)
    cells = {(name, c): Cell() for c in args.concurrency for name in args.clients}
    for round_number in range(args.rounds):
        shift = round_number % len(args.clients)
        order = args.clients[shift:] + args.clients[:shift]
        for concurrency in args.concurrency:
            for name in order:
                async with FACTORIES[name](base_url, token) as get:
                    # Warm up: connections opened, code paths and caches hot.
                    await drive(get, run_ids, concurrency, args.warmup_secs, emulator)
                    window = await drive(get, run_ids, concurrency, args.secs, emulator)
                cells[name, concurrency].add(window)
                print(
                    f"round {round_number + 1}: {name:>16} @ {concurrency:>4}: "
                    f"{window.requests / window.wall_secs:>6.0f} req/s, "
                    f"{window.cpu_secs / max(window.requests, 1) * 1e6:>6.1f} µs CPU/req, "
                    f"emulator {window.emulator_cpu_secs / window.wall_secs:.0%} of a core"
                    + (f", errors {dict(window.errors)}" if window.errors else ""),
                    flush=True,
                )
    return {
        f"{name} @ {concurrency}": {"client": name, "concurrency": concurrency, **cell.figures()}
        for (name, concurrency), cell in cells.items()
    }


def targets(cells: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each target: the ratio measured, the ratio needed, met (None: a cell was not run)."""

    def check(a: str, b: str, key: str, needed: float, at_most: bool) -> dict[str, Any]:
        if a not in cells or b not in cells or not cells[b][key]:
            return {"ratio": None, "needed": needed, "met": None}
        got = float(cells[a][key]) / float(cells[b][key])
        return {
            "ratio": round(got, 2),
            "needed": needed,
            "met": got <= needed if at_most else got >= needed,
        }

    checks: dict[str, dict[str, Any]] = {}
    for concurrency, needed in ((1, 3.0), (100, 2.0)):
        goal = f"get throughput >= {needed:g}x ApifyClientAsync at concurrency {concurrency}"
        # The same goal for aiohttp + decode alone says whether any aiohttp client can meet it.
        for client in ("ours", "aiohttp + decode"):
            label = goal if client == "ours" else f"{goal}, by {client} alone"
            checks[label] = check(
                f"{client} @ {concurrency}",
                f"ApifyClientAsync @ {concurrency}",
                "requests_per_sec",
                needed,
                at_most=False,
            )
    for concurrency in sorted({cell["concurrency"] for cell in cells.values()}):
        checks[f"client CPU per request <= 1.5x raw aiohttp at concurrency {concurrency}"] = check(
            f"ours @ {concurrency}",
            f"raw aiohttp @ {concurrency}",
            "client_cpu_us_per_request",
            1.5,
            at_most=True,
        )
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--secs", type=float, default=2.0, help="measuring window per cell")
    parser.add_argument("--warmup-secs", type=float, default=0.75, help="warm-up per cell")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, pooled")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 100, 1000], help="coroutines"
    )
    parser.add_argument("--clients", nargs="+", choices=CLIENTS, default=list(CLIENTS))
    parser.add_argument("--runs", type=int, default=4, help="RUNNING runs the GETs spread over")
    parser.add_argument("--name", default="round_trips", help="results file name (no suffix)")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    with emulator_process("--no-rate-limits") as emulator:
        server = psutil.Process(emulator.process.pid)
        cells = anyio.run(bench, args, emulator.base_url, emulator.token, server)
    result: dict[str, Any] = {
        "machine": machine(),
        # Other work on the machine skews the figures: compare with the number of cores.
        "load_average_1min_before": round(load_before, 2),
        "load_average_1min_after": round(os.getloadavg()[0], 2),
        "secs_per_cell_and_round": args.secs,
        "warmup_secs_per_cell_and_round": args.warmup_secs,
        "rounds": args.rounds,
        "ours_settings": "rate_limits=None, max_connections=None (the official client has neither)",
        "cells": cells,
        "targets": targets(cells),
    }
    save(args.name, result)

    print()
    header = [
        "client",
        "concurrency",
        "requests/s",
        "client CPU µs/req",
        "p50 ms",
        "p99 ms",
        "client CPU (cores)",
        "emulator CPU (cores)",
        "errors",
    ]
    rows = [
        [
            cell["client"],
            cell["concurrency"],
            cell["requests_per_sec"],
            cell["client_cpu_us_per_request"],
            cell["latency_ms_p50"],
            cell["latency_ms_p99"],
            cell["client_cpu_share_of_a_core"],
            cell["emulator_cpu_share_of_a_core"],
            sum(cell["errors"].values()),
        ]
        for cell in cells.values()
    ]
    print(table(rows, header))
    print()
    for name, target in result["targets"].items():
        met = target["met"]
        verdict = "n/a" if met is None else "met" if met else "MISSED"
        print(f"[{verdict}] {name}: {target['ratio']}x")
    print(
        f"\nload average (1 min) {result['load_average_1min_before']} before, "
        f"{result['load_average_1min_after']} after, on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
