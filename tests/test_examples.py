"""The examples run, against the in-process emulator, as a user would run them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # starts processes: `pytest -m slow` (CI runs them)

EXAMPLES = Path(__file__).parent.parent / "examples"


def run_example(name: str, *, quiet: bool = True) -> str:
    """The example's output; with `quiet`, it must write nothing on stderr."""
    env = {k: v for k, v in os.environ.items() if k not in ("APIFY_TOKEN", "APIFY_API_BASE_URL")}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "PYTHONWARNINGS": "error"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" or not quiet
    return done.stdout


def test_quickstart() -> None:
    lines = run_example("quickstart.py").splitlines()
    statuses = [line.split()[0] for line in lines if line.startswith("  ")]
    assert statuses[0] in ("READY", "RUNNING")
    assert statuses[-1] == "SUCCEEDED"
    assert any("Crawling page 2 of 3" in line for line in lines)
    assert lines[-1] == 'OUTPUT: {"pages":3,"title":"Example Domain"}'


def test_crawler() -> None:
    out = run_example("crawler.py")
    batches = [line for line in out.splitlines() if line.startswith("batch ")]
    assert len(batches) >= 10
    assert all(", " in line and "SUCCEEDED" in line for line in batches)
    assert out.splitlines()[-1] == "Crawled 40 pages."


def test_queue_worker() -> None:
    lines = run_example("queue_worker.py").splitlines()
    assert lines[0] == "job 1234: the worker died"
    assert lines[1].startswith("job 1234: run ") and lines[1].endswith(" SUCCEEDED")
    assert lines[2:] == [
        "runs started for job 1234: 1",
        "job 5678 after a clean shutdown: run ABORTED",
    ]


def test_run_service() -> None:
    lines = run_example("run_service.py").splitlines()
    assert lines[0].startswith("Service at http://127.0.0.1:")
    assert lines[1] == "POST /jobs: 202 READY"
    # Polled, so some steps may go unseen, but not all of them.
    assert any(line.split()[0] == "RUNNING" for line in lines[2:-2])
    assert lines[-2].split() == ["SUCCEEDED", "Summarizing", "https://example.com"]
    assert lines[-1] == "output: {'url': 'https://example.com', 'words': 1234}"


def test_webhook_service() -> None:
    started = time.monotonic()
    lines = run_example("webhook_service.py").splitlines()
    assert lines[0].startswith("Service at http://127.0.0.1:")
    assert lines[1:4] == ["POST /jobs: 202 READY"] * 3
    assert lines[4:] == [
        "job 1: SUCCEEDED, items [{'page': 1}, {'page': 2}]",
        "job 2: SUCCEEDED, items [{'page': 3}]",
        "job 3: FAILED, items []",
    ]
    # The ends came with their webhooks, not from the runs list read every 30 s.
    assert time.monotonic() - started < 20
