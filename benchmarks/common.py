"""What the benchmarks share: where results go, how they are written, percentiles."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

from apify_runs_async.emulator import FaultKind

RESULTS = Path(__file__).parent / "results"


def machine() -> str:
    """What the figures were measured on, as results record it."""
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"


def print_targets(met_by_name: Mapping[str, bool]) -> None:
    """One line per target: `[met] name` or `[MISSED] name`."""
    for name, met in met_by_name.items():
        print(f"[{'met' if met else 'MISSED'}] {name}")


def cpu_secs(process: psutil.Process) -> float:
    """The CPU time the process has used so far, user and system."""
    times = process.cpu_times()
    return times.user + times.system


def percentile(values: Sequence[float], share: float) -> float:
    """The value below which `share` (0..1) of `values` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def save(name: str, figures: Mapping[str, Any]) -> Path:
    """Write `figures` to benchmarks/results/NAME.json; returns the path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    return path


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """A Markdown table, for the terminal and for README.md alike."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


class Tally(logging.Handler):
    """Counts the client's requests (each logs one DEBUG line) and retries (one INFO line)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.requests = 0
        self.retries = 0
        self.by_method_and_path: dict[tuple[str, str], int] = {}
        self.asyncio_complaints: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "apify_runs_async.retries":
            self.retries += 1
        elif record.name == "apify_runs_async" and record.levelno == logging.DEBUG:
            self.requests += 1
            # "GET /v2/path -> 200 (1.0 ms)", or an error's "GET /v2/path: ..."
            method, _, rest = record.getMessage().partition(" ")
            key = (method, rest.split(" ", 1)[0].rstrip(":"))
            self.by_method_and_path[key] = self.by_method_and_path.get(key, 0) + 1
        elif record.name == "asyncio" and record.levelno >= logging.WARNING:
            self.asyncio_complaints.append(record.getMessage()[:200])


def faults_seen(stderr: str) -> Counter[str]:
    """The faults an emulator process injected, by kind: its stderr's `fault KIND ...` lines."""
    return Counter(line.split()[1] for line in stderr.splitlines() if line.startswith("fault "))


def fault_spec(rate: float, delay_secs: float) -> str:
    """Every fault kind at `rate`; a delay lasts `delay_secs`."""
    return ",".join(
        f"{kind}={rate}:{delay_secs}" if kind is FaultKind.DELAY else f"{kind}={rate}"
        for kind in FaultKind
    )
