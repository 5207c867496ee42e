"""`python -m apify_runs_async.emulator` as a process."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from apify_runs_async.emulator import emulator_process

from .support import Spawn

pytestmark = pytest.mark.slow  # starts processes: `pytest -m slow` (CI runs them)


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
async def test_serves_until_a_signal_then_exits_0(signum: int) -> None:
    with emulator_process("--port", "0", env={"PYTHONWARNINGS": "error"}) as emulator:
        process, base_url, token = emulator.process, emulator.base_url, emulator.token
        assert token.startswith("apify_api_")
        assert await _list_runs(base_url, token) == 200
        assert await _list_runs(base_url, token + "x") == 401
        process.send_signal(signum)
        stdout, _ = process.communicate(timeout=10)
        assert process.returncode == 0, emulator.stderr()
        assert stdout == ""  # exactly one line, read above
        assert emulator.stderr() == ""


def test_a_process_that_does_not_start_says_why() -> None:
    with (
        pytest.raises(RuntimeError, match=r"did not start.*--bogus"),
        emulator_process("--bogus"),
    ):
        pass


@pytest.mark.anyio
async def test_a_given_token_and_host(spawn: Spawn) -> None:
    process, base_url, token = spawn("--token", "T0KEN", "--host", "127.0.0.1")
    assert token == "T0KEN"
    assert await _list_runs(base_url, "T0KEN") == 200
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=10)
    assert process.returncode == 0


_HAS_PROC_MAPS = Path("/proc/self/maps").exists()


def _maps_uvloop(pid: int) -> bool:
    """Whether the process has uvloop's extension module loaded (Linux only)."""
    return "uvloop" in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.anyio
@pytest.mark.skipif(importlib.util.find_spec("uvloop") is None, reason="uvloop is not installed")
@pytest.mark.skipif(not _HAS_PROC_MAPS, reason="reads /proc/PID/maps")
@pytest.mark.parametrize(
    ("args", "on_uvloop"),
    [((), True), (("--loop", "uvloop"), True), (("--loop", "asyncio"), False)],
)
async def test_serves_on_uvloop_when_it_is_installed(
    spawn: Spawn, args: tuple[str, ...], on_uvloop: bool
) -> None:
    process, base_url, token = spawn(*args)
    assert await _list_runs(base_url, token) == 200
    assert _maps_uvloop(process.pid) is on_uvloop


@pytest.fixture
def without_uvloop(tmp_path: Path) -> dict[str, str]:
    """An environment in which `import uvloop` fails, as when it is not installed."""
    (tmp_path / "uvloop.py").write_text("raise ImportError('no uvloop here')\n")
    return {"PYTHONPATH": str(tmp_path), "PYTHONWARNINGS": "error"}


@pytest.mark.anyio
async def test_without_uvloop_it_serves_on_asyncio(without_uvloop: dict[str, str]) -> None:
    with emulator_process(env=without_uvloop) as emulator:
        assert await _list_runs(emulator.base_url, emulator.token) == 200
        assert not _HAS_PROC_MAPS or not _maps_uvloop(emulator.process.pid)
        assert emulator.stderr() == ""


def test_without_uvloop_asking_for_it_says_so(without_uvloop: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "apify_runs_async.emulator", "--loop", "uvloop"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **without_uvloop},
    )
    assert result.returncode == 2
    assert "uvloop is not installed" in result.stderr


def test_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "apify_runs_async.emulator", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert "--token" in result.stdout
    for flag in ("--no-rate-limits", "--max-concurrent-runs", "--max-total-memory-mbytes"):
        assert flag in result.stdout
    # It shows an example, and the timing and logging options.
    assert "example:\n  python -m apify_runs_async.emulator --port" in result.stdout
    for flag in ("--access-log", "--ready-secs", "--hello-world-secs", "--abort-grace-secs"):
        assert flag in result.stdout


async def _start(base_url: str, token: str, memory: int) -> tuple[int, str | None]:
    """Start a long run of `emulator~scripted`; the status and error type."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{base_url}/v2/actors/emulator~scripted/runs",
            params={"memory": memory},
            json={"steps": [{"sleepSecs": 3600}]},
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        body = await response.json()
        return response.status, body.get("error", {}).get("type")


@pytest.mark.anyio
async def test_the_capacity_flags(spawn: Spawn) -> None:
    _, base_url, token = spawn("--max-concurrent-runs", "2")
    assert await _start(base_url, token, 128) == (201, None)
    assert await _start(base_url, token, 128) == (201, None)
    assert await _start(base_url, token, 128) == (400, "concurrent-runs-limit-exceeded")
    _, base_url, token = spawn("--max-total-memory-mbytes", "1024")
    assert await _start(base_url, token, 512) == (201, None)
    assert await _start(base_url, token, 1024) == (400, "actor-memory-limit-exceeded")
    assert await _start(base_url, token, 512) == (201, None)


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_the_capacity_flags_want_whole_numbers_from_1(value: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "apify_runs_async.emulator", "--max-concurrent-runs", value],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--max-concurrent-runs" in result.stderr


@pytest.mark.anyio
async def test_the_access_log_has_a_line_per_request_without_the_query() -> None:
    with emulator_process("--access-log", env={"PYTHONWARNINGS": "error"}) as emulator:
        base_url, token = emulator.base_url, emulator.token
        assert await _list_runs(base_url, token) == 200
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{base_url}/v2/actor-runs/nope", params={"token": token}) as response,
        ):
            assert response.status == 404
        emulator.process.send_signal(signal.SIGTERM)
        emulator.process.communicate(timeout=10)
        stderr = emulator.stderr()
    lines = stderr.splitlines()
    assert len(lines) == 2, lines
    assert re.fullmatch(r"GET /v2/actor-runs 200 \d+\.\d ms", lines[0])
    assert re.fullmatch(r"GET /v2/actor-runs/nope 404 \d+\.\d ms", lines[1])
    assert token not in stderr


async def _run(base_url: str, token: str, run_id: str, path: str = "") -> aiohttp.ClientResponse:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{base_url}/v2/actor-runs/{run_id}{path}",
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        await response.read()
        return response


async def _post(base_url: str, token: str, path: str, **kwargs: Any) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{base_url}{path}", headers={"Authorization": f"Bearer {token}"}, **kwargs
        ) as response,
    ):
        data: dict[str, Any] = (await response.json())["data"]
        return data


@pytest.mark.anyio
async def test_the_timing_flags(spawn: Spawn) -> None:
    _, base_url, token = spawn(
        "--ready-secs", "30", "--abort-grace-secs", "0.25", "--hello-world-secs", "0"
    )
    waiting = await _post(base_url, token, "/v2/actors/emulator~scripted/runs", json={})
    await asyncio.sleep(0.2)
    assert (await (await _run(base_url, token, waiting["id"])).json())["data"]["status"] == "READY"

    _, base_url, token = spawn(
        "--ready-secs",
        "0",
        "--abort-grace-secs",
        "0.25",
        "--timeout-grace-secs",
        "0.5",
        "--hello-world-secs",
        "0",
    )
    timing_out = await _post(
        base_url,
        token,
        "/v2/actors/emulator~scripted/runs",
        params={"timeout": "1"},
        json={"steps": [{"sleepSecs": 60}]},
    )
    hello = await _post(
        base_url, token, "/v2/actors/apify~hello-world/runs", params={"waitForFinish": "5"}
    )
    assert hello["status"] == "SUCCEEDED"
    long = await _post(
        base_url, token, "/v2/actors/emulator~scripted/runs", json={"steps": [{"sleepSecs": 60}]}
    )
    await _post(base_url, token, f"/v2/actor-runs/{long['id']}/abort?gracefully=true")
    log = await (await _run(base_url, token, long["id"], "/log")).text()
    assert "ABORTING: the Actor has 0.25 s to stop" in log
    await _run(base_url, token, timing_out["id"], "?waitForFinish=5")
    log = await (await _run(base_url, token, timing_out["id"], "/log")).text()
    assert "TIMING-OUT: the Actor has 0.5 s to stop" in log


@pytest.mark.parametrize("value", ["-1", "nan"])
def test_the_timing_flags_want_seconds_from_0(value: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "apify_runs_async.emulator", "--abort-grace-secs", value],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--abort-grace-secs" in result.stderr
