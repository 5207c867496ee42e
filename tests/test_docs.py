"""Every code block of README.md and docs/*.md runs here, against the emulator, so the docs
cannot go stale.

- A ```python block that is a program (`asyncio.run(...)`) runs as a process; one that is a
  test file (`def test_...`) runs under pytest in a process; any other is run here, with
  top-level `await`, `ApifyRuns()` pointed at an emulator through the environment, as it
  would be at the real API.
- A ```bash block runs its commands: the emulator and the CLI against the emulator; `nox -s`
  names a session that exists; the README's install-and-run commands are CI's own.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from apify_runs_async.emulator import ActorContext, ApifyEmulator

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[tuple[str, str]]:
    """(`file:line`, code) of every block in that language, in every doc."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for match in _BLOCK.finditer(text):
            if match.group(1) == language:
                line = text.count("\n", 0, match.start()) + 1
                found.append((f"{doc.relative_to(ROOT)}:{line}", match.group(2)))
    return found


async def my_actor(ctx: ActorContext) -> None:
    """`janedoe/my-actor`, the Actor the docs run: one item per URL of its input."""
    urls = (ctx.input or {}).get("urls", ["https://example.com"])
    for number, url in enumerate(urls, 1):
        ctx.set_status_message(f"Crawling {number} of {len(urls)}")
        ctx.log(f"Crawling {url}")
        if await ctx.sleep(0.05):
            return
        ctx.push_data({"url": url, "title": f"Page {number}"})
    ctx.set_record("OUTPUT", {"pages": len(urls)})


@pytest.fixture
async def docs_emulator(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ApifyEmulator]:
    """An emulator with the docs' Actors, which `ApifyRuns()` finds through the environment."""
    async with ApifyEmulator(
        ready_secs=0, hello_world_secs=0.1, actors={"janedoe~my-actor": my_actor}
    ) as emulator:
        monkeypatch.setenv("APIFY_TOKEN", emulator.token)
        monkeypatch.setenv("APIFY_API_BASE_URL", emulator.base_url)
        yield emulator


def _kind(code: str) -> str:
    if "asyncio.run(" in code or "anyio.run(" in code:
        return "program"
    if re.search(r"^(async )?def test_", code, re.MULTILINE):
        return "test file"
    return "snippet"


_PYTHON = [(where, code) for where, code in blocks("python") if _kind(code) != "test file"]
_TEST_FILES = [(where, code) for where, code in blocks("python") if _kind(code) == "test file"]


@pytest.mark.anyio
@pytest.mark.parametrize(("where", "code"), _PYTHON, ids=[where for where, _ in _PYTHON])
async def test_a_python_block_runs(
    docs_emulator: ApifyEmulator, tmp_path: Path, where: str, code: str
) -> None:
    if _kind(code) == "snippet":
        compiled = compile(code, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        with anyio.fail_after(30):
            result = eval(compiled, {"__name__": "__docs__"})  # our own docs' code
            if inspect.iscoroutine(result):
                await result
        return
    script = tmp_path / "doc.py"
    script.write_text(code)
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env={**os.environ, "PYTHONWARNINGS": "error"},
            check=False,
        )
    assert done.returncode == 0, (done.stdout + done.stderr).decode()[-3000:]


def test_the_test_files_pass(tmp_path: Path) -> None:
    """The blocks that are test files, as a user's tests: one pytest run for them all."""
    for number, (_, code) in enumerate(_TEST_FILES):
        (tmp_path / f"test_block_{number}.py").write_text(code)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-W", "error"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # Each block passed, or skipped itself for want of an optional plugin (pytest-asyncio).
    skipped = re.findall(r"^SKIPPED .*test_block_(\d+)\.py", done.stdout, re.MULTILINE)
    assert all("pytest_asyncio" in _TEST_FILES[int(n)][1] for n in skipped), done.stdout


# --- Shell blocks ------------------------------------------------------------------------------

_NOX_SESSION = re.compile(r"^def (\w+)\(session", re.MULTILINE)


def test_the_readme_opens_with_the_commands_ci_runs() -> None:
    [demo, tests] = [code.strip() for _, code in blocks("bash")[:2]]
    assert demo.endswith("examples/quickstart.py")
    assert (ROOT / "examples" / "quickstart.py").exists()
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests.startswith("python3 -m venv .venv && ")
    assert tests.removeprefix("python3 -m venv .venv && ") in ci


@pytest.mark.parametrize(("where", "code"), blocks("bash"), ids=[w for w, _ in blocks("bash")])
def test_a_shell_block_runs(where: str, code: str, tmp_path: Path) -> None:
    lines = [line.split(" #")[0].strip() for line in code.strip().splitlines()]
    if lines[0].startswith("python3 -m venv"):
        return  # the README's first two commands: see the test above, CI and the examples
    sessions = set(_NOX_SESSION.findall((ROOT / "noxfile.py").read_text()))
    for line in lines:
        if line.startswith("nox") and "-s" in line.split():
            assert line.split()[line.split().index("-s") + 1] in sessions, line
    # Installing is what CI and the README's first commands do: not again here.
    commands = [line for line in lines if line and not line.startswith("pip install")]
    if any("apify_runs_async.emulator" in line or "apify-runs" in line for line in commands):
        _run_shell("\n".join(commands), where, tmp_path)


# Whatever a block started in the background (`&`) is stopped at the end; the block's own
# exit status is kept.
_STOP_BACKGROUND_JOBS = """set -e
stop() { status=$?; kill $(jobs -p) 2>/dev/null || true; exit $status; }
trap stop EXIT
"""


def _run_shell(code: str, where: str, tmp_path: Path) -> None:
    """Run the block in bash; a command that serves until stopped is stopped once it listens."""
    scripts = str(Path(sys.executable).parent)
    if "apify-runs" in code and shutil.which("apify-runs", path=scripts) is None:
        pytest.skip("the apify-runs command is not installed here (pip install -e .)")
    env = {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ['PATH']}"}
    env.pop("APIFY_TOKEN", None)
    env.pop("APIFY_API_BASE_URL", None)
    script = code.replace("python -m", f"{sys.executable} -m")
    serves = "&" not in code and "emulator" in code and "call" not in code
    if serves:  # the emulator alone: it serves until stopped
        process = subprocess.Popen(
            ["bash", "-c", f"exec {script.strip()} --port 0"],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        try:
            assert process.stdout is not None
            assert process.stdout.readline().startswith("Apify emulator listening on"), where
        finally:
            process.kill()
            process.communicate(timeout=10)
        return
    done = subprocess.run(
        ["bash", "-c", _STOP_BACKGROUND_JOBS + script],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_doc_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for doc in DOCS[1:]:
        assert f"](docs/{doc.name})" in readme, doc.name


def test_no_internal_targets_in_the_docs() -> None:
    for doc in DOCS:
        text = doc.read_text()
        assert "✗" not in text and "✓" not in text, doc.name
        assert not re.search(r"\btargets?\b", text, re.IGNORECASE), doc.name
