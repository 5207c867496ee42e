"""What `apify-runs` prints, as pure functions: runs, progress, records and items to text.

`--json` prints runs as the API spells them (camelCase), one document per line.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec

from apify_runs_async import Record, Run, RunStatus, RunSummary
from apify_runs_async.emulator._storage import is_json_content_type  # one rule for both

_ENCODER = msgspec.json.Encoder()


def json_line(document: Any) -> bytes:
    """One JSON document on one line: runs (Structs) as the API spells them."""
    return _ENCODER.encode(document) + b"\n"


def status_line(run: Run) -> str:
    """`RUN_ID  RUNNING    Crawling 3/10`: a run's state on one line."""
    line = f"{run.id}  {run.status:<10}"
    if run.status_message:
        line += f" {_one_line(run.status_message)}"
    return line.rstrip()


def finished_line(run: Run) -> str:
    """`Run RUN_ID SUCCEEDED in 12.3 s`, or without the time while it is not known."""
    line = f"Run {run.id} {run.status}"
    if run.finished_at is not None:
        line += f" in {(run.finished_at - run.started_at).total_seconds():.1f} s"
    return line


def elapsed(secs: float) -> str:
    """`0:07`, `12:30`, `1:02:03`."""
    minutes, seconds = divmod(int(secs), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"


def progress_line(runs: Iterable[Run], secs: float) -> str:
    """`3 done, 1 failed, 2 running, 0:12 elapsed`: many runs followed at once.

    Done is SUCCEEDED; failed is any other end (FAILED, ABORTED, TIMED-OUT)."""
    done = failed = running = 0
    for run in runs:
        if run.status == RunStatus.SUCCEEDED:
            done += 1
        elif run.is_terminal:
            failed += 1
        else:
            running += 1
    return f"{done} done, {failed} failed, {running} running, {elapsed(secs)} elapsed"


def runs_table(runs: Sequence[RunSummary]) -> list[str]:
    """A line per run, with a header: id, status, started, finished (UTC), Actor id."""
    rows = [("RUN", "STATUS", "STARTED", "FINISHED", "ACTOR")]
    rows += [
        (run.id, run.status, _when(run.started_at), _when(run.finished_at), run.act_id or "")
        for run in runs
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    return [
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]
        ).rstrip()
        for row in rows
    ]


def record_value(record: Record | None) -> Any:
    """A record for `--json`: its JSON value, its text, or None (no record, or binary)."""
    if record is None:
        return None
    if is_json_content_type(record.content_type):
        try:
            return record.json()
        except msgspec.DecodeError:
            pass  # not the JSON it says it is: its text, then
    try:
        return record.text()
    except UnicodeDecodeError:
        return None


def record_text(record: Record) -> bytes:
    """A record for a person: JSON indented, anything else as it is."""
    if is_json_content_type(record.content_type):
        try:
            return json.dumps(record.json(), indent=2, ensure_ascii=False).encode() + b"\n"
        except msgspec.DecodeError:
            pass  # not the JSON it says it is: as it is, then
    body = record.body
    return body if body.endswith(b"\n") or not body else body + b"\n"


def items_text(items: Sequence[Any], item_format: str) -> bytes:
    """Items as `json` (an array), `jsonl` (a line each) or `csv` (the keys of all items as
    columns, in the order first seen; nested values as JSON)."""
    if item_format == "json":
        return json.dumps(list(items), indent=2, ensure_ascii=False).encode() + b"\n"
    if item_format == "jsonl":
        return b"".join(json_line(item) for item in items)
    columns: dict[str, None] = {}
    for item in items:
        columns.update(dict.fromkeys(item if isinstance(item, Mapping) else ()))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for item in items:
        row = item if isinstance(item, Mapping) else {}
        writer.writerow(_cell(row.get(column)) for column in columns)
    return out.getvalue().encode()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def _one_line(text: str) -> str:
    # A status message is the Actor's text: no line breaks or escapes into the terminal.
    return "".join(char if char.isprintable() else " " for char in text)
