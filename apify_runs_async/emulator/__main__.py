"""`python -m apify_runs_async.emulator`: serve the emulator until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import logging
import signal
import sys
from collections.abc import Callable

from .._rate_limits import RateLimits
from ._faults import Endpoint, FaultKind, Faults
from ._server import ApifyEmulator


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text}")
    return value


def _whole(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text}")
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
        "--loop",
        choices=("auto", "uvloop", "asyncio"),
        default="auto",
        help="the event loop to serve on: uvloop when it is installed (auto, the default; "
        "pip install 'apify-runs-async[emulator]'), or asyncio's own",
    )
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
    faults = parser.add_argument_group(
        "fault injection",
        "Misbehave on purpose; each fault is logged to stderr as a line "
        "'fault KIND ENDPOINT METHOD PATH'.",
    )
    faults.add_argument(
        "--faults",
        dest="fault_spec",
        metavar="SPEC",
        help=f"KIND=RATE,...: the probability of each fault per request, like "
        f"'status503=0.05,reset_after=0.02,delay=0.05:2.0' (delay=RATE:SECONDS); KIND is one "
        f"of {', '.join(FaultKind)}; the rates sum to at most 1",
    )
    faults.add_argument(
        "--seed", type=int, metavar="N", help="seed the fault generator (default: random)"
    )
    faults.add_argument(
        "--fault-endpoints",
        metavar="NAMES",
        help=f"only these endpoints get faults, comma-separated: {', '.join(Endpoint)} "
        "(default: all)",
    )
    faults.add_argument(
        "--retry-after-secs",
        type=_whole,
        metavar="N",
        help="the Retry-After of the status429 fault (default: 1)",
    )
    faults.add_argument(
        "--max-faults", type=_whole, metavar="N", help="stop after this many faults"
    )
    args = parser.parse_args(argv)
    args.faults = _faults(parser, args)
    args.loop_factory = _loop_factory(parser, args.loop)
    return args


def _loop_factory(
    parser: argparse.ArgumentParser, choice: str
) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when it is installed (or asked for); None for asyncio's own.

    uvloop runs the event loop and its I/O in C: less CPU per request (benchmarks/
    emulator_cpu.py), and the emulator's CPU bounds how fast any client can go against it.
    It stays optional: without it the emulator serves exactly as before. (Imported by name, so
    that type-checking does not need it installed.)
    """
    if choice == "asyncio":
        return None
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        if choice == "uvloop":
            parser.error(
                "--loop uvloop: uvloop is not installed (pip install 'apify-runs-async[emulator]')"
            )
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _faults(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Faults | None:
    if args.fault_spec is None:
        for flag in ("seed", "fault_endpoints", "retry_after_secs", "max_faults"):
            if getattr(args, flag) is not None:
                parser.error(f"--{flag.replace('_', '-')} needs --faults")
        return None
    endpoints = None
    if args.fault_endpoints is not None:
        endpoints = args.fault_endpoints.split(",")
    try:
        return Faults.parse(
            args.fault_spec,
            seed=args.seed,
            endpoints=endpoints,
            retry_after_secs=1 if args.retry_after_secs is None else args.retry_after_secs,
            max_faults=args.max_faults,
        )
    except ValueError as error:
        parser.error(str(error))


def _log_faults_to_stderr() -> None:
    """One line per fault, `fault KIND ENDPOINT METHOD PATH`, for whoever counts them."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("apify_runs_async.emulator")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


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
        faults=args.faults,
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
    args = _parse_args(argv)
    if args.faults is not None:
        _log_faults_to_stderr()
    with asyncio.Runner(loop_factory=args.loop_factory) as runner:
        runner.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
