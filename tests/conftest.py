from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fake_api import FakeApi


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeApi]:
    async with FakeApi() as fake:
        yield fake
