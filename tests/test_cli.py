"""`apify-runs`, the installed console script, run as a process against the emulator process."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from apify_runs_async import ApifyRuns, Run, RunStatus
from apify_runs_async.emulator import EmulatorProcess

CLI = Path(sys.executable).parent / "apify-runs"

pytestmark = [
    pytest.mark.slow,  # starts processes: `pytest -m slow` (CI runs them)
    pytest.mark.skipif(
        not CLI.exists(),
        reason=f"the apify-runs console script is not installed next to {sys.executable} "
        "(pip install -e . installs it)",
    ),
]

SCRIPTED = "emulator~scripted"
LONG = json.dumps({"steps": [{"sleepSecs": 60}]})

Cli = Callable[..., "subprocess.CompletedProcess[str]"]


def _env(emu: EmulatorProcess, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APIFY_")}
    env.update(APIFY_API_BASE_URL=emu.base_url, APIFY_TOKEN=emu.token, PYTHONWARNINGS="error")
    env.update(extra)
    return env


@pytest.fixture
def cli(separate_emulator: EmulatorProcess) -> Cli:
    """`cli(*args, stdin=None, **env)`: run apify-runs to its end against the emulator."""

    def run(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLI), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=30,
            env=_env(separate_emulator, **env),
        )

    return run


def _documents(stdout: str) -> list[Any]:
    """The JSON documents one after the other in `stdout`."""
    decoder, documents, at = json.JSONDecoder(), [], 0
    while stdout[at:].strip():
        document, at = decoder.raw_decode(stdout, at + len(stdout[at:]) - len(stdout[at:].lstrip()))
        documents.append(document)
    return documents


def _document(stdout: str) -> Any:
    [line] = stdout.splitlines()  # one document, on one line
    return json.loads(line)


def _start(emu: EmulatorProcess, *inputs: dict[str, Any]) -> list[Run]:
    """Start runs of `emulator~scripted` with the client, not the command line: faster."""

    async def start() -> list[Run]:
        async with ApifyRuns(emu.token, base_url=emu.base_url) as client:
            return [await client.start(SCRIPTED, run_input) for run_input in inputs]

    return asyncio.run(start())


def _run(emu: EmulatorProcess, run_id: str, *, wait: float = 0, abort: bool = False) -> Run:
    """The run, once finished if `wait`; aborted first if `abort`."""

    async def get() -> Run | None:
        async with ApifyRuns(emu.token, base_url=emu.base_url) as client:
            if abort:
                await client.abort(run_id)
            return await client.get(run_id, wait_for_finish=wait or None)

    run = asyncio.run(get())
    assert run is not None
    return run


# --- call -----------------------------------------------------------------------------------


def test_call_follows_the_run_then_prints_its_output_and_items(cli: Cli) -> None:
    script = {
        "steps": [{"sleepSecs": 0.1, "statusMessage": "Crawling"}],
        "output": {"pages": 2},
        "pushItems": [{"url": "a"}, {"url": "b"}],
    }
    result = cli("call", SCRIPTED, json.dumps(script), "--items", "--memory", "256")
    assert result.returncode == 0, result.stderr
    assert _documents(result.stdout) == [{"pages": 2}, {"url": "a"}, {"url": "b"}]
    assert result.stdout.startswith('{\n  "pages": 2\n}\n')  # OUTPUT, indented for a person
    status_lines = result.stderr.splitlines()
    run_id = status_lines[0].split()[0]
    assert re.fullmatch(r"[A-Za-z0-9]{17}", run_id)
    assert f"{run_id}  SUCCEEDED  Crawling" in status_lines
    assert re.fullmatch(rf"Run {run_id} SUCCEEDED in \d+\.\d s", status_lines[-1])


def test_call_json_is_one_document_with_run_output_and_items(cli: Cli, tmp_path: Path) -> None:
    script = {"output": {"ok": True}, "pushItems": [{"n": 1}]}
    (tmp_path / "input.json").write_text(json.dumps(script))  # INPUT from a file
    result = cli("call", SCRIPTED, f"@{tmp_path / 'input.json'}", "--json", "--items")
    assert result.returncode == 0, result.stderr
    document = _document(result.stdout)
    assert set(document) == {"run", "output", "items"}
    assert document["run"]["status"] == "SUCCEEDED"
    assert document["run"]["options"]["memoryMbytes"] == 1024  # the API's own spelling
    assert document["output"] == {"ok": True}
    assert document["items"] == [{"n": 1}]
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("script", "options", "code", "status"),
    [
        ({"outcome": "FAILED"}, (), 4, "FAILED"),
        ({"steps": [{"sleepSecs": 30}]}, ("--timeout", "1"), 6, "TIMED-OUT"),
    ],
)
def test_call_exits_with_the_code_of_how_the_run_ended(
    cli: Cli, script: dict[str, Any], options: tuple[str, ...], code: int, status: str
) -> None:
    # INPUT from stdin
    result = cli("call", SCRIPTED, "-", "--json", *options, stdin=json.dumps(script))
    assert result.returncode == code, result.stderr
    assert _document(result.stdout)["run"]["status"] == status


# --- start, watch, abort, log, items, runs ---------------------------------------------------


def test_start_then_watch_log_items_and_runs(cli: Cli) -> None:
    script = {
        "steps": [{"sleepSecs": 0.2, "statusMessage": "Working", "logLines": 2}],
        "pushItems": [{"name": "a", "tags": ["x"]}, {"name": "b,c"}],
    }
    started = cli("start", SCRIPTED, json.dumps(script), "--json")
    assert started.returncode == 0, started.stderr
    run_id = _document(started.stdout)["id"]

    followed = cli("log", run_id, "--follow")  # the lines as they come, to the run's end
    assert followed.returncode == 0, followed.stderr
    assert "Step 0 line 1" in followed.stdout
    assert "Run finished with status SUCCEEDED" in followed.stdout.splitlines()[-1]

    watched = cli("watch", run_id, "--json")
    assert watched.returncode == 0, watched.stderr
    snapshots = [json.loads(line) for line in watched.stdout.splitlines()]
    assert {snapshot["id"] for snapshot in snapshots} == {run_id}
    assert snapshots[-1]["status"] == "SUCCEEDED"

    log = cli("log", run_id)
    assert log.returncode == 0, log.stderr
    assert "Step 0 line 1" in log.stdout
    assert log.stdout.endswith("\n")

    csv = cli("items", run_id, "--format", "csv")
    assert csv.returncode == 0, csv.stderr
    assert csv.stdout.lstrip("\ufeff").splitlines()[0].split(",")[0] == "name"
    assert '"b,c"' in csv.stdout  # the API's own CSV
    first = cli("items", run_id, "--format", "jsonl", "--limit", "1")
    assert first.stdout == '{"name":"a","tags":["x"]}\n'

    listed = cli("runs", SCRIPTED, "--status", "SUCCEEDED", "--json")
    assert listed.returncode == 0, listed.stderr
    assert run_id in [json.loads(line)["id"] for line in listed.stdout.splitlines()]
    table = cli("runs", SCRIPTED, "--limit", "1")
    assert table.stdout.split()[:5] == ["RUN", "STATUS", "STARTED", "FINISHED", "ACTOR"]


def test_abort_then_watch_many_exits_aborted(cli: Cli, separate_emulator: EmulatorProcess) -> None:
    first, second = _start(separate_emulator, json.loads(LONG), json.loads(LONG))
    aborted = cli("abort", first.id, second.id, "--json")
    assert aborted.returncode == 0, aborted.stderr
    assert [json.loads(line)["status"] for line in aborted.stdout.splitlines()] == [
        "ABORTED",
        "ABORTED",
    ]
    watched = cli("watch", first.id, second.id)  # not a terminal: a line per change
    assert watched.returncode == 5, watched.stderr
    assert sorted(watched.stdout.splitlines()) == sorted(
        [f"{first.id}  ABORTED", f"{second.id}  ABORTED"]
    )
    again = cli("abort", first.id)  # it has finished: the API says no
    assert again.returncode == 3
    assert "job-finished" in again.stderr


def test_watching_many_runs_on_a_terminal_shows_one_progress_line(
    separate_emulator: EmulatorProcess,
) -> None:
    runs = _start(separate_emulator, {}, {"outcome": "FAILED"})
    for run in runs:
        _run(separate_emulator, run.id, wait=10)
    main, child = pty.openpty()
    try:
        process = subprocess.Popen(
            [str(CLI), "watch", *(run.id for run in runs)],
            stdout=child,
            stderr=subprocess.DEVNULL,
            env=_env(separate_emulator),
        )
        os.close(child)
        shown = b""
        while select.select([main], [], [], 15)[0]:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the process has gone, and the terminal with it
                break
            if not chunk:
                break
            shown += chunk
        assert process.wait(timeout=15) == 4
    finally:
        os.close(main)
    text = shown.decode()
    assert "\r\x1b[K" in text  # drawn again in place
    assert re.search(r"1 done, 1 failed, 0 running, 0:\d\d elapsed", text)


# --- Ctrl-C ------------------------------------------------------------------------------------


@pytest.mark.parametrize("detach", [False, True])
def test_ctrl_c_during_call_aborts_the_run_unless_detached(
    separate_emulator: EmulatorProcess, detach: bool
) -> None:
    process = subprocess.Popen(
        [str(CLI), "call", SCRIPTED, LONG, *(["--detach"] if detach else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(separate_emulator),
    )
    try:
        assert process.stderr is not None
        run_id = process.stderr.readline().split()[0]  # its first status line: it has started
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert "Traceback" not in stderr
    run = _run(separate_emulator, run_id)
    if detach:
        assert run.status in (RunStatus.READY, RunStatus.RUNNING)
        assert f"Run {run_id} left running" in stderr
        _run(separate_emulator, run_id, abort=True)  # not to be left behind by the test
    else:
        assert run.status == RunStatus.ABORTED
        assert f"Run {run_id} aborted" in stderr


# --- the token, errors, usage -----------------------------------------------------------------


def test_the_token_is_never_printed(
    cli: Cli, separate_emulator: EmulatorProcess, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(separate_emulator.token + "\n")
    good = cli("call", SCRIPTED, "--json", "--token-file", str(token_file), APIFY_TOKEN="")
    assert good.returncode == 0, good.stderr
    token_file.write_text("apify_api_wrong_secret\n")
    bad = cli("start", SCRIPTED, "--token-file", str(token_file))
    assert bad.returncode == 3  # the API refused it
    assert "401" in bad.stderr
    for result in (good, bad):
        for secret in (separate_emulator.token, "apify_api_wrong_secret"):
            assert secret not in result.stdout + result.stderr


def test_an_unreachable_api_or_a_missing_run_exits_3(cli: Cli) -> None:
    missing = cli("log", "NoSuchRun1234567")
    assert missing.returncode == 3
    assert "404" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_usage_errors_exit_2_naming_the_argument(cli: Cli) -> None:
    # More of them in test_cli_in_process.py: these two go through the installed script.
    missing = cli()
    assert missing.returncode == 2
    assert "required: COMMAND" in missing.stderr
    bad = cli("call", SCRIPTED, "-", stdin="[1,")
    assert bad.returncode == 2
    assert "argument INPUT: not valid JSON (stdin)" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_help_documents_the_exit_codes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "apify_runs_async", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0
    assert "exit codes:" in result.stdout
    for code in ("0", "2", "3", "4", "5", "6", "130"):
        assert re.search(rf"^  {code} +\S", result.stdout, re.MULTILINE), code


# --- the emulator ------------------------------------------------------------------------------


def test_the_emulator_command_serves_and_says_where() -> None:
    process = subprocess.Popen(
        [str(CLI), "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert re.fullmatch(
            r"Apify emulator listening on http://127\.0\.0\.1:\d+ \(token: \S+\)\n", line
        )
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
