"""Developer sessions: `nox` runs tests, lint and typecheck; `nox -s compat` the official client."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.default_venv_backend = "venv"

ROOT = Path(__file__).parent
SOURCES = ["apify_runs_async", "tests", "examples", "benchmarks", "noxfile.py"]
OFFICIAL_CLIENT = "apify-client==3.4.0"


PYTHONS = ["3.11", "3.12", "3.13"]
"""The supported versions (pyproject.toml's classifiers): `nox -s tests` runs on each found."""


def _runs(command: str) -> bool:
    try:
        return subprocess.run([command, "-c", ""], capture_output=True, check=False).returncode == 0
    except OSError:
        return False


def _find_pyenv_pythons(versions: list[str]) -> None:
    """Put pyenv's interpreters of these versions on PATH where PATH has none that runs: pyenv's
    shims run only the versions chosen with `pyenv global` or `pyenv local`. Versions found
    nowhere are skipped by nox (`error_on_missing_interpreters` is off, except on CI)."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for version in versions:
        if _runs(f"python{version}"):
            continue
        found = root.glob(f"{version}.*/bin/python{version}")
        newest = max(found, key=lambda p: [int(n) for n in p.parts[-3].split(".")], default=None)
        if newest is not None:
            os.environ["PATH"] = f"{newest.parent}{os.pathsep}{os.environ['PATH']}"


_find_pyenv_pythons(PYTHONS)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite, over real HTTP to the emulator on 127.0.0.1, on each supported Python."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", *SOURCES)
    session.run("ruff", "format", "--check", *SOURCES)


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[test,bench]", "mypy>=1.11", "types-psutil", "nox>=2024.4")
    session.run("mypy", "--strict", *SOURCES)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against the emulator, the official client side by side where they compare
    (installed here only); results in benchmarks/results/."""
    session.install("-e", ".[bench]", OFFICIAL_CLIENT)
    for script in (
        "decode",
        "memory",
        "objects",
        "round_trips",
        "emulator_cpu",
        "follow",
        "log_stream",
        "dataset_items",
    ):
        session.run("python", f"benchmarks/{script}.py")
    # 10,000 runs' ends three ways: a long-poll each, the runs list, webhooks (with drops and
    # duplicates) behind the list as safety net. `--mode watch-many`: the old baseline.
    for mode in ("long-poll", "list", "webhooks", "watch-many"):
        session.run("python", "benchmarks/many_runs.py", f"--mode={mode}")
    session.run("python", "benchmarks/soak.py")
    session.run("python", "benchmarks/keyed_soak.py")
    # Instructions per request, counted by valgrind: the steady figures on a noisy machine.
    if shutil.which("valgrind") is None:
        session.warn("valgrind is not installed: the instruction counts are skipped")
    else:
        session.run("python", "benchmarks/instructions.py")
        session.run("python", "benchmarks/emulator_cpu.py", "--instructions")


@nox.session
@nox.parametrize("plugin", ["anyio", "pytest-asyncio"])
def plugin(session: nox.Session, plugin: str) -> None:
    """The pytest plugin in a user's test project (tests/plugin_project): under anyio's plugin,
    and in a venv with pytest-asyncio, under its strict and auto modes; then the examples of
    docs/testing.md."""
    session.install("-e", ".", "pytest>=8")
    if plugin == "anyio":
        # pytest-asyncio must not be there: `-p no:asyncio` makes sure of it.
        runs = {"anyio": ["-p", "no:asyncio"]}
    else:
        session.install("pytest-asyncio>=1")
        # The loop scope set as pytest-asyncio asks (it warns when unset): the default.
        scope = ["-o", "asyncio_default_fixture_loop_scope=function"]
        runs = {mode: [f"--asyncio-mode={mode}", *scope] for mode in ("strict", "auto")}
        # anyio's tests, with pytest-asyncio (strict) there too: each gets its own fixtures.
        runs["anyio"] = ["--asyncio-mode=strict", *scope]
    with session.chdir(ROOT / "tests" / "plugin_project"):
        for runner, args in runs.items():
            env = {"PLUGIN_PROJECT_RUNNER": runner}
            session.run("python", "-m", "pytest", *args, *session.posargs, env=env)
    if plugin == "pytest-asyncio":
        # docs/testing.md's examples, each a test module: anyio's and pytest-asyncio's (strict).
        docs = Path(session.create_tmp()) / "testing_md"
        shutil.rmtree(docs, ignore_errors=True)
        docs.mkdir()
        # A project of their own: no settings or conftest.py of this one.
        (docs / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
        for number, block in enumerate(python_blocks(ROOT / "docs" / "testing.md"), 1):
            (docs / f"test_testing_md_{number}.py").write_text(block)
        with session.chdir(docs):
            session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *runs["strict"])


def python_blocks(markdown: Path) -> list[str]:
    """The ```python blocks of a Markdown file."""
    return re.findall(r"^```python\n(.*?)^```$", markdown.read_text(), re.DOTALL | re.MULTILINE)


@nox.session
def crawlee(session: nox.Session) -> None:
    """examples/crawlee_actor_runs.py, with Crawlee: not a dependency, installed here only."""
    session.install("-e", ".[test]", "crawlee>=1,<2")
    session.run(
        "python", "-m", "pytest", "-n", "0", "tests/test_crawlee_example.py", *session.posargs
    )


@nox.session
def compat(session: nox.Session) -> None:
    """The official apify-client, pointed at the emulator, runs every run operation."""
    session.install("-e", ".[test]", OFFICIAL_CLIENT)
    session.run("python", "-m", "pytest", "tests/emulator/test_official_client.py")
