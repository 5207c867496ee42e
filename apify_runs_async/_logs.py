"""A run's log, line by line while the run is live: a plain async generator.

The API streams a run's log (`stream=1`) from its first line, and closes the stream when the
run ends. A stream that drops is opened again, and the lines already yielded are skipped, so
each line arrives once, in order.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

import anyio

from . import _requests, _responses
from ._errors import ApifyError, ApifyTimeoutError, shortened
from ._following import Poller
from ._sending import Sender

_REOPEN_SECS = 1.0  # before opening again a stream the server closed on a live run
_MAX_LINE_CHARS = 10_000


async def lines(send: Sender, run_id: str) -> AsyncGenerator[str, None]:
    """Each line of the run's log once, as it is written, until the run has ended."""
    request = _requests.stream_log(run_id)
    yielded = 0  # lines so far: each stream starts again from the log's first line
    failures = 0  # streams in a row that failed before giving a new line
    ended = False  # the run was seen finished: the next stream that ends is the whole log
    while True:
        seen = 0
        partial = b""
        try:
            async for chunk in send.transport.stream(request, _responses.refuse):
                *complete, partial = (partial + chunk).split(b"\n")
                for line in complete:
                    seen += 1
                    if seen > yielded:
                        yielded, failures = seen, 0
                        yield line.decode("utf-8", errors="replace")
        except ApifyError as error:
            # A quiet live run trips the read timeout: not a failure, while the run lives.
            quiet = isinstance(error, ApifyTimeoutError) and error.maybe_processed and not ended
            if not quiet:
                failures += 1
                wait = send.retries.next_wait(error, failures)
                if wait is None:
                    raise
                await anyio.sleep(wait)
            ended = await _has_ended(send, run_id)
            continue  # opened again, even after the end: to read the log to its end
        if await _has_ended(send, run_id):
            if partial and seen + 1 > yielded:  # a last line without its newline
                yield partial.decode("utf-8", errors="replace")
            return
        # Closed early, on a live run: a part of a line is read again whole next time.
        await anyio.sleep(_REOPEN_SECS)


async def _has_ended(send: Sender, run_id: str) -> bool:
    run = await Poller(send, run_id)(0)
    return run is None or run.is_terminal


async def forward(send: Sender, run_id: str, log: logging.Logger) -> None:
    """Each line of the run's log to `log`, at INFO, marked with the run's id; a failure to
    read it is logged, not raised: the run matters more than its log."""
    try:
        async for line in lines(send, run_id):
            # An Actor's line is server text: made safe for a log line, as messages are.
            log.info(
                "[run %s] %s", run_id, shortened(line, _MAX_LINE_CHARS), extra={"run_id": run_id}
            )
    except ApifyError as error:
        log.warning(
            "[run %s] the log could not be read: %s", run_id, error, extra={"run_id": run_id}
        )
