from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any

import aiohttp
import pytest

from apify_runs_async import ApifyRuns
from apify_runs_async.emulator import ApifyEmulator, EmulatorProcess, emulator_process
from tests.fake_api import FakeApi
from tests.helpers import RequestCounter

# A user's own test project for the pytest plugin, with its own settings: `nox -s plugin`.
collect_ignore = ["plugin_project"]

WORKERS = 4
"""Test processes when pytest-xdist is installed and no `-n` is given. The tests mostly wait
(on runs, timeouts, rate limits), not compute: more processes than cores still pay."""


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Generator[None, object, object]:
    # The default of `-n` is set here, not in addopts, so that `-p no:xdist` works too (then
    # there is no `-n`), as do `-n 0` and `--pdb`. Set before xdist reads it; not in a worker
    # (xdist clears `-n` there), which would start workers of its own.
    if (
        config.pluginmanager.hasplugin("xdist")
        and not hasattr(config, "workerinput")
        and config.option.numprocesses is None
        and not config.option.usepdb
    ):
        config.option.numprocesses = WORKERS
        if config.option.dist == "no":
            config.option.dist = "worksteal"
    return (yield)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeApi]:
    async with FakeApi() as fake:
        yield fake


@pytest.fixture
async def emulator() -> AsyncIterator[ApifyEmulator]:
    # Runs are RUNNING as soon as they are asked about, and hello-world takes 0.1 s, not 1 s:
    # the tests do not sit through the platform's pace.
    async with ApifyEmulator(ready_secs=0, hello_world_secs=0.1) as emu:
        yield emu


@pytest.fixture(scope="session")
def separate_emulator() -> Iterator[EmulatorProcess]:
    """The emulator in its own process: every task on the test's loop is then the client's.

    One per test process (each pytest-xdist worker has its own); tests start their own runs
    and never rely on what other tests left in it."""
    with emulator_process(env={"PYTHONWARNINGS": "error"}) as emu:
        yield emu


def _client_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The `ApifyRuns` options of `@pytest.mark.client_options(...)` on the test, its class or
    its module (the closest wins)."""
    marker = request.node.get_closest_marker("client_options")
    return {} if marker is None else dict(marker.kwargs)


@pytest.fixture
async def client(
    emulator: ApifyEmulator, request: pytest.FixtureRequest
) -> AsyncIterator[ApifyRuns]:
    """A client of the in-process emulator, with the `client_options` marker's options."""
    async with ApifyRuns(
        emulator.token, base_url=emulator.base_url, **_client_options(request)
    ) as c:
        yield c


@pytest.fixture
async def fake_client(
    fake_api: FakeApi, request: pytest.FixtureRequest
) -> AsyncIterator[ApifyRuns]:
    """A client of the fake API, with the `client_options` marker's options (token "t" unless
    they give one)."""
    options = {"token": "t", **_client_options(request)}
    async with ApifyRuns(base_url=fake_api.base_url, **options) as c:
        yield c


@pytest.fixture
async def counted(emulator: ApifyEmulator) -> AsyncIterator[tuple[ApifyRuns, RequestCounter]]:
    """A client whose (borrowed) session counts every request it sends."""
    counter = RequestCounter()
    async with (
        aiohttp.ClientSession(trace_configs=[counter.trace]) as session,
        ApifyRuns(emulator.token, base_url=emulator.base_url, session=session) as c,
    ):
        yield c, counter
