from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from apify_runs_async.emulator import ApifyEmulator

from .support import Api, fast_emulator


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
