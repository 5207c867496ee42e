"""The promises that only hold if they outlive a process: a program interrupted with Ctrl-C
leaves no run going, and a program killed and run again with the same idempotency keys starts
no run twice. Each test runs `tests/driver.py` as a process, against the emulator as a process.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from apify_runs_async import ApifyRuns, RunStatus, RunSummary
from apify_runs_async.emulator import EmulatorProcess, emulator_process
from tests.helpers import SCRIPTED, STOPPED

pytestmark = pytest.mark.slow  # starts processes: `pytest -m slow` (CI runs them)

GOING = {RunStatus.READY, RunStatus.RUNNING}


@contextmanager
def driver(emu: EmulatorProcess, *args: str) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "APIFY_TOKEN": emu.token, "APIFY_API_BASE_URL": emu.base_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.driver", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def next_line(process: subprocess.Popen[str], timeout: float = 15) -> str:
    """The next line the process prints, within `timeout` seconds."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"no line from the driver within {timeout} s")
    return process.stdout.readline().strip()


def runs_of(emu: EmulatorProcess) -> list[RunSummary]:
    async def read() -> list[RunSummary]:
        async with ApifyRuns(emu.token, base_url=emu.base_url) as client:
            return list((await client.list_runs(SCRIPTED, limit=1000)).items)

    return asyncio.run(read())


def settled_statuses(emu: EmulatorProcess) -> list[str]:
    """The runs' statuses once none is ABORTING any more (aborts take a moment)."""
    deadline = time.monotonic() + 10
    while True:
        statuses = [run.status for run in runs_of(emu)]
        if RunStatus.ABORTING not in statuses or time.monotonic() > deadline:
            return statuses
        time.sleep(0.1)


@pytest.mark.parametrize("backend", ["asyncio", "anyio"])
def test_ctrl_c_during_call_many_leaves_no_run_going(backend: str) -> None:
    with emulator_process() as emu:
        with driver(emu, "call-many", "10", "--backend", backend) as process:
            assert next_line(process) == "ready"
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=20)
        assert "KeyboardInterrupt" in stderr
        statuses = settled_statuses(emu)
    assert len(statuses) == 10
    assert not GOING & set(statuses), statuses


def test_a_failed_run_in_call_many_leaves_no_sibling_going() -> None:
    with emulator_process() as emu:
        with driver(emu, "call-many", "10", "--fail-one") as process:
            _, stderr = process.communicate(timeout=30)
        assert "RunFailedError" in stderr
        assert "aborted runs" in stderr  # the error's note names them
        statuses = settled_statuses(emu)
    assert sorted(statuses) == sorted([RunStatus.FAILED] + [RunStatus.ABORTED] * 10)


def test_a_start_killed_after_its_post_and_run_again_starts_one_run() -> None:
    # The emulator starts the run, then holds the answer: the driver is killed waiting for it.
    faults = ("--faults", "delay=1.0:5", "--fault-endpoints", "start", "--max-faults", "1")
    with emulator_process(*faults) as emu:
        with driver(emu, "start", "order-17", "--hold") as first:
            deadline = time.monotonic() + 10
            while not runs_of(emu):
                assert time.monotonic() < deadline, "the run never started"
                time.sleep(0.05)
            first.kill()
        with driver(emu, "start", "order-17") as again:
            line = next_line(again)
        runs = runs_of(emu)
    assert [f"run {run.id}" for run in runs] == [line]


def test_two_processes_racing_on_a_key_keep_one_run() -> None:
    with emulator_process() as emu:
        at = str(time.time() + 1.5)  # both start at the same moment, once both have loaded
        with (
            driver(emu, "start", "race", "--at", at) as one,
            driver(emu, "start", "race", "--at", at) as other,
        ):
            lines = {next_line(one), next_line(other)}
        runs = runs_of(emu)
    survivors = [run for run in runs if run.status not in STOPPED]
    assert len(survivors) == 1
    assert lines == {f"run {survivors[0].id}"}
