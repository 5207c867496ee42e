from __future__ import annotations

import contextlib
import subprocess
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from apify_runs_async.emulator import ApifyEmulator, emulator_process

from .support import Api, Spawn, fast_emulator


@pytest.fixture
async def emu() -> AsyncIterator[ApifyEmulator]:
    async with fast_emulator() as emulator:
        yield emulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def api(emu: ApifyEmulator, session: aiohttp.ClientSession) -> Api:
    return Api(session, emu)


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start the emulator process with these arguments; read its one line: URL and token."""
    with contextlib.ExitStack() as stack:

        def start(*args: str) -> tuple[subprocess.Popen[str], str, str]:
            emulator = stack.enter_context(emulator_process(*args, env={"PYTHONWARNINGS": "error"}))
            return emulator.process, emulator.base_url, emulator.token

        yield start
