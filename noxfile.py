"""Developer sessions: `nox` runs tests, lint and typecheck; `nox -s compat` the official client."""

from __future__ import annotations

import shutil

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.default_venv_backend = "venv"

SOURCES = ["apify_runs_async", "tests", "examples", "benchmarks", "noxfile.py"]
OFFICIAL_CLIENT = "apify-client==3.4.0"


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite, over real HTTP to the emulator on 127.0.0.1."""
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
    session.run("python", "benchmarks/many_runs.py")
    session.run(
        "python", "benchmarks/many_runs.py", "--gc-threshold2=1000", "--name=many_runs_gc_tuned"
    )
    session.run("python", "benchmarks/soak.py")
    session.run("python", "benchmarks/keyed_soak.py")
    # Instructions per request, counted by valgrind: the steady figures on a noisy machine.
    if shutil.which("valgrind") is None:
        session.warn("valgrind is not installed: the instruction counts are skipped")
    else:
        session.run("python", "benchmarks/instructions.py")
        session.run("python", "benchmarks/emulator_cpu.py", "--instructions")


@nox.session
def compat(session: nox.Session) -> None:
    """The official apify-client, pointed at the emulator, runs every run operation."""
    session.install("-e", ".[test]", OFFICIAL_CLIENT)
    session.run("python", "-m", "pytest", "tests/emulator/test_official_client.py")
