"""`python -m apify_runs_async.emulator` as a process."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

import aiohttp
import pytest

from tests.emulator_process import emulator_process

Spawn = Callable[..., tuple["subprocess.Popen[str]", str, str]]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start the emulator process with these arguments; read its one line: URL and token."""
    with contextlib.ExitStack() as stack:

        def start(*args: str) -> tuple[subprocess.Popen[str], str, str]:
            emulator = stack.enter_context(emulator_process(*args))
            return emulator.process, emulator.base_url, emulator.token

        yield start


async def _list_runs(base_url: str, token: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{base_url}/v2/actor-runs", headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        return response.status


@pytest.mark.anyio
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_serves_until_a_signal_then_exits_0(spawn: Spawn, signum: int) -> None:
    process, base_url, token = spawn("--port", "0")
    assert token.startswith("apify_api_")
    assert await _list_runs(base_url, token) == 200
    assert await _list_runs(base_url, token + "x") == 401
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert stdout == ""  # exactly one line, read above
    assert stderr == ""


@pytest.mark.anyio
async def test_a_given_token_and_host(spawn: Spawn) -> None:
    process, base_url, token = spawn("--token", "T0KEN", "--host", "127.0.0.1")
    assert token == "T0KEN"
    assert await _list_runs(base_url, "T0KEN") == 200
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=10)
    assert process.returncode == 0


def test_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "apify_runs_async.emulator", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert "--token" in result.stdout
