"""Where `apify-runs` writes: stdout for results, stderr for notes, and one progress line
that updates in place, on a terminal only."""

from __future__ import annotations

import sys
from typing import IO, BinaryIO


class Terminal:
    """stdout and stderr, and whether stdout is a terminal (then one line may be redrawn)."""

    def __init__(self, out: BinaryIO | None = None, err: IO[str] | None = None) -> None:
        self._out = sys.stdout.buffer if out is None else out
        self._err = sys.stderr if err is None else err
        self.is_tty = self._out.isatty()
        self._progress = False  # a progress line is on screen, without its newline

    def stream(self) -> BinaryIO:
        """stdout as a binary stream, for results written straight into it."""
        self._end_progress()
        return self._out

    def write(self, data: bytes) -> None:
        """Results, as they are: a record, items, JSON."""
        self._end_progress()
        self._out.write(data)
        self._out.flush()

    def line(self, text: str) -> None:
        """A line of results."""
        self.write(text.encode() + b"\n")

    def note(self, text: str) -> None:
        """A line about what is going on (stderr): not a result."""
        self._end_progress()
        print(text, file=self._err, flush=True)

    def progress(self, text: str) -> None:
        """Draw the progress line again, in place (on a terminal only)."""
        self._out.write(b"\r\x1b[K" + text.encode())  # to the line's start; clear to its end
        self._out.flush()
        self._progress = True

    def _end_progress(self) -> None:
        if self._progress:
            self._out.write(b"\n")
            self._progress = False
