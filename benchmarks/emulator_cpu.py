"""The emulator's CPU time per `get`, on each event loop it can serve on.

The emulator's CPU bounds how fast any client can go against it (round_trips.py shows it near
one core at 100 GETs at once), so what it spends per request matters to every benchmark here.
For each event loop (`--loop asyncio`, and `--loop uvloop` when uvloop is installed), the
emulator process is started with `--no-rate-limits`, a few runs are started and left RUNNING
(as in round_trips.py), and raw aiohttp (round_trips.py's loop: the cheapest client, so the
emulator gets the most of the machine) does GETs from 100 coroutines: a warm-up, then a fixed
number over which the emulator process's CPU time (user and system, read with psutil) is
measured. The loops take turns in rounds, each with a fresh emulator; the median round counts.
CPU time per request moves less than requests/s on a shared machine, but it moves too (rounds
spread by ±15% here with the load average at 2 to 6 on 2 cores): compare figures from one
invocation, or count instructions.

With `--instructions` the emulator runs under `valgrind --tool=callgrind` instead, once for
N GETs and once for 5N, and what one more GET costs it in user-space instructions is the
difference over 4N (as in instructions.py, where the client is counted): a figure that does
not move with the machine's load, though it leaves out the kernel's share (system calls).

    python benchmarks/emulator_cpu.py                  # or: nox -s bench
    python benchmarks/emulator_cpu.py --loops asyncio --requests 50000
    python benchmarks/emulator_cpu.py --instructions   # about 2 minutes
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import psutil
from common import machine, save, table
from instructions import CONCURRENCY, RUNS, callgrind_total, gets
from round_trips import raw_aiohttp, start_runs

from apify_runs_async.emulator import emulator_process

LOOPS = ("asyncio", "uvloop")
_LISTENING = re.compile(r"listening on (http://\S+) \(token: (\S+)\)")


async def drive(
    base_url: str, token: str, server: psutil.Process, args: argparse.Namespace, requests: int
) -> tuple[float, float, float]:
    """Start RUNNING runs, GET them `args.warmup` times, then `requests` times: the emulator's
    CPU seconds (all, and the kernel's share) and the wall seconds of the latter."""
    run_ids = await start_runs(base_url, token, RUNS)
    async with raw_aiohttp(base_url, token) as get:
        await gets(get, run_ids, args.warmup)
        before, began = server.cpu_times(), time.monotonic()
        await gets(get, run_ids, requests)
        after, wall = server.cpu_times(), time.monotonic() - began
    system = after.system - before.system
    return after.user - before.user + system, system, wall


def cpu_times(args: argparse.Namespace, loops: list[str]) -> dict[str, dict[str, Any]]:
    """Rounds of `args.requests` GETs, each with a fresh emulator on each loop in turn."""
    rounds: dict[str, list[tuple[float, float, float]]] = {loop: [] for loop in loops}
    for number in range(args.rounds):
        shift = number % len(loops)
        for loop in loops[shift:] + loops[:shift]:
            with emulator_process("--no-rate-limits", "--loop", loop) as emulator:
                server = psutil.Process(emulator.process.pid)
                cpu, system, wall = anyio.run(
                    drive, emulator.base_url, emulator.token, server, args, args.requests
                )
            cpu_us, system_us = cpu / args.requests * 1e6, system / args.requests * 1e6
            rate = args.requests / wall
            rounds[loop].append((cpu_us, system_us, rate))
            print(
                f"round {number + 1}: {loop:>8}: {cpu_us:6.1f} µs emulator CPU per GET "
                f"({system_us:4.1f} in the kernel), {rate:6.0f} GETs/s",
                flush=True,
            )
    return {
        loop: {
            "emulator_cpu_us_per_get": round(statistics.median(cpu for cpu, _, _ in each), 1),
            "emulator_cpu_us_per_get_by_round": [round(cpu, 1) for cpu, _, _ in each],
            "emulator_kernel_cpu_us_per_get": round(statistics.median(s for _, s, _ in each), 1),
            "gets_per_sec": round(statistics.median(rate for _, _, rate in each)),
        }
        for loop, each in rounds.items()
    }


def count_instructions(valgrind: str, loop: str, args: argparse.Namespace, requests: int) -> int:
    """The instructions the emulator executes from its start to its end, under callgrind."""
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "callgrind.out"
        command = [valgrind, "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable]
        command += ["-m", "apify_runs_async.emulator", "--no-rate-limits", "--loop", loop]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            match = _LISTENING.search(line)
            if match is None:
                raise RuntimeError(f"the emulator did not start under valgrind: {line!r}")
            server = psutil.Process(process.pid)
            anyio.run(drive, match.group(1), match.group(2), server, args, requests)
            process.send_signal(signal.SIGTERM)  # it ends cleanly: callgrind writes its file
            process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        return callgrind_total(out)


def instructions(args: argparse.Namespace, loops: list[str]) -> dict[str, dict[str, Any]]:
    """For each loop: the emulator's instructions per GET, from N and 5N GETs."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("valgrind is not installed: it counts the instructions (apt install valgrind)")
    cells: dict[str, dict[str, Any]] = {}
    for loop in loops:
        few = count_instructions(valgrind, loop, args, args.requests)
        many = count_instructions(valgrind, loop, args, 5 * args.requests)
        per_get = round((many - few) / (4 * args.requests))
        cells[loop] = {
            "instructions_with_n": few,
            "instructions_with_5n": many,
            "emulator_instructions_per_get": per_get,
        }
        print(f"{loop:>8}: {per_get:,} emulator instructions per GET", flush=True)
    return cells


def _shown(value: object) -> object:
    if isinstance(value, list):
        return " / ".join(map(str, value))
    return f"{value:,}" if isinstance(value, int) else value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loops", nargs="+", choices=LOOPS, default=None, help="default: all")
    parser.add_argument(
        "--requests", type=int, default=None, help="measured GETs (default 20,000; N: 1,000)"
    )
    parser.add_argument("--warmup", type=int, default=2_000, help="GETs before measuring")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (of CPU time)")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions under valgrind instead"
    )
    parser.add_argument("--name", default=None, help="results file name (no suffix)")
    args = parser.parse_args()
    uvloop = importlib.util.find_spec("uvloop") is not None
    loops = args.loops or [loop for loop in LOOPS if loop != "uvloop" or uvloop]

    if args.instructions:
        args.requests = args.requests or 1_000
        cells = instructions(args, loops)
        columns = ["emulator_instructions_per_get"]
        header = ["emulator loop", "instructions per GET"]
    else:
        args.requests = args.requests or 20_000
        cells = cpu_times(args, loops)
        columns = [
            "emulator_cpu_us_per_get",
            "emulator_kernel_cpu_us_per_get",
            "emulator_cpu_us_per_get_by_round",
            "gets_per_sec",
        ]
        header = ["emulator loop", "CPU µs per GET (median)", "of it kernel", "by round", "GETs/s"]
    name = args.name or ("emulator_instructions" if args.instructions else "emulator_cpu")
    result = {
        "machine": machine(),
        "measure": "instructions (callgrind)" if args.instructions else "CPU time (psutil)",
        "requests": args.requests,
        "rounds": None if args.instructions else args.rounds,
        "concurrency": CONCURRENCY,
        "client": "raw aiohttp",
        "loops": cells,
    }
    save(name, result)

    print()
    rows = [[loop, *(_shown(cell[column]) for column in columns)] for loop, cell in cells.items()]
    print(table(rows, header))


if __name__ == "__main__":
    main()
