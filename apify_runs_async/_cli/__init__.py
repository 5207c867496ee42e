"""`apify-runs`: the command line of apify_runs_async (also `python -m apify_runs_async`).

>>> main(["call", "apify/hello-world"])  # what `apify-runs call apify/hello-world` does
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from apify_runs_async import ApifyError, ApifyRuns
from apify_runs_async.emulator import _command as emulator_command

from ._args import build_parser, flag_of
from ._codes import Exit
from ._commands import COMMANDS
from ._terminal import Terminal

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line `argv` (default: `sys.argv[1:]`); the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on a usage error
    if args.command == "emulator":
        return emulator_command.run(args.parser, args)
    term = Terminal()
    try:
        return asyncio.run(_run(args, term))
    except KeyboardInterrupt:
        term.note("Interrupted")
        return Exit.INTERRUPTED
    except BaseException as raised:
        error = _alone(raised)
        if isinstance(error, ApifyError):
            term.note(f"{parser.prog}: {error}")
            return Exit.API_ERROR
        # The client checks its arguments before any request and names them in its errors:
        # those are usage errors. (Any other ValueError is a bug, and shows its traceback.)
        if isinstance(error, ValueError | TypeError) and (flag := flag_of(str(error))):
            args.parser.error(f"argument {flag}: {error}")
        if isinstance(error, BrokenPipeError):
            # The reader went away (`| head`): nothing more to say, and nowhere to say it.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return Exit.OK
        raise


async def _run(args: argparse.Namespace, term: Terminal) -> Exit:
    # Many runs followed at once each hold a connection while they long-poll: no cap.
    async with ApifyRuns(args.token, base_url=args.base_url, max_connections=None) as client:
        return await COMMANDS[args.command](client, args, term)


def _alone(error: BaseException) -> BaseException:
    """The one error inside groups of one (task groups wrap what they raise)."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
