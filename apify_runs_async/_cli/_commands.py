"""One coroutine per `apify-runs` command: the client's public API, and what to print.

Each takes an open client, the parsed arguments and the terminal, and returns the exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

import anyio

from apify_runs_async import ApifyError, ApifyRuns, CallResult, Run, StartOptions

from . import _output as output
from ._codes import Exit, for_runs, for_status
from ._terminal import Terminal

T = TypeVar("T")
Command = Callable[[ApifyRuns, argparse.Namespace, Terminal], Awaitable[Exit]]

_WAIT_FOR_START_SECS = 0.05  # how often `call` looks whether its run has started
_TICK_SECS = 1.0  # how often the progress line's elapsed time moves on


def _start_options(args: argparse.Namespace) -> StartOptions:
    return {
        "memory_mbytes": args.memory,
        "timeout_secs": args.timeout,
        "build": args.build,
        "max_items": args.max_items,
    }


async def start(client: ApifyRuns, args: argparse.Namespace, term: Terminal) -> Exit:
    run = await client.start(args.actor, args.input, **_start_options(args))
    if args.json:
        term.write(output.json_line(run))
    else:
        term.line(f"Started run {run.id} ({run.status})")
    return Exit.OK


class _Shown:
    """The last status line `call` showed, so that none is shown twice."""

    def __init__(self, term: Terminal) -> None:
        self.term = term
        self.last: str | None = None
        self.run_id: str | None = None

    def show(self, run: Run) -> None:
        line = output.status_line(run)
        if line != self.last:
            self.term.note(line)
            self.last = line


async def _follow_started(
    client: ApifyRuns, runs: Mapping[str, Run], shown: _Shown, poll_interval: float, show: bool
) -> None:
    """Note the run `call_many` started, once it has, and (if `show`) show its status at each
    change; cancelled at the call's end."""
    # `runs_in_flight` is a plain mapping, with no event to wait on: look now and then.
    while not runs:  # noqa: ASYNC110
        await anyio.sleep(_WAIT_FOR_START_SECS)
    run = next(iter(runs.values()))
    shown.run_id = run.id
    if not show:
        return
    try:
        async with contextlib.aclosing(client.watch(run, poll_interval=poll_interval)) as watch:
            async for snapshot in watch:
                shown.show(snapshot)
    except ApifyError as error:
        # Only the display fails: the call goes on, and shows the run's end when it has it.
        shown.term.note(f"Run {run.id}: no more status lines: {error}")


async def call(client: ApifyRuns, args: argparse.Namespace, term: Terminal) -> Exit:
    # `call_many` of one input is `call` that shows which run it started (`runs_in_flight`),
    # so that its status can be shown as it goes; it aborts the run if the command ends
    # early (Ctrl-C), unless --detach.
    shown = _Shown(term)
    result: CallResult | None = None
    try:
        async with (
            client.call_many(
                args.actor,
                [args.input],
                concurrency=1,
                abort_on_exit=not args.detach,
                **_start_options(args),
            ) as results,
            anyio.create_task_group() as group,
        ):
            group.start_soon(
                _follow_started,
                client,
                results.runs_in_flight,
                shown,
                args.poll_interval,
                not args.json,  # JSON: no status lines
            )
            async for _, finished in results:
                result = finished
            group.cancel_scope.cancel()
    except anyio.get_cancelled_exc_class():
        if shown.run_id is not None:
            fate = "left running (--detach)" if args.detach else "aborted"
            term.note(f"Run {shown.run_id} {fate}")
        raise
    assert result is not None
    run = result.run
    if args.json:
        document: dict[str, Any] = {"run": run, "output": output.record_value(result.output)}
        if args.items:
            document["items"] = await _all(client.iterate_items(run))
        term.write(output.json_line(document))
        return for_status(run.status)
    shown.show(run)
    term.note(output.finished_line(run))
    if result.output is not None:
        term.write(output.record_text(result.output))
    if args.items:
        async with contextlib.aclosing(client.iterate_items(run)) as items:
            async for item in items:
                term.write(output.json_line(item))
    return for_status(run.status)


async def watch(client: ApifyRuns, args: argparse.Namespace, term: Terminal) -> Exit:
    latest: dict[str, Run] = {}
    in_place = term.is_tty and not args.json and len(set(args.runs)) > 1
    began = time.monotonic()

    def draw() -> None:
        term.progress(output.progress_line(latest.values(), time.monotonic() - began))

    async def tick() -> None:
        while True:
            await anyio.sleep(_TICK_SECS)
            draw()

    async with (
        client.watch_many(args.runs, poll_interval=args.poll_interval) as updates,
        anyio.create_task_group() as group,
    ):
        if in_place:
            group.start_soon(tick)
        async for run_id, run in updates:
            latest[run_id] = run
            if args.json:
                term.write(output.json_line(run))
            elif in_place:
                draw()
            else:
                term.line(output.status_line(run))
        group.cancel_scope.cancel()
    if in_place:
        draw()
        for run in latest.values():
            term.line(output.status_line(run))
    return for_runs(run.status for run in latest.values())


async def abort(client: ApifyRuns, args: argparse.Namespace, term: Terminal) -> Exit:
    code = Exit.OK
    for run_id in dict.fromkeys(args.runs):
        try:
            run = await client.abort(run_id, gracefully=args.gracefully or None)
        except ApifyError as error:  # the others are still to be aborted
            term.note(f"{run_id}: {error}")
            code = Exit.API_ERROR
            continue
        if args.json:
            term.write(output.json_line(run))
        else:
            term.line(output.status_line(run))
    return code


async def log(client: ApifyRuns, args: argparse.Namespace, term: Terminal) -> Exit:
    if not args.follow:
        term.write(_ending_newline((await client.get_log(args.run)).encode()))
        return Exit.OK
    async with contextlib.aclosing(client.stream_log(args.run)) as lines:
        async for line in lines:
            term.line(line)
    return Exit.OK


async def items(client: ApifyRuns, args: argparse.Namespace, term: Terminal) -> Exit:
    if args.limit is None:
        # The API's own export, written as it comes: however many items there are.
        await client.download_items(args.run, format=args.format, to=term.stream())
        return Exit.OK
    page = await _all(client.iterate_items(args.run, limit=args.limit))
    term.write(output.items_text(page, args.format))
    return Exit.OK


async def runs(client: ApifyRuns, args: argparse.Namespace, term: Terminal) -> Exit:
    listed = await _all(
        client.iterate_runs(args.actor, status=args.status, desc=True, limit=args.limit)
    )
    if args.json:
        term.write(b"".join(output.json_line(run) for run in listed))
    else:
        for line in output.runs_table(listed):
            term.line(line)
    return Exit.OK


async def _all(iterator: AsyncGenerator[T, None]) -> list[T]:
    """Everything the iterator yields; closed at once if reading fails (it may hold a task)."""
    async with contextlib.aclosing(iterator):
        return [value async for value in iterator]


def _ending_newline(data: bytes) -> bytes:
    return data if not data or data.endswith(b"\n") else data + b"\n"


COMMANDS: dict[str, Command] = {
    "call": call,
    "start": start,
    "watch": watch,
    "abort": abort,
    "log": log,
    "items": items,
    "runs": runs,
}
