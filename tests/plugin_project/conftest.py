from __future__ import annotations

import os

import pytest

# `nox -s plugin` runs these tests under each async plugin: $PLUGIN_PROJECT_RUNNER names it,
# and the test modules get its mark here. A real project writes it in each module instead:
# `pytestmark = pytest.mark.anyio`, or `pytest.mark.asyncio`, or nothing in pytest-asyncio's
# auto mode.
RUNNER = os.environ.get("PLUGIN_PROJECT_RUNNER", "anyio")
if RUNNER not in ("anyio", "strict", "auto"):
    raise ValueError(f"PLUGIN_PROJECT_RUNNER: anyio, strict or auto, not {RUNNER!r}")


def pytest_collectstart(collector: pytest.Collector) -> None:
    # test_unused.py's tests are sync: marked, pytest-asyncio would warn.
    if (
        isinstance(collector, pytest.Module)
        and RUNNER != "auto"
        and collector.name != "test_unused.py"
    ):
        # Made only when asked for: without pytest-asyncio, `asyncio` is an unknown mark.
        mark = pytest.mark.anyio if RUNNER == "anyio" else pytest.mark.asyncio
        collector.add_marker(mark)


@pytest.fixture
def anyio_backend() -> str:
    # anyio's plugin would also try trio, if installed: the emulator is asyncio's (aiohttp).
    return "asyncio"
