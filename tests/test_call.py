"""`call` and `call_task`: a run followed to its end, with its output of any content type."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest

from apify_runs_async import ApifyRuns, CallResult, RunFailedError, RunStatus
from apify_runs_async.emulator import ActorContext, ApifyEmulator
from tests.helpers import RequestCounter, script

pytestmark = pytest.mark.anyio


async def write_output(ctx: ActorContext) -> None:
    """Stores as OUTPUT whatever its input says: a body (Base64) and its content type."""
    spec = ctx.input
    assert isinstance(spec, dict)
    if "body" in spec:
        body = base64.b64decode(spec["body"])
        ctx.set_record("OUTPUT", body, content_type=spec["contentType"])


@pytest.fixture
async def outputs_client() -> AsyncIterator[ApifyRuns]:
    async with (
        ApifyEmulator(actors={"me~outputs": write_output}) as emulator,
        ApifyRuns(emulator.token, base_url=emulator.base_url) as client,
    ):
        yield client


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json; charset=utf-8", b'{"pages": [1, 2], "ok": true}'),
        ("text/plain; charset=utf-8", "Zürich, 3 pages".encode()),
        ("text/html", b"<h1>Report</h1>"),
        ("text/csv", b"url,status\nhttps://a.test,200\n"),
        ("image/png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"),
        ("application/octet-stream", bytes(range(256))),
    ],
)
async def test_call_returns_the_output_of_any_content_type(
    outputs_client: ApifyRuns, content_type: str, body: bytes
) -> None:
    spec = {"body": base64.b64encode(body).decode(), "contentType": content_type}
    result = await outputs_client.call("me/outputs", spec)
    assert isinstance(result, CallResult)
    assert result.run.status == RunStatus.SUCCEEDED
    assert result.output is not None
    assert result.output.key == "OUTPUT"
    assert result.output.body == body
    assert result.output.content_type.split(";")[0] == content_type.split(";")[0]


async def test_call_without_output(outputs_client: ApifyRuns) -> None:
    result = await outputs_client.call("me/outputs", {})
    assert result.run.status == RunStatus.SUCCEEDED
    assert result.output is None


async def test_call_decodes_json_output(client: ApifyRuns) -> None:
    result = await client.call("emulator~scripted", script("a", output={"n": [1, 2]}))
    assert result.output is not None
    assert result.output.json() == {"n": [1, 2]}


async def test_a_failed_run_is_returned(client: ApifyRuns) -> None:
    result = await client.call(
        "emulator~scripted", script("a", outcome="FAILED", output={"partial": 1})
    )
    assert result.run.status == RunStatus.FAILED
    assert result.output is not None and result.output.json() == {"partial": 1}


async def test_a_failed_run_is_raised_when_asked(client: ApifyRuns) -> None:
    with pytest.raises(RunFailedError, match="ended FAILED") as caught:
        await client.call(
            "emulator~scripted", script("Broken page", outcome="FAILED"), raise_on_failure=True
        )
    assert caught.value.run.status == RunStatus.FAILED
    assert caught.value.run.status_message == "Broken page"
    assert caught.value.run.id in str(caught.value)


async def test_a_timed_out_run_is_raised_when_asked(client: ApifyRuns) -> None:
    with pytest.raises(RunFailedError, match="TIMED-OUT") as caught:
        await client.call(
            "emulator~scripted", script("slow", step_secs=30), timeout_secs=1, raise_on_failure=True
        )
    assert caught.value.run.status == RunStatus.TIMED_OUT


async def test_a_succeeded_run_is_not_raised(client: ApifyRuns) -> None:
    result = await client.call("emulator~scripted", script("a"), raise_on_failure=True)
    assert result.run.status == RunStatus.SUCCEEDED


async def test_call_stops_waiting_after_wait_secs(client: ApifyRuns) -> None:
    result = await client.call("emulator~scripted", script("slow", step_secs=30), wait_secs=0.3)
    assert result.run.status == RunStatus.RUNNING
    assert result.output is None
    await client.abort(result.run.id)


async def test_call_costs_three_requests_for_a_short_run(
    counted: tuple[ApifyRuns, RequestCounter],
) -> None:
    client, counter = counted
    result = await client.call("emulator~scripted", script("a", step_secs=0.3, output=[1]))
    assert result.output is not None
    assert [method for method, _ in counter.sent] == ["POST", "GET", "GET"]


async def test_call_task(client: ApifyRuns) -> None:
    result = await client.call_task("emulator~scripted-task", {"output": {"from": "task"}})
    assert result.run.actor_task_id is not None
    assert result.run.status == RunStatus.SUCCEEDED
    assert result.output is not None and result.output.json() == {"from": "task"}


async def test_call_checks_its_options_before_starting(client: ApifyRuns) -> None:
    with pytest.raises(ValueError, match="wait_secs"):
        await client.call("emulator~scripted", wait_secs=-1)
    with pytest.raises(ValueError, match="memory_mbytes"):
        await client.call("emulator~scripted", memory_mbytes=100)
