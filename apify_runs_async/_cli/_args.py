"""The `apify-runs` command line: its parser, and reading INPUT and the token file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import msgspec

from apify_runs_async import __version__
from apify_runs_async.emulator import _command as emulator_command
from apify_runs_async.emulator._command import positive

from ._codes import describe

PROG = "apify-runs"

ENVIRONMENT = """\
environment:
  APIFY_TOKEN           the API token (or --token-file); it is never printed
  APIFY_API_BASE_URL    the API's address (or --base-url); default https://api.apify.com"""

EXAMPLES = """\
examples:
  apify-runs call apify/hello-world
  apify-runs call emulator~scripted '{"steps": [{"sleepSecs": 1}], "output": {"ok": true}}'
  apify-runs start me/crawler @input.json --memory 2048 --json
  apify-runs watch RUN_ID OTHER_RUN_ID
  apify-runs items RUN_ID --format csv > items.csv"""

# What the client calls an argument, as this command line spells it: errors name the flag.
FLAGS = {
    "actor_id": "ACTOR",
    "run_id": "RUN",
    "run_input": "INPUT",
    "memory_mbytes": "--memory",
    "timeout_secs": "--timeout",
    "build": "--build",
    "max_items": "--max-items",
    "poll_interval": "--poll-interval",
    "status": "--status",
    "limit": "--limit",
    "token": "the token (APIFY_TOKEN or --token-file)",
    "base_url": "--base-url (or APIFY_API_BASE_URL)",
}


def flag_of(message: str) -> str | None:
    """The flag a client's error message is about: it starts with the argument's name."""
    return FLAGS.get(message.split(" ", 1)[0])


def run_input(text: str) -> Any:
    """INPUT: inline JSON, `@file` (a JSON file) or `-` (JSON on stdin); an object or array."""
    if text == "-":
        source, where = sys.stdin.read(), "stdin"
    elif text.startswith("@"):
        try:
            source, where = Path(text[1:]).read_text(encoding="utf-8"), text[1:]
        except (OSError, UnicodeDecodeError) as error:
            raise argparse.ArgumentTypeError(f"cannot read {text[1:]}: {error}") from None
    else:
        source, where = text, "inline"
    try:
        value = msgspec.json.decode(source)
    except msgspec.DecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({where}): {error}") from None
    if not isinstance(value, dict | list):
        raise argparse.ArgumentTypeError(
            f"must be a JSON object or array ({where}), not {type(value).__name__}"
        )
    return value


def token_file(path: str) -> str:
    """The token in the file at `path`, stripped. Messages name the file, never its text."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise argparse.ArgumentTypeError(
            f"cannot read {path}: {error.__class__.__name__}"
        ) from None
    if not token:
        raise argparse.ArgumentTypeError(f"{path} is empty")
    return token


def _poll_interval(text: str) -> float:
    # Checked here, not only by the client: `call` would find out after starting its run.
    value = float(text)
    if not 1 <= value <= 60:
        raise argparse.ArgumentTypeError(f"must be 1 to 60 seconds, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Start, follow and read Apify Actor runs; serve a local emulator.",
        epilog=f"{describe()}\n\n{ENVIRONMENT}\n\n{EXAMPLES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")

    connection = argparse.ArgumentParser(add_help=False)
    group = connection.add_argument_group("connection")
    group.add_argument(
        "--token-file",
        type=token_file,
        dest="token",
        metavar="PATH",
        help="read the API token from this file (default: $APIFY_TOKEN)",
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        help="the API's address (default: $APIFY_API_BASE_URL, else https://api.apify.com)",
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument(
        "--json",
        action="store_true",
        help="print JSON for scripts: one document per run, or a line per change",
    )
    following = argparse.ArgumentParser(add_help=False)
    following.add_argument(
        "--poll-interval",
        type=_poll_interval,
        default=5.0,
        metavar="S",
        help="how late status messages may be seen, 1 to 60 s (default: 5); "
        "the end of a run is seen at once",
    )
    start_options = argparse.ArgumentParser(add_help=False)
    start_group = start_options.add_argument_group("run options (default: the Actor's own)")
    start_group.add_argument("--memory", type=int, metavar="MB", help="memory, in megabytes")
    start_group.add_argument("--timeout", type=float, metavar="S", help="timeout, in seconds")
    start_group.add_argument("--build", metavar="TAG", help="the build: a tag or number")
    start_group.add_argument(
        "--max-items", type=int, metavar="N", help="the most items the run may charge for"
    )
    actor_and_input = argparse.ArgumentParser(add_help=False)
    actor_and_input.add_argument("actor", metavar="ACTOR", help="owner/name, owner~name or id")
    actor_and_input.add_argument(
        "input",
        metavar="INPUT",
        nargs="?",
        type=run_input,
        help="the run's input: inline JSON, @FILE, or - for stdin (default: none)",
    )

    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, summary: str, *parents: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=summary,
            description=summary,
            parents=list(parents),
            epilog=describe(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(parser=sub)
        return sub

    call = add(
        "call",
        "Start a run, follow it to its end with a status line per change (on stderr), then "
        "print its OUTPUT record.",
        actor_and_input,
        start_options,
        following,
        as_json,
        connection,
    )
    call.add_argument(
        "--items", action="store_true", help="print the items of its dataset too, after OUTPUT"
    )
    call.add_argument(
        "--detach",
        action="store_true",
        help="leave the run going on Ctrl-C (by default Ctrl-C aborts it)",
    )
    add("start", "Start a run and print it.", actor_and_input, start_options, as_json, connection)
    watch = add(
        "watch",
        "Follow runs to their end: a line per change, or on a terminal one progress line for "
        "several runs.",
        following,
        as_json,
        connection,
    )
    watch.add_argument("runs", metavar="RUN", nargs="+", help="run ids")
    abort = add("abort", "Abort runs.", as_json, connection)
    abort.add_argument("runs", metavar="RUN", nargs="+", help="run ids")
    abort.add_argument(
        "--gracefully", action="store_true", help="let each run persist its state first"
    )
    log = add("log", "Print a run's log.", connection)
    log.add_argument("run", metavar="RUN", help="run id")
    log.add_argument(
        "--follow", "-f", action="store_true", help="print lines as they come, until the run ends"
    )
    items = add("items", "Print the items of a run's default dataset.", connection)
    items.add_argument("run", metavar="RUN", help="run id")
    items.add_argument("--format", choices=("json", "jsonl", "csv"), default="json")
    items.add_argument("--limit", type=positive, metavar="N", help="the first N items only")
    runs = add("runs", "List runs, newest first: an Actor's, or all of yours.", as_json, connection)
    runs.add_argument("actor", metavar="ACTOR", nargs="?", help="owner/name, owner~name or id")
    runs.add_argument(
        "--status",
        action="append",
        metavar="S",
        help="only runs of this status (SUCCEEDED, FAILED, ...); may be given again",
    )
    runs.add_argument(
        "--limit",
        type=positive,
        default=100,
        metavar="N",
        help="at most N runs (default: 100)",
    )
    emulator = commands.add_parser(
        "emulator", help="Serve the local emulator of the Apify API (see its --help)."
    )
    emulator_command.configure(emulator)
    emulator.set_defaults(parser=emulator)
    return parser
