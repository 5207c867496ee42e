"""`python -m apify_runs_async.emulator`: serve the emulator until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys

from .._rate_limits import RateLimits
from ._server import ApifyEmulator


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text}")
    return value


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m apify_runs_async.emulator",
        description="Serve a local emulation of the Apify runs API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    parser.add_argument("--token", default=None, help="API token to accept (default: random)")
    parser.add_argument(
        "--no-rate-limits",
        action="store_true",
        help="allow any request rate (default: the platform's limits, 429 past them)",
    )
    parser.add_argument(
        "--max-concurrent-runs",
        type=_positive,
        default=None,
        metavar="N",
        help="answer 400 to starting more unfinished runs than this (default: no limit)",
    )
    parser.add_argument(
        "--max-total-memory-mbytes",
        type=_positive,
        default=None,
        metavar="N",
        help="answer 400 to starting runs whose total memory exceeds this (default: no limit)",
    )
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with ApifyEmulator(
        args.token,
        host=args.host,
        port=args.port,
        rate_limits=None if args.no_rate_limits else RateLimits(),
        max_concurrent_runs=args.max_concurrent_runs,
        max_total_memory_mbytes=args.max_total_memory_mbytes,
    ) as emulator:
        _tune_gc()
        print(
            f"Apify emulator listening on {emulator.base_url} (token: {emulator.token})",
            flush=True,
        )
        await stop.wait()


def _tune_gc() -> None:
    """Keep the collector's pauses short while thousands of runs and long polls are held.

    A full collection scans every tracked object and stops every request meanwhile: with
    10,000 runs and their long polls that is hundreds of milliseconds. What startup made lives
    as long as the process, so it is frozen out of every scan; and young collections run
    every 10,000 allocations instead of 700, so that far fewer objects live long enough to be
    promoted, and full collections, triggered by promotions, become rare.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def main(argv: list[str] | None = None) -> int:
    asyncio.run(_serve(_parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
