"""The emulator's command line: `python -m apify_runs_async.emulator` and
`apify-runs emulator`, one parser for both."""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import logging
import math
import signal
import sys
from collections.abc import Callable

from .._rate_limits import RateLimits
from ._faults import Endpoint, FaultKind, Faults
from ._server import ApifyEmulator
from ._webhook_delivery import WebhookRetries

_ACCESS_LOG = logging.getLogger("apify_runs_async.emulator.access")
_DEFAULT_RETRIES = WebhookRetries()


def positive(text: str) -> int:
    """An argparse type: a whole number >= 1 (the emulator's and the CLI's)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text}")
    return value


def _whole(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text}")
    return value


DESCRIPTION = "Serve a local emulation of the Apify runs API."

EPILOG = """\
example:
  %(prog)s --port 8765 --token T0KEN --access-log
  # in another shell:
  APIFY_API_BASE_URL=http://127.0.0.1:8765 APIFY_TOKEN=T0KEN \\
    apify-runs call emulator~scripted '{"steps": [{"sleepSecs": 1, "statusMessage": "Working"}]}'

It prints 'Apify emulator listening on http://HOST:PORT (token: TOKEN)' once it serves, and
serves until SIGINT (Ctrl-C) or SIGTERM. Built-in Actors: apify~hello-world, emulator~scripted.
"""


def build_parser() -> argparse.ArgumentParser:
    """The emulator's parser; `apify-runs emulator` fills its subparser with `configure`."""
    return configure(argparse.ArgumentParser(prog="python -m apify_runs_async.emulator"))


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give `parser` the emulator's arguments, description and example."""
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
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
        type=positive,
        default=None,
        metavar="N",
        help="answer 400 to starting more unfinished runs than this (default: no limit)",
    )
    parser.add_argument(
        "--max-total-memory-mbytes",
        type=positive,
        default=None,
        metavar="N",
        help="answer 400 to starting runs whose total memory exceeds this (default: no limit)",
    )
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="log each request to stderr: 'METHOD PATH STATUS TIME', the path without its "
        "query string (which may hold the token)",
    )
    timings = parser.add_argument_group(
        "timings", "How fast runs go, in seconds: tests can make them short."
    )
    timings.add_argument(
        "--ready-secs",
        type=_seconds,
        default=0.05,
        metavar="S",
        help="how long a new run stays READY before it is RUNNING (default: 0.05)",
    )
    timings.add_argument(
        "--hello-world-secs",
        type=_seconds,
        default=1.0,
        metavar="S",
        help="how long apify~hello-world takes (default: 1)",
    )
    timings.add_argument(
        "--abort-grace-secs",
        type=_seconds,
        default=30.0,
        metavar="S",
        help="how long a graceful abort waits for the Actor to stop (default: 30, as the platform)",
    )
    timings.add_argument(
        "--timeout-grace-secs",
        type=_seconds,
        default=30.0,
        metavar="S",
        help="how long a run that reached its timeout waits for the Actor to stop (default: 30)",
    )
    webhooks = parser.add_argument_group(
        "webhooks",
        "How the ad-hoc webhooks of a start are delivered when a call fails (non-2xx, no "
        "connection, no answer in time); the platform's schedule, in seconds, by default.",
    )
    webhooks.add_argument(
        "--webhook-max-retries",
        type=_whole,
        default=_DEFAULT_RETRIES.max_retries,
        metavar="N",
        help="retries of a failed dispatch (default: %(default)s)",
    )
    webhooks.add_argument(
        "--webhook-first-wait-secs",
        type=_seconds,
        default=_DEFAULT_RETRIES.first_wait_secs,
        metavar="S",
        help="the wait before the first retry, doubled for each next one (default: %(default)s)",
    )
    webhooks.add_argument(
        "--webhook-timeout-secs",
        type=_seconds,
        default=_DEFAULT_RETRIES.timeout_secs,
        metavar="S",
        help="how long a call may take before it counts as failed (default: %(default)s)",
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
        help=f"KIND=RATE,...: the probability of each fault per request (or, for the "
        f"webhook_ kinds, per webhook dispatch), like "
        f"'status503=0.05,reset_after=0.02,delay=0.05:2.0' (delay=RATE:SECONDS, and "
        f"webhook_delay=RATE:SECONDS); KIND is one of {', '.join(FaultKind)}; the request "
        f"rates sum to at most 1, and so do the webhook rates",
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
    return parser


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


def _log_to_stderr(logger: logging.Logger) -> None:
    """The logger's INFO lines to stderr, each line its message alone."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


async def _serve(args: argparse.Namespace, faults: Faults | None) -> None:
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
        faults=faults,
        ready_secs=args.ready_secs,
        hello_world_secs=args.hello_world_secs,
        abort_grace_secs=args.abort_grace_secs,
        timeout_grace_secs=args.timeout_grace_secs,
        access_log=_ACCESS_LOG if args.access_log else None,
        webhook_retries=WebhookRetries(
            max_retries=args.webhook_max_retries,
            first_wait_secs=args.webhook_first_wait_secs,
            timeout_secs=args.webhook_timeout_secs,
        ),
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


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Serve as the arguments `parser` parsed say, until SIGINT or SIGTERM; the exit code."""
    faults = _faults(parser, args)
    loop_factory = _loop_factory(parser, args.loop)
    if faults is not None:
        # One line per fault, `fault KIND ENDPOINT METHOD PATH`, for whoever counts them.
        _log_to_stderr(logging.getLogger("apify_runs_async.emulator"))
    if args.access_log:
        _log_to_stderr(_ACCESS_LOG)
        _ACCESS_LOG.propagate = False  # not twice, through the faults' handler
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve(args, faults))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    return run(parser, parser.parse_args(argv))
