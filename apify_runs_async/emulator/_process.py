"""The emulator as a separate process, for tests and benchmarks that want it out of their loop.

>>> with emulator_process("--max-concurrent-runs", "5") as emu:
...     ...  # point a client at emu.base_url with emu.token
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO

_LINE = re.compile(r"^Apify emulator listening on (http://\S+) \(token: (\S+)\)$")


@dataclass(frozen=True)
class EmulatorProcess:
    """A running `python -m apify_runs_async.emulator`: the process, its URL and token.

    Its stderr goes to a temporary file, not a pipe: with `--faults` it logs a line per fault,
    and a pipe nobody reads would fill up and stop the emulator. `stderr()` reads it.
    """

    process: subprocess.Popen[str]
    base_url: str
    token: str
    stderr_file: IO[bytes] = field(repr=False)

    def stderr(self) -> str:
        """What the process wrote to stderr so far."""
        return _written(self.stderr_file)


def _written(file: IO[bytes]) -> str:
    """All that was written to `file`, which a process shares with us."""
    fd = file.fileno()
    # `pread` leaves the offset alone: the process shares it and writes at it.
    return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")


@contextmanager
def emulator_process(*args: str, env: Mapping[str, str] | None = None) -> Iterator[EmulatorProcess]:
    """Start the emulator process with these command-line arguments; kill it at the end.

    `env` adds to (or overrides) this process's environment for the emulator.
    """
    with tempfile.TemporaryFile() as stderr_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "apify_runs_async.emulator", *args],
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            text=True,
            env={**os.environ, **(env or {})},
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline().rstrip("\n")
            match = _LINE.match(line)
            if match is None:
                try:
                    process.wait(timeout=5)  # let it finish telling why
                except subprocess.TimeoutExpired:
                    process.kill()
                raise RuntimeError(
                    f"the emulator did not start; it printed {line!r}, "
                    f"and on stderr: {_written(stderr_file)[-2000:]!r}"
                )
            yield EmulatorProcess(process, match.group(1), match.group(2), stderr_file)
        finally:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=10)
