"""The pytest plugin changes nothing for tests that do not use its fixtures.

Its fixtures at work are tested in a user's project of their own (tests/plugin_project), under
each async plugin, by `nox -s plugin`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # starts processes: `pytest -m slow` (CI runs them)

UNRELATED_TESTS = """
import asyncio
import sys
import warnings

import pytest


def test_sync(request):
    print("plugin", request.config.pluginmanager.has_plugin("apify_runs_async"))
    print("fixtures", sorted(request.fixturenames))
    print("markers", sorted(m.name for m in request.node.iter_markers()))
    print("warning filters", len(warnings.filters))
    print("loop policy", type(asyncio.get_event_loop_policy()).__name__)
    print("pytest-asyncio", "pytest_asyncio" in sys.modules)


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_async(request):
    print("async fixtures", sorted(request.fixturenames))


@pytest.mark.parametrize("n", [1, 2])
def test_parametrized(n):
    assert n < 2
"""


def run_pytest(directory: Path, *runs: list[str]) -> list[str]:
    """The outputs of pytest runs with these arguments, side by side (they mostly import)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    command = [sys.executable, "-m", "pytest", "-s", "-q", "-p", "no:cacheprovider"]
    processes = [
        subprocess.Popen(
            [*command, *args], cwd=directory, stdout=subprocess.PIPE, text=True, env=env
        )
        for args in runs
    ]
    return [re.sub(r" in [0-9.]+s", "", p.communicate(timeout=60)[0]) for p in processes]


def test_unused_plugin_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    (tmp_path / "test_unrelated.py").write_text(UNRELATED_TESTS)
    with_plugin, without_plugin = run_pytest(
        tmp_path, ["-p", "apify_runs_async"], ["-p", "no:apify_runs_async"]
    )
    assert "plugin True" in with_plugin
    assert "fixtures ['request']" in with_plugin
    assert "1 failed, 3 passed" in with_plugin
    assert with_plugin.replace("plugin True", "plugin False") == without_plugin


def test_fixtures_outside_an_async_test(tmp_path: Path) -> None:
    # A sync test, or an async one no plugin runs, is told what the fixtures need.
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    tests = "def test_sync(apify_client):\n    pass\n\n\n"
    tests += "async def test_async(apify_client):\n    pass\n"
    (tmp_path / "test_it.py").write_text(tests)
    [out] = run_pytest(tmp_path, [])
    # Both are refused at set-up with the message (which the summary may repeat).
    assert "ERROR at setup of test_sync" in out and "ERROR at setup of test_async" in out, out
    assert "apify_emulator is async: the test must be an async one" in out, out
    assert "2 errors" in out, out


def test_importing_the_plugin_imports_no_async_plugin() -> None:
    code = (
        "import sys, apify_runs_async.pytest_plugin\n"
        "print(sorted(m for m in sys.modules if m in ('anyio.pytest_plugin', 'pytest_asyncio')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == "[]\n"
