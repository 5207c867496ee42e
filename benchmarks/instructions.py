"""Instructions per `get` in the client process, counted by valgrind: exact where time is not.

Wall-clock figures on a small, shared machine move by 30%; the number of instructions a
process executes barely moves. This script counts them for the three loops of round_trips.py
that share aiohttp (raw aiohttp, aiohttp + decode, ours; the same code, imported from there),
each doing GETs of RUNNING runs from 100 coroutines at once.

How: the emulator runs in a process of its own, not under valgrind (`emulator_process()`, with
`--no-rate-limits`), with a few RUNNING runs started as in round_trips.py. For each loop, this
script runs itself as a worker (`--worker LOOP`, which does the GETs and nothing else) under
`valgrind --tool=callgrind`, once with N GETs and once with 5N. Callgrind counts the user-space
instructions of the whole worker process; the difference of the two counts divided by 4N is
what one more request costs: start-up, imports and opening the 100 connections cancel out.
Under valgrind the client runs some 50 times slower, so the emulator always has the answers
ready; the counts are of the client alone.

Figures are printed and written to benchmarks/results/NAME.json. With the default N (500) the
script takes about 3 minutes on 2 cores.

    python benchmarks/instructions.py               # or: nox -s bench
    python benchmarks/instructions.py --requests 1000 --loops ours "aiohttp + decode"
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from common import machine, save, table
from round_trips import FACTORIES, Get, start_runs

from apify_runs_async.emulator import emulator_process

LOOPS = ("raw aiohttp", "aiohttp + decode", "ours")
BASELINE = "aiohttp + decode"  # what any aiohttp client that gives typed runs costs at least
TARGET_RATIO = 1.05  # ours, over the baseline
CONCURRENCY = 100
RUNS = 4  # RUNNING runs the GETs are spread over
# The totals line of a callgrind output file (`summary:` in newer versions, `totals:` older).
_TOTALS = re.compile(r"^(?:summary|totals): (\d+)", re.MULTILINE)


async def gets(get: Get, run_ids: Sequence[str], requests: int) -> None:
    """`requests` GETs spread over `run_ids`, `CONCURRENCY` at a time."""
    left = requests

    async def worker(index: int) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await get(run_ids[index % len(run_ids)])
            index += 1

    async with anyio.create_task_group() as group:
        for index in range(CONCURRENCY):
            group.start_soon(worker, index)


async def work(loop: str, base_url: str, token: str, run_ids: list[str], requests: int) -> None:
    """What the worker does under valgrind: GETs with one of round_trips.py's loops."""
    async with FACTORIES[loop](base_url, token) as get:
        await gets(get, run_ids, requests)


def count_instructions(
    valgrind: str, loop: str, requests: int, base_url: str, token: str, run_ids: list[str]
) -> int:
    """The instructions a worker doing `requests` GETs executes, start to end."""
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "callgrind.out"
        command = [
            valgrind,
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--worker",
            loop,
            "--requests",
            str(requests),
            "--base-url",
            base_url,
            "--token",
            token,
            "--run-ids",
            *run_ids,
        ]
        finished = subprocess.run(command, capture_output=True, text=True, check=False)
        if finished.returncode != 0:
            raise RuntimeError(f"the {loop} worker failed:\n{finished.stderr[-3000:]}")
        return callgrind_total(out)


def callgrind_total(out: Path) -> int:
    """The instructions a callgrind output file counts in all."""
    match = _TOTALS.search(out.read_text())
    if match is None:
        raise RuntimeError(f"no totals in the callgrind output {out}")
    return int(match.group(1))


def measure(args: argparse.Namespace, valgrind: str) -> dict[str, dict[str, Any]]:
    cells: dict[str, dict[str, Any]] = {}
    with emulator_process("--no-rate-limits") as emulator:
        base_url, token = emulator.base_url, emulator.token
        run_ids = anyio.run(start_runs, base_url, token, RUNS)
        for loop in args.loops:
            counts = {}
            for requests in (args.requests, 5 * args.requests):
                began = time.monotonic()
                counts[requests] = count_instructions(
                    valgrind, loop, requests, base_url, token, run_ids
                )
                print(
                    f"{loop:>16}, {requests:>5} GETs: {counts[requests]:>14,} instructions "
                    f"({time.monotonic() - began:.0f} s under valgrind)",
                    flush=True,
                )
            few, many = counts[args.requests], counts[5 * args.requests]
            cells[loop] = {
                "instructions_with_n": few,
                "instructions_with_5n": many,
                "instructions_per_request": round((many - few) / (4 * args.requests)),
            }
    if BASELINE in cells:
        baseline = cells[BASELINE]["instructions_per_request"]
        for cell in cells.values():
            cell["ratio_to_aiohttp_decode"] = round(cell["instructions_per_request"] / baseline, 3)
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="N: GETs of the shorter run")
    parser.add_argument("--loops", nargs="+", choices=LOOPS, default=list(LOOPS))
    parser.add_argument("--name", default="instructions", help="results file name (no suffix)")
    # What the script passes to itself when it runs as a worker, under valgrind.
    parser.add_argument("--worker", choices=LOOPS, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--run-ids", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        anyio.run(work, args.worker, args.base_url, args.token, args.run_ids, args.requests)
        return

    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("valgrind is not installed: it counts the instructions (apt install valgrind)")
    version = subprocess.run([valgrind, "--version"], capture_output=True, text=True, check=True)
    cells = measure(args, valgrind)
    ratio = cells.get("ours", {}).get("ratio_to_aiohttp_decode")
    result = {
        "machine": machine(),
        "tool": version.stdout.strip(),
        "requests_n": args.requests,
        "concurrency": CONCURRENCY,
        "loops": cells,
        "target": {
            "name": f"ours <= {TARGET_RATIO}x aiohttp + decode, in instructions per get",
            "ratio": ratio,
            "met": None if ratio is None else ratio <= TARGET_RATIO,
        },
    }
    save(args.name, result)

    print()
    header = ["loop", f"N = {args.requests}", f"5N = {5 * args.requests}", "per get", "÷ decode"]
    rows = [
        [
            loop,
            f"{cell['instructions_with_n']:,}",
            f"{cell['instructions_with_5n']:,}",
            f"{cell['instructions_per_request']:,}",
            cell.get("ratio_to_aiohttp_decode", "-"),
        ]
        for loop, cell in cells.items()
    ]
    print(table(rows, header))
    target = result["target"]
    if target["met"] is not None:
        print(f"\n[{'met' if target['met'] else 'MISSED'}] {target['name']}: {ratio}x")


if __name__ == "__main__":
    main()
