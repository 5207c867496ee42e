from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from apify_runs_async import ApifyRuns
from apify_runs_async.emulator import ApifyEmulator, EmulatorProcess, emulator_process
from tests.fake_api import FakeApi


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeApi]:
    async with FakeApi() as fake:
        yield fake


@pytest.fixture
async def emulator() -> AsyncIterator[ApifyEmulator]:
    async with ApifyEmulator() as emu:
        yield emu


@pytest.fixture(scope="session")
def separate_emulator() -> Iterator[EmulatorProcess]:
    """The emulator in its own process: every task on the test's loop is then the client's."""
    with emulator_process(env={"PYTHONWARNINGS": "error"}) as emu:
        yield emu


@pytest.fixture
async def client(emulator: ApifyEmulator) -> AsyncIterator[ApifyRuns]:
    async with ApifyRuns(emulator.token, base_url=emulator.base_url) as c:
        yield c


def script(
    *messages: str,
    step_secs: float = 0.1,
    outcome: str = "SUCCEEDED",
    output: Any = None,
    exit_code: int | None = None,
) -> dict[str, Any]:
    """Input for `emulator~scripted`: one step per status message, then the outcome."""
    scripted: dict[str, Any] = {
        "steps": [{"sleepSecs": step_secs, "statusMessage": m} for m in messages],
        "outcome": outcome,
    }
    if output is not None:
        scripted["output"] = output
    if exit_code is not None:
        scripted["exitCode"] = exit_code
    return scripted


class RequestCounter:
    """Counts the requests an aiohttp session sends, by method and path."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_start.append(self._on_request_start)

    async def _on_request_start(
        self,
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        self.sent.append((params.method, params.url.path))


@pytest.fixture
async def counted(emulator: ApifyEmulator) -> AsyncIterator[tuple[ApifyRuns, RequestCounter]]:
    """A client whose (borrowed) session counts every request it sends."""
    counter = RequestCounter()
    async with (
        aiohttp.ClientSession(trace_configs=[counter.trace]) as session,
        ApifyRuns(emulator.token, base_url=emulator.base_url, session=session) as c,
    ):
        yield c, counter
