"""Emulator options for a whole module (the fixture overridden), faults from the marker."""

from __future__ import annotations

from typing import Any

import pytest

from apify_runs_async import ApifyRuns, Retries
from apify_runs_async.emulator import ApifyEmulator, Faults


@pytest.fixture
def apify_emulator_options() -> dict[str, Any]:
    return {"ready_secs": 0, "hello_world_secs": 0.05, "max_concurrent_runs": 1}


@pytest.fixture
def apify_client_options() -> dict[str, Any]:
    # Retries in milliseconds, not the platform's half second and more.
    return {"retries": Retries(delay=lambda attempt, retry_after: 0.001)}


async def test_module_options(apify_client: ApifyRuns) -> None:
    result = await apify_client.call("apify~hello-world", wait_secs=5)
    assert result.run.status == "SUCCEEDED"


@pytest.mark.apify_emulator(
    faults=Faults(status503=1.0, max_faults=2, endpoints=frozenset({"get"}))
)
async def test_faults(apify_emulator: ApifyEmulator, apify_client: ApifyRuns) -> None:
    run = await apify_client.start("emulator~scripted")
    assert await apify_client.get(run.id) is not None
    assert [fault.kind for fault in apify_emulator.injected_faults] == ["status503"] * 2


@pytest.mark.apify_emulator(max_concurrent_runs=None)
async def test_marker_over_fixture(apify_emulator: ApifyEmulator, apify_client: ApifyRuns) -> None:
    # The marker's options go over the fixture's, and the rest of the fixture's stay.
    idle = {"steps": [{"sleepSecs": 10}]}
    runs = [await apify_client.start("emulator~scripted", idle) for _ in range(2)]
    # ready_secs=0 (the fixture's): RUNNING once asked about.
    for run in runs:
        now = await apify_client.get(run.id)
        assert now is not None and now.status == "RUNNING"
