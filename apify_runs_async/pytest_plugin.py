"""Pytest fixtures for testing code that uses `ApifyRuns`: a fresh in-process emulator per test.

Active wherever the package is installed (the `pytest11` entry point); a test that does not ask
for its fixtures sees nothing of it.

>>> @pytest.mark.anyio  # or @pytest.mark.asyncio with pytest-asyncio
... @pytest.mark.apify_emulator(ready_secs=0, actors={"janedoe~my-actor": my_actor})
... async def test_my_actor(apify_client: ApifyRuns) -> None:
...     result = await apify_client.call("janedoe~my-actor", {"url": "https://example.com"})

The fixtures are async, run on the test's own event loop, and so need the plugin that runs the
test: anyio's (`@pytest.mark.anyio`) or pytest-asyncio's (strict or auto mode). The public
fixtures are plain ones that pick, per test, a variant of the async fixture that this plugin
will run: a plain async fixture for anyio, a `@pytest_asyncio.fixture` for pytest-asyncio
(which runs those for every test, so never for an anyio test). docs/testing.md tells more.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

import pytest

from ._client import ApifyRuns
from .emulator import ApifyEmulator

MARKER = "apify_emulator"
_ASYNCIO_VARIANTS = "apify_runs_async._pytest_asyncio"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): ApifyEmulator keyword arguments for the apify_emulator fixture"
        " (apify_runs_async)",
    )
    # Imports pytest_asyncio, so only when pytest-asyncio is active: by its entry point's
    # name, or by its module's with `-p pytest_asyncio.plugin`.
    plugins = config.pluginmanager
    asyncio_active = plugins.has_plugin("asyncio") or plugins.has_plugin("pytest_asyncio.plugin")
    if asyncio_active and not plugins.has_plugin(_ASYNCIO_VARIANTS):
        from . import _pytest_asyncio

        plugins.register(_pytest_asyncio, _ASYNCIO_VARIANTS)


@pytest.fixture
def apify_emulator_options() -> dict[str, Any]:
    """The `ApifyEmulator` keyword arguments of `apify_emulator`, under those of the
    `apify_emulator` marker: override it (in a conftest.py or a module) to set them for many
    tests at once."""
    return {}


@pytest.fixture
def apify_client_options() -> dict[str, Any]:
    """The `ApifyRuns` keyword arguments of `apify_client` (say, faster `retries`): override
    it to change them."""
    return {}


@pytest.fixture
def apify_emulator(request: pytest.FixtureRequest) -> ApifyEmulator:
    """A fresh `ApifyEmulator` serving on 127.0.0.1 for this test, closed after it: its
    `base_url` and `token` are what a client needs."""
    return cast(ApifyEmulator, request.getfixturevalue(_variant(request, "emulator")))


@pytest.fixture
def apify_client(request: pytest.FixtureRequest, apify_emulator: ApifyEmulator) -> ApifyRuns:
    """An open `ApifyRuns` of `apify_emulator`, with `apify_client_options`."""
    return cast(ApifyRuns, request.getfixturevalue(_variant(request, "client")))


def emulator_options(options: Mapping[str, Any], node: pytest.Item) -> dict[str, Any]:
    """`options` under those of the `apify_emulator` markers, the closest marker last."""
    merged = dict(options)
    for marker in reversed(list(node.iter_markers(MARKER))):
        if marker.args:
            raise TypeError(f"@pytest.mark.{MARKER} takes keyword arguments only")
        merged.update(marker.kwargs)
    return merged


def new_client(emulator: ApifyEmulator, options: Mapping[str, Any]) -> ApifyRuns:
    return ApifyRuns(emulator.token, base_url=emulator.base_url, **options)


def _variant(request: pytest.FixtureRequest, what: str) -> str:
    """The name of the async fixture that makes `what` on the loop that runs this test."""
    if "anyio_backend" in request.fixturenames:
        backend = request.getfixturevalue("anyio_backend_name")
        if backend != "asyncio":
            pytest.fail(
                f"apify_{what} runs on asyncio, not {backend}: define an `anyio_backend`"
                ' fixture that returns "asyncio"',
                pytrace=False,
            )
        return f"_apify_{what}_anyio"
    if request.config.pluginmanager.has_plugin(_ASYNCIO_VARIANTS):
        from ._pytest_asyncio import is_asyncio_test

        if is_asyncio_test(request.node):
            return f"_apify_{what}_asyncio"
    pytest.fail(
        f"apify_{what} is async: the test must be an async one, run by anyio's pytest plugin"
        " (@pytest.mark.anyio) or by pytest-asyncio (@pytest.mark.asyncio, or its auto mode)",
        pytrace=False,
    )


@pytest.fixture
async def _apify_emulator_anyio(
    apify_emulator_options: dict[str, Any], request: pytest.FixtureRequest
) -> AsyncIterator[ApifyEmulator]:
    async with ApifyEmulator(**emulator_options(apify_emulator_options, request.node)) as emu:
        yield emu


@pytest.fixture
async def _apify_client_anyio(
    apify_emulator: ApifyEmulator, apify_client_options: dict[str, Any]
) -> AsyncIterator[ApifyRuns]:
    async with new_client(apify_emulator, apify_client_options) as client:
        yield client
