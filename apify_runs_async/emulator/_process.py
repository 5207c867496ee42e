"""The emulator as a separate process, for tests and benchmarks that want it out of their loop.

>>> with emulator_process("--max-concurrent-runs", "5") as emu:
...     ...  # point a client at emu.base_url with emu.token
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

_LINE = re.compile(r"^Apify emulator listening on (http://\S+) \(token: (\S+)\)$")


@dataclass(frozen=True)
class EmulatorProcess:
    """A running `python -m apify_runs_async.emulator`: the process, its URL and token."""

    process: subprocess.Popen[str]
    base_url: str
    token: str


@contextmanager
def emulator_process(*args: str, env: Mapping[str, str] | None = None) -> Iterator[EmulatorProcess]:
    """Start the emulator process with these command-line arguments; kill it at the end.

    `env` adds to (or overrides) this process's environment for the emulator.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "apify_runs_async.emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().rstrip("\n")
        match = _LINE.match(line)
        if match is None:
            raise RuntimeError(f"the emulator did not start; it printed {line!r}")
        yield EmulatorProcess(process, match.group(1), match.group(2))
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)
