"""Stream the log of a run that writes 100,000 lines while the emulator drops the connection
at random: every line must arrive once, in order.

The emulator runs in a process of its own, with faults on its log endpoint only: each request
for the log is, with probability `--drop`, reset in the middle of its first chunk (the
`reset_after` fault, which cuts a stream mid-line), or with the same probability reset before
it is answered. `stream_log` opens
the stream again after each drop and skips the lines it has already yielded. The script checks
the lines against the ones the run wrote and prints the faults met and lines/s while the lines
stream (the spans of the two halves, without the run's pauses).

    python benchmarks/log_stream.py [--lines 100000] [--drop 0.4]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import anyio
from common import faults_seen, machine, save

from apify_runs_async import ApifyRuns, Retries
from apify_runs_async.emulator import emulator_process


def script(lines: int) -> dict[str, Any]:
    """Half the lines while the stream is open, then a pause, then the rest."""
    half = lines // 2
    return {
        "steps": [
            {"sleepSecs": 0.5, "statusMessage": "first half"},
            {"logLines": half},
            {"sleepSecs": 0.5, "statusMessage": "second half"},
            {"logLines": lines - half},
        ]
    }


def expected(lines: int) -> list[str]:
    half = lines // 2
    return [f"Step 1 line {n}" for n in range(half)] + [
        f"Step 3 line {n}" for n in range(lines - half)
    ]


async def measure(base_url: str, token: str, lines: int) -> dict[str, Any]:
    retries = Retries(max_tries=20, first_delay_secs=0.01, max_delay_secs=0.1)
    async with ApifyRuns(token, base_url=base_url, retries=retries, rate_limits=None) as client:
        run = await client.start("emulator~scripted", script(lines))
        started = time.perf_counter()
        arrived: dict[str, list[float]] = {"Step 1": [], "Step 3": []}  # when, by half
        texts = []
        async for line in client.stream_log(run):
            # Each line is "<time> <text>": the text is what the run wrote.
            text = line.split(" ", 1)[1]
            if " line " in text:
                texts.append(text)
                arrived[text.split(" line ", 1)[0]].append(time.perf_counter())
        secs = time.perf_counter() - started
    # The speed while lines stream: the two halves' spans, not the run's scripted pauses.
    streaming = sum(times[-1] - times[0] for times in arrived.values() if times)
    return {
        "lines_written": lines,
        "lines_received": len(texts),
        "every_line_once_in_order": texts == expected(lines),
        "wall_secs": round(secs, 2),
        "streaming_secs": round(streaming, 3),
        "lines_per_sec": round(len(texts) / streaming),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--drop", type=float, default=0.4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--name", default="log_stream")
    args = parser.parse_args()
    faults = f"reset_after={args.drop},reset_before={args.drop}"
    cli = ["--no-rate-limits", "--faults", faults, "--fault-endpoints", "log"]
    with emulator_process(*cli, "--seed", str(args.seed)) as emulator:
        figures = anyio.run(measure, emulator.base_url, emulator.token, args.lines)
        figures["faults_met"] = sum(faults_seen(emulator.stderr()).values())
    figures["machine"] = machine()
    for key, value in figures.items():
        print(f"{key:28} {value}")
    print(f"written to {save(args.name, figures)}")
    if not figures["every_line_once_in_order"]:
        raise SystemExit("FAILED: a line was lost, repeated or out of order")


if __name__ == "__main__":
    main()
