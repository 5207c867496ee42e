"""The pytest plugin's async fixtures for tests that pytest-asyncio runs.

Registered by `pytest_plugin` only when pytest-asyncio is active: this module imports it.
pytest-asyncio runs a `@pytest_asyncio.fixture` for any test that asks for it, so these are
only asked for by tests that pytest-asyncio runs; anyio's tests get `pytest_plugin`'s own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, cast

import pytest
import pytest_asyncio

from ._client import ApifyRuns
from .emulator import ApifyEmulator
from .pytest_plugin import emulator_options, new_client

F = TypeVar("F", bound=Callable[..., Any])


def asyncio_fixture(function: F) -> F:
    """`@pytest_asyncio.fixture`, typed (mypy may not see pytest-asyncio's types)."""
    return cast(F, pytest_asyncio.fixture(function))


def is_asyncio_test(item: pytest.Item) -> bool:
    """Whether pytest-asyncio runs this test (marked, or any async test in auto mode)."""
    return bool(pytest_asyncio.is_async_test(item))


@asyncio_fixture
async def _apify_emulator_asyncio(
    apify_emulator_options: dict[str, Any], request: pytest.FixtureRequest
) -> AsyncIterator[ApifyEmulator]:
    async with ApifyEmulator(**emulator_options(apify_emulator_options, request.node)) as emu:
        yield emu


@asyncio_fixture
async def _apify_client_asyncio(
    apify_emulator: ApifyEmulator, apify_client_options: dict[str, Any]
) -> AsyncIterator[ApifyRuns]:
    async with new_client(apify_emulator, apify_client_options) as client:
        yield client
