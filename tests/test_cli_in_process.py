"""`apify-runs` in this process: what it prints, its exit codes, how it reads INPUT, and the
usage errors it finds before any request (tests/test_cli.py runs the installed script)."""

from __future__ import annotations

import argparse
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from apify_runs_async import Record, Run
from apify_runs_async._cli import _args, _codes, _output, main

_STARTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _run(status: str, message: str | None = None, *, secs: float | None = None) -> Run:
    finished = None if secs is None else _STARTED + timedelta(seconds=secs)
    payload = {
        "id": "AbCdEfGhIjKlMnOpQ",
        "actId": "actor",
        "userId": "user",
        "status": status,
        "statusMessage": message,
        "startedAt": _STARTED.isoformat(),
        "finishedAt": None if finished is None else finished.isoformat(),
        "meta": {"origin": "API"},
        "stats": {},
        "options": {"build": "latest", "timeoutSecs": 0, "memoryMbytes": 1024, "diskMbytes": 2048},
        "buildId": "build",
        "defaultKeyValueStoreId": "store",
        "defaultDatasetId": "dataset",
        "defaultRequestQueueId": "queue",
    }
    return msgspec.convert(payload, Run)


def test_a_status_line_keeps_to_one_line() -> None:
    assert _output.status_line(_run("RUNNING")) == "AbCdEfGhIjKlMnOpQ  RUNNING"
    line = _output.status_line(_run("RUNNING", "Page 1\nPage 2\x1b[2J"))
    assert line == "AbCdEfGhIjKlMnOpQ  RUNNING    Page 1 Page 2 [2J"


def test_a_finished_line_says_how_long() -> None:
    assert (
        _output.finished_line(_run("FAILED", secs=12.34))
        == "Run AbCdEfGhIjKlMnOpQ FAILED in 12.3 s"
    )


@pytest.mark.parametrize(
    ("secs", "shown"), [(0, "0:00"), (7.9, "0:07"), (750, "12:30"), (3723, "1:02:03")]
)
def test_elapsed(secs: float, shown: str) -> None:
    assert _output.elapsed(secs) == shown


def test_the_progress_line_counts_done_failed_and_running() -> None:
    runs = [
        _run("SUCCEEDED", secs=1),
        _run("FAILED", secs=1),
        _run("ABORTED", secs=1),
        _run("TIMED-OUT", secs=1),
        _run("RUNNING"),
        _run("ABORTING"),
        _run("SOMETHING-NEW", secs=1),  # unknown, but finished: not a success
    ]
    assert _output.progress_line(runs, 65) == "1 done, 4 failed, 2 running, 1:05 elapsed"


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        ([], 0),
        (["SUCCEEDED", "SUCCEEDED"], 0),
        (["SUCCEEDED", "FAILED"], 4),
        (["ABORTED", "FAILED"], 5),
        (["TIMED-OUT", "ABORTED", "SUCCEEDED"], 6),
        (["SOMETHING-NEW"], 4),
    ],
)
def test_exit_codes_of_runs(statuses: list[str], code: int) -> None:
    assert _codes.for_runs(statuses) == code


def test_the_exit_codes_are_distinct_and_described() -> None:
    codes = [int(code) for code in _codes.Exit]
    assert len(set(codes)) == len(codes)
    assert all(f"  {code} " in _codes.describe() for code in codes)


def test_records_for_people_and_for_scripts() -> None:
    as_json = Record("OUTPUT", "application/json; charset=utf-8", b'{"a":[1]}')
    assert _output.record_text(as_json) == b'{\n  "a": [\n    1\n  ]\n}\n'
    assert _output.record_value(as_json) == {"a": [1]}
    text = Record("OUTPUT", "text/plain", b"hello")
    assert (_output.record_text(text), _output.record_value(text)) == (b"hello\n", "hello")
    binary = Record("OUTPUT", "image/png", b"\x89PNG\xff")
    assert _output.record_value(binary) is None
    assert _output.record_value(None) is None
    not_json = Record("OUTPUT", "application/json", b"{oops")
    assert _output.record_value(not_json) == "{oops"


def test_items_as_json_jsonl_and_csv() -> None:
    items: list[Any] = [{"a": 1, "b": {"c": 2}}, {"b": None, "d": "x,y"}]
    assert json.loads(_output.items_text(items, "json")) == items
    lines = _output.items_text(items, "jsonl").decode().splitlines()
    assert [json.loads(line) for line in lines] == items
    rows = list(csv.reader(io.StringIO(_output.items_text(items, "csv").decode())))
    assert rows == [["a", "b", "d"], ["1", '{"c": 2}', ""], ["", "", "x,y"]]


def test_a_run_as_json_is_spelled_as_the_api_does() -> None:
    document = json.loads(_output.json_line(_run("SUCCEEDED", secs=1)))
    assert document["status"] == "SUCCEEDED"
    assert document["defaultDatasetId"] == "dataset"


def test_input_inline_from_a_file_or_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _args.run_input('{"a": 1}') == {"a": 1}
    (tmp_path / "in.json").write_text("[1, 2]")
    assert _args.run_input(f"@{tmp_path / 'in.json'}") == [1, 2]
    monkeypatch.setattr("sys.stdin", io.StringIO('{"from": "stdin"}'))
    assert _args.run_input("-") == {"from": "stdin"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ('"a string"', "must be a JSON object or array"),
        ("3", "must be a JSON object or array"),
        ("@/no/such/file", "cannot read /no/such/file"),
    ],
)
def test_bad_input_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        _args.run_input(text)


def test_a_token_file_is_read_stripped_and_never_quoted(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("  apify_api_secret\n")
    assert _args.token_file(str(path)) == "apify_api_secret"
    path.write_text("\n")
    with pytest.raises(argparse.ArgumentTypeError, match="is empty"):
        _args.token_file(str(path))
    path.write_bytes(b"apify_api_\xff")
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        _args.token_file(str(path))
    assert "apify_api" not in str(raised.value)


def test_client_errors_are_told_by_the_flag() -> None:
    assert _args.flag_of("memory_mbytes must be a power of 2") == "--memory"
    assert _args.flag_of("run_id 'x y' is not a valid id") == "RUN"
    assert _args.flag_of("something else went wrong") is None


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("call", "emulator~scripted", "{not json"), "INPUT"),
        (("start", "emulator~scripted", "@/no/such/file.json"), "INPUT"),
        (("start", "emulator~scripted", "--memory", "100"), "--memory"),
        (("start", "emulator~scripted", "--memory", "lots"), "--memory"),
        (("call", "not an actor"), "ACTOR"),
        (("watch", "not a run id"), "RUN"),
        (("watch", "AbCdEfGhIjKlMnOpQ", "--poll-interval", "0.5"), "--poll-interval"),
        (("call", "emulator~scripted", "--poll-interval", "61"), "--poll-interval"),
        (("items", "AbCdEfGhIjKlMnOpQ", "--limit", "0"), "--limit"),
        (("items", "AbCdEfGhIjKlMnOpQ", "--format", "xml"), "--format"),
        (("start", "emulator~scripted", "--token-file", "/no/such/token"), "--token-file"),
        (("start", "emulator~scripted", "--base-url", "ftp://example.com"), "--base-url"),
        (("bogus",), "COMMAND"),
    ],
)
def test_usage_errors_exit_2_naming_the_argument(
    args: tuple[str, ...], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Each is found before any request: no server is needed.
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    assert exited.value.code == 2
    assert f"argument {named}" in capsys.readouterr().err
