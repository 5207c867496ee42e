"""The emulator as a separate process (`python -m apify_runs_async.emulator`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

_LINE = re.compile(r"^Apify emulator listening on (http://127\.0\.0\.1:\d+) \(token: (\S+)\)$")


@dataclass
class EmulatorProcess:
    process: subprocess.Popen[str]
    base_url: str
    token: str


@contextmanager
def emulator_process(*args: str) -> Iterator[EmulatorProcess]:
    """Start the emulator process, read its one line (URL and token); kill it at the end."""
    process = subprocess.Popen(
        [sys.executable, "-m", "apify_runs_async.emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().rstrip("\n")
        match = _LINE.match(line)
        assert match, f"unexpected first line: {line!r}"
        yield EmulatorProcess(process, match.group(1), match.group(2))
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)
