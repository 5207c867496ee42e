"""1,000 runs through `call_many` with idempotency keys, while the emulator injects every fault
and the program driving them is killed (SIGKILL) twice and started again with the same keys.

The emulator runs in its own process with `--faults` (each kind at 10% by default: 70% of
requests fail one way or another) and a fixed seed, without rate limits (they only slow the
soak down). The driver is this script with `--drive`: it calls the scripted Actor once per
key (`soak-0` ... `soak-999`; runs of 1-3 s, 5% FAILED), prints a line per result and its
request counts twice a second. It is killed after `--kill-after` results, twice, and run again.

The figures that must hold: one run kept per key (any other aborted at once), every key's
terminal status delivered by the last driver, and no run left RUNNING or READY at the end.
Also reported: requests, retries and look-ups per key, over all three drivers. Results go to
benchmarks/results/NAME.json.

    nox -s bench            # or: python benchmarks/keyed_soak.py --runs 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import selectors
import signal
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import anyio
from common import Tally, fault_spec, faults_seen, save

from apify_runs_async import ApifyRuns, Retries, RunInput, RunStatus, RunSummary
from apify_runs_async.emulator import EmulatorProcess, emulator_process

ACTOR = "emulator~scripted"
RETRIES = Retries(max_tries=40, first_delay_secs=0.05, max_delay_secs=1.0)
"""With 70% of requests failing, 40 tries leave one request in 10**6 failing every time."""


def run_input(rng: random.Random) -> dict[str, Any]:
    return {
        "steps": [{"sleepSecs": rng.uniform(1, 3), "statusMessage": "working"}],
        "outcome": "FAILED" if rng.random() < 0.05 else "SUCCEEDED",
    }


# --- The driver: a program that calls the Actor once per key ----------------------------------


async def drive(args: argparse.Namespace) -> None:
    tally = Tally()
    for name in ("apify_runs_async", "asyncio"):
        logging.getLogger(name).addHandler(tally)
        logging.getLogger(name).setLevel(logging.DEBUG)
    rng = random.Random(args.seed)  # the same inputs for the same keys, run after run
    inputs: list[RunInput] = [run_input(rng) for _ in range(args.runs)]

    def report() -> None:
        lookups = sum(
            n
            for (m, p), n in tally.by_method_and_path.items()
            if m == "GET" and p.endswith("/runs")
        )
        starts = sum(
            n
            for (m, p), n in tally.by_method_and_path.items()
            if m == "POST" and p.endswith("/runs")
        )
        counts = {
            "requests": tally.requests,
            "retries": tally.retries,
            "lookups": lookups,
            "starts": starts,
            "asyncio_complaints": len(tally.asyncio_complaints),
        }
        print("stats", json.dumps(counts), flush=True)

    async with ApifyRuns(retries=RETRIES, rate_limits=None, max_connections=None) as client:
        calls = client.call_many(
            ACTOR,
            inputs,
            concurrency=args.concurrency,
            idempotency_key=lambda index, _: f"soak-{index}",
        )
        async with calls as results, anyio.create_task_group() as group:

            async def report_often() -> None:
                while True:
                    report()
                    await anyio.sleep(0.5)

            group.start_soon(report_often)
            async for index, result in results:
                print("done", index, result.run.id, result.run.status, flush=True)
            group.cancel_scope.cancel()
    report()


# --- The soak: the emulator, and the driver killed and started again -----------------------------


class Driver:
    """One run of the driver process, read line by line."""

    def __init__(self, emulator: EmulatorProcess, args: argparse.Namespace) -> None:
        env = {**os.environ, "APIFY_TOKEN": emulator.token, "APIFY_API_BASE_URL": emulator.base_url}
        command = [sys.executable, __file__, "--drive", "--runs", str(args.runs)]
        command += ["--seed", str(args.seed), "--concurrency", str(args.concurrency)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
        self.done: Counter[int] = Counter()
        self.statuses: dict[int, str] = {}
        self.stats: dict[str, int] = {}

    def read(self, until_done: int, deadline: float) -> bool:
        """Read its lines until it has delivered `until_done` results, or it ends; False if
        it ended without."""
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while sum(self.done.values()) < until_done:
                if not selector.select(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError("the driver is too slow: raise --time-limit")
                line = self.process.stdout.readline()
                if not line:
                    return False
                kind, _, rest = line.strip().partition(" ")
                if kind == "done":
                    index, _, status = rest.split()
                    self.done[int(index)] += 1
                    self.statuses[int(index)] = status
                elif kind == "stats":
                    self.stats = json.loads(rest)
        return True

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


async def all_runs(emulator: EmulatorProcess) -> list[RunSummary]:
    async with ApifyRuns(emulator.token, base_url=emulator.base_url, retries=RETRIES) as client:
        return [run async for run in client.iterate_runs(ACTOR)]


def key_of(run: RunSummary) -> str:
    words = (run.meta.user_agent or "").split()
    return next((w.partition("/")[2] for w in words if w.startswith("idempotency-key/")), "")


def soak(args: argparse.Namespace) -> dict[str, Any]:
    spec = fault_spec(args.fault_rate, args.delay_secs)
    deadline = time.monotonic() + args.time_limit
    drivers: list[Driver] = []
    began = time.perf_counter()
    with emulator_process("--faults", spec, "--seed", str(args.seed), "--no-rate-limits") as emu:
        for _ in range(args.kills):
            driver = Driver(emu, args)
            drivers.append(driver)
            if not driver.read(args.kill_after, deadline):
                raise RuntimeError(f"the driver ended early, with {driver.process.wait()}")
            driver.kill()
        last = Driver(emu, args)
        drivers.append(last)
        last.read(args.runs, deadline)
        exit_code = last.process.wait(max(1.0, deadline - time.monotonic()))
        wall = time.perf_counter() - began
        # Aborts of twins take a moment to settle; runs still going at the end are the figure.
        time.sleep(1)
        runs = asyncio.run(all_runs(emu))
        faults = faults_seen(emu.stderr())
    by_key: dict[str, list[RunSummary]] = {}
    for run in runs:
        by_key.setdefault(key_of(run), []).append(run)
    kept = {
        key: [r for r in keyed if r.status not in ("ABORTING", "ABORTED")]
        for key, keyed in by_key.items()
    }
    totals = Counter[str]()
    for driver in drivers:
        totals.update(driver.stats)
    keys = args.runs
    return {
        "keys": keys,
        "runs_in_all": len(runs),
        "keys_with_exactly_one_run_kept": sum(
            1 for runs_kept in kept.values() if len(runs_kept) == 1
        ),
        "keys_with_more_than_one_run_kept": sum(
            1 for runs_kept in kept.values() if len(runs_kept) > 1
        ),
        "twins_aborted": len(runs) - sum(len(runs_kept) for runs_kept in kept.values()),
        "runs_without_a_key": len(by_key.get("", [])),
        "terminal_statuses_delivered_by_the_last_driver": sum(last.done.values()),
        "delivered_twice": sum(1 for n in last.done.values() if n > 1),
        "statuses_delivered": dict(Counter(last.statuses.values())),
        "left_running_or_ready": sum(
            1 for run in runs if run.status in (RunStatus.RUNNING, RunStatus.READY)
        ),
        "last_driver_exit_code": exit_code,
        "results_before_each_kill": [sum(d.done.values()) for d in drivers[:-1]],
        "requests_per_key": round(totals["requests"] / keys, 2),
        "retries_per_key": round(totals["retries"] / keys, 2),
        "lookups_per_key": round(totals["lookups"] / keys, 2),
        "start_posts_per_key": round(totals["starts"] / keys, 2),
        "asyncio_complaints": totals["asyncio_complaints"],
        "faults_seen": sum(faults.values()),
        "faults_by_kind": dict(sorted(faults.items())),
        "fault_spec": spec,
        "seed": args.seed,
        "wall_secs": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="keys, one run each")
    parser.add_argument("--concurrency", type=int, default=250)
    parser.add_argument("--fault-rate", type=float, default=0.1, help="per kind (7 kinds)")
    parser.add_argument("--delay-secs", type=float, default=1.0, help="of the delay fault")
    parser.add_argument("--kills", type=int, default=2, help="times the driver is killed")
    parser.add_argument("--kill-after", type=int, default=250, help="results, each time")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--time-limit", type=float, default=900, help="seconds, then stop")
    parser.add_argument("--name", default="keyed_soak")
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        asyncio.run(drive(args))
        return
    figures = soak(args)
    save(args.name, figures)
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    ok = (
        figures["keys_with_exactly_one_run_kept"] == args.runs
        and figures["runs_without_a_key"] == 0
        and figures["terminal_statuses_delivered_by_the_last_driver"] == args.runs
        and figures["delivered_twice"] == 0
        and figures["left_running_or_ready"] == 0
        and figures["last_driver_exit_code"] == 0
        and figures["asyncio_complaints"] == 0
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
